import { describe, expect, it } from 'vitest';
import {
  ABI1_NOTE,
  abiTargetName,
  EM_X86_64,
  findSolo5Note,
  MFT1_NOTE,
  readAbiNote,
  readManifestNote,
  requireHvtAbi,
} from '../src/entry/kernel.js';
import { AbiError, ElfError, ManifestError } from '../src/index.js';
import {
  ABI1,
  abiDescriptor,
  buildUnikernel,
  MFT1,
  manifestBytes,
  note,
  phdrAt,
  setPhdr,
  setU32,
} from './elf-builder.js';

const F = 'kernel.hvt';
const ABI = 4; // index of the ABI1 PT_NOTE in buildUnikernel()
const MFT = 5;

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    expect((error as { exitStatus?: number }).exitStatus).toBe(1);
    return error as Error;
  }
  throw new Error('no error thrown');
}

const abiOf = (bytes: Uint8Array) => readAbiNote(bytes, F, EM_X86_64);
const mftOf = (bytes: Uint8Array) => readManifestNote(bytes, F, EM_X86_64);

describe('ABI1 note (4.2)', () => {
  it('reads target and version', () => {
    expect(abiOf(buildUnikernel().bytes)).toEqual({ target: 1, version: 2 });
    expect(abiOf(buildUnikernel({ abi: abiDescriptor(2, 7) }).bytes)).toEqual({
      target: 2,
      version: 7,
    });
  });

  it('reading does not require hvt; requireHvtAbi does, with the reference texts', () => {
    expect(() => requireHvtAbi({ target: 1, version: 2 }, F)).not.toThrow();
    const spt = thrown(() => requireHvtAbi({ target: 2, version: 2 }, F));
    expect(spt).toBeInstanceOf(AbiError);
    expect(spt.message).toBe(`${F}: Executable is not for the solo5-hvt target`);
    const v1 = thrown(() => requireHvtAbi({ target: 1, version: 1 }, F));
    expect(v1.message).toBe(`${F}: Executable requests unsupported ABI version 1`);
    // Target is checked before version.
    expect(thrown(() => requireHvtAbi({ target: 3, version: 9 }, F)).message).toBe(
      `${F}: Executable is not for the solo5-hvt target`,
    );
  });

  it('names the targets as Solo5 does', () => {
    expect([1, 2, 3, 4, 5, 6].map(abiTargetName)).toEqual([
      'hvt',
      'spt',
      'virtio',
      'muen',
      'genode',
      'xen',
    ]);
    expect(abiTargetName(0)).toBe('unknown(0)');
    expect(abiTargetName(7)).toBe('unknown(7)');
  });

  it('a missing note is the reference error', () => {
    const error = thrown(() => abiOf(buildUnikernel({ abi: null }).bytes));
    expect(error).toBeInstanceOf(AbiError);
    expect(error.message).toBe(`${F}: No Solo5 ABI information found in executable`);
  });

  it('has no padding: the descriptor starts right after the 20-byte header', () => {
    const u = buildUnikernel();
    const desc = findSolo5Note(u.bytes, F, ABI1_NOTE, EM_X86_64)!;
    expect(desc).toEqual(u.bytes.subarray(u.offset.abi + 20, u.offset.abi + 36));
    setU32(u.bytes, u.offset.abi + 20, 6);
    expect(abiOf(u.bytes).target).toBe(6);
  });

  it('requires at least 8 descriptor bytes (the reference reads two u32 unchecked)', () => {
    const u = buildUnikernel({ abiNote: note(ABI1, new Uint8Array([1, 0, 0, 0])) });
    const error = thrown(() => abiOf(u.bytes));
    expect(error).toBeInstanceOf(ElfError);
    expect(error.message).toBe(
      `${F}: INV_EXE: phdr[${ABI}] note does not fall within valid size (4 <= 0 || 4 > 4)`,
    );
    const eight = buildUnikernel({ abiNote: note(ABI1, abiDescriptor().subarray(0, 8)) });
    expect(abiOf(eight.bytes)).toEqual({ target: 1, version: 2 });
  });

  it('accepts descriptors up to 32 bytes, not 33', () => {
    const ok = buildUnikernel({ abiNote: note(ABI1, new Uint8Array(32).fill(0)) });
    expect(abiOf(ok.bytes)).toEqual({ target: 0, version: 0 });
    const big = buildUnikernel({ abiNote: note(ABI1, new Uint8Array(33)) });
    expect(thrown(() => abiOf(big.bytes)).message).toBe(
      `${F}: invalid executable: phdr[${ABI}] note does not fall within valid size (33 < 1 || 33 > 32)`,
    );
  });
});

describe('MFT1 note (4.3)', () => {
  it('reads the manifest after 4 bytes of padding', () => {
    const u = buildUnikernel({ manifest: manifestBytes([{ name: 'disk', type: 1 }]) });
    // Garbage in the padding is ignored.
    u.bytes.fill(0xaa, u.offset.mft + 20, u.offset.mft + 24);
    const desc = findSolo5Note(u.bytes, F, MFT1_NOTE, EM_X86_64)!;
    expect(desc.byteLength).toBe(8 + 2 * 104);
    expect(desc).toEqual(u.bytes.subarray(u.offset.mft + 24, u.offset.mft + 24 + 216));
    expect(mftOf(u.bytes).entries[1]?.name).toBe('disk');
  });

  it('a missing note is the reference error', () => {
    const error = thrown(() => mftOf(buildUnikernel({ manifest: null }).bytes));
    expect(error).toBeInstanceOf(ManifestError);
    expect(error.message).toBe(`${F}: No Solo5 manifest found in executable`);
  });

  it('an invalid manifest is the reference error', () => {
    const bad = manifestBytes([]);
    setU32(bad, 0, 2); // version
    const error = thrown(() => mftOf(buildUnikernel({ manifest: bad }).bytes));
    expect(error).toBeInstanceOf(ManifestError);
    expect(error.message).toBe(`${F}: Solo5 manifest is invalid`);
  });

  it('n_descsz 1 underflows past the padding (the buggyelf case)', () => {
    const u = buildUnikernel({ mftNote: note(MFT1, new Uint8Array(4), { descsz: 1 }) });
    expect(thrown(() => mftOf(u.bytes)).message).toBe(
      `${F}: INV_EXE: phdr[${MFT}] note does not fall within valid size (18446744073709551613 <= 0 || 18446744073709551613 > 1)`,
    );
  });

  it('n_descsz equal to the padding leaves nothing', () => {
    const u = buildUnikernel({ mftNote: note(MFT1, new Uint8Array(4), { descsz: 4 }) });
    expect(thrown(() => mftOf(u.bytes)).message).toBe(
      `${F}: INV_EXE: phdr[${MFT}] note does not fall within valid size (0 <= 0 || 0 > 4)`,
    );
  });

  it('accepts the 64-entry maximum (n_descsz 6668) and refuses 6669', () => {
    const devices = Array.from({ length: 63 }, (_, i) => ({ name: `d${i}`, type: 1 }));
    const max = manifestBytes(devices);
    expect(max.byteLength + 4).toBe(6668);
    // 6668 bytes do not fit the small layout: the note goes in an extra segment.
    const big = note(MFT1, max, { padding: 4 });
    const at = 0x5000;
    const u = buildUnikernel({
      manifest: null,
      extraPhdrs: [{ type: 4, offset: at, filesz: big.length, align: 8 }],
      extraChunks: [{ offset: at, bytes: big }],
    });
    expect(mftOf(u.bytes).entries).toHaveLength(64);
    setU32(u.bytes, at + 4, 6669);
    setPhdr(u.bytes, 7, 'filesz', big.length + 1);
    expect(thrown(() => mftOf(u.bytes)).message).toBe(
      `${F}: invalid executable: phdr[7] note does not fall within valid size (6669 < 1 || 6669 > 6668)`,
    );
  });
});

describe('note lookup (4.1)', () => {
  it.each([0, 1, 11])('a PT_NOTE with p_filesz %i is fatal, not skipped', (size) => {
    const bytes = setPhdr(buildUnikernel().bytes, ABI, 'filesz', size);
    const error = thrown(() => abiOf(bytes));
    expect(error).toBeInstanceOf(ElfError);
    expect(error.message).toBe(
      `${F}: invalid executable: phdr[${ABI}].p_filesz note does not fall within valid size (${size} < 12)`,
    );
  });

  it('the p_filesz check applies to every PT_NOTE visited, whatever note is wanted', () => {
    const bytes = setPhdr(buildUnikernel().bytes, MFT, 'filesz', 3);
    // The ABI note comes first in the table and is found before MFT's phdr is seen.
    expect(abiOf(bytes)).toEqual({ target: 1, version: 2 });
    expect(thrown(() => mftOf(bytes)).message).toContain(`phdr[${MFT}].p_filesz`);
  });

  it.each([12, 19])('a PT_NOTE with p_filesz %i is skipped', (size) => {
    const bytes = setPhdr(buildUnikernel().bytes, ABI, 'filesz', size);
    expect(thrown(() => abiOf(bytes)).message).toBe(
      `${F}: No Solo5 ABI information found in executable`,
    );
  });

  it('skips notes with another n_namesz, name or type', () => {
    const other = (opts: Parameters<typeof note>[2], type = ABI1) =>
      buildUnikernel({ abiNote: note(type, abiDescriptor(), opts) }).bytes;
    const notFound = `${F}: No Solo5 ABI information found in executable`;
    expect(thrown(() => abiOf(other({ namesz: 5 }))).message).toBe(notFound);
    expect(thrown(() => abiOf(other({ namesz: 8 }))).message).toBe(notFound);
    expect(thrown(() => abiOf(other({ name: 'Solo6' }))).message).toBe(notFound);
    expect(thrown(() => abiOf(other({ name: 'solo5' }))).message).toBe(notFound);
    expect(thrown(() => abiOf(other({}, 0x32494241)))).toBeInstanceOf(AbiError);
  });

  it('looks only at the first note of each PT_NOTE', () => {
    const gnu = note(3, new Uint8Array(16), { name: 'GNU' });
    const both = new Uint8Array([...gnu, ...note(ABI1, abiDescriptor())]);
    const u = buildUnikernel({ abiNote: both });
    expect(thrown(() => abiOf(u.bytes))).toBeInstanceOf(AbiError);
  });

  it('visits PT_NOTEs in table order, skipping foreign ones', () => {
    // The first PT_NOTE holds a GNU note; the ABI note follows in a later one.
    const gnu = note(3, new Uint8Array(16), { name: 'GNU' });
    const at = 0x5000;
    const u = buildUnikernel({
      abiNote: gnu,
      extraPhdrs: [{ type: 4, offset: at, filesz: 36, align: 4 }],
      extraChunks: [{ offset: at, bytes: note(ABI1, abiDescriptor(1, 2)) }],
    });
    expect(abiOf(u.bytes)).toEqual({ target: 1, version: 2 });
  });

  it('a bad size in an earlier matching note is fatal even if a later one is good', () => {
    const at = 0x5000;
    const u = buildUnikernel({
      abiNote: note(ABI1, new Uint8Array(16), { descsz: 0 }),
      extraPhdrs: [{ type: 4, offset: at, filesz: 36, align: 4 }],
      extraChunks: [{ offset: at, bytes: note(ABI1, abiDescriptor()) }],
    });
    expect(thrown(() => abiOf(u.bytes)).message).toBe(
      `${F}: invalid executable: phdr[${ABI}] note does not fall within valid size (0 < 1 || 0 > 32)`,
    );
  });

  it('p_filesz must cover the descriptor', () => {
    const bytes = setPhdr(buildUnikernel().bytes, ABI, 'filesz', 35);
    expect(thrown(() => abiOf(bytes)).message).toBe(
      `${F}: invalid executable: phdr[${ABI}] note does not fall within valid size (35 < 36)`,
    );
  });

  it('a note header past the end of the file is a short read', () => {
    const u = buildUnikernel();
    const cut = u.bytes.subarray(0, u.offset.abi + 7);
    expect(thrown(() => abiOf(cut)).message).toBe(
      `${F}: phdr[${ABI}] bytes read mismatches note size (7 != 20)`,
    );
    const far = setPhdr(u.bytes, ABI, 'offset', 1n << 40n);
    expect(thrown(() => abiOf(far)).message).toBe(
      `${F}: phdr[${ABI}] bytes read mismatches note size (0 != 20)`,
    );
  });

  it('a note offset beyond the off_t range is a failed pread', () => {
    const bytes = setPhdr(buildUnikernel().bytes, ABI, 'offset', 1n << 63n);
    expect(thrown(() => abiOf(bytes)).message).toBe(
      `${F}: phdr[${ABI}] pread_in_full returned 18446744073709551615`,
    );
  });

  it('a descriptor past the end of the file is a short read', () => {
    const u = buildUnikernel();
    const cut = u.bytes.subarray(0, u.offset.abi + 20 + 5);
    expect(thrown(() => abiOf(cut)).message).toBe(
      `${F}: phdr[${ABI}] bytes read mismatches note size (5 != 16)`,
    );
  });

  it('returns a copy, not a view of the file', () => {
    const u = buildUnikernel();
    const buffer = Buffer.from(u.bytes);
    const desc = findSolo5Note(buffer, F, ABI1_NOTE, EM_X86_64)!;
    buffer[u.offset.abi + 20] = 9;
    expect(desc[0]).toBe(1);
  });

  it('checks the ELF header first, in the note wording', () => {
    const bytes = buildUnikernel().bytes;
    bytes[0] = 0;
    expect(thrown(() => abiOf(bytes)).message).toBe(
      `${F}: invalid executable: invalid or unsupported executable (elf header invalid while loading note)`,
    );
    expect(phdrAt(ABI)).toBe(64 + ABI * 56);
  });
});
