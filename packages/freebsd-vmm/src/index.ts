import type { Platform } from '@hvtjs/core/platform';
import { posixHost } from '@hvtjs/posix-kit';
import { native } from './native.js';
import { describeSandbox, dropPrivileges, exit, prepareSandbox } from './sandbox.js';
import { type CreateVmOptions, FreeBsdVm } from './vm.js';

export { MAX_POLL_FDS } from '@hvtjs/posix-kit';
export * from './abi.js';
export * from './capsicum.js';
export { vmmError, vmmMessage } from './errors.js';
export { isNativeError, type NativeError } from './native.js';
export { describeSandbox, dropPrivileges, exit, prepareSandbox } from './sandbox.js';
export {
  type CreateVmOptions,
  FreeBsdVm,
  freebsdLineFor,
  PAGE_SIZE,
  type VcpuSetupCall,
  vcpuSetupCalls,
  vmSandboxNeeds,
} from './vm.js';

/**
 * The host functions of the kit over this addon. openNet: docs/guest-abi.md 11.3,
 * FreeBSD: open /dev/<IFACE> non-blocking; the interface need not be up.
 * createPollSet: ppoll is allowed in capability mode, and every polled fd has
 * CAP_EVENT from the policy.
 */
const host = posixHost(native);
export const { openNet, createPollSet, walltimeNs, catchTerminationSignals, pendingSignal } = host;

/** FreeBSD vmm(4) as the tender's platform, sandboxed with Capsicum. */
export const freebsdVmmPlatform = {
  name: 'freebsd-vmm',
  arch: 'x86_64',
  createVm: (memSize: number, options?: CreateVmOptions): FreeBsdVm =>
    FreeBsdVm.create(memSize, options),
  ...host,
  prepareSandbox,
  dropPrivileges,
  describeSandbox,
  exit,
} satisfies Platform;

export default freebsdVmmPlatform;
