import type { Arch, Platform } from '@hvtjs/core';
import {
  catchTerminationSignals,
  createEventFd,
  createPollSet,
  openNet,
  pendingSignal,
  walltimeNs,
} from './host.js';
import { LinuxKvmVm } from './vm.js';

export { ioctlLabel, kvmError, kvmMessage } from './errors.js';
export {
  catchTerminationSignals,
  createEventFd,
  createPollSet,
  MAX_POLL_FDS,
  openNet,
  pendingSignal,
  walltimeNs,
} from './host.js';
export { isNativeError, type NativeError } from './native.js';
export { type CreateVmOptions, LinuxKvmVm, PAGE_SIZE } from './vm.js';

function hostArch(): Arch {
  return process.arch === 'arm64' ? 'aarch64' : 'x86_64';
}

/** The Platform contract, with the optional parts this platform always has. */
export interface LinuxKvmPlatform extends Platform {
  createVm(memSize: number): LinuxKvmVm;
  catchTerminationSignals(): void;
  pendingSignal(): number;
  createEventFd(): number;
}

/** Linux KVM as the tender's platform. */
export const linuxKvmPlatform: LinuxKvmPlatform = {
  name: 'linux-kvm',
  arch: hostArch(),
  createVm: (memSize: number): LinuxKvmVm => LinuxKvmVm.create(memSize),
  openNet,
  createPollSet,
  walltimeNs,
  catchTerminationSignals,
  pendingSignal,
  createEventFd: (): number => createEventFd(),
};

export default linuxKvmPlatform;
