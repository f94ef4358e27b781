import { HvtError } from '@hvtjs/core';
import { isNativeError, type NativeError } from './native.js';

/** What to do about a VM that cannot be created, by errno name. */
const CREATE_FIXES: Readonly<Record<string, string>> = {
  EPERM: 'Creating a VM needs root (in a jail: allow.vmm).',
  EACCES: 'Creating a VM needs root (in a jail: allow.vmm).',
  ENOENT: 'Load the vmm kernel module first: kldload vmm.',
  ENXIO:
    'vmm(4) could not start: the CPU needs VT-x with EPT or AMD-V with RVI ' +
    '(in a VM: enable nested virtualisation).',
  EEXIST: 'A VM of that name is left over: remove it with bhyvectl --destroy --vm=<name>.',
};

const CREATE_STEPS = new Set(['sysctl hw.vmm.create', 'open /dev/vmmctl', 'VMMCTL_VM_CREATE']);

/**
 * The tender's message for a failed VM set-up step, in the reference's words
 * where it has them (`Cannot create VM '<name>'`, docs/guest-abi.md 13.4), with the
 * addon's error as `cause`. Anything that is not a failed system call passes
 * through unchanged.
 */
export function vmmError(e: unknown, vmName: string): unknown {
  if (!isNativeError(e)) return e;
  const error = new HvtError(vmmMessage(e, vmName));
  error.cause = e;
  return error;
}

export function vmmMessage(e: NativeError, vmName: string): string {
  const step = e.request ?? e.syscall;
  if (CREATE_STEPS.has(step)) {
    const first = `Cannot create VM '${vmName}': ${e.message}`;
    const fix = CREATE_FIXES[e.code];
    return fix === undefined ? first : `${first}\n${fix}`;
  }
  if (step === 'open') return `Could not open: /dev/vmm/${vmName}: ${e.message}`;
  if (step === 'mmap') return `Error allocating guest memory: ${e.message}`;
  if (step === 'fork' || step === 'socketpair') {
    return `Cannot start the VM destroyer process (${step}): ${e.message}`;
  }
  if (e.syscall === 'ioctl') return `vmm: ioctl (${step}) failed: ${e.message}`;
  return `vmm: ${step} failed: ${e.message}`;
}
