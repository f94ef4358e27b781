import { HvtError } from '@hvtjs/core';
import { isNativeError } from './native-error.js';

/** The granule of protect() and residentPages(). */
export const PAGE_SIZE = 4096;

/** Throws unless `memSize` is a positive multiple of the page size. */
export function checkMemSize(memSize: number): void {
  if (!Number.isSafeInteger(memSize) || memSize <= 0 || memSize % PAGE_SIZE !== 0) {
    throw new RangeError(`guest memory size ${memSize} is not a positive multiple of ${PAGE_SIZE}`);
  }
}

/** Throws unless [gpa, gpa + len) is a page-aligned range inside `size` bytes of guest memory. */
export function checkRange(what: string, gpa: number, len: number, size: number): void {
  if (!Number.isSafeInteger(gpa) || !Number.isSafeInteger(len) || gpa < 0 || len < 0) {
    throw new RangeError(`${what}: gpa and length must be non-negative integers`);
  }
  if (gpa % PAGE_SIZE !== 0) {
    throw new RangeError(`${what}: gpa 0x${gpa.toString(16)} is not page-aligned`);
  }
  if (gpa + len > size) {
    throw new RangeError(`${what}: [0x${gpa.toString(16)}, +${len}) lies outside guest memory`);
  }
}

/**
 * Vm.residentPages over the addon's `resident` (mincore): the range checked
 * against `size` bytes of guest memory; undefined where the host cannot tell.
 */
export function residentPages(
  gpa: number,
  len: number,
  size: number,
  resident: (gpa: number, len: number) => Uint8Array,
): Uint8Array | undefined {
  checkRange('residentPages', gpa, len, size);
  try {
    return resident(gpa, len);
  } catch (e) {
    if (isNativeError(e)) return undefined;
    throw e;
  }
}

/**
 * Runs the addon's protect: a failed mprotect becomes the reference's
 * `mprotect failed: <strerror>`.
 */
export function mprotectOrThrow(protect: () => void): void {
  try {
    protect();
  } catch (e) {
    if (isNativeError(e)) throw new HvtError(`mprotect failed: ${e.message}`);
    throw e;
  }
}

let vmsCreated = 0;

/** `solo5-<pid>`, then `solo5-<pid>-<n>` for later VMs of this process. */
export function defaultVmName(): string {
  vmsCreated += 1;
  return vmsCreated === 1 ? `solo5-${process.pid}` : `solo5-${process.pid}-${vmsCreated}`;
}
