/**
 * Builds ELF64 executables byte by byte for the tests: the header, a program
 * header table, Solo5 notes and PT_LOAD contents, laid out like a unikernel
 * linked by Solo5's toolchain (text at 1 MiB, one PT_NOTE per note, a bss
 * PT_LOAD with no file bytes, an empty TLS PT_LOAD at vaddr 0). Each test then
 * breaks exactly the field it is about.
 */

export interface PhdrSpec {
  type: number;
  flags?: number;
  offset?: bigint | number;
  vaddr?: bigint | number;
  paddr?: bigint | number;
  filesz?: bigint | number;
  memsz?: bigint | number;
  align?: bigint | number;
}

export interface Chunk {
  offset: number;
  bytes: Uint8Array;
}

export interface ElfSpec {
  machine?: number;
  entry?: bigint | number;
  phdrs: PhdrSpec[];
  /** File contents placed after the header and table. */
  chunks?: Chunk[];
  /** Total file size; defaults to the end of the last chunk or table. */
  size?: number;
}

export const PHOFF = 64;

const le = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

export function buildElf(spec: ElfSpec): Uint8Array {
  const tableEnd = PHOFF + spec.phdrs.length * 56;
  const chunksEnd = Math.max(
    tableEnd,
    ...(spec.chunks ?? []).map((c) => c.offset + c.bytes.length),
  );
  const out = new Uint8Array(spec.size ?? chunksEnd);
  const dv = le(out);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0);
  dv.setUint16(16, 2, true); // ET_EXEC
  dv.setUint16(18, spec.machine ?? 62, true);
  dv.setUint32(20, 1, true);
  dv.setBigUint64(24, BigInt(spec.entry ?? 0x100000), true);
  dv.setBigUint64(32, BigInt(PHOFF), true);
  dv.setUint16(52, 64, true);
  dv.setUint16(54, 56, true);
  dv.setUint16(56, spec.phdrs.length, true);
  spec.phdrs.forEach((ph, i) => {
    const at = PHOFF + i * 56;
    dv.setUint32(at, ph.type, true);
    dv.setUint32(at + 4, ph.flags ?? 0, true);
    dv.setBigUint64(at + 8, BigInt(ph.offset ?? 0), true);
    dv.setBigUint64(at + 16, BigInt(ph.vaddr ?? 0), true);
    dv.setBigUint64(at + 24, BigInt(ph.paddr ?? ph.vaddr ?? 0), true);
    dv.setBigUint64(at + 32, BigInt(ph.filesz ?? 0), true);
    dv.setBigUint64(at + 40, BigInt(ph.memsz ?? ph.filesz ?? 0), true);
    dv.setBigUint64(at + 48, BigInt(ph.align ?? 0), true);
  });
  for (const c of spec.chunks ?? []) out.set(c.bytes, c.offset);
  return out;
}

/** A note: Elf64_Nhdr, the name padded to 4, `padding` zero bytes, then the descriptor. */
export function note(
  type: number,
  descriptor: Uint8Array,
  opts: { name?: string; namesz?: number; descsz?: number; padding?: number } = {},
): Uint8Array {
  const name = new TextEncoder().encode(opts.name ?? 'Solo5');
  const nameField = Math.ceil((name.length + 1) / 4) * 4;
  const padding = opts.padding ?? 0;
  const out = new Uint8Array(12 + nameField + padding + descriptor.length);
  const dv = le(out);
  dv.setUint32(0, opts.namesz ?? name.length + 1, true);
  dv.setUint32(4, opts.descsz ?? padding + descriptor.length, true);
  dv.setUint32(8, type, true);
  out.set(name, 12);
  out.set(descriptor, 12 + nameField + padding);
  return out;
}

export const ABI1 = 0x31494241;
export const MFT1 = 0x3154464d;

export function abiDescriptor(target = 1, version = 2): Uint8Array {
  const out = new Uint8Array(16);
  le(out).setUint32(0, target, true);
  le(out).setUint32(4, version, true);
  return out;
}

export interface DeviceSpec {
  name: string;
  type: number;
}

/** A `struct mft` with the implicit reserved entry 0, as solo5-elftool generates it. */
export function manifestBytes(devices: DeviceSpec[]): Uint8Array {
  const entries = devices.length + 1;
  const out = new Uint8Array(8 + 104 * entries);
  const dv = le(out);
  dv.setUint32(0, 1, true);
  dv.setUint32(4, entries, true);
  dv.setUint32(8 + 68, 0x40000000, true);
  devices.forEach((d, i) => {
    const at = 8 + 104 * (i + 1);
    out.set(new TextEncoder().encode(d.name), at);
    dv.setUint32(at + 68, d.type, true);
  });
  return out;
}

export interface UnikernelSpec {
  machine?: number;
  entry?: bigint | number;
  abi?: Uint8Array | null;
  manifest?: Uint8Array | null;
  /** Replaces the whole ABI1 or MFT1 note (for broken headers). */
  abiNote?: Uint8Array;
  mftNote?: Uint8Array;
  text?: Uint8Array;
  rodata?: Uint8Array;
  data?: Uint8Array;
  /** Extra program headers appended to the table (indices after the standard ones). */
  extraPhdrs?: PhdrSpec[];
  extraChunks?: Chunk[];
}

export interface Unikernel {
  bytes: Uint8Array;
  /** Index of each standard program header. */
  index: { text: 0; rodata: 1; data: 2; bss: 3; abi: 4; mft: 5; tls: 6 };
  /** File offsets of the parts. */
  offset: { abi: number; mft: number; text: number; rodata: number; data: number };
  phdrs: PhdrSpec[];
}

export const TEXT_VADDR = 0x100000;

/**
 * A small hvt unikernel: text (R+X) at 1 MiB, rodata (R), data (R+W), bss
 * (filesz 0), the ABI1 and MFT1 notes each in its own PT_NOTE, and an empty
 * TLS PT_LOAD at vaddr 0: the segments Solo5's linker script produces.
 */
export function buildUnikernel(spec: UnikernelSpec = {}): Unikernel {
  const text = spec.text ?? new Uint8Array([0xf4, 0xeb, 0xfd, 0x90]); // hlt; jmp .-1; nop
  const rodata = spec.rodata ?? new TextEncoder().encode('hello, rodata\0');
  const data = spec.data ?? new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  const abiNote =
    spec.abiNote ?? (spec.abi === null ? undefined : note(ABI1, spec.abi ?? abiDescriptor()));
  const mftNote =
    spec.mftNote ??
    (spec.manifest === null
      ? undefined
      : note(MFT1, spec.manifest ?? manifestBytes([]), { padding: 4 }));
  const extra = spec.extraPhdrs ?? [];
  const count = 7 + extra.length;
  const notesAt = PHOFF + count * 56;
  const abiAt = Math.ceil(notesAt / 8) * 8;
  const mftAt = Math.ceil((abiAt + (abiNote?.length ?? 0)) / 8) * 8;
  const textAt = 0x1000;
  const rodataAt = 0x2000;
  const dataAt = 0x3000;
  if (mftAt + (mftNote?.length ?? 0) > textAt)
    throw new Error('notes too large for the test layout');
  const phdrs: PhdrSpec[] = [
    {
      type: 1,
      flags: 5,
      offset: textAt,
      vaddr: TEXT_VADDR,
      filesz: text.length,
      memsz: text.length,
      align: 0x1000,
    },
    {
      type: 1,
      flags: 4,
      offset: rodataAt,
      vaddr: TEXT_VADDR + 0x1000,
      filesz: rodata.length,
      memsz: rodata.length,
      align: 0x1000,
    },
    {
      type: 1,
      flags: 6,
      offset: dataAt,
      vaddr: TEXT_VADDR + 0x2000,
      filesz: data.length,
      memsz: data.length,
      align: 0x1000,
    },
    {
      type: 1,
      flags: 6,
      offset: 0,
      vaddr: TEXT_VADDR + 0x3000,
      filesz: 0,
      memsz: 0x2000,
      align: 0x1000,
    },
    abiNote
      ? { type: 4, flags: 4, offset: abiAt, vaddr: 0, filesz: abiNote.length, align: 4 }
      : { type: 6, flags: 4 },
    mftNote
      ? { type: 4, flags: 4, offset: mftAt, vaddr: 0, filesz: mftNote.length, align: 8 }
      : { type: 6, flags: 4 },
    { type: 1, flags: 4, offset: 0, vaddr: 0, filesz: 0, memsz: 0, align: 1 },
    ...extra,
  ];
  const chunks: Chunk[] = [
    { offset: textAt, bytes: text },
    { offset: rodataAt, bytes: rodata },
    { offset: dataAt, bytes: data },
    ...(abiNote ? [{ offset: abiAt, bytes: abiNote }] : []),
    ...(mftNote ? [{ offset: mftAt, bytes: mftNote }] : []),
    ...(spec.extraChunks ?? []),
  ];
  const bytes = buildElf({
    machine: spec.machine,
    entry: spec.entry ?? TEXT_VADDR,
    phdrs,
    chunks,
  });
  return {
    bytes,
    index: { text: 0, rodata: 1, data: 2, bss: 3, abi: 4, mft: 5, tls: 6 },
    offset: { abi: abiAt, mft: mftAt, text: textAt, rodata: rodataAt, data: dataAt },
    phdrs,
  };
}

/** Field offsets inside a program header table entry. */
export const Phdr = {
  type: 0,
  flags: 4,
  offset: 8,
  vaddr: 16,
  paddr: 24,
  filesz: 32,
  memsz: 40,
  align: 48,
};

export function phdrAt(index: number): number {
  return PHOFF + index * 56;
}

export function setU16(bytes: Uint8Array, at: number, v: number): Uint8Array {
  le(bytes).setUint16(at, v, true);
  return bytes;
}
export function setU32(bytes: Uint8Array, at: number, v: number): Uint8Array {
  le(bytes).setUint32(at, v, true);
  return bytes;
}
export function setU64(bytes: Uint8Array, at: number, v: bigint | number): Uint8Array {
  le(bytes).setBigUint64(at, BigInt.asUintN(64, BigInt(v)), true);
  return bytes;
}
/** Sets a field of program header `index`. */
export function setPhdr(
  bytes: Uint8Array,
  index: number,
  field: keyof typeof Phdr,
  v: bigint | number,
): Uint8Array {
  const at = phdrAt(index) + Phdr[field];
  return field === 'type' || field === 'flags'
    ? setU32(bytes, at, Number(v))
    : setU64(bytes, at, v);
}
