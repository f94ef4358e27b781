import type { RealtimeClock } from '@hvtjs/core/platform';
import { checkFd, posixHost } from '@hvtjs/posix-kit';
import { native } from './native.js';

export { MAX_POLL_FDS } from '@hvtjs/posix-kit';

/**
 * The host functions of the kit over this addon (hvt/posix_addon.h).
 *
 * openNet attaches to the existing tap interface (docs/guest-abi.md 11.3): the
 * fd is non-blocking and close-on-exec, GRO/GSO are switched off. Its errors'
 * `code`: ENAMETOOLONG (16 or more bytes), ENOENT (no such interface), ENETDOWN
 * (neither up nor running), EINVAL (the kernel gave a different name), or what
 * open/ioctl reported.
 *
 * A termination signal caught after catchTerminationSignals() also makes a
 * running `Vm.run()` return ExitKind.SIGNAL, and so does a failed ring thread
 * with ExitKind.IO_THREAD; poll waits return 0 early for both.
 */
export const host = posixHost(() => native);
export const { openNet, createPollSet, walltimeNs, catchTerminationSignals, pendingSignal } = host;

/**
 * Makes a descriptor the caller handed over (`@NN`) non-blocking, as openNet's
 * own are. Throws the addon's error (`code`: the errno name).
 */
export function setNonBlocking(fd: number): void {
  checkFd(fd);
  native.setNonBlocking(fd);
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
 * A new eventfd (close-on-exec; blocking unless `nonBlocking`), owned by the
 * caller: close it with fs.closeSync.
 */
export function createEventFd(nonBlocking = false): number {
  const flags = native.eventfdFlags.CLOEXEC | (nonBlocking ? native.eventfdFlags.NONBLOCK : 0);
  return native.eventfd(0, flags);
}
