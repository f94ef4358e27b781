import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * The addon's surface (src/native/addon.cc over the libc-only core in
 * ob_vmm.c). Every failing system call throws a `NativeError`; argument
 * mistakes throw TypeError or RangeError.
 */

/** A failed system call, shaped like Node's system errors. */
export interface NativeError extends Error {
  code: string;
  errno: number;
  /** 'ioctl', 'open', 'mmap', 'chroot', 'setresuid', 'pledge', ... */
  syscall: string;
  /** the ioctl or step that failed, e.g. 'VMM_IOC_CREATE' */
  request?: string;
}

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
  /** VMM_IOC_RUN until an exit for the tender; returns an ExitKind. */
  run(): number;
  destroy(): void;
}

export interface NativeAddon {
  /** new Vm(releaseIndex, name, memSize) */
  Vm: new (
    release: number,
    name: string,
    memSize: number,
  ) => NativeVm;
  osrelease(): string;
  /** The C tables (ob_abi.h): what the binary issues on each release. */
  releaseTable(): { release: string; ioctls: { name: string; request: number }[] }[];
  tsc(): { hz: number; invariant: boolean };
  openTap(name: string): { fd: number; mtu: number };
  /** Whether VM `id` still exists (unpledged root only); release is an index into the table. */
  vmExists(release: number, id: number): boolean;
  lookupUser(name: string): { uid: number; gid: number; dir: string } | null;
  /** getgrnam: the group's gid, or null. */
  lookupGroup(name: string): number | null;
  dropPrivileges(dir: string, uid: number, gid: number, promises: string): void;
  pollWait(fds: Int32Array, timeoutNs: number): number;
  walltimeNs(): bigint;
  catchTerminationSignals(): void;
  pendingSignal(): number;
  /** _exit(status): no runtime teardown. */
  exitNow(status: number): never;
  exitFields: number;
}

const require = createRequire(import.meta.url);
const packageRoot = fileURLToPath(new URL('..', import.meta.url));

let loaded: NativeAddon | undefined;

/**
 * The addon, loaded on first use by node-gyp-build. Lazy so that the pure
 * parts of the package (tables, the pledge translation) work on every OS.
 */
export function native(): NativeAddon {
  if (loaded === undefined) {
    if (process.platform !== 'openbsd') {
      throw new Error(`@hvtjs/openbsd-vmm runs on OpenBSD only (this is ${process.platform})`);
    }
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    loaded = nodeGypBuild(packageRoot) as NativeAddon;
  }
  return loaded;
}

export function isNativeError(e: unknown): e is NativeError {
  return (
    e instanceof Error &&
    typeof (e as Partial<NativeError>).code === 'string' &&
    typeof (e as Partial<NativeError>).errno === 'number' &&
    typeof (e as Partial<NativeError>).syscall === 'string'
  );
}
