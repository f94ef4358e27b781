import type { Arch, Platform } from '@hvtjs/core/platform';
import { acceptTcp, listenTcp } from './debug.js';
import { host, realtimeClock, setNonBlocking } from './host.js';
import { describeSandbox, dropPrivileges, exitProcess, prepareSandbox } from './sandbox/apply.js';
import { removeFileAtExit } from './sandbox/remover.js';
import { LinuxKvmVm } from './vm.js';

export { acceptTcp, guestDebugArgs, listenTcp, vcpuDebug } from './debug.js';
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
export type { NativeFastPath } from './native.js';
export { isNativeError, type NativeError } from './native.js';
export { eventFdNetRing, IO_THREAD_SIGNAL } from './net-ring.js';
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

/** Linux KVM as the tender's platform. */
export const linuxKvmPlatform = {
  name: 'linux-kvm',
  arch: hostArch(),
  createVm: (memSize: number): LinuxKvmVm => LinuxKvmVm.create(memSize),
  ...host,
  setNonBlocking,
  realtimeClock,
  prepareSandbox,
  dropPrivileges,
  describeSandbox,
  exit: exitProcess,
  removeFileAtExit,
  listenTcp,
  acceptTcp,
} satisfies Platform;

export default linuxKvmPlatform;
