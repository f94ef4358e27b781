import type { X86Registers, X86VcpuState } from '@hvtjs/core/platform';
import {
  chooseRelease,
  type IocDirName,
  ioc,
  type ReleaseChoice,
  type StructLayout,
  segmentAccess,
} from '@hvtjs/posix-kit';

/**
 * OpenBSD vmm(4) on amd64 as data, per release (docs/bsd-vmm.md section
 * 2): what changed when, the ioctl numbers, the struct layouts, and the
 * register-state encoding. This is the one place these numbers are written:
 * the native core's src/native/ob_abi_gen.h is generated from it
 * (src/abi-header.ts, `pnpm gen:abi`), and the tests compare it with the
 * document.
 */

/** The ioctl encoding, struct-layout types and VMX access rights both BSDs share. */
export * from '@hvtjs/posix-kit/ioc';

/** How one release's vmm(4) interface looks (2.1). */
export interface ReleaseAbi {
  readonly release: string;
  /** The `OpenBSD` macro of <sys/param.h>. */
  readonly osrev: number;
  /** Which struct vm_create_params: 74 (600 bytes), 76 or 78 (2656 bytes, vcp_id moved). */
  readonly createLayout: 74 | 76 | 78;
  /** Which struct vm_run_params: 74 (vrp_continue/vrp_irq, 32 bytes) or 76 (vrp_inject, 40). */
  readonly runLayout: 74 | 76;
  /** Segment indices ES, CS, SS, DS, FS, GS (7.5+) rather than CS, DS, ES, FS, GS, SS. */
  readonly newSegmentOrder: boolean;
  /** The tender moves RIP past an I/O instruction itself (7.5+). */
  readonly userlandRipAdvance: boolean;
  /** vmm allocates guest memory and maps it into the creator, immutable (7.8+). */
  readonly kernelMemory: boolean;
}

export const OPENBSD_RELEASES: readonly ReleaseAbi[] = [
  {
    release: '7.4',
    osrev: 202310,
    createLayout: 74,
    runLayout: 74,
    newSegmentOrder: false,
    userlandRipAdvance: false,
    kernelMemory: false,
  },
  {
    release: '7.5',
    osrev: 202404,
    createLayout: 74,
    runLayout: 74,
    newSegmentOrder: true,
    userlandRipAdvance: true,
    kernelMemory: false,
  },
  {
    release: '7.6',
    osrev: 202409,
    createLayout: 76,
    runLayout: 76,
    newSegmentOrder: true,
    userlandRipAdvance: true,
    kernelMemory: false,
  },
  {
    release: '7.7',
    osrev: 202504,
    createLayout: 76,
    runLayout: 76,
    newSegmentOrder: true,
    userlandRipAdvance: true,
    kernelMemory: false,
  },
  {
    release: '7.8',
    osrev: 202510,
    createLayout: 78,
    runLayout: 76,
    newSegmentOrder: true,
    userlandRipAdvance: true,
    kernelMemory: true,
  },
  {
    // The document records no interface change in 7.9 (vm_dying is kernel-internal).
    release: '7.9',
    osrev: 202605,
    createLayout: 78,
    runLayout: 76,
    newSegmentOrder: true,
    userlandRipAdvance: true,
    kernelMemory: true,
  },
];

/** "7.6" (or "7.6-current", "8.0-beta") as 706; NaN for anything else. */
export function openbsdVersion(osrelease: string): number {
  const m = /^(\d+)\.(\d)(?:\b|$)/.exec(osrelease.trim());
  return m === null ? Number.NaN : Number(m[1]) * 100 + Number(m[2]);
}

/**
 * The layout a kern.osrelease value gets, by release number: each known
 * release's from its own up to the next known one, the newest (7.9) for every
 * later release and -current, marked untested past it; undefined before 7.4
 * or for a string that is not a release number.
 */
export function chooseOpenbsdRelease(osrelease: string): ReleaseChoice<ReleaseAbi> | undefined {
  const newest = OPENBSD_RELEASES[OPENBSD_RELEASES.length - 1]!;
  return chooseRelease(
    OPENBSD_RELEASES,
    (r) => openbsdVersion(r.release),
    openbsdVersion(osrelease),
    openbsdVersion(newest.release) + 1,
  );
}

/** The ABI for a kern.osrelease value ("7.6", "8.0"); undefined before 7.4. */
export function openbsdRelease(osrelease: string): ReleaseAbi | undefined {
  return chooseOpenbsdRelease(osrelease)?.abi;
}

const segmentInfo: StructLayout = {
  size: 24,
  fields: { vsi_sel: 0, vsi_limit: 4, vsi_ar: 8, vsi_base: 16 },
};
const regState: StructLayout = {
  size: 568,
  fields: {
    vrs_gprs: 0,
    vrs_crs: 144,
    vrs_msrs: 224,
    vrs_drs: 280,
    vrs_sregs: 328,
    vrs_gdtr: 520,
    vrs_idtr: 544,
  },
};

const createLayouts: Record<74 | 76 | 78, StructLayout> = {
  74: {
    size: 600,
    fields: { vcp_nmemranges: 0, vcp_ncpus: 8, vcp_memranges: 16, vcp_name: 528, vcp_id: 592 },
  },
  76: {
    size: 2656,
    fields: {
      vcp_nmemranges: 0,
      vcp_ncpus: 8,
      vcp_memranges: 16,
      vcp_name: 528,
      vcp_sev: 592,
      vcp_id: 596,
      vcp_poscbit: 600,
      vcp_asid: 604,
    },
  },
  78: {
    size: 2656,
    fields: {
      vcp_nmemranges: 0,
      vcp_ncpus: 8,
      vcp_memranges: 16,
      vcp_name: 528,
      vcp_sev: 592,
      vcp_seves: 596,
      vcp_id: 600,
      vcp_poscbit: 604,
      vcp_asid: 608,
    },
  },
};

const runLayouts: Record<74 | 76, StructLayout> = {
  74: {
    size: 32,
    fields: {
      vrp_vm_id: 0,
      vrp_vcpu_id: 4,
      vrp_continue: 8,
      vrp_irq: 10,
      vrp_intr_pending: 12,
      vrp_exit: 16,
      vrp_exit_reason: 24,
      vrp_irqready: 26,
    },
  },
  76: {
    size: 40,
    fields: {
      vrp_vm_id: 0,
      vrp_vcpu_id: 4,
      vrp_inject: 8,
      vrp_intr_pending: 20,
      vrp_exit: 24,
      vrp_exit_reason: 32,
      vrp_irqready: 34,
    },
  },
};

/** The struct layouts of `abi`'s release (2.5). */
export function openbsdLayouts(abi: ReleaseAbi): Readonly<Record<string, StructLayout>> {
  return {
    vm_mem_range: { size: 32, fields: { vmr_gpa: 0, vmr_va: 8, vmr_size: 16, vmr_type: 24 } },
    vm_create_params: createLayouts[abi.createLayout],
    vcpu_segment_info: segmentInfo,
    vcpu_reg_state: regState,
    vm_resetcpu_params: { size: 576, fields: { vrp_vm_id: 0, vrp_vcpu_id: 4, vrp_init_state: 8 } },
    vm_rwregs_params: {
      size: 584,
      fields: { vrwp_vm_id: 0, vrwp_vcpu_id: 4, vrwp_mask: 8, vrwp_regs: 16 },
    },
    vm_terminate_params: { size: 4, fields: { vtp_vm_id: 0 } },
    vm_exit_inout: {
      size: 16,
      fields: {
        vei_size: 0,
        vei_dir: 1,
        vei_rep: 2,
        vei_string: 3,
        vei_encoding: 4,
        vei_port: 6,
        vei_data: 8,
        vei_insn_len: 12,
      },
    },
    vm_exit: { size: 600, fields: { vei: 0, vee: 0, vrs: 24, cpl: 592 } },
    vm_run_params: runLayouts[abi.runLayout],
    vcpu_inject_event: { size: 12, fields: { vie_vector: 0, vie_errorcode: 4, vie_type: 8 } },
    ifreq: { size: 32, fields: { name: 0, flags: 16, mtu: 16 } },
  };
}

function sizeOf(abi: ReleaseAbi, struct: string): number {
  const layout = openbsdLayouts(abi)[struct];
  if (layout === undefined) throw new Error(`no ${struct} on OpenBSD ${abi.release}`);
  return layout.size;
}

const before76 = (abi: ReleaseAbi) => abi.createLayout === 74;

/** The vmm commands of 2.6, in the order of enum ob_ioctl in ob_abi.h. */
const IOCTL_SPECS: readonly {
  name: string;
  nr: number;
  on: (abi: ReleaseAbi) => { dir: IocDirName; size: number } | undefined;
}[] = [
  {
    name: 'VMM_IOC_CREATE',
    nr: 1,
    on: (a) => ({ dir: 'INOUT', size: sizeOf(a, 'vm_create_params') }),
  },
  { name: 'VMM_IOC_RUN', nr: 2, on: (a) => ({ dir: 'INOUT', size: sizeOf(a, 'vm_run_params') }) },
  { name: 'VMM_IOC_INFO', nr: 3, on: () => ({ dir: 'INOUT', size: 24 }) },
  {
    name: 'VMM_IOC_TERM',
    nr: 4,
    on: (a) => ({ dir: 'IN', size: sizeOf(a, 'vm_terminate_params') }),
  },
  {
    name: 'VMM_IOC_RESETCPU',
    nr: 5,
    on: (a) => ({ dir: 'IN', size: sizeOf(a, 'vm_resetcpu_params') }),
  },
  { name: 'VMM_IOC_INTR', nr: 6, on: () => ({ dir: 'IN', size: 12 }) },
  {
    name: 'VMM_IOC_READREGS',
    nr: 7,
    on: (a) => ({ dir: 'INOUT', size: sizeOf(a, 'vm_rwregs_params') }),
  },
  {
    name: 'VMM_IOC_WRITEREGS',
    nr: 8,
    on: (a) => ({ dir: 'IN', size: sizeOf(a, 'vm_rwregs_params') }),
  },
  {
    name: 'VMM_IOC_SHAREMEM',
    nr: 11,
    on: (a) => (a.kernelMemory ? { dir: 'INOUT', size: 656 } : { dir: 'IN', size: 528 }),
  },
  {
    name: 'VMM_IOC_MPROTECT_EPT',
    nr: 11,
    on: (a) => (before76(a) ? { dir: 'IN', size: 32 } : undefined),
  },
];

export type OpenBsdIoctlName =
  | 'VMM_IOC_CREATE'
  | 'VMM_IOC_RUN'
  | 'VMM_IOC_INFO'
  | 'VMM_IOC_TERM'
  | 'VMM_IOC_RESETCPU'
  | 'VMM_IOC_INTR'
  | 'VMM_IOC_READREGS'
  | 'VMM_IOC_WRITEREGS'
  | 'VMM_IOC_SHAREMEM'
  | 'VMM_IOC_MPROTECT_EPT';

/** The command table of a release, in the native table's order; request 0 where absent. */
export function openbsdIoctlTable(abi: ReleaseAbi): { name: string; request: number }[] {
  return IOCTL_SPECS.map((spec) => {
    const how = spec.on(abi);
    return { name: spec.name, request: how ? ioc(how.dir, 'V', spec.nr, how.size) : 0 };
  });
}

export function openbsdIoctl(name: OpenBsdIoctlName, abi: ReleaseAbi): number {
  const entry = openbsdIoctlTable(abi).find((e) => e.name === name);
  if (entry === undefined || entry.request === 0) {
    throw new Error(`${name} does not exist on OpenBSD ${abi.release}`);
  }
  return entry.request;
}

/** SIOCGIFFLAGS = _IOWR('i', 17, struct ifreq); SIOCGIFMTU = _IOWR('i', 126, struct ifreq). */
export const SIOCGIFFLAGS = ioc('INOUT', 'i', 17, 32);
export const SIOCGIFMTU = ioc('INOUT', 'i', 126, 32);

/** Exit reasons the tender sees (2.4). */
export const ExitReason = {
  NONE: 0xffff,
  TERMINATED: 0xfffe,
  VMX_TRIPLE_FAULT: 2,
  VMX_HLT: 12,
  VMX_IO: 30,
  VMX_EPT_VIOLATION: 48,
  SVM_HLT: 0x78,
  SVM_IOIO: 0x7b,
  SVM_SHUTDOWN: 0x7f,
  SVM_NPF: 0x400,
} as const;

/** Indices into the addon's exit array after core's ExitField (0-7). */
export const OpenBsdExitField = { INSN_LEN: 8 } as const;
export const OPENBSD_EXIT_FIELDS = 9;

/** vrs_gprs indices. */
export const Gpr = {
  RAX: 0,
  RCX: 1,
  RDX: 2,
  RBX: 3,
  RSP: 4,
  RBP: 5,
  RSI: 6,
  RDI: 7,
  R8: 8,
  R9: 9,
  R10: 10,
  R11: 11,
  R12: 12,
  R13: 13,
  R14: 14,
  R15: 15,
  RIP: 16,
  RFLAGS: 17,
} as const;
/** vrs_crs indices. */
export const Cr = { CR0: 0, CR2: 1, CR3: 2, CR4: 3, CR8: 4, XCR0: 5 } as const;
/** vrs_msrs indices. */
export const Msr = {
  EFER: 0,
  STAR: 1,
  LSTAR: 2,
  CSTAR: 3,
  SFMASK: 4,
  KGSBASE: 5,
  MISC_ENABLE: 6,
} as const;

type SegmentKey = 'cs' | 'ds' | 'es' | 'fs' | 'gs' | 'ss' | 'ldt' | 'tr';

/** vrs_sregs indices: the order changed in 7.5 (2.1). */
export function segmentIndex(abi: ReleaseAbi): Readonly<Record<SegmentKey, number>> {
  return abi.newSegmentOrder
    ? { es: 0, cs: 1, ss: 2, ds: 3, fs: 4, gs: 5, ldt: 6, tr: 7 }
    : { cs: 0, ds: 1, es: 2, fs: 3, gs: 4, ss: 5, ldt: 6, tr: 7 };
}

/** XCR0 = x87 only, as the reference sets it (docs/guest-abi.md 6.1). */
export const XCR0_X87 = 1;

const REG_STATE_SIZE = regState.size;

/**
 * Core's initial vCPU state (docs/guest-abi.md 6.1) as the struct vcpu_reg_state that
 * VMM_IOC_RESETCPU loads in one go, for `abi`'s segment order. Every field core
 * does not name stays zero, as the reference's zeroed struct does.
 */
export function encodeRegState(state: X86VcpuState, abi: ReleaseAbi): Uint8Array {
  const bytes = new Uint8Array(REG_STATE_SIZE);
  const view = new DataView(bytes.buffer);
  const f = regState.fields;
  const u64 = (offset: number, value: number) => view.setBigUint64(offset, BigInt(value), true);
  u64(f.vrs_gprs! + 8 * Gpr.RIP, state.rip);
  u64(f.vrs_gprs! + 8 * Gpr.RFLAGS, state.rflags);
  u64(f.vrs_gprs! + 8 * Gpr.RSP, state.rsp);
  u64(f.vrs_gprs! + 8 * Gpr.RDI, state.rdi);
  u64(f.vrs_crs! + 8 * Cr.CR0, state.cr0);
  u64(f.vrs_crs! + 8 * Cr.CR3, state.cr3);
  u64(f.vrs_crs! + 8 * Cr.CR4, state.cr4);
  u64(f.vrs_crs! + 8 * Cr.XCR0, XCR0_X87);
  u64(f.vrs_msrs! + 8 * Msr.EFER, state.efer);
  const segment = (offset: number, sel: number, limit: number, ar: number, base: number) => {
    view.setUint16(offset + segmentInfo.fields.vsi_sel!, sel, true);
    view.setUint32(offset + segmentInfo.fields.vsi_limit!, limit >>> 0, true);
    view.setUint32(offset + segmentInfo.fields.vsi_ar!, ar >>> 0, true);
    view.setBigUint64(offset + segmentInfo.fields.vsi_base!, BigInt(base), true);
  };
  const index = segmentIndex(abi);
  for (const key of Object.keys(index) as SegmentKey[]) {
    const seg = key === 'ldt' ? state.ldt : state[key];
    segment(
      f.vrs_sregs! + segmentInfo.size * index[key],
      seg.selector,
      seg.limit,
      segmentAccess(seg),
      seg.base,
    );
  }
  segment(f.vrs_gdtr!, 0, state.gdt.limit, 0, state.gdt.base);
  segment(f.vrs_idtr!, 0, state.idt.limit, 0, state.idt.base);
  return bytes;
}

/** The registers core needs (messages, core dumps) from a struct vcpu_reg_state. */
export function decodeRegisters(bytes: Uint8Array, abi: ReleaseAbi): X86Registers {
  if (bytes.byteLength !== REG_STATE_SIZE) throw new RangeError('vcpu_reg_state is 568 bytes');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const f = regState.fields;
  const gpr = (i: number) => view.getBigUint64(f.vrs_gprs! + 8 * i, true);
  const index = segmentIndex(abi);
  const seg = (key: SegmentKey) => f.vrs_sregs! + segmentInfo.size * index[key];
  const sel = (key: SegmentKey) => view.getUint16(seg(key) + segmentInfo.fields.vsi_sel!, true);
  const base = (key: SegmentKey) =>
    view.getBigUint64(seg(key) + segmentInfo.fields.vsi_base!, true);
  return {
    rax: gpr(Gpr.RAX),
    rbx: gpr(Gpr.RBX),
    rcx: gpr(Gpr.RCX),
    rdx: gpr(Gpr.RDX),
    rsi: gpr(Gpr.RSI),
    rdi: gpr(Gpr.RDI),
    rsp: gpr(Gpr.RSP),
    rbp: gpr(Gpr.RBP),
    r8: gpr(Gpr.R8),
    r9: gpr(Gpr.R9),
    r10: gpr(Gpr.R10),
    r11: gpr(Gpr.R11),
    r12: gpr(Gpr.R12),
    r13: gpr(Gpr.R13),
    r14: gpr(Gpr.R14),
    r15: gpr(Gpr.R15),
    rip: gpr(Gpr.RIP),
    rflags: gpr(Gpr.RFLAGS),
    cs: sel('cs'),
    ss: sel('ss'),
    ds: sel('ds'),
    es: sel('es'),
    fs: sel('fs'),
    gs: sel('gs'),
    fsBase: base('fs'),
    gsBase: base('gs'),
  };
}
