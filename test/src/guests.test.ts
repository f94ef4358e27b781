// The project's own hvt test guests: they build for x86_64 and aarch64, and
// the ELF files have the shape the hvt ABI requires (docs/guest-abi.md sections 3
// and 4), checked both with binutils' readelf and by decoding the bytes here.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ARCHES as BUILD,
  buildGuests,
  GUESTS_DIR,
  manifestNoteAsm,
  validateManifest,
} from '../guests/build.mjs';

const EXPECTED_GUESTS = [
  'abort',
  'blk63',
  'block',
  'data',
  'fpu',
  'gdb',
  'halt',
  'hello',
  'hlt',
  'hostile',
  'net',
  'net2',
  'pagefault',
  'puts_long',
  'ringecho',
  'ringhostile',
  'sleep',
  'tls',
  'walltime',
  'writetext',
];

/** Per architecture: e_machine, and the guests that use only the other one's instructions. */
const ARCHES: readonly {
  arch: 'x86_64' | 'aarch64';
  machine: number;
  notBuilt: readonly string[];
}[] = [
  { arch: 'x86_64', machine: 62, notBuilt: Object.keys(BUILD.x86_64.skip) },
  { arch: 'aarch64', machine: 183, notBuilt: Object.keys(BUILD.aarch64.skip) },
];

const PT_LOAD = 1;
const PT_NOTE = 4;
const PF_X = 1;
const PF_W = 2;
const NT_ABI1 = 0x31494241;
const NT_MFT1 = 0x3154464d;
const MFT_RESERVED_FIRST = 0x40000000;
const MFT_ENTRY_SIZE = 104;
const PAGE = 0x1000;

interface Phdr {
  index: number;
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  align: number;
}

function parsePhdrs(elf: Buffer, machine: number): { entry: number; phdrs: Phdr[] } {
  expect(elf.subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  expect(elf[4]).toBe(2); // ELFCLASS64
  expect(elf[5]).toBe(1); // little-endian
  expect(elf.readUInt16LE(16)).toBe(2); // ET_EXEC
  expect(elf.readUInt16LE(18)).toBe(machine); // EM_X86_64 or EM_AARCH64
  expect(elf.readUInt16LE(54)).toBe(56); // e_phentsize
  const entry = Number(elf.readBigUInt64LE(24));
  const phoff = Number(elf.readBigUInt64LE(32));
  const phnum = elf.readUInt16LE(56);
  const phdrs: Phdr[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * 56;
    phdrs.push({
      index: i,
      type: elf.readUInt32LE(at),
      flags: elf.readUInt32LE(at + 4),
      offset: Number(elf.readBigUInt64LE(at + 8)),
      vaddr: Number(elf.readBigUInt64LE(at + 16)),
      filesz: Number(elf.readBigUInt64LE(at + 32)),
      memsz: Number(elf.readBigUInt64LE(at + 40)),
      align: Number(elf.readBigUInt64LE(at + 48)),
    });
  }
  return { entry, phdrs };
}

interface Note {
  type: number;
  desc: Buffer; // n_descsz bytes following the 20-byte header
}

/** The first note of a PT_NOTE, as the tender reads it (docs/guest-abi.md 4.1). */
function noteOf(elf: Buffer, ph: Phdr): Note {
  const at = ph.offset;
  const namesz = elf.readUInt32LE(at);
  const descsz = elf.readUInt32LE(at + 4);
  const type = elf.readUInt32LE(at + 8);
  expect(namesz).toBe(6);
  expect(elf.subarray(at + 12, at + 20)).toEqual(Buffer.from('Solo5\0\0\0', 'latin1'));
  expect(ph.filesz).toBeGreaterThanOrEqual(20 + descsz);
  return { type, desc: elf.subarray(at + 20, at + 20 + descsz) };
}

function solo5Notes(elf: Buffer, machine: number): Map<number, { ph: Phdr; note: Note }> {
  const notes = new Map<number, { ph: Phdr; note: Note }>();
  for (const ph of parsePhdrs(elf, machine).phdrs) {
    if (ph.type !== PT_NOTE) continue;
    const note = noteOf(elf, ph);
    expect(notes.has(note.type)).toBe(false);
    notes.set(note.type, { ph, note });
  }
  return notes;
}

/** Decodes an MFT1 descriptor field by field (docs/guest-abi.md 4.3, 4.4) back to elftool JSON. */
function decodeManifest(desc: Buffer): unknown {
  // 4 bytes of padding bring struct mft to 8-byte alignment within the note.
  expect(desc.readUInt32LE(0)).toBe(0);
  const version = desc.readUInt32LE(4);
  const entries = desc.readUInt32LE(8);
  expect(version).toBe(1);
  expect(entries).toBeGreaterThanOrEqual(1);
  expect(entries).toBeLessThanOrEqual(64);
  expect(desc.length).toBe(4 + 8 + MFT_ENTRY_SIZE * entries);

  const devices: Array<{ name: string; type: string }> = [];
  for (let i = 0; i < entries; i++) {
    const e = desc.subarray(12 + i * MFT_ENTRY_SIZE, 12 + (i + 1) * MFT_ENTRY_SIZE);
    const nameField = e.subarray(0, 68);
    const nul = nameField.indexOf(0);
    expect(nul).toBeGreaterThanOrEqual(0);
    // Everything after the terminator is zero, including name[67].
    expect(nameField.subarray(nul).every((b) => b === 0)).toBe(true);
    const name = nameField.subarray(0, nul).toString('latin1');
    const type = e.readUInt32LE(68);
    // Device properties, backing, attached and padding are the tender's to fill in.
    expect(e.subarray(72).every((b) => b === 0)).toBe(true);
    if (i === 0) {
      expect(name).toBe('');
      expect(type).toBe(MFT_RESERVED_FIRST);
      continue;
    }
    expect(name).toMatch(/^[A-Za-z0-9]{1,67}$/);
    const typeName = type === 1 ? 'BLOCK_BASIC' : type === 2 ? 'NET_BASIC' : `unknown ${type}`;
    devices.push({ name, type: typeName });
  }
  return { type: 'solo5.manifest', version, devices };
}

function expectedManifest(name: string): unknown {
  try {
    return JSON.parse(readFileSync(join(GUESTS_DIR, `${name}.json`), 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return { type: 'solo5.manifest', version: 1, devices: [] };
    }
    throw e;
  }
}

function readelf(args: string[], file: string): string {
  return execFileSync('readelf', [...args, file], { encoding: 'utf8' });
}

interface ReadelfLoad {
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  flags: string;
  align: number;
}

function readelfLoads(text: string): ReadelfLoad[] {
  const loads: ReadelfLoad[] = [];
  // Flags is a fixed 3-column field ("R E", "RW ", "  E"), so it may contain spaces.
  const re =
    /^\s*LOAD\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s(.{3})\s(0x[0-9a-f]+)\s*$/;
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (m === null) continue;
    loads.push({
      offset: Number(m[1]),
      vaddr: Number(m[2]),
      filesz: Number(m[3]),
      memsz: Number(m[4]),
      flags: m[5]!,
      align: Number(m[6]),
    });
  }
  return loads;
}

describe.each(ARCHES)('$arch test guests', ({ arch, machine, notBuilt }) => {
  const expected = EXPECTED_GUESTS.filter((n) => !notBuilt.includes(n));
  let guests: Record<string, string>;

  beforeAll(async () => {
    guests = await buildGuests(arch);
  }, 600_000);

  it('builds every guest', () => {
    expect(Object.keys(guests).sort()).toEqual(expected);
    for (const path of Object.values(guests)) {
      expect(statSync(path).size).toBeGreaterThan(0);
    }
  });

  it('does not rebuild guests whose inputs did not change', async () => {
    const before = Object.fromEntries(
      Object.entries(guests).map(([n, p]) => [n, statSync(p).mtimeMs]),
    );
    const again = await buildGuests(arch);
    for (const [n, p] of Object.entries(again)) expect(statSync(p).mtimeMs).toBe(before[n]);
  });

  describe.each(expected)('%s', (name) => {
    it('carries the ABI1 and MFT1 notes, each in its own PT_NOTE (readelf -n, -lW)', () => {
      const notes = readelf(['-n'], guests[name]!);
      const owners = [
        ...notes.matchAll(/^\s+(\S+)\s+0x[0-9a-f]+\s+Unknown note type: \((0x[0-9a-f]+)\)/gm),
      ];
      expect(owners.map((m) => [m[1], Number(m[2])])).toEqual([
        ['Solo5', NT_ABI1],
        ['Solo5', NT_MFT1],
      ]);

      const segments = readelf(['-lW'], guests[name]!);
      expect(segments.match(/^\s*NOTE\s/gm)).toHaveLength(2);
      const mapping = segments.slice(segments.indexOf('Section to Segment mapping'));
      expect(mapping).toMatch(/^\s*\d+\s+\.note\.solo5\.abi\s*$/m);
      expect(mapping).toMatch(/^\s*\d+\s+\.note\.solo5\.manifest\s*$/m);
    });

    it('has page-aligned PT_LOADs at or above 0x100000, none both W and X (readelf -lW)', () => {
      const loads = readelfLoads(readelf(['-lW'], guests[name]!));
      expect(loads.length).toBeGreaterThanOrEqual(3);
      for (const l of loads) {
        expect(l.flags.includes('W') && l.flags.includes('E'), `flags "${l.flags}"`).toBe(false);
        if (l.filesz === 0) continue;
        expect(l.vaddr).toBeGreaterThanOrEqual(0x100000);
        expect(l.vaddr % PAGE).toBe(0);
        expect(l.offset % PAGE).toBe(0);
        expect(l.align).toBe(PAGE);
        expect(l.memsz).toBeGreaterThanOrEqual(l.filesz);
      }
      // bss is its own PT_LOAD with no file contents, which the tender must skip.
      expect(loads.some((l) => l.filesz === 0 && l.memsz > 0 && l.flags === 'RW ')).toBe(true);
    });

    it('has the ELF layout the tender checks (decoded from the bytes)', () => {
      const elf = readFileSync(guests[name]!);
      const { entry, phdrs } = parsePhdrs(elf, machine);
      const loads = phdrs.filter((p) => p.type === PT_LOAD && p.filesz > 0);
      const text = loads.find((p) => (p.flags & PF_X) !== 0);
      expect(text).toBeDefined();
      expect(entry).toBeGreaterThanOrEqual(text!.vaddr);
      expect(entry).toBeLessThan(text!.vaddr + text!.memsz);
      let end = 0;
      for (const p of loads) {
        expect((p.flags & PF_W) !== 0 && (p.flags & PF_X) !== 0).toBe(false);
        // Ascending and non-overlapping once rounded to pages (docs/guest-abi.md 3.3).
        expect(p.vaddr).toBeGreaterThanOrEqual(end);
        end = Math.ceil((p.vaddr + p.memsz) / PAGE) * PAGE;
      }
      // The notes are only in the file: no PT_LOAD covers them.
      for (const n of phdrs.filter((p) => p.type === PT_NOTE)) {
        for (const p of loads) {
          const overlaps = n.offset < p.offset + p.filesz && p.offset < n.offset + n.filesz;
          expect(overlaps).toBe(false);
        }
      }
    });

    it('has a byte-exact ABI1 note and the MFT1 note of its manifest JSON', () => {
      const notes = solo5Notes(readFileSync(guests[name]!), machine);
      const abi = notes.get(NT_ABI1);
      expect(abi).toBeDefined();
      expect(abi!.note.desc).toEqual(Buffer.from([1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
      const mft = notes.get(NT_MFT1);
      expect(mft).toBeDefined();
      expect(decodeManifest(mft!.note.desc)).toEqual(expectedManifest(name));
    });
  });

  it.each(['block', 'net2', 'blk63'])('decodes the %s manifest to its JSON', (name) => {
    const mft = solo5Notes(readFileSync(guests[name]!), machine).get(NT_MFT1);
    const decoded = decodeManifest(mft!.note.desc) as { devices: unknown[] };
    const json = expectedManifest(name) as { devices: unknown[] };
    expect(decoded).toEqual(json);
    expect(decoded.devices.length).toBe({ block: 1, net2: 2, blk63: 63 }[name]);
  });
});

describe('manifest generator', () => {
  const manifest = (devices: unknown) => ({ type: 'solo5.manifest', version: 1, devices });
  const dev = (name: string, type = 'BLOCK_BASIC') => ({ name, type });

  it('accepts 63 devices and names of 1 and 67 alphanumerics', () => {
    const many = Array.from({ length: 63 }, (_, i) => dev(`d${i}`));
    expect(validateManifest(manifest(many), 't').devices).toHaveLength(63);
    const names = [dev('a'), dev('A'.repeat(67), 'NET_BASIC')];
    expect(validateManifest(manifest(names), 't').devices).toEqual(names);
  });

  it.each<[string, unknown, RegExp]>([
    ['64 devices', manifest(Array.from({ length: 64 }, (_, i) => dev(`d${i}`))), /too many/],
    ['an empty name', manifest([dev('')]), /length/],
    ['a 68-character name', manifest([dev('a'.repeat(68))]), /length/],
    ['a non-alphanumeric name', manifest([dev('net-0')]), /alphanumeric/],
    ['an unknown type', manifest([dev('x', 'BLOCK')]), /BLOCK_BASIC/],
    ['a duplicate name', manifest([dev('x'), dev('x', 'NET_BASIC')]), /duplicate/],
    ['an unknown device key', manifest([{ ...dev('x'), extra: 1 }]), /unknown key/],
    ['a missing device key', manifest([{ name: 'x' }]), /missing key/],
    ['an unknown root key', { ...manifest([]), extra: true }, /unknown key/],
    ['a wrong type', { ...manifest([]), type: 'solo5.other' }, /\.type/],
    ['a wrong version', { ...manifest([]), version: 2 }, /\.version/],
    ['devices not an array', manifest({}), /\.devices/],
  ])('rejects %s', (_what, json, message) => {
    expect(() => validateManifest(json, 'm.json')).toThrow(message);
    expect(() => validateManifest(json, 'm.json')).toThrow(/^m\.json: invalid manifest/);
  });

  it('sizes the note descriptor as padding + struct mft + 104 bytes per entry', () => {
    const asm = manifestNoteAsm(validateManifest(manifest([dev('a'), dev('b')]), 't'));
    expect(asm).toContain(`.long ${4 + 8 + 3 * 104}`);
    expect(asm).toContain('.long 0x3154464d');
  });
});
