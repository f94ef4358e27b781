import type {
  NetDevice,
  Platform,
  PollSet,
  SandboxOptions,
  SandboxPolicy,
  SandboxReport,
} from '@hvtjs/core';
import { native } from './native.js';
import { describeSandbox, dropPrivileges, exit, prepareSandbox } from './sandbox.js';
import { type CreateVmOptions, FreeBsdVm } from './vm.js';

export * from './abi.js';
export * from './capsicum.js';
export { vmmError, vmmMessage } from './errors.js';
export { isNativeError, type NativeError } from './native.js';
export { describeSandbox, dropPrivileges, exit, prepareSandbox } from './sandbox.js';
export {
  type CreateVmOptions,
  FreeBsdVm,
  PAGE_SIZE,
  type VcpuSetupCall,
  vcpuSetupCalls,
  vmSandboxNeeds,
} from './vm.js';

/** How many fds one poll set may hold: its result is a bit set in a number. */
export const MAX_POLL_FDS = 53;

/**
 * Attaches to tap interface `ifname` (hvt-abi.md 11.3, FreeBSD: open
 * /dev/<IFACE> non-blocking; the interface need not be up). Throws the addon's
 * error (`code` = errno name, `message` = strerror) for the caller's `Could not
 * attach interface: <IFACE>: <strerror>`.
 */
export function openNet(ifname: string): NetDevice {
  if (typeof ifname !== 'string') throw new TypeError('ifname must be a string');
  const { fd, mtu } = native().openTap(ifname);
  return { fd, mtu };
}

/**
 * A readability wait over `fds` (ppoll: allowed in capability mode, and every
 * polled fd has CAP_EVENT from the policy). 0 on timeout or when SIGINT/SIGTERM
 * arrived after catchTerminationSignals().
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

/**
 * Installs the addon's SIGINT/SIGTERM handlers (idempotent): from then on they
 * end a running VM_RUN or poll wait instead of killing the process. Call from
 * the thread that runs the vCPU; a signal delivered elsewhere is forwarded.
 */
export function catchTerminationSignals(): void {
  native().catchTerminationSignals();
}

export function pendingSignal(): number {
  return native().pendingSignal();
}

/** A close-on-exec eventfd (FreeBSD 13+), for Vm.addIoEventFd; the caller closes it. */
export function createEventFd(nonBlocking = false): number {
  return native().eventfd(nonBlocking);
}

/** The Platform contract, with the optional parts this platform always has. */
export interface FreeBsdPlatform extends Platform {
  createVm(memSize: number, options?: CreateVmOptions): FreeBsdVm;
  catchTerminationSignals(): void;
  pendingSignal(): number;
  createEventFd(): number;
  prepareSandbox(): ReturnType<typeof prepareSandbox>;
  dropPrivileges(policy: SandboxPolicy, options?: SandboxOptions): SandboxReport;
  describeSandbox(policy: SandboxPolicy, options?: SandboxOptions): unknown;
  exit(status: number): never;
}

/** FreeBSD vmm(4) as the tender's platform, sandboxed with Capsicum. */
export const freebsdVmmPlatform: FreeBsdPlatform = {
  name: 'freebsd-vmm',
  arch: 'x86_64',
  createVm: (memSize: number, options?: CreateVmOptions): FreeBsdVm =>
    FreeBsdVm.create(memSize, options),
  openNet,
  createPollSet,
  walltimeNs,
  catchTerminationSignals,
  pendingSignal,
  createEventFd: (): number => createEventFd(),
  prepareSandbox,
  dropPrivileges,
  describeSandbox,
  exit,
};

export default freebsdVmmPlatform;
