/**
 * FreeBSD vmm(4) on amd64 as data: ioctl numbers, struct layouts and the
 * constants the tender uses, per release line (docs/bsd-vmm.md section 1).
 * This is the one place these numbers are written: the native core's
 * src/native/fb_abi_gen.h is generated from it (src/abi-header.ts, `pnpm
 * gen:abi`), and the tests compare it with the document.
 */

import {
  chooseRelease,
  type IocDirName,
  type IoctlEntry,
  ioc,
  type ReleaseChoice,
  type StructLayout,
} from '@hvtjs/posix-kit';

/** The ioctl encoding, struct-layout types and VMX access rights both BSDs share. */
export * from '@hvtjs/posix-kit/ioc';

/** Release lines whose vmm(4) interfaces differ (1.1). */
export type FreeBsdLine = 13 | 14 | 15;
export const FREEBSD_LINES: readonly FreeBsdLine[] = [13, 14, 15];

/** The first kern.osreldate of a release line: major * 100000. */
const OSRELDATE_PER_MAJOR = 100000;

/**
 * The release line whose layouts `osreldate` gets: 13.0-13.x 13, 14.x 14, 15.x
 * and every later release 15 (marked untested from 16.0 on: its layout is
 * assumed to be 15's); undefined below 13.0 (12 is not supported).
 */
export function freebsdRelease(osreldate: number): ReleaseChoice<FreeBsdLine> | undefined {
  const newest = FREEBSD_LINES[FREEBSD_LINES.length - 1]!;
  return chooseRelease(
    FREEBSD_LINES,
    (line) => line * OSRELDATE_PER_MAJOR,
    osreldate,
    (newest + 1) * OSRELDATE_PER_MAJOR,
  );
}

/** The release line of a kern.osreldate value; undefined below 13.0. */
export function freebsdLine(osreldate: number): FreeBsdLine | undefined {
  return freebsdRelease(osreldate)?.abi;
}

/** "15.1" for 1501000: the release a kern.osreldate value names. */
export function freebsdVersion(osreldate: number): string {
  const major = Math.floor(osreldate / OSRELDATE_PER_MAJOR);
  return `${major}.${Math.floor(osreldate / 1000) % 100}`;
}

const vmExit: StructLayout = {
  size: 136,
  fields: {
    exitcode: 0,
    inst_length: 4,
    rip: 8,
    u: 16,
    'u.inout.port': 18,
    'u.inout.eax': 20,
    'u.vmx.status': 16,
    'u.vmx.exit_reason': 20,
    'u.vmx.exit_qualification': 24,
    'u.vmx.inst_type': 32,
    'u.vmx.inst_error': 36,
    'u.svm.exitcode': 16,
    'u.svm.exitinfo1': 24,
    'u.svm.exitinfo2': 32,
    'u.suspended.how': 16,
  },
};

const common: Readonly<Record<string, StructLayout>> = {
  vm_exit: vmExit,
  vm_memmap: {
    size: 40,
    fields: { gpa: 0, segid: 8, segoff: 16, len: 24, prot: 32, flags: 36 },
  },
  vm_register: { size: 16, fields: { cpuid: 0, regnum: 4, regval: 8 } },
  vm_seg_desc: {
    size: 24,
    fields: { cpuid: 0, regnum: 4, 'desc.base': 8, 'desc.limit': 16, 'desc.access': 20 },
  },
  vm_capability: { size: 16, fields: { cpuid: 0, captype: 4, capval: 8, allcpus: 12 } },
  vm_activate_cpu: { size: 4, fields: { vcpuid: 0 } },
  vm_suspend: { size: 4, fields: { how: 0 } },
  ifreq: { size: 32, fields: { name: 0, mtu: 16 } },
};

const vmRun13: StructLayout = { size: 144, fields: { cpuid: 0, vm_exit: 8 } };
const vmRun14: StructLayout = {
  size: 32,
  fields: { cpuid: 0, cpuset: 8, cpusetsize: 16, vm_exit: 24 },
};
const vmMemseg14: StructLayout = { size: 32, fields: { segid: 0, len: 8, name: 16 } };
const vmMemseg15: StructLayout = {
  size: 56,
  fields: { segid: 0, len: 8, name: 16, ds_mask: 32, ds_mask_size: 40, ds_policy: 48 },
};

/** Struct layouts per release line (1.4). */
export const FREEBSD_LAYOUTS: Readonly<
  Record<FreeBsdLine, Readonly<Record<string, StructLayout>>>
> = {
  13: { ...common, vm_run: vmRun13, vm_memseg: vmMemseg14 },
  14: { ...common, vm_run: vmRun14, vm_memseg: vmMemseg14 },
  15: {
    ...common,
    vm_run: vmRun14,
    vm_memseg: vmMemseg15,
    vmmctl_vm_create: { size: 296, fields: { name: 0, reserved: 232 } },
  },
};

function sizeOf(line: FreeBsdLine, struct: string): number {
  const layout = FREEBSD_LAYOUTS[line][struct];
  if (layout === undefined) throw new Error(`no ${struct} on FreeBSD ${line}`);
  return layout.size;
}

interface IoctlSpec {
  readonly name: string;
  readonly group: 'v' | 'V';
  readonly nr: number;
  /** Direction and argument size on each line that has the command. */
  readonly on: (line: FreeBsdLine) => { dir: IocDirName; size: number } | undefined;
}

/** struct vm_register_set {int cpuid; unsigned count; const int *regnums; uint64_t *regvals}. */
const VM_REGISTER_SET_SIZE = 24;

/** The vmm commands of 1.3, in the order of enum fb_ioctl in fb_abi.h. */
const IOCTL_SPECS: readonly IoctlSpec[] = [
  {
    name: 'VM_RUN',
    group: 'v',
    nr: 1,
    on: (l) => ({ dir: l === 13 ? 'INOUT' : 'IN', size: sizeOf(l, 'vm_run') }),
  },
  {
    name: 'VM_SET_CAPABILITY',
    group: 'v',
    nr: 2,
    on: (l) => ({ dir: 'IN', size: sizeOf(l, 'vm_capability') }),
  },
  {
    name: 'VM_GET_CAPABILITY',
    group: 'v',
    nr: 3,
    on: (l) => ({ dir: 'INOUT', size: sizeOf(l, 'vm_capability') }),
  },
  {
    name: 'VM_SUSPEND',
    group: 'v',
    nr: 4,
    on: (l) => ({ dir: 'IN', size: sizeOf(l, 'vm_suspend') }),
  },
  { name: 'VM_REINIT', group: 'v', nr: 5, on: () => ({ dir: 'VOID', size: 0 }) },
  {
    name: 'VM_ALLOC_MEMSEG',
    group: 'v',
    nr: 14,
    on: (l) => ({ dir: 'IN', size: sizeOf(l, 'vm_memseg') }),
  },
  {
    name: 'VM_MMAP_MEMSEG',
    group: 'v',
    nr: 16,
    on: (l) => ({ dir: 'IN', size: sizeOf(l, 'vm_memmap') }),
  },
  {
    name: 'VM_SET_REGISTER',
    group: 'v',
    nr: 20,
    on: (l) => ({ dir: 'IN', size: sizeOf(l, 'vm_register') }),
  },
  {
    name: 'VM_GET_REGISTER',
    group: 'v',
    nr: 21,
    on: (l) => ({ dir: 'INOUT', size: sizeOf(l, 'vm_register') }),
  },
  {
    name: 'VM_SET_SEGMENT_DESCRIPTOR',
    group: 'v',
    nr: 22,
    on: (l) => ({ dir: 'IN', size: sizeOf(l, 'vm_seg_desc') }),
  },
  {
    name: 'VM_GET_SEGMENT_DESCRIPTOR',
    group: 'v',
    nr: 23,
    on: (l) => ({ dir: 'INOUT', size: sizeOf(l, 'vm_seg_desc') }),
  },
  {
    name: 'VM_SET_REGISTER_SET',
    group: 'v',
    nr: 24,
    on: () => ({ dir: 'IN', size: VM_REGISTER_SET_SIZE }),
  },
  {
    name: 'VM_GET_REGISTER_SET',
    group: 'v',
    nr: 25,
    on: () => ({ dir: 'INOUT', size: VM_REGISTER_SET_SIZE }),
  },
  {
    name: 'VM_ACTIVATE_CPU',
    group: 'v',
    nr: 90,
    on: (l) => ({ dir: 'IN', size: sizeOf(l, 'vm_activate_cpu') }),
  },
  {
    name: 'VMMCTL_VM_CREATE',
    group: 'V',
    nr: 0,
    on: (l) => (l >= 15 ? { dir: 'INOUT', size: sizeOf(l, 'vmmctl_vm_create') } : undefined),
  },
  {
    name: 'VMMCTL_VM_DESTROY',
    group: 'V',
    nr: 1,
    on: (l) => (l >= 15 ? { dir: 'INOUT', size: sizeOf(l, 'vmmctl_vm_create') } : undefined),
  },
];

export type FreeBsdIoctlName =
  | 'VM_RUN'
  | 'VM_SET_CAPABILITY'
  | 'VM_GET_CAPABILITY'
  | 'VM_SUSPEND'
  | 'VM_REINIT'
  | 'VM_ALLOC_MEMSEG'
  | 'VM_MMAP_MEMSEG'
  | 'VM_SET_REGISTER'
  | 'VM_GET_REGISTER'
  | 'VM_SET_SEGMENT_DESCRIPTOR'
  | 'VM_GET_SEGMENT_DESCRIPTOR'
  | 'VM_SET_REGISTER_SET'
  | 'VM_GET_REGISTER_SET'
  | 'VM_ACTIVATE_CPU'
  | 'VMMCTL_VM_CREATE'
  | 'VMMCTL_VM_DESTROY';

/** The command table of `line`, in the native table's order. */
export function freebsdIoctlTable(line: FreeBsdLine): IoctlEntry[] {
  return IOCTL_SPECS.map((spec) => {
    const how = spec.on(line);
    return { name: spec.name, request: how ? ioc(how.dir, spec.group, spec.nr, how.size) : 0 };
  });
}

/** The number `name` has on `line`; throws where the line lacks it. */
export function freebsdIoctl(name: FreeBsdIoctlName, line: FreeBsdLine): number {
  const entry = freebsdIoctlTable(line).find((e) => e.name === name);
  if (entry === undefined || entry.request === 0) {
    throw new Error(`${name} does not exist on FreeBSD ${line}`);
  }
  return entry.request;
}

/** SIOCGIFMTU = _IOWR('i', 51, struct ifreq). */
export const SIOCGIFMTU = ioc('INOUT', 'i', 51, 32);

/** enum vm_reg_name (identical in 13, 14 and 15 up to TPR). */
export const VmReg = {
  RAX: 0,
  RBX: 1,
  RCX: 2,
  RDX: 3,
  RSI: 4,
  RDI: 5,
  RBP: 6,
  R8: 7,
  R9: 8,
  R10: 9,
  R11: 10,
  R12: 11,
  R13: 12,
  R14: 13,
  R15: 14,
  CR0: 15,
  CR3: 16,
  CR4: 17,
  DR7: 18,
  RSP: 19,
  RIP: 20,
  RFLAGS: 21,
  ES: 22,
  CS: 23,
  SS: 24,
  DS: 25,
  FS: 26,
  GS: 27,
  LDTR: 28,
  TR: 29,
  IDTR: 30,
  GDTR: 31,
  EFER: 32,
  CR2: 33,
  /** 14 and later only. */
  FS_BASE: 45,
  /** 14 and later only. */
  GS_BASE: 46,
} as const;

/** enum vm_exitcode. */
export const VmExitCode = {
  INOUT: 0,
  VMX: 1,
  BOGUS: 2,
  RDMSR: 3,
  WRMSR: 4,
  HLT: 5,
  MTRAP: 6,
  PAUSE: 7,
  PAGING: 8,
  INST_EMUL: 9,
  SPINUP_AP: 10,
  RENDEZVOUS: 12,
  IOAPIC_EOI: 13,
  SUSPENDED: 14,
  INOUT_STR: 15,
  TASK_SWITCH: 16,
  MONITOR: 17,
  MWAIT: 18,
  SVM: 19,
  REQIDLE: 20,
  DEBUG: 21,
  VMINSN: 22,
  BPT: 23,
  IPI: 24,
  DB: 25,
} as const;

/** enum vm_suspend_how. */
export const VmSuspendHow = {
  NONE: 0,
  RESET: 1,
  POWEROFF: 2,
  HALT: 3,
  TRIPLEFAULT: 4,
  DESTROY: 5,
} as const;

/** The name of an exit code, for messages. */
export function exitCodeName(code: number): string | undefined {
  return Object.entries(VmExitCode).find(([, v]) => v === code)?.[0];
}

/** Indices into the addon's exit array: core's ExitField (0-7), then FreeBSD details. */
export const FreeBsdExitField = {
  RIP_LO: 8,
  RIP_HI: 9,
  INST_LENGTH: 10,
  VMX_STATUS: 11,
  QUALIFICATION_LO: 12,
  QUALIFICATION_HI: 13,
  VMX_INST_TYPE: 14,
  VMX_INST_ERROR: 15,
  SVM_INFO2_LO: 16,
  SVM_INFO2_HI: 17,
} as const;
export const FREEBSD_EXIT_FIELDS = 18;
