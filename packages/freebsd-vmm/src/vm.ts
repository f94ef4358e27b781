import { HvtError } from '@hvtjs/core';
import {
  ExitField,
  ExitKind,
  type SandboxNeeds,
  type Vm,
  type X86Registers,
  type X86Segment,
  type X86VcpuState,
} from '@hvtjs/core/platform';
import {
  checkMemSize,
  defaultVmName,
  PosixVm,
  residentPages,
  stderrWarn,
  vmFdRules,
} from '@hvtjs/posix-kit';
import {
  exitCodeName,
  FREEBSD_EXIT_FIELDS,
  FreeBsdExitField,
  type FreeBsdLine,
  freebsdIoctl,
  freebsdIoctlTable,
  freebsdRelease,
  freebsdVersion,
  segmentAccess,
  VmExitCode,
  VmReg,
  VmSuspendHow,
} from './abi.js';
import { vmmError } from './errors.js';
import { type NativeVm, native } from './native.js';

export { PAGE_SIZE } from '@hvtjs/posix-kit';

export interface CreateVmOptions {
  /** The VM's name (default `solo5-<pid>`, with `-<n>` for later VMs of this process). */
  name?: string;
  /** kern.osreldate to select the ABI for (default: the running kernel's). */
  osreldate?: number;
  /** Where the one-line warning for an untested release goes (default: stderr). */
  warn?: (text: string) => void;
}

/** The segment registers in the order the reference sets them, with vmm's numbers. */
const SEGMENTS: readonly {
  key: 'cs' | 'ss' | 'ds' | 'es' | 'fs' | 'gs' | 'tr' | 'ldt';
  reg: number;
}[] = [
  { key: 'cs', reg: VmReg.CS },
  { key: 'ss', reg: VmReg.SS },
  { key: 'ds', reg: VmReg.DS },
  { key: 'es', reg: VmReg.ES },
  { key: 'fs', reg: VmReg.FS },
  { key: 'gs', reg: VmReg.GS },
  { key: 'tr', reg: VmReg.TR },
  { key: 'ldt', reg: VmReg.LDTR },
];

/** The vmm calls that set up vCPU 0 from core's state (docs/guest-abi.md 13.4), in order. */
export type VcpuSetupCall =
  | { call: 'setRegister'; reg: number; value: number }
  | { call: 'setSegment'; reg: number; base: number; limit: number; access: number };

export function vcpuSetupCalls(state: X86VcpuState): VcpuSetupCall[] {
  const calls: VcpuSetupCall[] = [
    { call: 'setRegister', reg: VmReg.CR0, value: state.cr0 },
    { call: 'setRegister', reg: VmReg.CR3, value: state.cr3 },
    { call: 'setRegister', reg: VmReg.CR4, value: state.cr4 },
    { call: 'setRegister', reg: VmReg.EFER, value: state.efer },
  ];
  for (const { key, reg } of SEGMENTS) {
    const seg: X86Segment = state[key];
    calls.push({
      call: 'setSegment',
      reg,
      base: seg.base,
      limit: seg.limit,
      access: segmentAccess(seg),
    });
    calls.push({ call: 'setRegister', reg, value: seg.selector });
  }
  calls.push({
    call: 'setSegment',
    reg: VmReg.GDTR,
    base: state.gdt.base,
    limit: state.gdt.limit,
    access: 0,
  });
  calls.push({
    call: 'setSegment',
    reg: VmReg.IDTR,
    base: state.idt.base,
    limit: state.idt.limit,
    access: 0,
  });
  calls.push(
    { call: 'setRegister', reg: VmReg.RIP, value: state.rip },
    { call: 'setRegister', reg: VmReg.RFLAGS, value: state.rflags },
    { call: 'setRegister', reg: VmReg.RSP, value: state.rsp },
    { call: 'setRegister', reg: VmReg.RDI, value: state.rdi },
  );
  return calls;
}

/**
 * What a VM needs once the sandbox is on: VM_RUN (with the number of its
 * release line), the register reads for error reports and core dumps, and the
 * two ways to destroy it (the destroyer channel; on 15+ also /dev/vmmctl).
 */
export function vmSandboxNeeds(vm: {
  name: string;
  line: FreeBsdLine;
  vmFd: number;
  destroyerFd: number;
  ctlFd: number;
}): SandboxNeeds {
  const fds = vmFdRules({
    fd: vm.vmFd,
    what: `VM /dev/vmm/${vm.name}`,
    ioctls: ['VM_RUN', 'VM_GET_REGISTER', 'VM_GET_SEGMENT_DESCRIPTOR'],
    request: (name) => freebsdIoctl(name, vm.line),
    helperFd: vm.destroyerFd,
    helper: 'channel to the VM destroyer process',
  });
  if (vm.ctlFd >= 0) {
    fds.push({
      fd: vm.ctlFd,
      kind: 'hypervisor',
      owner: 'platform',
      what: '/dev/vmmctl (destroys the VM if the destroyer is gone)',
      ops: ['ioctl'],
      ioctls: [{ name: 'VMMCTL_VM_DESTROY', request: freebsdIoctl('VMMCTL_VM_DESTROY', vm.line) }],
    });
  }
  return { fds };
}

/**
 * The release line a VM on `osreldate` gets: HvtError before 13.0; for a
 * release after the newest known line, that line with a one-line warning.
 */
export function freebsdLineFor(
  osreldate: number,
  warn: (text: string) => void = stderrWarn('freebsd-vmm'),
): FreeBsdLine {
  const choice = freebsdRelease(osreldate);
  if (choice === undefined) {
    throw new HvtError(
      `FreeBSD ${Math.floor(osreldate / 100000)} is not supported (13.0 or later needed)`,
    );
  }
  if (choice.untested) {
    warn(`FreeBSD ${freebsdVersion(osreldate)} is untested; using the ${choice.abi}.x vmm layout`);
  }
  return choice.abi;
}

const LINES: readonly FreeBsdLine[] = [13, 14, 15];

/**
 * One single-vCPU vmm(4) VM with its guest RAM (docs/guest-abi.md 13.4).
 *
 * The VM is created by name; a destroyer process forked at creation destroys it
 * when asked (destroy()) or as soon as this process is gone, however it ends,
 * so the VM never outlives the tender and destruction needs no right that
 * capability mode takes away. Guest RAM is the VM device mapped shared, seen
 * through external ArrayBuffers; they stay valid after destroy().
 */
export class FreeBsdVm extends PosixVm<NativeVm> implements Vm {
  private constructor(
    name: string,
    readonly line: FreeBsdLine,
    vm: NativeVm,
  ) {
    super(name, vm, FREEBSD_EXIT_FIELDS, native);
  }

  protected vmmError(e: unknown): unknown {
    return vmmError(e, this.name);
  }

  /**
   * Creates the VM and `memSize` bytes of zeroed guest RAM. Failures are
   * HvtErrors in the reference's words with what to do, the addon's error as
   * `cause`.
   */
  static create(memSize: number, options: CreateVmOptions = {}): FreeBsdVm {
    checkMemSize(memSize);
    const addon = native();
    const osreldate = options.osreldate ?? addon.osreldate();
    const line = freebsdLineFor(osreldate, options.warn);
    // The binary must issue the numbers of the tables the tests checked.
    const expected = freebsdIoctlTable(line);
    const actual = addon.ioctlTable(LINES.indexOf(line));
    for (const [i, row] of expected.entries()) {
      if (actual[i]?.name !== row.name || actual[i]?.request !== row.request) {
        throw new Error(
          `addon ioctl table differs from src/abi.ts at ${row.name} (rebuild the addon)`,
        );
      }
    }
    const name = options.name ?? defaultVmName();
    let vm: NativeVm;
    try {
      vm = new addon.Vm(osreldate, name, memSize);
    } catch (e) {
      throw vmmError(e, name);
    }
    return new FreeBsdVm(name, line, vm);
  }

  initVcpuX86(state: X86VcpuState): { tscHz: number } {
    try {
      for (const c of vcpuSetupCalls(state)) {
        if (c.call === 'setRegister') this.vm.setRegister(c.reg, c.value);
        else this.vm.setSegment(c.reg, c.base, c.limit, c.access);
      }
      const tsc = native().tsc();
      if (!tsc.invariant) throw new HvtError('Host TSC is not invariant, cannot continue');
      this.vm.activate();
      return { tscHz: tsc.hz };
    } catch (e) {
      throw vmmError(e, this.name);
    }
  }

  getRegistersX86(): X86Registers {
    try {
      const reg = (r: number) => this.vm.getRegister(r);
      const sel = (r: number) => Number(this.vm.getRegister(r) & 0xffffn);
      return {
        rax: reg(VmReg.RAX),
        rbx: reg(VmReg.RBX),
        rcx: reg(VmReg.RCX),
        rdx: reg(VmReg.RDX),
        rsi: reg(VmReg.RSI),
        rdi: reg(VmReg.RDI),
        rsp: reg(VmReg.RSP),
        rbp: reg(VmReg.RBP),
        r8: reg(VmReg.R8),
        r9: reg(VmReg.R9),
        r10: reg(VmReg.R10),
        r11: reg(VmReg.R11),
        r12: reg(VmReg.R12),
        r13: reg(VmReg.R13),
        r14: reg(VmReg.R14),
        r15: reg(VmReg.R15),
        rip: reg(VmReg.RIP),
        rflags: reg(VmReg.RFLAGS),
        cs: sel(VmReg.CS),
        ss: sel(VmReg.SS),
        ds: sel(VmReg.DS),
        es: sel(VmReg.ES),
        fs: sel(VmReg.FS),
        gs: sel(VmReg.GS),
        // The descriptor's base works on every line (FS_BASE only exists from 14).
        fsBase: this.vm.getSegment(VmReg.FS).base,
        gsBase: this.vm.getSegment(VmReg.GS).base,
      };
    } catch (e) {
      throw vmmError(e, this.name);
    }
  }

  residentPages(gpa: number, len: number): Uint8Array | undefined {
    return residentPages(gpa, len, this.memory.size, (g, l) => this.vm.resident(g, l));
  }

  /** What this VM needs once the sandbox is on (see vmSandboxNeeds). */
  sandboxNeeds(): SandboxNeeds {
    return vmSandboxNeeds({
      name: this.name,
      line: this.line,
      vmFd: this.vm.fd,
      destroyerFd: this.vm.destroyerFd,
      ctlFd: this.vm.ctlFd,
    });
  }

  /** The reference's message for the exit run() last returned as OTHER (docs/guest-abi.md 13.4). */
  describeExit(kind: ExitKind): string | undefined {
    if (kind !== ExitKind.OTHER) return undefined;
    const e = this.exit;
    const code = e[ExitField.REASON]!;
    const u64 = (lo: number) => e[lo]! + e[lo + 1]! * 2 ** 32;
    const rip = `0x${BigInt(u64(FreeBsdExitField.RIP_LO)).toString(16)}`;
    const first = `unhandled exit: exitcode=${code}, rip=${rip}`;
    switch (code) {
      case VmExitCode.VMX:
        return (
          `${first}\nVMX: status=${e[FreeBsdExitField.VMX_STATUS]}, ` +
          `exit_reason=${e[ExitField.DETAIL]}, ` +
          `qualification=0x${BigInt(u64(FreeBsdExitField.QUALIFICATION_LO)).toString(16)}, ` +
          `inst_type=${e[FreeBsdExitField.VMX_INST_TYPE]}, inst_error=${e[FreeBsdExitField.VMX_INST_ERROR]}`
        );
      case VmExitCode.SVM:
        return (
          `${first}\nSVM: exitcode=0x${e[ExitField.DETAIL]!.toString(16)}, ` +
          `exitinfo1=0x${BigInt(u64(FreeBsdExitField.QUALIFICATION_LO)).toString(16)}, ` +
          `exitinfo2=0x${BigInt(u64(FreeBsdExitField.SVM_INFO2_LO)).toString(16)}`
        );
      case VmExitCode.SUSPENDED: {
        const how = e[ExitField.DETAIL];
        const name = Object.entries(VmSuspendHow).find(([, v]) => v === how)?.[0] ?? String(how);
        return `${first} (suspended: ${name})`;
      }
      default: {
        const name = exitCodeName(code);
        return name === undefined ? first : `${first} (${name})`;
      }
    }
  }
}
