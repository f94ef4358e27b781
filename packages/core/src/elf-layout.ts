/**
 * The ELF64 structs hvt.js reads from a unikernel (elf.ts, notes.ts) and
 * writes into a core file (coredump.ts), declared once as data: each field's
 * offset and width in bytes, little-endian as on both supported
 * architectures. Readers and writers reach fields only through these
 * declarations and the accessors below; no field offset is written anywhere
 * else. The guest-visible structs are declared the same way in guest-abi.ts.
 */

/** One field of a file struct: where it is, how wide, and how many elements (an array). */
export interface FileField {
  readonly offset: number;
  readonly size: 1 | 2 | 4 | 8;
  readonly count: number;
}

/** A file struct: its C type, its size and its fields by name (the C members' names). */
export interface FileStruct<F extends string> {
  readonly name: string;
  readonly size: number;
  readonly fields: { readonly [K in F]: FileField };
}

function fileStruct<F extends string>(
  name: string,
  size: number,
  fields: { readonly [K in F]: readonly [offset: number, size: 1 | 2 | 4 | 8, count?: number] },
): FileStruct<F> {
  const out = {} as { [K in F]: FileField };
  for (const key of Object.keys(fields) as F[]) {
    const [offset, fieldSize, count = 1] = fields[key];
    if (offset + fieldSize * count > size)
      throw new Error(`${name}.${key} lies outside the struct`);
    out[key] = { offset, size: fieldSize, count };
  }
  return { name, size, fields: out };
}

/** e_ident's first four bytes, "\x7fELF", read as a little-endian u32. */
export const ELF_MAGIC = 0x464c457f;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const EV_CURRENT = 1;

export const Elf64Ehdr = fileStruct('Elf64_Ehdr', 64, {
  /** EI_MAG0 to EI_MAG3, read as one u32. */
  ei_mag0: [0, 4],
  ei_class: [4, 1],
  ei_data: [5, 1],
  ei_version: [6, 1],
  ei_osabi: [7, 1],
  e_type: [16, 2],
  e_machine: [18, 2],
  e_version: [20, 4],
  e_entry: [24, 8],
  e_phoff: [32, 8],
  e_shoff: [40, 8],
  e_flags: [48, 4],
  e_ehsize: [52, 2],
  e_phentsize: [54, 2],
  e_phnum: [56, 2],
  e_shentsize: [58, 2],
  e_shnum: [60, 2],
  e_shstrndx: [62, 2],
});

export const Elf64Phdr = fileStruct('Elf64_Phdr', 56, {
  p_type: [0, 4],
  p_flags: [4, 4],
  p_offset: [8, 8],
  p_vaddr: [16, 8],
  p_paddr: [24, 8],
  p_filesz: [32, 8],
  p_memsz: [40, 8],
  p_align: [48, 8],
});

export const Elf64Nhdr = fileStruct('Elf64_Nhdr', 12, {
  n_namesz: [0, 4],
  n_descsz: [4, 4],
  n_type: [8, 4],
});

/**
 * Linux x86_64 `struct elf_prstatus`, the NT_PRSTATUS descriptor gdb and
 * other core readers expect at this size: pr_pid after the siginfo, cursig
 * and signal masks; pr_reg (`struct user_regs_struct`, 27 u64s) after the
 * four pids and four timevals.
 */
export const ElfPrstatusX86_64 = fileStruct('struct elf_prstatus', 336, {
  pr_pid: [32, 4],
  pr_reg: [112, 8, 27],
});

/**
 * The same on aarch64: pr_reg is `struct user_pt_regs` (x0-x30, sp, pc,
 * pstate). Not in ELF_FILE_STRUCTS: the host's <sys/procfs.h> is x86_64's.
 */
export const ElfPrstatusAarch64 = fileStruct('struct elf_prstatus', 392, {
  pr_pid: [32, 4],
  pr_reg: [112, 8, 34],
});

/**
 * The ABI1 note's descriptor (docs/guest-abi.md 4.2), Solo5's `struct
 * abi1_info`: the tender reads its target and version.
 */
export const Abi1Info = fileStruct('struct abi1_info', 16, {
  target: [0, 4],
  version: [4, 4],
  reserved0: [8, 4],
  reserved1: [12, 4],
});

/** The ELF structs, as the system's <elf.h> and <sys/procfs.h> declare them (layout test). */
export const ELF_FILE_STRUCTS = [Elf64Ehdr, Elf64Phdr, Elf64Nhdr, ElfPrstatusX86_64] as const;

/** A number field (1, 2 or 4 bytes) of the struct at `base`; element `index` of an array. */
export function getField(dv: DataView, base: number, f: FileField, index = 0): number {
  const at = base + f.offset + index * f.size;
  switch (f.size) {
    case 1:
      return dv.getUint8(at);
    case 2:
      return dv.getUint16(at, true);
    case 4:
      return dv.getUint32(at, true);
    default:
      throw new Error('a u64 field is read with getField64');
  }
}

/** A u64 field of the struct at `base`. */
export function getField64(dv: DataView, base: number, f: FileField, index = 0): bigint {
  if (f.size !== 8) throw new Error(`a ${f.size}-byte field is read with getField`);
  return dv.getBigUint64(base + f.offset + index * f.size, true);
}

/** Writes a field of the struct at `base`: a u64 takes a bigint or a safe integer. */
export function setField(
  dv: DataView,
  base: number,
  f: FileField,
  value: number | bigint,
  index = 0,
): void {
  const at = base + f.offset + index * f.size;
  switch (f.size) {
    case 1:
      dv.setUint8(at, Number(value));
      break;
    case 2:
      dv.setUint16(at, Number(value), true);
      break;
    case 4:
      dv.setUint32(at, Number(value), true);
      break;
    case 8:
      dv.setBigUint64(at, BigInt.asUintN(64, BigInt(value)), true);
      break;
  }
}
