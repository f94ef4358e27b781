import type { NetDevice, PollSet, RealtimeClock } from '@hvtjs/core/platform';
import { native } from './native.js';

/** How many fds one poll set may hold: its result is a bit set in a number. */
export const MAX_POLL_FDS = 53;

/**
 * Attaches to the existing tap interface `ifname` (docs/guest-abi.md 11.3): the fd is
 * non-blocking and close-on-exec, GRO/GSO are switched off. Throws the addon's
 * error, whose `code` is the errno name and `message` the strerror text, for the
 * caller's `Could not attach interface: <IFACE>: <strerror>`: ENAMETOOLONG (16 or
 * more bytes), ENOENT (no such interface), ENETDOWN (neither up nor running),
 * EINVAL (the kernel gave a different name), or what open/ioctl reported.
 */
export function openNet(ifname: string): NetDevice {
  if (typeof ifname !== 'string') throw new TypeError('ifname must be a string');
  const { fd, mtu } = native.openTap(ifname);
  return { fd, mtu };
}

/**
 * Makes a descriptor the caller handed over (`@NN`) non-blocking, as openNet's
 * own are. Throws the addon's error (`code`: the errno name).
 */
export function setNonBlocking(fd: number): void {
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw new RangeError(`bad fd ${fd}`);
  native.setNonBlocking(fd);
}

/**
 * A wait over `fds` for readability. `wait(timeoutNs)` returns a bit set (bit i:
 * fds[i] is readable, or has an error a read would report), 0 on timeout, and
 * also 0 early when SIGINT/SIGTERM arrived after catchTerminationSignals(): check
 * pendingSignal() after a 0. A negative timeout waits without limit.
 */
export function createPollSet(fds: readonly number[]): PollSet {
  if (fds.length > MAX_POLL_FDS) throw new RangeError(`at most ${MAX_POLL_FDS} fds per poll set`);
  for (const fd of fds) {
    if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw new RangeError(`bad fd ${fd}`);
  }
  const set = Int32Array.from(fds);
  let closed = false;
  return {
    wait(timeoutNs: number): number {
      if (closed) throw new Error('poll set is closed');
      if (typeof timeoutNs !== 'number' || Number.isNaN(timeoutNs)) {
        throw new RangeError('timeoutNs must be a number');
      }
      return native.pollWait(set, timeoutNs);
    },
    close(): void {
      // ppoll keeps no kernel object: nothing to release but the set itself.
      closed = true;
    },
  };
}

/** CLOCK_REALTIME in nanoseconds since the epoch. */
export function walltimeNs(): bigint {
  return native.walltimeNs();
}

/** The clock is the addon's, one per process: every reader shares its two halves. */
const realtime: RealtimeClock = {
  halves: new Uint32Array(native.realtimeBuffer),
  read: native.readRealtime as () => void,
};

/**
 * CLOCK_REALTIME without an allocation: `read()` is one addon call that stores
 * the nanoseconds in `halves` ([low, high]). CLOCK_REALTIME cannot fail with
 * a valid timespec, so read() reports nothing.
 */
export function realtimeClock(): RealtimeClock {
  return realtime;
}

/**
 * Installs the addon's SIGINT and SIGTERM handlers (idempotent). From then on a
 * termination signal makes a running `Vm.run()` return ExitKind.SIGNAL and a poll
 * wait return early, and `pendingSignal()` reports its number; the process no
 * longer dies of these signals by itself, so the tender must exit.
 *
 * This replaces the handlers Node installed for these signals (its default is to
 * restore the terminal and die); `process.on('SIGINT' | 'SIGTERM')` listeners
 * added afterwards would replace ours again, and listeners added before stop
 * firing. Call it from the thread that runs the vCPU: a signal delivered to any
 * other thread is forwarded to that one.
 */
export function catchTerminationSignals(): void {
  native.catchTerminationSignals();
}

/** The number of the last SIGINT/SIGTERM caught, or 0. */
export function pendingSignal(): number {
  return native.pendingSignal();
}

/**
 * A new eventfd (close-on-exec; blocking unless `nonBlocking`), owned by the
 * caller: close it with fs.closeSync.
 */
export function createEventFd(nonBlocking = false): number {
  const flags = native.eventfdFlags.CLOEXEC | (nonBlocking ? native.eventfdFlags.NONBLOCK : 0);
  return native.eventfd(0, flags);
}
