import type {
  NetDevice,
  Platform,
  PollSet,
  SandboxOptions,
  SandboxPolicy,
  SandboxReport,
} from '@hvtjs/core';
import { OPENBSD_RELEASES, openbsdRelease } from './abi.js';
import { native } from './native.js';
import { describeSandbox, dropPrivileges, exit, prepareSandbox } from './sandbox.js';
import { type CreateVmOptions, OpenBsdVm } from './vm.js';

export * from './abi.js';
export { vmmError, vmmMessage } from './errors.js';
export { isNativeError, type NativeError } from './native.js';
export * from './pledge.js';
export {
  describeSandbox,
  dropPrivileges,
  exit,
  type Identity,
  prepareSandbox,
  resolveIdentity,
  VMM_USER,
} from './sandbox.js';
export {
  type CreateVmOptions,
  describeOpenBsdExit,
  OpenBsdVm,
  PAGE_SIZE,
  vmSandboxNeeds,
} from './vm.js';

/** How many fds one poll set may hold: its result is a bit set in a number. */
export const MAX_POLL_FDS = 53;

/**
 * Attaches to tap interface `ifname` (hvt-abi.md 11.3, OpenBSD: the interface
 * must be up; open /dev/<IFACE> non-blocking). Throws the addon's error (`code`
 * = errno name, `message` = strerror): ENETDOWN when it is not up.
 */
export function openNet(ifname: string): NetDevice {
  if (typeof ifname !== 'string') throw new TypeError('ifname must be a string');
  const { fd, mtu } = native().openTap(ifname);
  return { fd, mtu };
}

/** A readability wait over `fds` (ppoll, within "stdio"). 0 on timeout or after SIGINT/SIGTERM. */
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
      return native().pollWait(set, timeoutNs);
    },
    close(): void {
      // ppoll keeps no kernel object.
      closed = true;
    },
  };
}

export function walltimeNs(): bigint {
  return native().walltimeNs();
}

/** SIGINT/SIGTERM end a running VMM_IOC_RUN or poll wait instead of killing the process. */
export function catchTerminationSignals(): void {
  native().catchTerminationSignals();
}

export function pendingSignal(): number {
  return native().pendingSignal();
}

/**
 * Whether VM `id` still exists, without touching it: for cleanup checks and
 * tests (needs an unpledged root process).
 */
export function vmExists(id: number, osrelease?: string): boolean {
  const abi = openbsdRelease(osrelease ?? native().osrelease());
  if (abi === undefined) throw new Error(`unknown OpenBSD release ${osrelease}`);
  return native().vmExists(OPENBSD_RELEASES.indexOf(abi), id);
}

/** The Platform contract, with the optional parts this platform always has. */
export interface OpenBsdPlatform extends Platform {
  createVm(memSize: number, options?: CreateVmOptions): OpenBsdVm;
  catchTerminationSignals(): void;
  pendingSignal(): number;
  prepareSandbox(): ReturnType<typeof prepareSandbox>;
  dropPrivileges(policy: SandboxPolicy, options?: SandboxOptions): SandboxReport;
  describeSandbox(policy: SandboxPolicy, options?: SandboxOptions): unknown;
  exit(status: number): never;
}

/**
 * OpenBSD vmm(4) as the tender's platform, sandboxed with chroot, setresuid
 * and pledge. No eventfd on OpenBSD, so no createEventFd: the net ring is not
 * offered and the guest uses the NET_* hypercalls.
 */
export const openbsdVmmPlatform: OpenBsdPlatform = {
  name: 'openbsd-vmm',
  arch: 'x86_64',
  createVm: (memSize: number, options?: CreateVmOptions): OpenBsdVm =>
    OpenBsdVm.create(memSize, options),
  openNet,
  createPollSet,
  walltimeNs,
  catchTerminationSignals,
  pendingSignal,
  prepareSandbox,
  dropPrivileges,
  describeSandbox,
  exit,
};

export default openbsdVmmPlatform;
