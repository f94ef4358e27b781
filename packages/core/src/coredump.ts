import { closeSync, constants, ftruncateSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PT_LOAD, PT_NOTE } from './elf.js';
import {
  ELF_MAGIC,
  ELFCLASS64,
  ELFDATA2LSB,
  Elf64Ehdr,
  Elf64Nhdr,
  Elf64Phdr,
  ElfPrstatusAarch64,
  ElfPrstatusX86_64,
  EV_CURRENT,
  type FileStruct,
  setField,
} from './elf-layout.js';
import { HvtError } from './errors.js';
import {
  type GuestRam,
  GuestStruct,
  type StructPointer,
  TrapRegs,
  TrapRegsAarch64,
} from './guest-abi.js';
import type { GuestMemory } from './guest-memory.js';
import type { Aarch64Registers, X86Registers } from './platform.js';

/**
 * The x86_64 trap frame a guest passes as its HALT cookie on a fatal trap
 * (docs/guest-abi.md 8.8; `TrapRegs` in guest-abi.ts): the registers at the
 * moment of the fault, which are more useful in a core file than the vCPU's
 * registers inside the abort path.
 */
export type TrapFrame = { [K in keyof typeof TrapRegs.fields]: bigint };

export interface CoreFileOptions {
  /**
   * The core file, open for writing (createCoreFile). writeCoreFile takes it
   * over: it is closed when the function returns.
   */
  fd: number;
  /** Its path, for the result. */
  path: string;
  /** Fills pr_pid. */
  pid: number;
  memory: GuestMemory;
  /** Guest-visible size: the PT_LOAD covers [0, memSize). */
  memSize: number;
  /**
   * pr_reg of the NT_PRSTATUS note: the architecture's user register set in
   * the kernel's order (x86CoreRegisters, aarch64CoreRegisters).
   */
  registers: readonly bigint[];
  /** One byte per 4 KiB page, bit 0 = resident (mincore style); absent → every page is written. */
  residentPages?: Uint8Array;
  /** e_machine (62 = EM_X86_64, 183 = EM_AARCH64). */
  machine: number;
}

export interface CoreFileResult {
  path: string;
  /** Pages whose bytes reached the file. */
  pagesDumped: number;
  /** Pages covered by the PT_LOAD, ceil(memSize / 4096). */
  pagesTotal: number;
  /**
   * Failed writes after the file was created. Writing goes on past a failure so
   * that as much as possible survives; a non-zero count means the file may be
   * incomplete (the caller warns, docs/guest-abi.md 11.4).
   */
  writeErrors: number;
}

/**
 * Reads the trap frame a HALT cookie points at, through its declaration;
 * throws GuestAccessError when it is not all inside guest-visible memory.
 */
export function decodeTrapFrame(guest: GuestRam, gpa: number): TrapFrame {
  const frame: StructPointer<typeof TrapRegs> = new GuestStruct(guest, TrapRegs, 'dumpcore').at(
    gpa,
  );
  const f = TrapRegs.fields;
  return {
    cr2: frame.u64Big(f.cr2),
    ec: frame.u64Big(f.ec),
    rip: frame.u64Big(f.rip),
    cs: frame.u64Big(f.cs),
    rflags: frame.u64Big(f.rflags),
    rsp: frame.u64Big(f.rsp),
    ss: frame.u64Big(f.ss),
  };
}

const PAGE_SIZE = 4096;

const PHNUM = 2;

const ET_CORE = 4;
const ELFOSABI_STANDALONE = 255;
const NT_PRSTATUS = 1;

/** "CORE" with its NUL, then padding to the 4-byte note alignment. */
const NOTE_NAME = 'CORE';
const NOTE_NAMESZ = NOTE_NAME.length + 1;
const NOTE_NAME_PADDED = 8;

/** `struct elf_prstatus` by the length of its pr_reg: x86_64's 27 or aarch64's 34 registers. */
const PRSTATUS = [ElfPrstatusX86_64, ElfPrstatusAarch64] as const;

const NOTE_OFFSET = Elf64Ehdr.size + Elf64Phdr.size * PHNUM;
const noteSize = (prstatus: (typeof PRSTATUS)[number]) =>
  Elf64Nhdr.size + NOTE_NAME_PADDED + prstatus.size;
/**
 * Page-aligned so guest pages map onto whole file blocks and holes stay
 * possible; the headers and either architecture's note fit before it.
 */
const LOAD_OFFSET =
  Math.ceil((NOTE_OFFSET + Math.max(...PRSTATUS.map(noteSize))) / PAGE_SIZE) * PAGE_SIZE;

/** Upper bound of one write: keeps a single syscall from holding huge spans of RAM. */
const MAX_WRITE = 64 * 1024 * 1024;

/**
 * The size of the core file of a guest with `memSize` bytes of visible
 * memory: headers and note, then the memory image. No write of the writer
 * starts at or beyond it, and it is the length the file is truncated to
 * (the sandbox bounds both with it).
 */
export function coreFileSize(memSize: number): number {
  return LOAD_OFFSET + memSize;
}

/** The core file's name in its directory: the reference's. */
export function coreFileName(pid: number): string {
  return `core.solo5-hvt.${pid}`;
}

/** A core file just created (createCoreFile). */
export interface CreatedCoreFile {
  readonly fd: number;
  readonly path: string;
}

/**
 * Creates `<dir>/core.solo5-hvt.<pid>` as the reference does: exclusively
 * (never an existing file, nor through a symbolic link), write-only, mode
 * 0600; close-on-exec, as Node opens every file. Throws HvtError
 * `dumpcore: cannot create <path>: <why>` when it cannot.
 */
export function createCoreFile(dir: string, pid: number): CreatedCoreFile {
  const path = join(dir, coreFileName(pid));
  try {
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    return { fd, path };
  } catch (err) {
    const e = new HvtError(`dumpcore: cannot create ${path}: ${describe(err)}`);
    e.cause = err;
    throw e;
  }
}

/**
 * x86_64 pr_reg: `struct user_regs_struct` in the kernel's order, as gdb reads
 * it. A HALT cookie's trap frame overrides rip, cs, rflags, rsp and ss.
 */
export function x86CoreRegisters(regs: X86Registers, cookie?: TrapFrame): bigint[] {
  const big = (n: number): bigint => BigInt(n);
  return [
    regs.r15,
    regs.r14,
    regs.r13,
    regs.r12,
    regs.rbp,
    regs.rbx,
    regs.r11,
    regs.r10,
    regs.r9,
    regs.r8,
    regs.rax,
    regs.rcx,
    regs.rdx,
    regs.rsi,
    regs.rdi,
    // orig_rax: the guest is never inside a host system call; zero keeps gdb from
    // trying to restart one.
    0n,
    cookie?.rip ?? regs.rip,
    cookie?.cs ?? big(regs.cs),
    cookie?.rflags ?? regs.rflags,
    cookie?.rsp ?? regs.rsp,
    cookie?.ss ?? big(regs.ss),
    regs.fsBase,
    regs.gsBase,
    big(regs.ds),
    big(regs.es),
    big(regs.fs),
    big(regs.gs),
  ];
}

/** The aarch64 trap frame of the test runtime's HALT cookie (`TrapRegsAarch64`). */
export type Aarch64TrapFrame = { [K in keyof typeof TrapRegsAarch64.fields]: bigint };

/** Reads it through its declaration; throws GuestAccessError when it is not all guest-visible. */
export function decodeAarch64TrapFrame(guest: GuestRam, gpa: number): Aarch64TrapFrame {
  const frame = new GuestStruct(guest, TrapRegsAarch64, 'dumpcore').at(gpa);
  const f = TrapRegsAarch64.fields;
  return {
    far: frame.u64Big(f.far),
    esr: frame.u64Big(f.esr),
    elr: frame.u64Big(f.elr),
    spsr: frame.u64Big(f.spsr),
    sp: frame.u64Big(f.sp),
  };
}

/**
 * aarch64 pr_reg: `struct user_pt_regs` (x0..x30, sp, pc, pstate). A HALT
 * cookie's trap frame gives the faulting pc (ELR), sp and pstate (SPSR).
 */
export function aarch64CoreRegisters(regs: Aarch64Registers, cookie?: Aarch64TrapFrame): bigint[] {
  return [...regs.x, cookie?.sp ?? regs.sp, cookie?.elr ?? regs.pc, cookie?.spsr ?? regs.pstate];
}

/** ELF header, both program headers and the note: everything before the memory image. */
function buildHeaders(opts: CoreFileOptions): Uint8Array {
  const prstatus = PRSTATUS.find((p) => p.fields.pr_reg.count === opts.registers.length);
  if (prstatus === undefined) {
    throw new HvtError(`dumpcore: no core note layout for ${opts.registers.length} registers`);
  }
  const buf = new Uint8Array(NOTE_OFFSET + noteSize(prstatus));
  const dv = new DataView(buf.buffer);
  /** Sets the fields of the struct at `base`; the others stay zero. */
  const fill = <F extends string>(
    layout: FileStruct<F>,
    base: number,
    values: { readonly [K in F]?: number | bigint },
  ) => {
    for (const [name, value] of Object.entries(values) as [F, number | bigint][]) {
      setField(dv, base, layout.fields[name], value);
    }
  };

  fill(Elf64Ehdr, 0, {
    ei_mag0: ELF_MAGIC,
    ei_class: ELFCLASS64,
    ei_data: ELFDATA2LSB,
    ei_version: EV_CURRENT,
    ei_osabi: ELFOSABI_STANDALONE,
    e_type: ET_CORE,
    e_machine: opts.machine,
    e_version: EV_CURRENT,
    e_phoff: Elf64Ehdr.size,
    e_ehsize: Elf64Ehdr.size,
    e_phentsize: Elf64Phdr.size,
    e_phnum: PHNUM,
  });
  fill(Elf64Phdr, Elf64Ehdr.size, {
    p_type: PT_NOTE,
    p_offset: NOTE_OFFSET,
    p_filesz: noteSize(prstatus),
    p_align: 4,
  });
  fill(Elf64Phdr, Elf64Ehdr.size + Elf64Phdr.size, {
    p_type: PT_LOAD,
    p_flags: 0, // no permissions: this is a memory image, not something to map
    p_offset: LOAD_OFFSET,
    p_filesz: opts.memSize,
    p_memsz: opts.memSize,
    p_align: PAGE_SIZE,
  });
  fill(Elf64Nhdr, NOTE_OFFSET, {
    n_namesz: NOTE_NAMESZ,
    n_descsz: prstatus.size,
    n_type: NT_PRSTATUS,
  });
  buf.set(new TextEncoder().encode(NOTE_NAME), NOTE_OFFSET + Elf64Nhdr.size);

  const desc = NOTE_OFFSET + Elf64Nhdr.size + NOTE_NAME_PADDED;
  const { pr_pid, pr_reg } = prstatus.fields;
  setField(dv, desc, pr_pid, opts.pid);
  for (const [i, v] of opts.registers.entries()) setField(dv, desc, pr_reg, v, i);
  return buf;
}

/** Writes all of `data` at `position`, looping over short writes. */
function writeFully(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.byteLength) {
    const n = writeSync(fd, data, done, data.byteLength - done, position + done);
    if (n <= 0) throw new Error(`short write at offset ${position + done}`);
    done += n;
  }
}

/** The part of a Node fs error message a reader wants: "file already exists (EEXIST)". */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  const m = /^[A-Z0-9_]+: (.*?), open\b/.exec(err.message);
  if (m && code) return `${m[1]} (${code})`;
  return err.message;
}

/**
 * Writes an ELF64 core file of the guest (docs/guest-abi.md 11.4) into the file
 * open at `opts.fd` (from createCoreFile, possibly long before): a PT_NOTE
 * with one Linux x86_64 NT_PRSTATUS note and a PT_LOAD image of
 * [0, memSize), page-aligned in the file. Only resident pages are written;
 * the rest stay holes, so a mostly idle guest with gigabytes of RAM dumps in
 * proportion to what it touched. It uses only pwrite, ftruncate and close on
 * the fd: what the sandbox allows there.
 *
 * Throws HvtError when the arguments are inconsistent (the fd is closed all
 * the same). Write failures do not throw: they are counted in `writeErrors`.
 */
export function writeCoreFile(opts: CoreFileOptions): CoreFileResult {
  const { memory, memSize, residentPages, fd, path } = opts;
  if (!Number.isSafeInteger(memSize) || memSize <= 0 || memSize > memory.size) {
    closeQuietly(fd);
    throw new HvtError(
      `dumpcore: memory size ${memSize} does not fit guest memory of ${memory.size} bytes`,
    );
  }
  if (!Number.isInteger(opts.pid) || opts.pid < 0 || opts.pid > 0x7fffffff) {
    closeQuietly(fd);
    throw new HvtError(`dumpcore: invalid pid ${opts.pid}`);
  }
  const headers = buildHeaders(opts);

  const pagesTotal = Math.ceil(memSize / PAGE_SIZE);
  let pagesDumped = 0;
  let writeErrors = 0;
  try {
    try {
      writeFully(fd, headers, 0);
    } catch {
      writeErrors++;
    }
    try {
      // The full size up front: pages never written read back as zeros.
      ftruncateSync(fd, coreFileSize(memSize));
    } catch {
      writeErrors++;
    }

    // A page without an entry in residentPages is written: better a larger
    // file than a page silently missing from the dump.
    const resident = (page: number): boolean =>
      residentPages === undefined ||
      page >= residentPages.length ||
      (residentPages[page]! & 1) !== 0;

    let page = 0;
    while (page < pagesTotal) {
      if (!resident(page)) {
        page++;
        continue;
      }
      // Coalesce a run of resident pages into as few writes as possible.
      const first = page;
      while (page < pagesTotal && resident(page) && (page - first + 1) * PAGE_SIZE <= MAX_WRITE) {
        page++;
      }
      const start = first * PAGE_SIZE;
      const len = Math.min(page * PAGE_SIZE, memSize) - start;
      try {
        let gpa = start;
        memory.forEachPiece(start, len, (view, offset, n) => {
          writeFully(fd, view.subarray(offset, offset + n), LOAD_OFFSET + gpa);
          gpa += n;
        });
        pagesDumped += page - first;
      } catch {
        writeErrors++;
      }
    }
  } finally {
    try {
      closeSync(fd);
    } catch {
      writeErrors++;
    }
  }
  return { path, pagesDumped, pagesTotal, writeErrors };
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Nothing was written: nothing to lose.
  }
}
