import { type CoreHostAddon, lazyAddon, type RingAddon } from '@hvtjs/posix-kit';

export { isNativeError, type NativeError } from '@hvtjs/posix-kit';

/**
 * The addon's surface (src/native/addon.cc over the libc-only core in
 * fb_vmm.c). Every failing system call throws a `NativeError`; argument mistakes
 * throw TypeError or RangeError.
 */

export interface NativeVm {
  /** Release line index chosen by the core: 0 = 13.x, 1 = 14.x, 2 = 15.x. */
  readonly line: number;
  /** The /dev/vmm/NAME fd, -1 once destroyed. */
  readonly fd: number;
  /** The tender's end of the destroyer channel, -1 once destroyed. */
  readonly destroyerFd: number;
  /** /dev/vmmctl (15+), kept to destroy the VM if the destroyer is gone; else -1. */
  readonly ctlFd: number;
  chunks(chunkSize: number): ArrayBuffer[];
  protect(offset: number, len: number, prot: number): void;
  resident(offset: number, len: number): Uint8Array;
  bindExit(exit: Float64Array): void;
  setRegister(regnum: number, value: number | bigint): void;
  getRegister(regnum: number): bigint;
  setSegment(regnum: number, base: number | bigint, limit: number, access: number): void;
  getSegment(regnum: number): { base: bigint; limit: number; access: number };
  activate(): void;
  /** A 4-byte OUT to `port` writes a byte to `fd` in the run loop (the ring's kick pipe); -1 undoes it. */
  addKick(port: number, fd: number): void;
  /** VM_RUN until an exit for the tender; returns an ExitKind. */
  run(): number;
  destroy(): void;
}

/** The kit's host functions (hvt/posix_addon.h) and FreeBSD's own. */
export interface NativeAddon extends CoreHostAddon, RingAddon<NativeVm> {
  /** new Vm(osreldate, name, memSize) */
  Vm: new (
    osreldate: number,
    name: string,
    memSize: number,
  ) => NativeVm;
  osreldate(): number;
  /** The C table (fb_abi.h) for a line index: what the binary issues. */
  ioctlTable(line: number): { name: string; request: number }[];
  capLimit(
    fd: number,
    rights0: bigint,
    rights1: bigint,
    ioctls: readonly number[] | null,
    fcntls: number,
  ): void;
  capEnter(): void;
  capMode(): boolean;
}

/** The addon, loaded on first use (see lazyAddon). */
export const native: () => NativeAddon = lazyAddon<NativeAddon>({
  platform: 'freebsd',
  packageName: '@hvtjs/freebsd-vmm',
  system: 'FreeBSD',
  target: 'hvt_freebsd_vmm',
  from: import.meta.url,
});
