import type { NetDevice, PollSet } from '@hvtjs/core/platform';

/** How many fds one poll set may hold: its result is a bit set in a number. */
export const MAX_POLL_FDS = 53;

/** What every kit addon exports for the host side (hvt/posix_addon.h, ExportPosixHost). */
export interface HostAddon {
  openTap(name: string): { fd: number; mtu: number };
  pollWait(fds: Int32Array, timeoutNs: number): number;
  walltimeNs(): bigint;
  catchTerminationSignals(): void;
  pendingSignal(): number;
  /** _exit(status): no runtime teardown. */
  exitNow(status: number): never;
}

/** ... and an addon whose VM object is a VmBase over a C core (ExportHost). */
export interface CoreHostAddon extends HostAddon {
  tsc(): { hz: number; invariant: boolean };
  /** How many elements the VM's exit array has. */
  exitFields: number;
}

/** The Platform functions that are the same over every kit addon. */
export interface PosixHost {
  /**
   * Attaches to tap interface `ifname`. Throws the addon's error (`code` = errno
   * name, `message` = strerror) for the caller's `Could not attach interface:
   * <IFACE>: <strerror>`.
   */
  openNet(ifname: string): NetDevice;
  /**
   * A readability wait over `fds` (ppoll): bit i set when fds[i] is readable; 0
   * on timeout or when SIGINT/SIGTERM arrived after catchTerminationSignals().
   */
  createPollSet(fds: readonly number[]): PollSet;
  /** CLOCK_REALTIME in nanoseconds since the epoch. */
  walltimeNs(): bigint;
  /**
   * Installs the addon's SIGINT/SIGTERM handlers (idempotent): from then on
   * they end a running vCPU or poll wait instead of killing the process. Call
   * from the thread that runs the vCPU; a signal delivered elsewhere is forwarded.
   */
  catchTerminationSignals(): void;
  /** The termination signal caught so far, or 0. */
  pendingSignal(): number;
}

/** Throws a RangeError unless `fd` can be a descriptor. */
export function checkFd(fd: number): void {
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw new RangeError(`bad fd ${fd}`);
}

/** The host functions over `addon` (a lazy loader: nothing loads until first use). */
export function posixHost(addon: () => HostAddon): PosixHost {
  return {
    openNet(ifname: string): NetDevice {
      if (typeof ifname !== 'string') throw new TypeError('ifname must be a string');
      const { fd, mtu } = addon().openTap(ifname);
      return { fd, mtu };
    },
    createPollSet(fds: readonly number[]): PollSet {
      if (fds.length > MAX_POLL_FDS) {
        throw new RangeError(`at most ${MAX_POLL_FDS} fds per poll set`);
      }
      for (const fd of fds) checkFd(fd);
      const set = Int32Array.from(fds);
      let closed = false;
      return {
        wait(timeoutNs: number): number {
          if (closed) throw new Error('poll set is closed');
          if (typeof timeoutNs !== 'number' || Number.isNaN(timeoutNs)) {
            throw new RangeError('timeoutNs must be a number');
          }
          return addon().pollWait(set, timeoutNs);
        },
        close(): void {
          // ppoll keeps no kernel object.
          closed = true;
        },
      };
    },
    walltimeNs: () => addon().walltimeNs(),
    catchTerminationSignals: () => addon().catchTerminationSignals(),
    pendingSignal: () => addon().pendingSignal(),
  };
}

/**
 * What Node would otherwise do lazily and cannot do once a sandbox takes
 * paths away: create its stdio streams (isatty, fstat, and for a terminal a
 * reopen of the tty) and load the local time zone. Returns the clocks the
 * runtime keeps reading.
 */
export function warmRuntimeForSandbox(): { clocks: ('realtime' | 'monotonic')[] } {
  void process.stdout;
  void process.stderr;
  new Date().toString();
  Intl.DateTimeFormat().resolvedOptions();
  return { clocks: ['realtime', 'monotonic'] };
}
