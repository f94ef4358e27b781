import { closeSync, constants, ftruncateSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { HvtError } from './errors.js';
import type { GuestMemory } from './guest-memory.js';
import type { Aarch64Registers, X86Registers } from './platform.js';

/**
 * The x86_64 trap frame a guest passes as its HALT cookie on a fatal trap
 * (docs/guest-abi.md 8.8): the registers at the moment of the fault, which are more
 * useful in a core file than the vCPU's registers inside the abort path.
 */
export interface TrapFrame {
  cr2: bigint;
  ec: bigint;
  rip: bigint;
  cs: bigint;
  rflags: bigint;
  rsp: bigint;
  ss: bigint;
}

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

/** Reads the 7 × u64 trap frame a HALT cookie points at; throws GuestAccessError when out of range. */
export function decodeTrapFrame(memory: GuestMemory, gpa: number): TrapFrame {
  return {
    cr2: memory.readU64Big(gpa),
    ec: memory.readU64Big(gpa + 8),
    rip: memory.readU64Big(gpa + 16),
    cs: memory.readU64Big(gpa + 24),
    rflags: memory.readU64Big(gpa + 32),
    rsp: memory.readU64Big(gpa + 40),
    ss: memory.readU64Big(gpa + 48),
  };
}

const PAGE_SIZE = 4096;

const EHDR_SIZE = 64;
const PHDR_SIZE = 56;
const PHNUM = 2;

const ET_CORE = 4;
const EV_CURRENT = 1;
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const ELFOSABI_STANDALONE = 255;
const PT_LOAD = 1;
const PT_NOTE = 4;
const NT_PRSTATUS = 1;

/** "CORE" with its NUL, then padding to the 4-byte note alignment. */
const NOTE_NAME = 'CORE';
const NOTE_NAMESZ = NOTE_NAME.length + 1;
const NOTE_NAME_PADDED = 8;
const NOTE_HEADER_SIZE = 12;

/**
 * Linux's `struct elf_prstatus` on x86_64 and aarch64 alike: pr_reg follows
 * the siginfo, cursig, signal masks, four pids and four timevals, and is
 * followed by pr_fpvalid padded to 8 bytes. Its size is what gdb and other
 * core readers recognise: 336 bytes with x86_64's 27 registers, 392 with
 * aarch64's 34.
 */
const PRSTATUS_PID_OFFSET = 32;
const PRSTATUS_REG_OFFSET = 112;
const prstatusSize = (registers: number) => PRSTATUS_REG_OFFSET + registers * 8 + 8;

const NOTE_OFFSET = EHDR_SIZE + PHDR_SIZE * PHNUM;
/**
 * Page-aligned so guest pages map onto whole file blocks and holes stay
 * possible; the headers and either architecture's note fit in the first page.
 */
const LOAD_OFFSET = PAGE_SIZE;

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

/** The aarch64 trap frame of the test runtime's HALT cookie: {far, esr, elr, spsr, sp}. */
export interface Aarch64TrapFrame {
  far: bigint;
  esr: bigint;
  elr: bigint;
  spsr: bigint;
  sp: bigint;
}

/** Reads the 5 × u64 aarch64 trap frame a HALT cookie points at; throws GuestAccessError when out of range. */
export function decodeAarch64TrapFrame(memory: GuestMemory, gpa: number): Aarch64TrapFrame {
  const at = (i: number) => memory.readU64Big(gpa + i * 8);
  return { far: at(0), esr: at(1), elr: at(2), spsr: at(3), sp: at(4) };
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
  const prstatus = prstatusSize(opts.registers.length);
  const noteSize = NOTE_HEADER_SIZE + NOTE_NAME_PADDED + prstatus;
  if (NOTE_OFFSET + noteSize > LOAD_OFFSET) {
    throw new HvtError(`dumpcore: ${opts.registers.length} registers do not fit the core's note`);
  }
  const buf = new Uint8Array(NOTE_OFFSET + noteSize);
  const dv = new DataView(buf.buffer);
  const u16 = (off: number, v: number) => dv.setUint16(off, v, true);
  const u32 = (off: number, v: number) => dv.setUint32(off, v, true);
  const u64 = (off: number, v: number | bigint) =>
    dv.setBigUint64(off, BigInt.asUintN(64, BigInt(v)), true);

  buf.set([0x7f, 0x45, 0x4c, 0x46, ELFCLASS64, ELFDATA2LSB, EV_CURRENT, ELFOSABI_STANDALONE]);
  u16(16, ET_CORE);
  u16(18, opts.machine);
  u32(20, EV_CURRENT);
  u64(24, 0); // e_entry
  u64(32, EHDR_SIZE); // e_phoff
  u64(40, 0); // e_shoff
  u32(48, 0); // e_flags
  u16(52, EHDR_SIZE);
  u16(54, PHDR_SIZE);
  u16(56, PHNUM);
  u16(58, 0); // e_shentsize
  u16(60, 0); // e_shnum
  u16(62, 0); // e_shstrndx

  let ph = EHDR_SIZE;
  u32(ph, PT_NOTE);
  u32(ph + 4, 0);
  u64(ph + 8, NOTE_OFFSET);
  u64(ph + 16, 0);
  u64(ph + 24, 0);
  u64(ph + 32, noteSize);
  u64(ph + 40, 0);
  u64(ph + 48, 4);

  ph += PHDR_SIZE;
  u32(ph, PT_LOAD);
  u32(ph + 4, 0); // no permissions: this is a memory image, not something to map
  u64(ph + 8, LOAD_OFFSET);
  u64(ph + 16, 0);
  u64(ph + 24, 0);
  u64(ph + 32, opts.memSize);
  u64(ph + 40, opts.memSize);
  u64(ph + 48, PAGE_SIZE);

  const note = NOTE_OFFSET;
  u32(note, NOTE_NAMESZ);
  u32(note + 4, prstatus);
  u32(note + 8, NT_PRSTATUS);
  for (let i = 0; i < NOTE_NAME.length; i++) buf[note + 12 + i] = NOTE_NAME.charCodeAt(i);

  const desc = note + NOTE_HEADER_SIZE + NOTE_NAME_PADDED;
  dv.setInt32(desc + PRSTATUS_PID_OFFSET, opts.pid, true);
  for (const [i, v] of opts.registers.entries()) {
    u64(desc + PRSTATUS_REG_OFFSET + i * 8, v);
  }
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
 * with one Linux NT_PRSTATUS note of the guest's architecture and a PT_LOAD image of
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
  let headers: Uint8Array;
  try {
    headers = buildHeaders(opts);
  } catch (error) {
    closeQuietly(fd);
    throw error;
  }

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
