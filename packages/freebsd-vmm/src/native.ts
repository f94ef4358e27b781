import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * The addon's surface (src/native/addon.cc over the libc-only core in
 * fb_vmm.c). Every failing system call throws a `NativeError`; argument mistakes
 * throw TypeError or RangeError.
 */

/** A failed system call, shaped like Node's system errors. */
export interface NativeError extends Error {
  /** errno name, e.g. 'EPERM' */
  code: string;
  /** positive errno number */
  errno: number;
  /** 'ioctl', 'open', 'sysctl', 'mmap', 'fork', 'cap_enter', ... */
  syscall: string;
  /** the ioctl, sysctl or step that failed, e.g. 'VM_ALLOC_MEMSEG', 'sysctl hw.vmm.create' */
  request?: string;
}

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
  addKick(port: number, fd: number): void;
  /** VM_RUN until an exit for the tender; returns an ExitKind. */
  run(): number;
  destroy(): void;
}

export interface NativeAddon {
  /** new Vm(osreldate, name, memSize) */
  Vm: new (
    osreldate: number,
    name: string,
    memSize: number,
  ) => NativeVm;
  osreldate(): number;
  /** The C table (fb_abi.h) for a line index: what the binary issues. */
  ioctlTable(line: number): { name: string; request: number }[];
  tsc(): { hz: number; invariant: boolean };
  openTap(name: string): { fd: number; mtu: number };
  pollWait(fds: Int32Array, timeoutNs: number): number;
  walltimeNs(): bigint;
  eventfd(nonBlocking?: boolean): number;
  catchTerminationSignals(): void;
  pendingSignal(): number;
  capLimit(
    fd: number,
    rights0: bigint,
    rights1: bigint,
    ioctls: readonly number[] | null,
    fcntls: number,
  ): void;
  capEnter(): void;
  capMode(): boolean;
  /** _exit(status): no runtime teardown. */
  exitNow(status: number): never;
  exitFields: number;
}

const require = createRequire(import.meta.url);
/** The package root: the parent of src/ (tests) and of dist/ (built). */
const packageRoot = fileURLToPath(new URL('..', import.meta.url));

let loaded: NativeAddon | undefined;

/**
 * The addon, loaded on first use by node-gyp-build (build/ or prebuilds/).
 * Lazy so that the pure parts of the package (tables, policy translation)
 * work on every OS, e.g. for `--print-policy` and the tests.
 */
export function native(): NativeAddon {
  if (loaded === undefined) {
    if (process.platform !== 'freebsd') {
      throw new Error(`@hvtjs/freebsd-vmm runs on FreeBSD only (this is ${process.platform})`);
    }
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    loaded = nodeGypBuild(packageRoot) as NativeAddon;
  }
  return loaded;
}

/** True for errors thrown by the addon for a failed system call. */
export function isNativeError(e: unknown): e is NativeError {
  return (
    e instanceof Error &&
    typeof (e as Partial<NativeError>).code === 'string' &&
    typeof (e as Partial<NativeError>).errno === 'number' &&
    typeof (e as Partial<NativeError>).syscall === 'string'
  );
}
