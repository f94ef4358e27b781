import {
  GUEST_MIN_BASE,
  hostMachine,
  INV_EXE,
  PF_R,
  PF_W,
  PF_X,
  PREAD_FAILED,
  PT_LOAD,
  preadInFull,
  readElfHeader,
  readProgramHeaders,
  U64_MAX,
} from './elf.js';
import { ElfError } from './errors.js';
import type { GuestMemory } from './guest-memory.js';
import { Prot } from './platform.js';

/**
 * Loads an hvt unikernel's PT_LOAD segments into guest memory (docs/guest-abi.md 3.2,
 * 3.3): every check of the reference, in its order, with its messages. The p_*
 * fields are u64, so all range arithmetic is done in BigInt and only values
 * proven to lie inside guest memory become numbers.
 */

/** Architectural page size of x86_64 and aarch64 guests. */
export const GUEST_PAGE_SIZE = 0x1000;

export interface LoadedSegment {
  /** Index of the program header (the `<i>` of `phdr[<i>]`). */
  readonly index: number;
  readonly vaddr: number;
  readonly offset: number;
  readonly filesz: number;
  readonly memsz: number;
  /** p_flags as in the file (PF_R | PF_W | PF_X). */
  readonly flags: number;
  /** [start, end): the segment aligned to p_align, the range protections apply to. */
  readonly start: number;
  readonly end: number;
  /** The protections the guest asked for (Prot bits, EXEC included). */
  readonly guestProt: number;
  /**
   * What the tender's own mapping gets: never EXEC, which becomes READ (3.4), so
   * execute-only text is still readable to KVM and read-only to the guest.
   */
  readonly hostProt: number;
}

export interface LoadedElf {
  /** e_entry: where the vCPU starts. */
  readonly entry: number;
  /** The highest aligned segment end (boot info kernel_end); bss is not counted. */
  readonly kernelEnd: number;
  readonly segments: readonly LoadedSegment[];
}

export interface LoadOptions {
  /** The allocated size the checks use (3.3: ring overhead included); default memory.size. */
  readonly memSize?: number;
  /** Expected e_machine; default the host's. */
  readonly machine?: number;
  /**
   * Applies a segment's protections at the point the reference does, before the
   * next segment is checked. Any exception becomes the reference's
   * `<file>: mprotect failed`. Without it, the caller applies `segments` afterwards.
   */
  readonly protect?: (segment: LoadedSegment) => void;
  /**
   * A range of guest memory the tender keeps for itself (the network ring
   * area, 5.1): a segment that reaches into it is refused. The reference loads
   * such a segment and then dies writing the ring through its read-only pages.
   */
  readonly reserved?: { readonly start: number; readonly end: number; readonly what: string };
}

function alignDown(value: bigint, align: bigint): bigint {
  return value & (-align & U64_MAX);
}

function isPowerOfTwo(value: bigint): boolean {
  return value > 0n && (value & (value - 1n)) === 0n;
}

/** Prot bits from p_flags. */
export function segmentProt(flags: number): number {
  let prot = Prot.NONE;
  if (flags & PF_R) prot |= Prot.READ;
  if (flags & PF_W) prot |= Prot.WRITE;
  if (flags & PF_X) prot |= Prot.EXEC;
  return prot;
}

/** Host protection for a guest protection: EXEC is replaced by READ (3.4). */
export function hostProt(guestProt: number): number {
  return guestProt & Prot.EXEC ? (guestProt & ~Prot.EXEC) | Prot.READ : guestProt;
}

export function loadElf(
  bytes: Uint8Array,
  file: string,
  memory: GuestMemory,
  options: LoadOptions = {},
): LoadedElf {
  const memSize = options.memSize ?? memory.size;
  if (!Number.isSafeInteger(memSize) || memSize < 0 || memSize > memory.size) {
    throw new RangeError(`loadElf: memSize ${memSize} does not fit guest memory of ${memory.size}`);
  }
  const size = BigInt(memSize);
  const minBase = BigInt(GUEST_MIN_BASE);
  const fail = (detail: string): never => {
    throw new ElfError(file, `${INV_EXE}: ${detail}`);
  };

  const header = readElfHeader(bytes, file, 'elf', options.machine ?? hostMachine());
  const entry = header.entry;
  if (entry < minBase || entry >= size) {
    fail(
      `e_entry does not fall within the memory allocation range (${entry} < ${minBase} || ${entry} >= ${size})`,
    );
  }
  const phdrs = readProgramHeaders(bytes, file, header, 'elf');

  let kernelEnd = 0n;
  let lastVaddr = 0n;
  const segments: LoadedSegment[] = [];
  for (const ph of phdrs) {
    // The bss (p_filesz 0) and the empty TLS template at vaddr 0 are skipped:
    // requiring them to be in range would reject every real unikernel.
    if (ph.filesz === 0n || ph.type !== PT_LOAD) continue;
    const { index: i, vaddr, filesz, memsz, align } = ph;

    if (vaddr < minBase) {
      fail(`phdr[${i}].p_vaddr outside of valid memory range (${vaddr} < ${minBase})`);
    }
    if (vaddr < lastVaddr) {
      fail(`phdr[${i}].p_vaddr is not in ascending order (${vaddr} < ${lastVaddr})`);
    }
    lastVaddr = vaddr;
    if (!isPowerOfTwo(align)) {
      fail(
        `phdr[${i}].p_vaddr is outside of memory range (align_down with ${vaddr} (p_vaddr) and ${align} (p_align) failed)`,
      );
    }
    const start = alignDown(vaddr, align);
    if (start < minBase) {
      fail(
        `phdr[${i}].p_vaddr_start is outside of memory range (${start} < ${minBase} (p_min_loadaddr))`,
      );
    }
    // Overlapping segments are refused; Solo5's toolchain never makes them.
    if (start < kernelEnd) {
      fail(`phdr[${i}].p_vaddr_start is outside of memory range (${start} < ${kernelEnd} (e_end))`);
    }
    if (vaddr >= size) {
      fail(
        `phdr[${i}] program file segment falls outside of valid range (${vaddr} >= ${size} (mem_size))`,
      );
    }
    const fileEnd = vaddr + filesz;
    if (fileEnd > U64_MAX) {
      fail(
        `phdr[${i}] program file segment falls outside of valid range (${vaddr} (p_vaddr) + ${filesz} (p_filesz) overflow)`,
      );
    }
    if (fileEnd > size) {
      fail(
        `phdr[${i}] program file segment falls outside of valid range (${fileEnd} (p_vaddr + p_filesz) > ${size} (mem_size))`,
      );
    }
    if (memsz < filesz) {
      fail(
        `phdr[${i}] program memory segment falls outside of valid range (${memsz} (p_memsz) < ${filesz} (p_filesz))`,
      );
    }
    const memEnd = vaddr + memsz;
    if (memEnd > U64_MAX) {
      fail(
        `phdr[${i}] program memory segment falls outside of valid range (${vaddr} (p_vaddr) + ${memsz} (p_memsz) overflow)`,
      );
    }
    if (memEnd + (align - 1n) > U64_MAX) {
      fail(
        `phdr[${i}] program memory segment falls outside of valid range (align_up with ${memEnd} (p_vaddr_end) and ${align} (p_align) failed)`,
      );
    }
    const end = alignDown(memEnd + (align - 1n), align);
    if (end > size) {
      fail(
        `phdr[${i}] program memory segment falls outside of valid range (${end} (p_vaddr + p_memsz) > ${size} (mem_size))`,
      );
    }
    const { reserved } = options;
    if (reserved !== undefined && start < BigInt(reserved.end) && end > BigInt(reserved.start)) {
      fail(
        `phdr[${i}] overlaps the ${reserved.what} (${start}..${end} and ${reserved.start}..${reserved.end})`,
      );
    }
    if (end > kernelEnd) kernelEnd = end;

    // From here on every address is inside guest memory (below 4 GiB), so numbers are exact.
    const guestAddr = Number(vaddr);
    const fileSize = Number(filesz);
    const got = preadInFull(bytes, ph.offset, fileSize);
    if (got < 0) throw new ElfError(file, `phdr[${i}] pread_in_full returned ${PREAD_FAILED}`);
    // Like the reference, what could be read is copied before a short read is refused.
    if (got > 0) {
      const from = Number(ph.offset);
      memory.write(guestAddr, bytes.subarray(from, from + got));
    }
    if (got !== fileSize) {
      throw new ElfError(
        file,
        `phdr[${i}] host file segment mismatched (pread_in_full returned ${got} != ${filesz} (p_filesz))`,
      );
    }
    memory.fill(guestAddr + fileSize, Number(memsz - filesz));

    // Checked after the copy, as the reference does; the message prints
    // "page size - 1" where it means the mask, and so do we.
    const pageMask = BigInt(GUEST_PAGE_SIZE - 1);
    if (start & pageMask) {
      fail(
        `phdr[${i}] p_vaddr_start not aligned with architectural page size (${start} & (${pageMask} - 1))`,
      );
    }
    if (end & pageMask) {
      fail(
        `phdr[${i}] p_vaddr_end not aligned with architectural page size (${end} & (${pageMask} - 1))`,
      );
    }
    const guestProt = segmentProt(ph.flags);
    if (guestProt & Prot.WRITE && guestProt & Prot.EXEC) {
      fail(`phdr[${i}] requests WRITE and EXEC permissions`);
    }
    const segment: LoadedSegment = {
      index: i,
      vaddr: guestAddr,
      offset: Number(ph.offset),
      filesz: fileSize,
      memsz: Number(memsz),
      flags: ph.flags,
      start: Number(start),
      end: Number(end),
      guestProt,
      hostProt: hostProt(guestProt),
    };
    if (options.protect) {
      try {
        options.protect(segment);
      } catch (cause) {
        const error = new ElfError(file, 'mprotect failed');
        error.cause = cause;
        throw error;
      }
    }
    segments.push(segment);
  }
  return { entry: Number(entry), kernelEnd: Number(kernelEnd), segments };
}
