import { HvtError } from '@hvtjs/core';
import { isNativeError, type NativeError } from './native.js';

const OPEN_FIXES: Readonly<Record<string, string>> = {
  ENODEV:
    'vmm(4) did not attach: the CPU needs VT-x/EPT or AMD-V/RVI (in a VM: enable nested virtualisation).',
  ENXIO:
    'vmm(4) did not attach: the CPU needs VT-x/EPT or AMD-V/RVI (in a VM: enable nested virtualisation).',
  EACCES: 'Opening /dev/vmm needs root.',
  EPERM: 'Opening /dev/vmm needs root.',
};

/**
 * The tender's message for a failed VM set-up step, with the addon's error as
 * `cause`. Anything that is not a failed system call passes through unchanged.
 */
export function vmmError(e: unknown): unknown {
  if (!isNativeError(e)) return e;
  const error = new HvtError(vmmMessage(e));
  error.cause = e;
  return error;
}

export function vmmMessage(e: NativeError): string {
  const step = e.request ?? e.syscall;
  if (step === 'open') {
    const first = `Could not open: /dev/vmm: ${e.message}`;
    const fix = OPEN_FIXES[e.code];
    return fix === undefined ? first : `${first}\n${fix}`;
  }
  if (step === 'mmap' || step === 'minherit') return `Error allocating guest memory: ${e.message}`;
  if (step === 'fork' || step === 'socketpair') {
    return `Cannot start the VM terminator process (${step}): ${e.message}`;
  }
  if (step === 'VMM_IOC_CREATE') return `Cannot create VM: ${e.message}`;
  if (step === 'VMM_IOC_RESETCPU') return `Cannot reset VCPU - exiting.: ${e.message}`;
  if (e.syscall === 'ioctl') return `VMM: ioctl (${step}) failed: ${e.message}`;
  return `VMM: ${step} failed: ${e.message}`;
}
