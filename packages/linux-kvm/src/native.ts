import type { NetRingFailure, X86Segment } from '@hvtjs/core/platform';
import type { FastPathPlan } from '@hvtjs/core/tender';
import { type HostAddon, lazyAddon, type NativeNetRingClass } from '@hvtjs/posix-kit';

export { isNativeError, type NativeError } from '@hvtjs/posix-kit';

/**
 * The addon's surface (src/native/*.cc): one class per kind of KVM fd, plus the
 * host facilities the tender needs (the kit's, hvt/posix_addon.h, and Linux's
 * own). Every failing system call throws a `NativeError`; argument mistakes
 * throw TypeError or RangeError.
 */

/** The segment registers KVM's struct kvm_sregs holds. */
type SegmentName = 'cs' | 'ds' | 'es' | 'fs' | 'gs' | 'ss' | 'tr' | 'ldt';

/** core's X86Segment as the addon takes it: the base as a number or a bigint. */
export type NativeSegment = Omit<X86Segment, 'base'> & { base: number | bigint };

export type NativeSregsIn = Record<SegmentName, NativeSegment> & {
  gdt: { base: number | bigint; limit: number };
  idt?: { base: number | bigint; limit: number };
  cr0: number | bigint;
  cr3: number | bigint;
  cr4: number | bigint;
  efer: number | bigint;
};

/** ... and as it reads it back. */
export type NativeSegmentOut = Omit<X86Segment, 'base'> & { base: bigint };

export type NativeSregsOut = Record<SegmentName, NativeSegmentOut> & {
  gdt: { base: bigint; limit: number };
  idt: { base: bigint; limit: number };
  cr0: bigint;
  cr2: bigint;
  cr3: bigint;
  cr4: bigint;
  cr8: bigint;
  efer: bigint;
  apicBase: bigint;
};

export type GeneralRegisterName =
  | 'rax'
  | 'rbx'
  | 'rcx'
  | 'rdx'
  | 'rsi'
  | 'rdi'
  | 'rsp'
  | 'rbp'
  | 'r8'
  | 'r9'
  | 'r10'
  | 'r11'
  | 'r12'
  | 'r13'
  | 'r14'
  | 'r15'
  | 'rip'
  | 'rflags';

/** The aarch64 vCPU's set-up and registers, by fd (vcpu_aarch64.cc). */
export interface NativeAarch64 {
  /** KVM_ARM_PREFERRED_TARGET on the VM, then KVM_ARM_VCPU_INIT of the vCPU. */
  vcpuInit(vmFd: number, vcpuFd: number): void;
  /** KVM_SET_ONE_REG of pc, sp (SP_EL1), x0, pstate, sctlr, tcr, mair, ttbr0, cpacr. */
  setRegisters(vcpuFd: number, state: Record<string, number | bigint>): void;
  getRegisters(vcpuFd: number): { x: bigint[]; sp: bigint; pc: bigint; pstate: bigint };
  /** CNTFRQ_EL0 in Hz. */
  counterFrequency(): number;
}

/** The /dev/kvm fd. */
export interface NativeKvm {
  readonly fd: number;
  apiVersion(): number;
  checkExtension(cap: number): number;
  vcpuMmapSize(): number;
  /** A new VM fd, owned by the caller (wrap it in VmFd). */
  createVm(type?: number): number;
  /** struct kvm_cpuid2 of the host-supported CPUID leaves (x86_64). */
  supportedCpuid(): ArrayBuffer;
  close(): void;
}

export interface NativeVmFd {
  readonly fd: number;
  checkExtension(cap: number): number;
  /** A new vCPU fd, owned by the caller (wrap it in VcpuFd). */
  createVcpu(id: number): number;
  setUserMemoryRegion(
    slot: number,
    flags: number,
    gpa: number,
    mapping: NativeGuestMapping,
    offset: number,
    size: number,
  ): void;
  ioeventfd(addr: number, len: number, eventfd: number, flags: number): void;
  close(): void;
}

export interface NativeVcpuFd {
  readonly fd: number;
  bindExit(exit: Float64Array): void;
  /** KVM_RUN until an exit for the tender; returns an ExitKind. */
  run(): number;
  setCpuid2(cpuid: ArrayBuffer): void;
  setSregs(sregs: NativeSregsIn): void;
  getSregs(): NativeSregsOut;
  setRegs(regs: Partial<Record<GeneralRegisterName, number | bigint>>): void;
  getRegs(): Record<GeneralRegisterName, bigint>;
  tscKhz(): number;
  /** From now on run() lets `fastPath` serve the hypercall exits it can. */
  armFastPath(fastPath: NativeFastPath): void;
  /** KVM_RUN with immediate_exit: KVM's first-run work, without entering the guest. */
  firstRun(): void;
  close(): void;
}

export interface NativeGuestMapping {
  /** 0 once released */
  readonly size: number;
  chunks(chunkSize: number): ArrayBuffer[];
  protect(offset: number, len: number, prot: number): void;
  resident(offset: number, len: number): Uint8Array;
  release(): void;
  /** Guest I/O by guest-physical address: bytes transferred, or minus the errno. */
  pread(fd: number, gpa: number, len: number, position: number): number;
  pwrite(fd: number, gpa: number, len: number, position: number): number;
  read(fd: number, gpa: number, len: number): number;
  write(fd: number, gpa: number, len: number): number;
}

/** The native fast path over one guest mapping (fastpath.cc). */
export interface NativeFastPath {
  /**
   * What run() does with hypercall `nr`'s exit (struct at `gpa`): true when
   * served, false when core's handler must serve it. `times` repeats the
   * call (benchmarks): true when every call was served.
   */
  serve(nr: number, gpa: number, times?: number): boolean;
}

export interface NativeAddon extends HostAddon {
  Kvm: new (path: string) => NativeKvm;
  /** Takes ownership of fd. */
  VmFd: new (
    fd: number,
  ) => NativeVmFd;
  /** Takes ownership of fd, also when the constructor throws. */
  VcpuFd: new (
    fd: number,
    mmapSize: number,
  ) => NativeVcpuFd;
  GuestMapping: new (size: number) => NativeGuestMapping;
  FastPath: new (mapping: NativeGuestMapping, plan: FastPathPlan) => NativeFastPath;
  caps: { USER_MEMORY: number; IOEVENTFD: number; GET_TSC_KHZ: number; IMMEDIATE_EXIT: number };
  kvmRunSize: number;
  ioeventfdFlagPio: number;
  exitKind: Record<string, number>;
  exitField: Record<string, number>;
  setNonBlocking(fd: number): void;
  eventfd(initval?: number, flags?: number): number;
  eventfdFlags: { CLOEXEC: number; NONBLOCK: number };
  /** 8 bytes: CLOCK_REALTIME's ns as [low, high] u32 halves, filled by readRealtime(). */
  realtimeBuffer: ArrayBuffer;
  /** Reads the clock into realtimeBuffer; 0, or minus the errno. */
  readRealtime(): number;
  /** The network ring's I/O thread (posix-kit's hvt/net_ring_addon.h); started by the constructor. */
  NetRing: NativeNetRingClass<NativeGuestMapping>;
  /** The real-time signal a failing I/O thread interrupts the vCPU thread with. */
  ioThreadSignal: number;
  /**
   * Request numbers of the vCPU ioctls the run loop issues (KVM_GET_REGS and
   * KVM_GET_SREGS on x86_64, KVM_GET_ONE_REG on aarch64).
   */
  vcpuIoctls: {
    KVM_RUN: number;
    KVM_GET_REGS?: number;
    KVM_GET_SREGS?: number;
    KVM_GET_ONE_REG?: number;
  };
  /** The aarch64 vCPU (vcpu_aarch64.cc): present in the arm64 build only. */
  aarch64?: NativeAarch64;

  // The gdb module's mechanism (debug.cc).
  /** A non-blocking listening TCP socket (SO_REUSEADDR) and the port it got. */
  tcpListen(address: string, port: number): { fd: number; port: number };
  /** A waiting connection, non-blocking with TCP_NODELAY; throws EAGAIN when none waits. */
  tcpAccept(listenFd: number): { fd: number; peer: string };
  /** Input on fd interrupts KVM_RUN of the calling thread from now on (run() returns DEBUG_INPUT). */
  debugInterruptOn(fd: number): void;
  /** Stops that (no system call). */
  debugInterruptOff(): void;
  /** KVM_SET_GUEST_DEBUG (x86_64). */
  guestDebug?(vcpuFd: number, control: number, debugreg: BigUint64Array): void;
  getFpu?(vcpuFd: number): NativeFpu;
  setFpu?(vcpuFd: number, fpu: NativeFpu): void;
  guestDebugFlags?: { ENABLE: number; SINGLESTEP: number; USE_SW_BP: number; USE_HW_BP: number };
  debugIoctls?: Record<
    'KVM_SET_GUEST_DEBUG' | 'KVM_SET_REGS' | 'KVM_GET_FPU' | 'KVM_SET_FPU',
    number
  >;

  // The sandbox (sandbox.cc): mechanism for src/sandbox/.
  /** Loads the filter (default kill-process) into every thread, with no_new_privs. */
  seccompInstall(rules: readonly NativeSeccompRule[]): void;
  /** The BPF program the rules compile to (8 bytes per instruction); loads nothing. */
  seccompExport(rules: readonly NativeSeccompRule[]): Buffer;
  /** A system call's number on this architecture, or -1. */
  syscallNumber(name: string): number;
  /** Landlock's ABI version, or minus the errno that says why there is none. */
  landlockAbi(): number;
  landlockRestrictSelf(
    attr: { handledFs: bigint; handledNet: bigint; scoped: bigint; attrSize: number },
    rules: readonly { fd: number; access: bigint }[],
  ): void;
  setNoNewPrivs(): void;
  setDumpable(dumpable: number): void;
  setRlimit(resource: number, limit: number | bigint): void;
  getRlimit(resource: number): { soft: bigint; hard: bigint };
  rlimits: { NOFILE: number; NPROC: number; CORE: number; FSIZE: number };
  lookupUser(name: string): { uid: number; gid: number; name: string } | null;
  lookupGroup(name: string): number | null;
  /** Clears supplementary groups, then sets real/effective/saved gid and uid (all threads). */
  dropIds(uid: number, gid: number): void;
  ids(): { uids: number[]; gids: number[]; groups: number[] };
  /** 1: libuv uses io_uring; 0: it does not; -1: this libuv cannot tell. */
  libuvIoUring(): number;
  personality(): number;
  readImpliesExec: number;
  /** Starts libuv's thread pool now. */
  warmThreadPool(): void;
  /**
   * Starts the process that removes `name` in `dirFd` (the file open at
   * `fileFd`) once the returned channel (a pipe's write end, close-on-exec)
   * is closed without a byte written to it first.
   */
  removeFileAtExit(dirFd: number, name: string, fileFd: number): number;
}

/** struct kvm_fpu, as getFpu returns it and setFpu takes it. */
export interface NativeFpu {
  /** 8 x 16 bytes */
  st: Uint8Array;
  fcw: number;
  fsw: number;
  ftw: number;
  fop: number;
  fip: bigint;
  fdp: bigint;
  /** 16 x 16 bytes */
  xmm: Uint8Array;
  mxcsr: number;
}

/** One seccomp allow rule as the addon takes it. */
export interface NativeSeccompRule {
  readonly syscall: string;
  readonly args: readonly {
    readonly arg: number;
    readonly op: string;
    readonly value: bigint;
    readonly mask?: bigint;
  }[];
  /** Fail the call with this errno instead of allowing it. */
  readonly errno?: number;
}

/**
 * The addon, loaded at once (the package is Linux-only; its pure parts are
 * not used elsewhere): build/Release/ (a source build), else prebuilds/.
 */
export const native: NativeAddon = lazyAddon<NativeAddon>({
  platform: 'linux',
  packageName: '@hvtjs/linux-kvm',
  system: 'Linux',
  target: 'hvt_linux_kvm',
  from: import.meta.url,
})();
