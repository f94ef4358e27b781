import { readFileSync, statSync } from 'node:fs';
import {
  ELF_MAGIC,
  ELFCLASS64,
  ELFDATA2LSB,
  Elf64Ehdr,
  Elf64Phdr,
  EV_CURRENT,
  getField,
  getField64,
} from './elf-layout.js';
import { ElfError, KernelOpenError, strerror } from './errors.js';

/**
 * ELF64 reading as the reference tender does it (docs/guest-abi.md 3.1): the same checks,
 * in the same order, with the same messages. The input is the whole file; reading
 * past its end behaves like the reference's short `pread`s, so a truncated file
 * gets the reference's "does not match the expected size" messages, never a
 * RangeError.
 */

export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
export const ET_EXEC = 2;
export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

export const EHDR_SIZE = Elf64Ehdr.size;
export const PHDR_SIZE = Elf64Phdr.size;

/** Lowest guest address a segment or the entry point may use (HVT_GUEST_MIN_BASE). */
export const GUEST_MIN_BASE = 0x100000;

/** The reference's INV_EXE: the words most of its ELF messages begin with. */
export const INV_EXE = 'invalid executable';

/** Which reader is running: the reference words some messages differently for each. */
export type ElfPhase = 'note' | 'elf';

/**
 * The e_machine a tender on this host accepts. On a host that is neither x86_64
 * nor aarch64 no machine matches (0), so every executable is "unsupported".
 */
export function hostMachine(): number {
  if (process.arch === 'x64') return EM_X86_64;
  if (process.arch === 'arm64') return EM_AARCH64;
  return 0;
}

export interface ElfHeader {
  readonly type: number;
  readonly machine: number;
  readonly entry: bigint;
  readonly phoff: bigint;
  readonly phnum: number;
}

export interface ProgramHeader {
  /** Position in the program header table (the `<i>` of `phdr[<i>]`). */
  readonly index: number;
  readonly type: number;
  readonly flags: number;
  readonly offset: bigint;
  readonly vaddr: bigint;
  readonly paddr: bigint;
  readonly filesz: bigint;
  readonly memsz: bigint;
  readonly align: bigint;
}

export interface ElfImage {
  readonly header: ElfHeader;
  readonly phdrs: readonly ProgramHeader[];
}

/** The largest u64: the loader's overflow checks compare against it. */
export const U64_MAX = (1n << 64n) - 1n;
const OFF_MAX = (1n << 63n) - 1n;

/** A `%zu` of a negative ssize_t, as the reference prints a failed pread. */
export const PREAD_FAILED = (-1n & U64_MAX).toString();

/**
 * How many bytes the reference's `pread_in_full(fd, buf, count, offset)` would
 * return on a regular file holding `file`: -1 where Linux refuses the offset
 * (off_t is signed, so a u64 offset of 2^63 or more is negative: EINVAL, and so
 * is an offset+count past the off_t range), else what lies before the end.
 */
export function preadInFull(file: Uint8Array, offset: bigint, count: number): number {
  if (offset < 0n || offset > OFF_MAX || offset + BigInt(count) > OFF_MAX) return -1;
  if (offset >= BigInt(file.byteLength)) return 0;
  return Math.min(count, file.byteLength - Number(offset));
}

/** Little-endian field reads within bounds the caller has already checked. */
export function elfView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function headerIsValid(dv: DataView, machine: number): boolean {
  const h = Elf64Ehdr.fields;
  const u = (f: (typeof h)[keyof typeof h]) => getField(dv, 0, f);
  // EI_OSABI and EI_ABIVERSION are deliberately not checked: toolchains cannot
  // set them without being rebuilt, and the reference accepts any value.
  return (
    u(h.ei_mag0) === ELF_MAGIC &&
    u(h.ei_class) === ELFCLASS64 &&
    // Both supported architectures are little-endian, so the host order is LSB.
    u(h.ei_data) === ELFDATA2LSB &&
    u(h.e_version) === EV_CURRENT &&
    u(h.e_ehsize) === EHDR_SIZE &&
    u(h.e_phnum) >= 1 &&
    u(h.e_phentsize) === PHDR_SIZE &&
    u(h.e_type) === ET_EXEC &&
    u(h.e_machine) === machine
  );
}

/**
 * Reads and checks the ELF header (3.1). `phase` picks the wording of the
 * reference: the note reader runs first and says "invalid executable: ...
 * while loading note"; the loader's own text is normally unreachable.
 */
export function readElfHeader(
  bytes: Uint8Array,
  file: string,
  phase: ElfPhase,
  machine: number = hostMachine(),
): ElfHeader {
  const got = preadInFull(bytes, 0n, EHDR_SIZE);
  if (got !== EHDR_SIZE) {
    throw new ElfError(
      file,
      `${INV_EXE}: elf header does not match the expected size (${got} != ${EHDR_SIZE})`,
    );
  }
  const dv = elfView(bytes);
  if (!headerIsValid(dv, machine)) {
    throw new ElfError(
      file,
      phase === 'note'
        ? `${INV_EXE}: invalid or unsupported executable (elf header invalid while loading note)`
        : 'invalid or unsupported executable (elf header invalid while loading elf)',
    );
  }
  const h = Elf64Ehdr.fields;
  return {
    type: getField(dv, 0, h.e_type),
    machine: getField(dv, 0, h.e_machine),
    entry: getField64(dv, 0, h.e_entry),
    phoff: getField64(dv, 0, h.e_phoff),
    phnum: getField(dv, 0, h.e_phnum),
  };
}

/** Reads the whole program header table; a table past the end of the file is fatal. */
export function readProgramHeaders(
  bytes: Uint8Array,
  file: string,
  header: ElfHeader,
  phase: ElfPhase,
): ProgramHeader[] {
  const size = header.phnum * PHDR_SIZE;
  const got = preadInFull(bytes, header.phoff, size);
  const where = `while loading ${phase}`;
  if (got < 0) {
    throw new ElfError(file, `pread_in_full for ph_size returned ${PREAD_FAILED} < 0 ${where}`);
  }
  if (got !== size) {
    throw new ElfError(
      file,
      `${INV_EXE}: program header does not match the expected size (${got} != ${size} ${where})`,
    );
  }
  const dv = elfView(bytes);
  const base = Number(header.phoff);
  const p = Elf64Phdr.fields;
  const phdrs: ProgramHeader[] = [];
  for (let index = 0; index < header.phnum; index++) {
    const at = base + index * PHDR_SIZE;
    phdrs.push({
      index,
      type: getField(dv, at, p.p_type),
      flags: getField(dv, at, p.p_flags),
      offset: getField64(dv, at, p.p_offset),
      vaddr: getField64(dv, at, p.p_vaddr),
      paddr: getField64(dv, at, p.p_paddr),
      filesz: getField64(dv, at, p.p_filesz),
      memsz: getField64(dv, at, p.p_memsz),
      align: getField64(dv, at, p.p_align),
    });
  }
  return phdrs;
}

/** Header and program headers, checked as the note reader checks them. */
export function readElf(
  bytes: Uint8Array,
  file: string,
  phase: ElfPhase = 'note',
  machine: number = hostMachine(),
): ElfImage {
  const header = readElfHeader(bytes, file, phase, machine);
  return { header, phdrs: readProgramHeaders(bytes, file, header, phase) };
}

/**
 * The e_machine field of a file that has one, else undefined. Lets `solo5 info`
 * describe a unikernel built for the other architecture.
 */
export function peekMachine(bytes: Uint8Array): number | undefined {
  const machine = Elf64Ehdr.fields.e_machine;
  return bytes.byteLength >= machine.offset + machine.size
    ? getField(elfView(bytes), 0, machine)
    : undefined;
}

/**
 * Reads the kernel file whole. Failures say `<file>: Could not open: <strerror>`
 * as the reference's open(2) failure does; a directory, which open(2) would
 * accept and the first pread then refuse, gets the same clear line.
 */
export function readKernelFile(file: string): Uint8Array {
  try {
    const stat = statSync(file);
    if (stat.isDirectory()) throw new KernelOpenError(file, strerror('EISDIR'));
    // A pipe or socket cannot be pread, as the reference needs; a device could
    // be endless. Neither holds a unikernel.
    if (!stat.isFile()) throw new KernelOpenError(file, 'Not a regular file');
    return readFileSync(file);
  } catch (error) {
    if (error instanceof KernelOpenError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ERR_FS_FILE_TOO_LARGE' ? strerror('EFBIG') : strerror(code);
    throw new KernelOpenError(file, reason);
  }
}
