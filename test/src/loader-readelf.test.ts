import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  ABI1_NOTE,
  EM_X86_64,
  findSolo5Note,
  loadElf,
  MFT1_NOTE,
  PF_R,
  PF_W,
  PF_X,
  PT_NOTE,
  readAbiNote,
  readElf,
  readManifestNote,
} from '@hvtjs/core/kernel';
import { GuestMemory } from '@hvtjs/core/platform';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildGuests } from '../guests/build.mjs';

/**
 * Our ELF reader and loader against binutils: for every guest we build, each
 * PT_LOAD that `readelf -lW` lists with file contents is loaded at its address,
 * with its sizes and flags, and guest memory then holds exactly its file bytes.
 */

interface ReadelfSegment {
  type: string;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  flags: number;
  align: number;
}

function readelf(path: string): { entry: number; segments: ReadelfSegment[] } {
  const text = execFileSync('readelf', ['-lW', path], { encoding: 'utf8' });
  const entry = /Entry point (0x[0-9a-f]+)/.exec(text);
  if (!entry?.[1]) throw new Error(`no entry point in readelf output for ${path}`);
  const row =
    /^\s+(\w+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+([RWE ]+?)\s+(0x[0-9a-f]+)\s*$/;
  const segments: ReadelfSegment[] = [];
  for (const line of text.split('\n')) {
    const m = row.exec(line);
    if (!m) continue;
    const flg = m[6] ?? '';
    segments.push({
      type: m[1] ?? '',
      offset: Number(m[2]),
      vaddr: Number(m[3]),
      filesz: Number(m[4]),
      memsz: Number(m[5]),
      flags:
        (flg.includes('R') ? PF_R : 0) |
        (flg.includes('W') ? PF_W : 0) |
        (flg.includes('E') ? PF_X : 0),
      align: Number(m[7]),
    });
  }
  return { entry: Number(entry[1]), segments };
}

const MEM = 64 * 1024 * 1024;
const cli = fileURLToPath(new URL('../../packages/cli/dist/solo5.js', import.meta.url));
let guests: Record<string, string> = {};

beforeAll(async () => {
  guests = await buildGuests();
});

describe('loadElf agrees with readelf -lW', () => {
  it('covers every built guest', () => {
    expect(Object.keys(guests).length).toBeGreaterThanOrEqual(5);
  });

  it('loads each guest segment at readelf address, sizes and flags, with the file bytes', () => {
    const memory = GuestMemory.allocate(MEM);
    for (const [name, path] of Object.entries(guests)) {
      const bytes = readFileSync(path);
      const ref = readelf(path);
      memory.fill(0, MEM, 0xa5);
      const loaded = loadElf(bytes, path, memory, { machine: EM_X86_64 });
      expect(loaded.entry, name).toBe(ref.entry);

      const withContents = ref.segments.filter((s) => s.type === 'LOAD' && s.filesz > 0);
      expect(withContents.length, name).toBeGreaterThan(0);
      expect(
        loaded.segments.map((s) => [s.vaddr, s.offset, s.filesz, s.memsz, s.flags]),
        name,
      ).toEqual(withContents.map((s) => [s.vaddr, s.offset, s.filesz, s.memsz, s.flags]));
      let highest = 0;
      for (const [i, seg] of loaded.segments.entries()) {
        const align = withContents[i]!.align;
        expect(seg.start, name).toBe(seg.vaddr - (seg.vaddr % align));
        expect(seg.end, name).toBe(Math.ceil((seg.vaddr + seg.memsz) / align) * align);
        expect(memory.read(seg.vaddr, seg.filesz), name).toEqual(
          new Uint8Array(bytes.subarray(seg.offset, seg.offset + seg.filesz)),
        );
        expect(memory.read(seg.vaddr + seg.filesz, seg.memsz - seg.filesz), name).toEqual(
          new Uint8Array(seg.memsz - seg.filesz),
        );
        highest = Math.max(highest, seg.end);
      }
      expect(loaded.kernelEnd, name).toBe(highest);
      // The bss (a PT_LOAD without file bytes) is neither loaded nor zeroed by the loader.
      for (const bss of ref.segments.filter((s) => s.type === 'LOAD' && s.filesz === 0)) {
        if (bss.memsz > 0) expect(memory.readU8(bss.vaddr), name).toBe(0xa5);
      }
    }
  });

  it('finds the notes in the PT_NOTEs readelf lists', () => {
    for (const [name, path] of Object.entries(guests)) {
      const bytes = readFileSync(path);
      const notes = readelf(path).segments.filter((s) => s.type === 'NOTE');
      const ours = readElf(bytes, path, 'note', EM_X86_64).phdrs.filter((p) => p.type === PT_NOTE);
      expect(
        ours.map((p) => [Number(p.offset), Number(p.filesz)]),
        name,
      ).toEqual(notes.map((n) => [n.offset, n.filesz]));
      const abi = findSolo5Note(bytes, path, ABI1_NOTE, EM_X86_64)!;
      const mft = findSolo5Note(bytes, path, MFT1_NOTE, EM_X86_64)!;
      // ABI1's descriptor follows its 20-byte header; MFT1's skips 4 bytes of padding.
      expect(abi, name).toEqual(
        new Uint8Array(bytes.subarray(notes[0]!.offset + 20, notes[0]!.offset + 36)),
      );
      expect(mft, name).toEqual(
        new Uint8Array(bytes.subarray(notes[1]!.offset + 24, notes[1]!.offset + notes[1]!.filesz)),
      );
      expect(readAbiNote(bytes, path, EM_X86_64), name).toEqual({ target: 1, version: 2 });
    }
  });

  it('reads each guest manifest as its JSON source declares it', () => {
    for (const [name, path] of Object.entries(guests)) {
      const source = fileURLToPath(new URL(`../guests/${name}.json`, import.meta.url));
      const declared = existsSync(source)
        ? JSON.parse(readFileSync(source, 'utf8'))
        : { type: 'solo5.manifest', version: 1, devices: [] };
      const manifest = readManifestNote(readFileSync(path), path, EM_X86_64);
      expect(manifest.toJSON(), name).toEqual(declared);
    }
  });
});

describe('solo5 info on the guests', () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

  beforeAll(() => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run pnpm -F @hvtjs/cli build first`);
  });

  it('prints the manifest of a guest with devices', () => {
    const withDevices = Object.keys(guests).filter((n) =>
      existsSync(fileURLToPath(new URL(`../guests/${n}.json`, import.meta.url))),
    );
    expect(withDevices.length).toBeGreaterThan(0);
    for (const name of withDevices) {
      const declared = JSON.parse(
        readFileSync(fileURLToPath(new URL(`../guests/${name}.json`, import.meta.url)), 'utf8'),
      ) as { devices: { name: string; type: string }[] };
      const text = run('info', guests[name]!);
      expect(text.status, text.stderr).toBe(0);
      const n = declared.devices.length;
      expect(text.stdout).toBe(
        [
          'ABI: hvt, version 2',
          `Manifest: version 1, ${n === 0 ? 'no' : n} device${n === 1 ? '' : 's'}`,
          ...declared.devices.map((d, i) => `  [${i + 1}] ${d.name}: ${d.type}`),
          '',
        ].join('\n'),
      );
      const json = run('info', '--json', guests[name]!);
      expect(JSON.parse(json.stdout)).toEqual({
        abi: { target: 'hvt', version: 2 },
        manifest: declared,
      });
    }
  });
});
