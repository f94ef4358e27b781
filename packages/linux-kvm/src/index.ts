import type {
  Arch,
  FileRemoval,
  Platform,
  RealtimeClock,
  SandboxNeeds,
  SandboxOptions,
  SandboxPolicy,
  SandboxReport,
} from '@hvtjs/core/platform';
import {
  catchTerminationSignals,
  createEventFd,
  createPollSet,
  openNet,
  pendingSignal,
  realtimeClock,
  setNonBlocking,
  walltimeNs,
} from './host.js';
import { describeSandbox, dropPrivileges, exitProcess, prepareSandbox } from './sandbox/apply.js';
import { removeFileAtExit } from './sandbox/remover.js';
import { LinuxKvmVm } from './vm.js';

export { ioctlLabel, kvmError, kvmMessage } from './errors.js';
export {
  catchTerminationSignals,
  createEventFd,
  createPollSet,
  MAX_POLL_FDS,
  openNet,
  pendingSignal,
  realtimeClock,
  setNonBlocking,
  walltimeNs,
} from './host.js';
export { isNativeError, type NativeError } from './native.js';
export { IO_THREAD_SIGNAL, startNetRing } from './net-ring.js';
export {
  describeSandbox,
  dropPrivileges,
  exitProcess,
  hostFacts,
  NO_LANDLOCK_VARIABLE,
  prepareSandbox,
  resolveIdentity,
} from './sandbox/apply.js';
export { compileLandlock, LANDLOCK_THREADS, type LandlockPlan } from './sandbox/landlock.js';
export {
  compileSandbox,
  type HostFacts,
  type IdentityPlan,
  type LinuxSandboxPlan,
  planToJson,
} from './sandbox/plan.js';
export { removeFileAtExit } from './sandbox/remover.js';
export { jitEnabled, openFds, runtimeNeeds, threadIds } from './sandbox/runtime.js';
export {
  type ArgCheck,
  compileSeccomp,
  DENIED_SYSCALLS,
  filterAllows,
  filterVerdict,
  type SeccompRule,
  type SeccompVerdict,
} from './sandbox/seccomp.js';
export {
  type CreateVmOptions,
  LinuxKvmVm,
  type MappedGuestRam,
  mapGuestRam,
  mappingIo,
  PAGE_SIZE,
} from './vm.js';

function hostArch(): Arch {
  return process.arch === 'arm64' ? 'aarch64' : 'x86_64';
}

/** The Platform contract, with the optional parts this platform always has. */
export interface LinuxKvmPlatform extends Platform {
  createVm(memSize: number): LinuxKvmVm;
  catchTerminationSignals(): void;
  pendingSignal(): number;
  createEventFd(): number;
  setNonBlocking(fd: number): void;
  realtimeClock(): RealtimeClock;
  prepareSandbox(declared: SandboxPolicy): SandboxNeeds;
  dropPrivileges(policy: SandboxPolicy, options?: SandboxOptions): SandboxReport;
  describeSandbox(policy: SandboxPolicy, options?: SandboxOptions): unknown;
  exit(status: number): never;
  removeFileAtExit(dirFd: number, name: string, fileFd: number): FileRemoval;
}

/** Linux KVM as the tender's platform. */
export const linuxKvmPlatform: LinuxKvmPlatform = {
  name: 'linux-kvm',
  arch: hostArch(),
  createVm: (memSize: number): LinuxKvmVm => LinuxKvmVm.create(memSize),
  openNet,
  setNonBlocking,
  createPollSet,
  walltimeNs,
  realtimeClock,
  catchTerminationSignals,
  pendingSignal,
  createEventFd: (): number => createEventFd(),
  prepareSandbox,
  dropPrivileges,
  describeSandbox,
  exit: exitProcess,
  removeFileAtExit,
};

export default linuxKvmPlatform;
