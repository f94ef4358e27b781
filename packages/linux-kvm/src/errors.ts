import { HvtError } from '@hvtjs/core';
import { isNativeError, type NativeError } from './native.js';

/**
 * The reference tender's names for the ioctls in its `KVM: ioctl (<NAME>) failed`
 * messages (docs/guest-abi.md 13.1, 13.2): mostly without the KVM_ prefix, but not all.
 */
const REFERENCE_IOCTL_NAMES: Readonly<Record<string, string>> = {
  KVM_GET_API_VERSION: 'GET_API_VERSION',
  KVM_CREATE_VM: 'CREATE_VM',
  KVM_CREATE_VCPU: 'CREATE_VCPU',
  KVM_GET_VCPU_MMAP_SIZE: 'GET_VCPU_MMAP_SIZE',
  KVM_SET_USER_MEMORY_REGION: 'SET_USER_MEMORY_REGION',
  KVM_GET_SUPPORTED_CPUID: 'GET_SUPPORTED_CPUID',
  KVM_SET_CPUID2: 'SET_CPUID2',
  KVM_SET_SREGS: 'SET_SREGS',
  KVM_GET_SREGS: 'GET_SREGS',
  KVM_SET_REGS: 'SET_REGS',
  KVM_GET_REGS: 'GET_REGS',
  KVM_RUN: 'RUN',
  KVM_CHECK_EXTENSION: 'KVM_CHECK_EXTENSION',
  KVM_GET_TSC_KHZ: 'KVM_GET_TSC_KHZ',
  KVM_IOEVENTFD: 'KVM_IOEVENTFD',
};

const NO_KVM_FIX =
  'The host needs hardware virtualisation (KVM) enabled: load the kvm_intel or kvm_amd ' +
  'module, or use a machine with VT-x/AMD-V (in a VM: enable nested virtualisation).';
const NO_ACCESS_FIX = 'Add the user to the kvm group (and log in again), or run as root.';

/** What to do about a KVM device that cannot be opened, by errno name. */
const OPEN_FIXES: Readonly<Record<string, string>> = {
  ENOENT: NO_KVM_FIX,
  ENXIO: NO_KVM_FIX,
  ENODEV: NO_KVM_FIX,
  EACCES: NO_ACCESS_FIX,
  EPERM: NO_ACCESS_FIX,
};

/** Where a failed mmap happened, for the reference's wording. */
export type MmapSite = 'vcpu' | 'guest-memory';

/** The reference's label for an ioctl request name. */
export function ioctlLabel(request: string): string {
  return REFERENCE_IOCTL_NAMES[request] ?? request;
}

/**
 * Turns an addon error from VM creation or vCPU set-up into the reference's
 * message (`KVM: ioctl (CREATE_VM) failed: Permission denied`, `Could not open:
 * /dev/kvm: ...` plus the fix). Anything that is not a failed system call is a
 * bug here and passes through unchanged.
 */
export function kvmError(e: unknown, mmapSite: MmapSite = 'guest-memory'): unknown {
  if (!isNativeError(e)) return e;
  const error = new HvtError(kvmMessage(e, mmapSite));
  error.cause = e;
  return error;
}

export function kvmMessage(e: NativeError, mmapSite: MmapSite = 'guest-memory'): string {
  switch (e.syscall) {
    case 'open': {
      const fix = OPEN_FIXES[e.code];
      const first = `Could not open: ${e.path ?? '/dev/kvm'}: ${e.message}`;
      return fix === undefined ? first : `${first}\n${fix}`;
    }
    case 'ioctl':
      return `KVM: ioctl (${ioctlLabel(e.request ?? '?')}) failed: ${e.message}`;
    case 'mmap':
      return mmapSite === 'vcpu'
        ? `KVM: VCPU mmap failed: ${e.message}`
        : `Error allocating guest memory: ${e.message}`;
    case 'mprotect':
      return `mprotect failed: ${e.message}`;
    default:
      return `KVM: ${e.syscall} failed: ${e.message}`;
  }
}
