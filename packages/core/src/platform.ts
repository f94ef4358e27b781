import type { GuestIo } from './guest-io.js';
import type { GuestMemory } from './guest-memory.js';
import type { FastPathPlan } from './hypercalls.js';
import type { FdKind, FdOperation, SandboxNeeds, SandboxPolicy } from './sandbox-policy.js';

/**
 * The contract between core and a platform package (linux-kvm, freebsd-vmm,
 * openbsd-vmm). Platform code is mechanism only: it creates what core asks for
 * and reports what happened; every decision (validation, messages, exit status)
 * is core's.
 */

export type Arch = 'x86_64' | 'aarch64';

/** Host-side protections for a guest range (PROT_* style bit set). */
export const Prot = { NONE: 0, READ: 1, WRITE: 2, EXEC: 4 } as const;

/** An x86 segment register as KVM's struct kvm_segment describes it. */
export interface X86Segment {
  base: number;
  limit: number;
  selector: number;
  type: number;
  present: number;
  dpl: number;
  db: number;
  s: number;
  l: number;
  g: number;
  avl: number;
  unusable: number;
}

/** The complete initial vCPU state, built by core (docs/guest-abi.md 6.1), applied by the platform. */
export interface X86VcpuState {
  rip: number;
  rsp: number;
  rdi: number;
  rflags: number;
  cr0: number;
  cr3: number;
  cr4: number;
  efer: number;
  cs: X86Segment;
  ss: X86Segment;
  ds: X86Segment;
  es: X86Segment;
  fs: X86Segment;
  gs: X86Segment;
  tr: X86Segment;
  ldt: X86Segment;
  gdt: { base: number; limit: number };
  idt: { base: number; limit: number };
}

/**
 * The aarch64 initial vCPU state, built by core (docs/guest-abi.md 6.2), applied by
 * the platform: the core registers and the EL1 system registers it sets.
 */
export interface Aarch64VcpuState {
  pc: bigint;
  /** SP_EL1, the stack at EL1h. */
  sp: bigint;
  x0: bigint;
  /** SPSR_EL1 as KVM's `regs.pstate`. */
  pstate: bigint;
  sctlr: bigint;
  tcr: bigint;
  mair: bigint;
  ttbr0: bigint;
  cpacr: bigint;
}

/** aarch64 registers as read back from the vCPU (error messages, dumpcore). */
export interface Aarch64Registers {
  /** x0..x30. */
  x: bigint[];
  /** SP_EL1 (the guest runs at EL1h). */
  sp: bigint;
  pc: bigint;
  pstate: bigint;
}

/**
 * What `Vm.run()` returns. Details of the exit are in `Vm.exit` (a preallocated
 * array, overwritten by every run: read them before the next call).
 */
export const ExitKind = {
  /** Port I/O: exit[PORT], exit[SIZE] (bytes), exit[DIRECTION] (1 = out), exit[VALUE] (first 32 bits of data). */
  IO: 1,
  /** MMIO (aarch64): exit[ADDRESS], exit[SIZE], exit[DIRECTION] (1 = write), exit[VALUE]. */
  MMIO: 2,
  /** The run was interrupted by SIGINT or SIGTERM: exit[SIGNAL] holds its number. */
  SIGNAL: 3,
  /** KVM_RUN failed with EFAULT: a guest access the host mapping does not allow. */
  TRANSLATION_FAULT: 4,
  /** KVM_EXIT_FAIL_ENTRY: exit[DETAIL] = hardware entry failure reason. */
  FAIL_ENTRY: 5,
  /** KVM_EXIT_INTERNAL_ERROR: exit[DETAIL] = suberror. */
  INTERNAL_ERROR: 6,
  /** Any other exit: exit[REASON] = the raw exit reason (e.g. 5 HLT, 8 SHUTDOWN on KVM). */
  OTHER: 7,
  /**
   * A device I/O thread (the network ring's) failed and stopped the guest:
   * the module that started it says why (NetRing.failure()).
   */
  IO_THREAD: 8,
  /**
   * The debugger's breakpoint, watchpoint or single step stopped the guest
   * (VmDebug): exit[DETAIL] = the exception vector (1 #DB, 3 #BP),
   * exit[ADDRESS] = the guest's pc.
   */
  DEBUG: 9,
  /** The debugger's connection has input while the guest runs (VmDebug.interruptOn). */
  DEBUG_INPUT: 10,
} as const;
export type ExitKind = (typeof ExitKind)[keyof typeof ExitKind];

/** Indices into `Vm.exit`. */
export const ExitField = {
  REASON: 0,
  PORT: 1,
  ADDRESS: 1,
  SIZE: 2,
  DIRECTION: 3,
  VALUE: 4,
  SIGNAL: 5,
  DETAIL: 6,
  /** errno of a failed run (TRANSLATION_FAULT: 14). */
  ERRNO: 7,
} as const;

/** General registers as read back from the vCPU (error messages, dumpcore). */
export interface X86Registers {
  rax: bigint;
  rbx: bigint;
  rcx: bigint;
  rdx: bigint;
  rsi: bigint;
  rdi: bigint;
  rsp: bigint;
  rbp: bigint;
  r8: bigint;
  r9: bigint;
  r10: bigint;
  r11: bigint;
  r12: bigint;
  r13: bigint;
  r14: bigint;
  r15: bigint;
  rip: bigint;
  rflags: bigint;
  cs: number;
  ss: number;
  ds: number;
  es: number;
  fs: number;
  gs: number;
  fsBase: bigint;
  gsBase: bigint;
}

export interface Vm {
  /** Guest RAM, zero-copy. */
  readonly memory: GuestMemory;
  /** Exit details of the last run (see ExitField). */
  readonly exit: Float64Array;
  /**
   * Descriptor I/O into guest RAM by guest-physical address, one system call
   * per hypercall (block and net); without it core uses Node's fs on `memory`.
   */
  readonly io?: GuestIo;
  /** Host-side protection of [gpa, gpa+len) (page-aligned), as mprotect. */
  protect(gpa: number, len: number, prot: number): void;
  /** Applies the initial state (with CPUID passthrough); returns the guest TSC frequency in Hz. */
  initVcpuX86(state: X86VcpuState): { tscHz: number };
  /**
   * aarch64 platforms: creates the vCPU as the host prefers it and applies the
   * initial state; returns the generic timer's frequency (CNTFRQ_EL0) in Hz.
   */
  initVcpuAarch64?(state: Aarch64VcpuState): { counterHz: number };
  getRegistersAarch64?(): Aarch64Registers;
  /** Runs the vCPU until the next exit that needs the tender. One native call, no allocation. */
  run(): ExitKind;
  getRegistersX86(): X86Registers;
  /**
   * Ring I/O for networking (docs/guest-abi.md 10), where the platform can
   * serve it; without it the guest uses the NET_* hypercalls.
   */
  readonly netRing?: NetRingSupport;
  /**
   * From now on `run()` may serve the calls `plan` names itself and go
   * straight back into the guest, returning only exits it is not sure of
   * (docs/architecture.md 3.2). Core arms it once, after module setup, unless
   * a module must see every exit.
   */
  armFastPath?(plan: FastPathPlan): void;
  /** Pages of guest memory resident on the host (for sparse core dumps); undefined if unknown. */
  residentPages?(gpa: number, len: number): Uint8Array | undefined;
  /** Releases the VM, vCPU and guest memory; idempotent. */
  destroy(): void;
  /** What a debugger needs of the vCPU (the gdb module, docs/guest-abi.md 11.5); absent where unsupported. */
  readonly debug?: VmDebug;
  /** The VM's own descriptors and what the run loop still does with them (docs/architecture.md 4). */
  sandboxNeeds(): SandboxNeeds;
  /**
   * Step 14, before the sandbox: does now whatever the VM would otherwise do
   * lazily on its first run and the sandbox would forbid then (start threads).
   */
  prepareSandbox?(): void;
  /**
   * The reference's message for the exit run() just returned, in its backend's
   * words (`unhandled exit: exitcode=14, rip=0x…` on FreeBSD, `Triple Fault` on
   * OpenBSD), without the `<prog>: ` prefix; undefined where the generic
   * message applies.
   */
  describeExit?(kind: ExitKind): string | undefined;
}

/**
 * A VM's ring I/O (Vm.netRing): the kick, which the capability makes and
 * owns, and the thread that serves the ring.
 */
export interface NetRingSupport {
  /**
   * Makes the kick (a descriptor that the guest's 4-byte OUT to
   * `RING_KICK_PORT` signals: an eventfd KVM signals in the kernel, or a pipe
   * the run loop writes), then starts the thread that serves the ring
   * (docs/guest-abi.md 10.3) until `stop()`. Call it on the thread that runs
   * the vCPU: a failure of the ring thread ends that thread's `run()` with
   * ExitKind.IO_THREAD. When the kick cannot be made it throws a
   * NetRingKickError, and nothing is left behind: the caller warns and the
   * guest uses the hypercalls. Other errors are fatal.
   */
  start(config: NetRingConfig): NetRing;
}

/** What NetRingSupport.start throws when it cannot make the kick. */
export interface NetRingKickError extends Error {
  /** The step that failed, as the warning names it: `eventfd()`, `KVM_IOEVENTFD`, `pipe()`. */
  readonly kickStep: string;
  /** The errno name. */
  readonly code?: string;
}

export function isNetRingKickError(error: unknown): error is NetRingKickError {
  return error instanceof Error && typeof (error as { kickStep?: unknown }).kickStep === 'string';
}

/**
 * The x86 vCPU as a debugger sees it: the general registers, the selectors,
 * and the x87 and SSE state as FXSAVE keeps it.
 */
export interface X86DebugState {
  readonly regs: Omit<X86Registers, 'cs' | 'ss' | 'ds' | 'es' | 'fs' | 'gs' | 'fsBase' | 'gsBase'>;
  readonly selectors: {
    readonly cs: number;
    readonly ss: number;
    readonly ds: number;
    readonly es: number;
    readonly fs: number;
    readonly gs: number;
  };
  readonly fpu: X86FpuState;
}

/** FXSAVE's x87 and SSE state (KVM's struct kvm_fpu). */
export interface X86FpuState {
  /** ST0-ST7 in stack order, 16 bytes each (80 bits used). */
  readonly st: Uint8Array;
  readonly fcw: number;
  readonly fsw: number;
  /** The abridged tag: bit i set when physical register i is valid. */
  readonly ftw: number;
  readonly fop: number;
  readonly fip: bigint;
  readonly fdp: bigint;
  /** XMM0-XMM15, 16 bytes each. */
  readonly xmm: Uint8Array;
  readonly mxcsr: number;
}

/** What the vCPU traps on for a debugger (VmDebug.setGuestDebug). */
export interface GuestDebugRequest {
  /** Stop after every instruction (ExitKind.DEBUG, #DB). */
  readonly singleStep: boolean;
  /** INT3 in guest memory stops the guest (ExitKind.DEBUG, #BP) instead of reaching its IDT. */
  readonly softwareBreakpoints: boolean;
  /** Hardware breakpoints: DR0-DR3 and DR7 (docs/guest-abi.md 11.5), or none. */
  readonly hardware?: { readonly dr: readonly bigint[]; readonly dr7: bigint };
}

/** A vCPU's debug interface (mechanism only: the protocol and its decisions are core's). */
export interface VmDebug {
  setGuestDebug(request: GuestDebugRequest): void;
  getState(): X86DebugState;
  /** Loads the general registers and the x87/SSE state (the selectors are not loaded). */
  setState(state: X86DebugState): void;
  /**
   * Before the sandbox: from now on, input arriving on `fd` while `run()`
   * runs the guest (or waits in a POLL) ends it with ExitKind.DEBUG_INPUT.
   */
  interruptOn(fd: number): void;
  /** Stops that, before the descriptor is closed; makes no system call (it runs sandboxed). */
  interruptOff(): void;
  /** Whether the exit run() just returned is the guest executing HLT. */
  halted(kind: ExitKind): boolean;
  /** What these calls need from the sandbox (the vCPU's debug ioctls). */
  sandboxNeeds(): SandboxNeeds;
}

/** What the network ring's I/O thread serves. */
export interface NetRingConfig {
  /** GPA of struct hvt_ring (zeroed, at or above `visibleSize`). */
  readonly ringGpa: number;
  /** The guest-visible memory size: every data buffer must lie below it (7.3). */
  readonly visibleSize: number;
  /** The NET_BASIC devices by manifest index; every other handle is invalid. */
  readonly devices: readonly { readonly handle: number; readonly fd: number }[];
}

/** One descriptor of a ring's kick, for the sandbox policy (NetRing.kick). */
export interface NetRingKickFd {
  readonly fd: number;
  readonly kind: FdKind;
  /** What the ring thread and the run loop still do with it. */
  readonly ops: readonly FdOperation[];
  /** Which end, for a kick made of two descriptors (a pipe). */
  readonly end?: 'read end' | 'write end';
}

/** Why the ring thread stopped serving (see NetRing.failure()). */
export const NetRingFailureKind = {
  /** An entry's (data, len) is not inside guest-visible memory. */
  DATA_RANGE: 1,
  /** write() to the device failed: `code`. */
  WRITE_ERROR: 2,
  /** write() took `done` of `len` bytes. */
  SHORT_WRITE: 3,
  /** ent_tail was more than a ring's worth away from ent_head. */
  INDICES: 4,
  /** Reading the kick descriptor failed: `code`. */
  KICK_READ: 5,
} as const;
export type NetRingFailureKind = (typeof NetRingFailureKind)[keyof typeof NetRingFailureKind];

export interface NetRingFailure {
  readonly kind: NetRingFailureKind;
  /** The entry's operation (1 NET_WRITE, 2 NET_READ), handle, data GPA and length. */
  readonly operation: number;
  readonly handle: number;
  readonly gpa: bigint;
  readonly len: number;
  /** errno name, for WRITE_ERROR and KICK_READ. */
  readonly code?: string;
  /** Bytes written, for SHORT_WRITE. */
  readonly done: number;
  /** The host's ent_head and the guest's ent_tail when it failed. */
  readonly head: number;
  readonly tail: number;
}

/** The running ring thread. */
export interface NetRing {
  /** The kick's descriptors, open until stop(). */
  readonly kick: readonly NetRingKickFd[];
  /** Stops and joins the thread, then closes the kick; idempotent. */
  stop(): void;
  /** Why the thread gave up, once it has; undefined while it serves or after a clean stop. */
  failure(): NetRingFailure | undefined;
}

/**
 * A clock that costs no allocation: `read()` stores CLOCK_REALTIME's
 * nanoseconds since the epoch in `halves` as [low 32 bits, high 32 bits].
 */
export interface RealtimeClock {
  readonly halves: Uint32Array;
  read(): void;
}

/** A tap (or other network) device opened on the host. */
export interface NetDevice {
  readonly fd: number;
  readonly mtu: number;
}

/** Result of waiting for input on device descriptors. */
export interface PollSet {
  /** Waits until one of the fds is readable or `timeoutNs` passes; bit i set when fds[i] is readable. */
  wait(timeoutNs: number): number;
  close(): void;
}

export interface Platform {
  readonly name: string;
  readonly arch: Arch;
  /** Throws HvtError with a message saying what to do (no /dev/kvm, no permission, ...). */
  createVm(memSize: number): Vm;
  /** Opens a tap interface; throws an Error with `code` (errno name) on failure. */
  openNet(ifname: string): NetDevice;
  /**
   * Sets O_NONBLOCK on a descriptor the tender was handed (`--net:NAME=@NN`),
   * as `openNet`'s own are: then no read or write of it can hold a thread that
   * teardown waits for. Throws an Error with `code` (errno name) on failure.
   */
  setNonBlocking?(fd: number): void;
  /** A wait set over device fds (non-blocking readable check, nanosecond timeout). */
  createPollSet(fds: readonly number[]): PollSet;
  /** CLOCK_REALTIME in nanoseconds since the epoch. */
  walltimeNs(): bigint;
  /** The same clock without an allocation per reading (the WALLTIME exit path). */
  realtimeClock?(): RealtimeClock;
  /**
   * Makes SIGINT/SIGTERM end `Vm.run()` with ExitKind.SIGNAL and `PollSet.wait()`
   * early, instead of killing the process; the tender then reports them as the
   * reference does (`Exiting on signal <n>`). Replaces Node's own handlers for
   * these two signals. Call once, before the first run, from the running thread.
   */
  catchTerminationSignals(): void;
  /** The last SIGINT/SIGTERM caught since catchTerminationSignals(), or 0. */
  pendingSignal(): number;
  /**
   * Step 14, first half: starts whatever the runtime would otherwise start
   * lazily (thread pools), then reports what the runtime itself needs while
   * the guest runs (its event loops' descriptors, its threads, its clocks).
   * `declared` is everything else's share: those fds are not the runtime's.
   */
  prepareSandbox(declared: SandboxPolicy): SandboxNeeds;
  /**
   * Step 14: confines the process to `policy` for the rest of its life. Throws
   * HvtError saying which part failed: a sandbox that cannot be applied in full
   * is fatal. Afterwards leave only through `exit()`.
   */
  dropPrivileges(policy: SandboxPolicy, options?: SandboxOptions): SandboxReport;
  /** What dropPrivileges would apply for `policy`, as JSON-ready data; applies nothing. */
  describeSandbox(policy: SandboxPolicy, options?: SandboxOptions): unknown;
  /**
   * Ends the process now with `status`. A sandboxed process must leave this
   * way: the runtime's own teardown makes system calls the sandbox forbids.
   */
  exit(status: number): never;
  /**
   * Before the sandbox: arranges for the file `name` in the directory open at
   * `dirFd` (the file open at `fileFd`, which the caller created) to be
   * removed when this process ends, however it ends (exit, fatal error,
   * signal, SIGKILL), unless `keep()` was called first. The removal happens
   * outside this process, which may be sandboxed by then and unable to
   * unlink; the mechanism holds no sandbox policy of its own, only the
   * directory and the returned channel. It removes `name` only while it is
   * still the file at `fileFd`. Throws an Error with `code` when it cannot
   * be arranged. Absent: a platform that cannot (the caller then creates its
   * file only when it is sure to keep it).
   */
  removeFileAtExit?(dirFd: number, name: string, fileFd: number): FileRemoval;
  /**
   * A TCP socket listening on `address` (an IP literal) and `port` (0: any
   * free one), for a debugger. Throws an Error with `code` and `syscall`.
   */
  listenTcp?(address: string, port: number): TcpListener;
  /**
   * Waits for one connection on `listener` and closes it; the connection is
   * non-blocking with TCP_NODELAY. Undefined when SIGINT or SIGTERM ended the
   * wait (pendingSignal() says which).
   */
  acceptTcp?(listener: TcpListener): TcpConnection | undefined;
}

export interface TcpListener {
  readonly fd: number;
  /** The port bound (the one chosen when 0 was asked for). */
  readonly port: number;
}

export interface TcpConnection {
  readonly fd: number;
  /** The peer's address, as text. */
  readonly peer: string;
}

/** A file that goes when the process ends unless kept (Platform.removeFileAtExit). */
export interface FileRemoval {
  /**
   * This process's end of the channel (write-only; the sandbox policy must
   * allow `write` on it for `keep()`). The caller closes it when done with
   * the file: closed without `keep()`, or at the end of the process, the
   * file is removed.
   */
  readonly fd: number;
  /** The file stays after the process ends. Idempotent; never throws. */
  keep(): void;
}

/** How to drop privileges, from the command line. */
export interface SandboxOptions {
  /** Whom to become when started as root: a user name or number (default: nobody). */
  readonly user?: string;
  /** The group: a name or number (default: nogroup, else the user's own group). */
  readonly group?: string;
}

/** What dropPrivileges applied, for people (debug output, --print-policy). */
export interface SandboxReport {
  /** One line per mechanism applied. */
  readonly applied: readonly string[];
  /** Parts this host cannot provide and the design lets go (e.g. Landlock on an older kernel). */
  readonly unavailable: readonly string[];
}
