import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  EM_AARCH64,
  EM_X86_64,
  hostMachine,
  PT_LOAD,
  PT_NOTE,
  peekMachine,
  preadInFull,
  readElf,
  readKernelFile,
} from '../src/entry/kernel.js';
import { ElfError, HvtError, KernelOpenError } from '../src/index.js';
import { buildUnikernel, setPhdr, setU16, setU32, setU64 } from './elf-builder.js';

const F = 'kernel.hvt';
const NOTE_HEADER_INVALID = `${F}: invalid executable: invalid or unsupported executable (elf header invalid while loading note)`;

function setU8(bytes: Uint8Array, at: number, v: number): void {
  bytes[at] = v;
}

function fresh(): Uint8Array {
  return buildUnikernel().bytes;
}

function readError(bytes: Uint8Array, machine = EM_X86_64): ElfError {
  try {
    readElf(bytes, F, 'note', machine);
  } catch (error) {
    expect(error).toBeInstanceOf(ElfError);
    expect((error as ElfError).exitStatus).toBe(1);
    return error as ElfError;
  }
  throw new Error('readElf accepted the file');
}

describe('ELF header (3.1)', () => {
  it('reads a valid executable: header fields and every program header', () => {
    const { bytes, phdrs } = buildUnikernel();
    const elf = readElf(bytes, F, 'note', EM_X86_64);
    expect(elf.header).toEqual({
      type: 2,
      machine: EM_X86_64,
      entry: 0x100000n,
      phoff: 64n,
      phnum: 7,
    });
    expect(elf.phdrs.map((p) => p.type)).toEqual(phdrs.map((p) => p.type));
    expect(elf.phdrs.map((p) => p.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(elf.phdrs[0]).toMatchObject({
      type: PT_LOAD,
      flags: 5,
      offset: 0x1000n,
      vaddr: 0x100000n,
      paddr: 0x100000n,
      filesz: 4n,
      memsz: 4n,
      align: 0x1000n,
    });
    expect(elf.phdrs[4]?.type).toBe(PT_NOTE);
  });

  it.each([
    [0, 0],
    [10, 10],
    [63, 63],
  ])('a %i-byte file is a short header read (%i != 64)', (size) => {
    const error = readError(fresh().subarray(0, size));
    expect(error.message).toBe(
      `${F}: invalid executable: elf header does not match the expected size (${size} != 64)`,
    );
  });

  const breakers: [string, (b: Uint8Array) => void][] = [
    ['magic byte 0', (b) => setU8(b, 0, 0x7e)],
    ['magic byte 1', (b) => setU8(b, 1, 0x65)],
    ['magic byte 2', (b) => setU8(b, 2, 0x6c)],
    ['magic byte 3', (b) => setU8(b, 3, 0x66)],
    ['class ELFCLASS32', (b) => setU8(b, 4, 1)],
    ['data ELFDATA2MSB', (b) => setU8(b, 5, 2)],
    ['e_version 0', (b) => setU32(b, 20, 0)],
    ['e_version 2', (b) => setU32(b, 20, 2)],
    ['e_ehsize 63', (b) => setU16(b, 52, 63)],
    ['e_ehsize 128', (b) => setU16(b, 52, 128)],
    ['e_phentsize 64', (b) => setU16(b, 54, 64)],
    ['e_phnum 0', (b) => setU16(b, 56, 0)],
    ['e_type ET_DYN', (b) => setU16(b, 16, 3)],
    ['e_type ET_REL', (b) => setU16(b, 16, 1)],
    ['e_machine aarch64 on an x86_64 tender', (b) => setU16(b, 18, EM_AARCH64)],
    ['e_machine ppc64', (b) => setU16(b, 18, 21)],
  ];
  it.each(breakers)('rejects %s', (_, breakIt) => {
    const bytes = fresh();
    breakIt(bytes);
    expect(readError(bytes).message).toBe(NOTE_HEADER_INVALID);
  });

  it('does not check EI_OSABI or EI_ABIVERSION', () => {
    const bytes = fresh();
    bytes[7] = 0x61; // ELFOSABI_ARM
    bytes[8] = 0x7f;
    expect(readElf(bytes, F, 'note', EM_X86_64).header.machine).toBe(EM_X86_64);
  });

  it('takes the expected machine as a parameter', () => {
    const arm = buildUnikernel({ machine: EM_AARCH64 }).bytes;
    expect(readElf(arm, F, 'note', EM_AARCH64).header.machine).toBe(EM_AARCH64);
    expect(readError(arm, EM_X86_64).message).toBe(NOTE_HEADER_INVALID);
    expect(readError(fresh(), EM_AARCH64).message).toBe(NOTE_HEADER_INVALID);
  });

  it('uses the loader wording in the elf phase', () => {
    const bytes = setU16(fresh(), 16, 3);
    expect(() => readElf(bytes, F, 'elf', EM_X86_64)).toThrow(
      `${F}: invalid or unsupported executable (elf header invalid while loading elf)`,
    );
  });

  it('defaults the machine to the host architecture', () => {
    expect(hostMachine()).toBe(
      process.arch === 'x64' ? EM_X86_64 : process.arch === 'arm64' ? EM_AARCH64 : 0,
    );
    expect(peekMachine(fresh())).toBe(EM_X86_64);
    expect(peekMachine(new Uint8Array(19))).toBeUndefined();
  });
});

describe('program header table (3.1)', () => {
  it('must lie wholly inside the file', () => {
    const bytes = fresh();
    const cut = bytes.subarray(0, 64 + 3 * 56 + 10);
    expect(readError(cut).message).toBe(
      `${F}: invalid executable: program header does not match the expected size (178 != 392 while loading note)`,
    );
  });

  it('a table offset past the end reads nothing', () => {
    const bytes = setU64(fresh(), 32, 0x1_0000_0000n);
    expect(readError(bytes).message).toBe(
      `${F}: invalid executable: program header does not match the expected size (0 != 392 while loading note)`,
    );
    expect(() => readElf(bytes, F, 'elf', EM_X86_64)).toThrow(
      `${F}: invalid executable: program header does not match the expected size (0 != 392 while loading elf)`,
    );
  });

  it('an offset beyond the signed off_t range is a failed pread, printed as %zu', () => {
    const bytes = setU64(fresh(), 32, 1n << 63n);
    expect(readError(bytes).message).toBe(
      `${F}: pread_in_full for ph_size returned 18446744073709551615 < 0 while loading note`,
    );
  });

  it('program header fields are u64 and keep all their bits', () => {
    const bytes = setPhdr(fresh(), 0, 'vaddr', 0xffff_ffff_ffff_fff0n);
    expect(readElf(bytes, F, 'note', EM_X86_64).phdrs[0]?.vaddr).toBe(0xffff_ffff_ffff_fff0n);
  });
});

describe('preadInFull', () => {
  const file = new Uint8Array(100);
  it('models short reads and refused offsets', () => {
    expect(preadInFull(file, 0n, 64)).toBe(64);
    expect(preadInFull(file, 90n, 64)).toBe(10);
    expect(preadInFull(file, 100n, 64)).toBe(0);
    expect(preadInFull(file, 1n << 62n, 64)).toBe(0);
    expect(preadInFull(file, (1n << 63n) - 10n, 64)).toBe(-1);
    expect(preadInFull(file, 1n << 63n, 1)).toBe(-1);
  });
});

describe('readKernelFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hvtjs-elf-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a regular file whole', () => {
    const path = join(dir, 'k');
    writeFileSync(path, fresh());
    expect(readKernelFile(path)).toEqual(Buffer.from(fresh()));
  });

  it.each([
    ['missing', (d: string) => join(d, 'nope'), 'No such file or directory'],
    ['a directory', (d: string) => d, 'Is a directory'],
    ['under a file', (d: string) => join(d, 'k', 'x'), 'Not a directory'],
    [
      'a symlink loop',
      (d: string) => {
        const p = join(d, 'loop');
        symlinkSync(p, p);
        return p;
      },
      'Too many levels of symbolic links',
    ],
  ])('%s: Could not open with the strerror text', (_, pathOf, reason) => {
    writeFileSync(join(dir, 'k'), fresh());
    const path = pathOf(dir);
    let caught: unknown;
    try {
      readKernelFile(path);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(KernelOpenError);
    expect(caught).toBeInstanceOf(HvtError);
    expect((caught as Error).message).toBe(`${path}: Could not open: ${reason}`);
  });
});
