import { describe, expect, it } from 'vitest';
import {
  EM_AARCH64,
  EM_X86_64,
  hostProt,
  type LoadedSegment,
  loadElf,
  segmentProt,
} from '../src/entry/kernel.js';
import { CHUNK_SIZE, GuestMemory, Prot } from '../src/entry/platform.js';
import { ElfError } from '../src/index.js';
import { buildUnikernel, setPhdr, setU16, setU64, TEXT_VADDR } from './elf-builder.js';

const F = 'kernel.hvt';
const MEM = 4 * 1024 * 1024;
const TEXT = 0;
const RODATA = 1;
const DATA = 2;

function load(bytes: Uint8Array, memSize = MEM, protect?: (s: LoadedSegment) => void) {
  const memory = GuestMemory.allocate(memSize);
  return { memory, loaded: loadElf(bytes, F, memory, { machine: EM_X86_64, protect }) };
}

function loadError(bytes: Uint8Array, memSize = MEM): string {
  try {
    load(bytes, memSize);
  } catch (error) {
    expect(error).toBeInstanceOf(ElfError);
    expect((error as ElfError).exitStatus).toBe(1);
    return (error as Error).message;
  }
  throw new Error('loadElf accepted the file');
}

const inv = (detail: string) => `${F}: invalid executable: ${detail}`;

describe('loadElf: a valid unikernel', () => {
  it('copies each PT_LOAD with file bytes and reports entry, kernel_end and segments', () => {
    const u = buildUnikernel();
    const { memory, loaded } = load(u.bytes);
    expect(loaded.entry).toBe(TEXT_VADDR);
    // data ends at 0x102008, aligned up to 0x103000; the bss (0x103000+) is not counted.
    expect(loaded.kernelEnd).toBe(0x103000);
    expect(loaded.segments.map((s) => s.index)).toEqual([TEXT, RODATA, DATA]);
    for (const s of loaded.segments) {
      expect(memory.read(s.vaddr, s.filesz)).toEqual(
        u.bytes.subarray(s.offset, s.offset + s.filesz),
      );
    }
    expect(loaded.segments[0]).toEqual({
      index: 0,
      vaddr: 0x100000,
      offset: 0x1000,
      filesz: 4,
      memsz: 4,
      flags: 5,
      start: 0x100000,
      end: 0x101000,
      guestProt: Prot.READ | Prot.EXEC,
      hostProt: Prot.READ,
    });
    expect(loaded.segments[1]).toMatchObject({ guestProt: Prot.READ, hostProt: Prot.READ });
    expect(loaded.segments[2]).toMatchObject({
      start: 0x102000,
      end: 0x103000,
      guestProt: Prot.READ | Prot.WRITE,
      hostProt: Prot.READ | Prot.WRITE,
    });
  });

  it('never grants EXEC on the host: execute-only text becomes read-only', () => {
    expect(segmentProt(1)).toBe(Prot.EXEC);
    expect(hostProt(Prot.EXEC)).toBe(Prot.READ);
    expect(hostProt(Prot.READ | Prot.EXEC)).toBe(Prot.READ);
    expect(hostProt(Prot.READ | Prot.WRITE)).toBe(Prot.READ | Prot.WRITE);
    expect(hostProt(Prot.NONE)).toBe(Prot.NONE);
    const xonly = setPhdr(buildUnikernel().bytes, TEXT, 'flags', 1);
    expect(load(xonly).loaded.segments[0]).toMatchObject({
      guestProt: Prot.EXEC,
      hostProt: Prot.READ,
    });
  });

  it('zeroes p_memsz beyond p_filesz', () => {
    const bytes = setPhdr(buildUnikernel().bytes, DATA, 'memsz', 0x1800);
    const memory = GuestMemory.allocate(MEM);
    memory.fill(0, MEM, 0xff);
    const loaded = loadElf(bytes, F, memory, { machine: EM_X86_64 });
    expect(memory.read(0x102000, 8)).toEqual(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
    expect(memory.read(0x102008, 0x1800 - 8)).toEqual(new Uint8Array(0x1800 - 8));
    expect(memory.readU8(0x103800)).toBe(0xff);
    expect(loaded.kernelEnd).toBe(0x104000);
  });

  it('skips PT_LOADs without file bytes (bss, empty TLS at vaddr 0) and other types', () => {
    const u = buildUnikernel({
      extraPhdrs: [
        { type: 1, flags: 7, vaddr: 0x10, filesz: 0, memsz: 0x10000 },
        { type: 0x6474e551, flags: 7, vaddr: 0, filesz: 0x1000, align: 3 }, // PT_GNU_STACK
      ],
    });
    expect(load(u.bytes).loaded.segments).toHaveLength(3);
  });

  it('applies protections through the callback in table order, before later checks', () => {
    const bytes = setPhdr(buildUnikernel().bytes, DATA, 'flags', 3);
    const seen: number[] = [];
    expect(() => load(bytes, MEM, (s) => seen.push(s.index))).toThrow(
      inv('phdr[2] requests WRITE and EXEC permissions'),
    );
    expect(seen).toEqual([TEXT, RODATA]);
  });

  it('a failing protection is the reference "mprotect failed"', () => {
    const u = buildUnikernel();
    let error: unknown;
    try {
      load(u.bytes, MEM, () => {
        throw new Error('EACCES');
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ElfError);
    expect((error as Error).message).toBe(`${F}: mprotect failed`);
  });

  it('loads a segment that crosses a guest memory view boundary', () => {
    const vaddr = CHUNK_SIZE - 0x1000;
    const payload = new Uint8Array(0x2000).map((_, i) => (i * 7) & 0xff);
    const at = 0x5000;
    const u = buildUnikernel({
      extraPhdrs: [
        {
          type: 1,
          flags: 6,
          offset: at,
          vaddr,
          filesz: payload.length,
          memsz: 0x3000,
          align: 0x1000,
        },
      ],
      extraChunks: [{ offset: at, bytes: payload }],
    });
    const memory = GuestMemory.allocate(CHUNK_SIZE + 0x200000);
    expect(memory.chunks).toHaveLength(2);
    const loaded = loadElf(u.bytes, F, memory, { machine: EM_X86_64 });
    expect(memory.read(vaddr, payload.length)).toEqual(payload);
    expect(loaded.kernelEnd).toBe(CHUNK_SIZE + 0x2000);
  });

  it('uses memSize, not the size of the memory, for its checks', () => {
    const memory = GuestMemory.allocate(MEM);
    const bytes = setU64(buildUnikernel().bytes, 24, 0x100000 + 0x2000);
    expect(() => loadElf(bytes, F, memory, { machine: EM_X86_64, memSize: 0x102000 })).toThrow(
      inv(
        'e_entry does not fall within the memory allocation range (1056768 < 1048576 || 1056768 >= 1056768)',
      ),
    );
    expect(() => loadElf(bytes, F, memory, { memSize: MEM + 1 })).toThrow(RangeError);
  });
});

describe('loadElf: ELF header (loader wording)', () => {
  it('short header', () => {
    expect(loadError(buildUnikernel().bytes.subarray(0, 10))).toBe(
      inv('elf header does not match the expected size (10 != 64)'),
    );
  });
  it('invalid header', () => {
    expect(loadError(setU16(buildUnikernel().bytes, 18, EM_AARCH64))).toBe(
      `${F}: invalid or unsupported executable (elf header invalid while loading elf)`,
    );
  });
  it('e_entry is checked before the program headers are read', () => {
    const bytes = setU64(setU64(buildUnikernel().bytes, 24, 0xfffff), 32, 1n << 40n);
    expect(loadError(bytes)).toBe(
      inv(
        'e_entry does not fall within the memory allocation range (1048575 < 1048576 || 1048575 >= 4194304)',
      ),
    );
  });
  it('e_entry at or past the end of memory', () => {
    expect(loadError(setU64(buildUnikernel().bytes, 24, MEM))).toBe(
      inv(
        'e_entry does not fall within the memory allocation range (4194304 < 1048576 || 4194304 >= 4194304)',
      ),
    );
    const huge = 0xffff_ffff_ffff_ffffn;
    expect(loadError(setU64(buildUnikernel().bytes, 24, huge))).toBe(
      inv(
        `e_entry does not fall within the memory allocation range (${huge} < 1048576 || ${huge} >= 4194304)`,
      ),
    );
  });
  it('program headers past the end of the file', () => {
    expect(loadError(setU64(buildUnikernel().bytes, 32, 0x10000))).toBe(
      inv('program header does not match the expected size (0 != 392 while loading elf)'),
    );
  });
});

describe('loadElf: PT_LOAD checks (3.3), in the reference order', () => {
  const U64 = 0xffff_ffff_ffff_ffffn;
  const withData = (edit: (b: Uint8Array) => void) => {
    const bytes = buildUnikernel().bytes;
    edit(bytes);
    return loadError(bytes);
  };

  it('1. p_vaddr below 1 MiB', () => {
    expect(withData((b) => setPhdr(b, TEXT, 'vaddr', 0xff000))).toBe(
      inv('phdr[0].p_vaddr outside of valid memory range (1044480 < 1048576)'),
    );
  });
  it('2. p_vaddr in ascending order', () => {
    expect(withData((b) => setPhdr(b, DATA, 'vaddr', 0x100800))).toBe(
      inv('phdr[2].p_vaddr is not in ascending order (1050624 < 1052672)'),
    );
  });
  it.each([0, 3, 0x1001])('3. p_align %i is not a power of two', (align) => {
    expect(withData((b) => setPhdr(b, RODATA, 'align', align))).toBe(
      inv(
        `phdr[1].p_vaddr is outside of memory range (align_down with 1052672 (p_vaddr) and ${align} (p_align) failed)`,
      ),
    );
  });
  it('3. the aligned start below 1 MiB', () => {
    expect(withData((b) => setPhdr(b, TEXT, 'align', 0x200000))).toBe(
      inv('phdr[0].p_vaddr_start is outside of memory range (0 < 1048576 (p_min_loadaddr))'),
    );
  });
  it('4. the aligned start overlapping an earlier segment', () => {
    expect(withData((b) => setPhdr(b, TEXT, 'memsz', 0x1001))).toBe(
      inv('phdr[1].p_vaddr_start is outside of memory range (1052672 < 1056768 (e_end))'),
    );
  });
  it('5. p_vaddr at or past the end of memory', () => {
    expect(withData((b) => setPhdr(b, DATA, 'vaddr', MEM))).toBe(
      inv(
        'phdr[2] program file segment falls outside of valid range (4194304 >= 4194304 (mem_size))',
      ),
    );
  });
  it('5. p_vaddr + p_filesz overflowing 64 bits', () => {
    expect(withData((b) => setPhdr(b, DATA, 'filesz', U64))).toBe(
      inv(
        `phdr[2] program file segment falls outside of valid range (1056768 (p_vaddr) + ${U64} (p_filesz) overflow)`,
      ),
    );
  });
  it('5. p_vaddr + p_filesz past the end of memory', () => {
    expect(withData((b) => setPhdr(b, DATA, 'filesz', MEM))).toBe(
      inv(
        'phdr[2] program file segment falls outside of valid range (5251072 (p_vaddr + p_filesz) > 4194304 (mem_size))',
      ),
    );
  });
  it('6. p_memsz below p_filesz', () => {
    expect(withData((b) => setPhdr(b, DATA, 'memsz', 7))).toBe(
      inv(
        'phdr[2] program memory segment falls outside of valid range (7 (p_memsz) < 8 (p_filesz))',
      ),
    );
  });
  it('6. p_vaddr + p_memsz overflowing 64 bits', () => {
    expect(withData((b) => setPhdr(b, DATA, 'memsz', U64 - 0x1000n))).toBe(
      inv(
        `phdr[2] program memory segment falls outside of valid range (1056768 (p_vaddr) + ${U64 - 0x1000n} (p_memsz) overflow)`,
      ),
    );
  });
  it('6. aligning the end up overflowing 64 bits', () => {
    const memsz = U64 - 0x102000n; // vaddr + memsz = 2^64 - 1
    expect(withData((b) => setPhdr(b, DATA, 'memsz', memsz))).toBe(
      inv(
        `phdr[2] program memory segment falls outside of valid range (align_up with ${U64} (p_vaddr_end) and 4096 (p_align) failed)`,
      ),
    );
  });
  it('6. the aligned end past the end of memory', () => {
    expect(withData((b) => setPhdr(b, DATA, 'memsz', MEM - 0x102000 + 1))).toBe(
      inv(
        'phdr[2] program memory segment falls outside of valid range (4198400 (p_vaddr + p_memsz) > 4194304 (mem_size))',
      ),
    );
  });
  it('8. file bytes past the end of the file', () => {
    const u = buildUnikernel();
    const bytes = setPhdr(u.bytes, DATA, 'offset', u.bytes.length - 3);
    expect(loadError(bytes)).toBe(
      `${F}: phdr[2] host file segment mismatched (pread_in_full returned 3 != 8 (p_filesz))`,
    );
  });
  it('8. a file offset beyond the off_t range', () => {
    expect(withData((b) => setPhdr(b, DATA, 'offset', 1n << 63n))).toBe(
      `${F}: phdr[2] pread_in_full returned 18446744073709551615`,
    );
  });
  it('9. start not page aligned (checked after the copy)', () => {
    const bytes = setPhdr(
      setPhdr(buildUnikernel().bytes, DATA, 'align', 16),
      DATA,
      'vaddr',
      0x102010,
    );
    const memory = GuestMemory.allocate(MEM);
    expect(() => loadElf(bytes, F, memory, { machine: EM_X86_64 })).toThrow(
      inv('phdr[2] p_vaddr_start not aligned with architectural page size (1056784 & (4095 - 1))'),
    );
    expect(memory.read(0x102010, 8)).toEqual(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
  });
  it('9. end not page aligned', () => {
    expect(withData((b) => setPhdr(b, DATA, 'align', 16))).toBe(
      inv('phdr[2] p_vaddr_end not aligned with architectural page size (1056784 & (4095 - 1))'),
    );
  });
  it('10. WRITE and EXEC together', () => {
    expect(withData((b) => setPhdr(b, TEXT, 'flags', 7))).toBe(
      inv('phdr[0] requests WRITE and EXEC permissions'),
    );
    expect(withData((b) => setPhdr(b, DATA, 'flags', 3))).toBe(
      inv('phdr[2] requests WRITE and EXEC permissions'),
    );
  });
  it('the first failing check wins', () => {
    // Below 1 MiB and W+X: the range check comes first.
    const bytes = buildUnikernel().bytes;
    setPhdr(bytes, TEXT, 'vaddr', 0);
    setPhdr(bytes, TEXT, 'flags', 3);
    expect(loadError(bytes)).toContain('phdr[0].p_vaddr outside of valid memory range');
  });
});
