import { type CoreHostAddon, lazyAddon, type RingAddon } from '@hvtjs/posix-kit';

export { isNativeError, type NativeError } from '@hvtjs/posix-kit';

/**
 * The addon's surface (src/native/addon.cc over the libc-only core in
 * ob_vmm.c). Every failing system call throws a `NativeError`; argument
 * mistakes throw TypeError or RangeError.
 */

export interface NativeVm {
  /** The /dev/vmm fd, -1 once terminated. */
  readonly fd: number;
  /** The tender's end of the terminator channel, -1 once terminated. */
  readonly terminatorFd: number;
  /** vcp_id: the id of every later call. */
  readonly id: number;
  /** Guest memory is the kernel's immutable mapping (7.8+). */
  readonly kernelMemory: boolean;
  chunks(chunkSize: number): ArrayBuffer[];
  protect(offset: number, len: number, prot: number): void;
  bindExit(exit: Float64Array): void;
  resetCpu(state: Uint8Array): void;
  readRegs(): Uint8Array;
  /** A 4-byte OUT to `port` writes a byte to `fd` in the run loop (the ring's kick pipe); -1 undoes it. */
  addKick(port: number, fd: number): void;
  /** VMM_IOC_RUN until an exit for the tender; returns an ExitKind. */
  run(): number;
  destroy(): void;
}

/** The kit's host functions (hvt/posix_addon.h) and OpenBSD's own. */
export interface NativeAddon extends CoreHostAddon, RingAddon<NativeVm> {
  /** new Vm(releaseIndex, name, memSize) */
  Vm: new (
    release: number,
    name: string,
    memSize: number,
  ) => NativeVm;
  osrelease(): string;
  /** The C tables (ob_abi.h): what the binary issues on each release. */
  releaseTable(): { release: string; ioctls: { name: string; request: number }[] }[];
  /** Whether VM `id` still exists (unpledged root only); release is an index into the table. */
  vmExists(release: number, id: number): boolean;
  lookupUser(name: string): { uid: number; gid: number; dir: string } | null;
  /** getgrnam: the group's gid, or null. */
  lookupGroup(name: string): number | null;
  dropPrivileges(dir: string, uid: number, gid: number, promises: string): void;
}

/** The addon, loaded on first use (see lazyAddon). */
export const native: () => NativeAddon = lazyAddon<NativeAddon>({
  platform: 'openbsd',
  packageName: '@hvtjs/openbsd-vmm',
  system: 'OpenBSD',
  target: 'hvt_openbsd_vmm',
  from: import.meta.url,
});
