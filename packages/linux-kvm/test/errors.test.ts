import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HvtError } from '@hvtjs/core';
import { describe, expect, it } from 'vitest';
import { ioctlLabel, isNativeError, kvmError, kvmMessage, LinuxKvmVm } from '../src/index.js';
import type { NativeError } from '../src/native.js';

const MiB = 1024 * 1024;

function nativeError(fields: Omit<NativeError, 'name' | 'message'>, message: string): NativeError {
  return Object.assign(new Error(message), fields);
}

/** The HvtError that creating a VM on `devicePath` fails with. */
function createVmError(devicePath: string): HvtError {
  try {
    LinuxKvmVm.create(2 * MiB, { devicePath }).destroy();
  } catch (e) {
    expect(e).toBeInstanceOf(HvtError);
    return e as HvtError;
  }
  throw new Error(`creating a VM on ${devicePath} succeeded`);
}

describe('KVM errors in the reference tender words', () => {
  it('a missing KVM device names the device and says to enable KVM', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvtjs-kvm-'));
    try {
      const path = join(dir, 'kvm');
      const error = createVmError(path);
      const [first, fix] = error.message.split('\n');
      expect(first).toBe(`Could not open: ${path}: No such file or directory`);
      expect(fix).toMatch(/hardware virtualisation \(KVM\).*kvm_intel or kvm_amd.*VT-x\/AMD-V/);
      expect(error.exitStatus).toBe(1);
      expect(isNativeError(error.cause)).toBe(true);
      expect(error.cause).toMatchObject({ code: 'ENOENT', errno: 2, syscall: 'open', path });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a device that is not KVM fails its first ioctl with the reference label', () => {
    const error = createVmError('/dev/null');
    expect(error.message).toBe(
      'KVM: ioctl (GET_API_VERSION) failed: Inappropriate ioctl for device',
    );
    expect(error.cause).toMatchObject({
      code: 'ENOTTY',
      syscall: 'ioctl',
      request: 'KVM_GET_API_VERSION',
    });
  });

  it('an error with no known fix gets no fix line', () => {
    const error = createVmError(tmpdir());
    expect(error.message).toBe(`Could not open: ${tmpdir()}: Is a directory`);
  });

  it('permission problems say to join the kvm group or run as root', () => {
    const e = nativeError(
      { code: 'EACCES', errno: 13, syscall: 'open', path: '/dev/kvm' },
      'Permission denied',
    );
    expect(kvmMessage(e)).toBe(
      'Could not open: /dev/kvm: Permission denied\n' +
        'Add the user to the kvm group (and log in again), or run as root.',
    );
  });

  it('ioctl failures use the reference names', () => {
    const e = nativeError(
      { code: 'EPERM', errno: 1, syscall: 'ioctl', request: 'KVM_CREATE_VM' },
      'Operation not permitted',
    );
    expect(kvmMessage(e)).toBe('KVM: ioctl (CREATE_VM) failed: Operation not permitted');
    expect(ioctlLabel('KVM_RUN')).toBe('RUN');
    expect(ioctlLabel('KVM_GET_SUPPORTED_CPUID')).toBe('GET_SUPPORTED_CPUID');
    expect(ioctlLabel('KVM_CHECK_EXTENSION')).toBe('KVM_CHECK_EXTENSION');
    expect(ioctlLabel('KVM_GET_TSC_KHZ')).toBe('KVM_GET_TSC_KHZ');
  });

  it('mmap failures say which mapping failed', () => {
    const e = nativeError({ code: 'ENOMEM', errno: 12, syscall: 'mmap' }, 'Cannot allocate memory');
    expect(kvmMessage(e, 'vcpu')).toBe('KVM: VCPU mmap failed: Cannot allocate memory');
    expect(kvmMessage(e, 'guest-memory')).toBe(
      'Error allocating guest memory: Cannot allocate memory',
    );
  });

  it('errors that are not failed system calls pass through unchanged', () => {
    const bug = new TypeError('fd must be a number');
    expect(kvmError(bug)).toBe(bug);
  });

  it('rejects guest memory sizes that are not whole pages before touching KVM', () => {
    expect(() => LinuxKvmVm.create(0)).toThrow(RangeError);
    expect(() => LinuxKvmVm.create(4097)).toThrow(RangeError);
    expect(() => LinuxKvmVm.create(1.5 * 4096)).toThrow(RangeError);
  });
});
