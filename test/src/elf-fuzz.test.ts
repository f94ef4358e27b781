import { readFileSync } from 'node:fs';
import { AbiError, ElfError, HvtError, ManifestError } from '@hvtjs/core';
import {
  ABI1_NOTE,
  EM_X86_64,
  findSolo5Note,
  loadElf,
  MFT1_NOTE,
  parseManifest,
  readAbiNote,
  readElf,
  readManifestNote,
  requireHvtAbi,
} from '@hvtjs/core/kernel';
import { GuestMemory } from '@hvtjs/core/platform';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildGuests } from '../guests/build.mjs';

/**
 * Property: whatever bytes an executable holds, the ELF reader, the note
 * lookup, the manifest parser and the loader either succeed or throw one of
 * our typed errors (HvtError subclasses, each with the reference's message),
 * and the loader never writes outside the memory size it was given. The inputs
 * are our real guest ELFs with their header fields, program header fields,
 * note sizes, length and random bytes changed.
 */

const RUNS = 10_000;
const MiB = 1024 * 1024;
/** One page past the memory size the loader is told about: it must stay untouched. */
const GUARD = 0x1000;

interface Seed {
  name: string;
  bytes: Uint8Array;
  phoff: number;
  phnum: number;
  /** File offsets of the Solo5 notes' headers. */
  notes: number[];
}

type Mutation =
  | { kind: 'ehdr'; field: number; value: bigint }
  | { kind: 'phdr'; index: number; field: number; value: bigint }
  | { kind: 'note'; which: number; field: number; value: bigint }
  | { kind: 'truncate'; fraction: number }
  | { kind: 'cut'; length: number }
  | { kind: 'flip'; at: number; xor: number; nearHeaders: boolean };

/** [offset, size] of the Elf64_Ehdr fields. */
const EHDR_FIELDS: [number, number][] = [
  [4, 1], // EI_CLASS
  [5, 1], // EI_DATA
  [16, 2], // e_type
  [18, 2], // e_machine
  [20, 4], // e_version
  [24, 8], // e_entry
  [32, 8], // e_phoff
  [52, 2], // e_ehsize
  [54, 2], // e_phentsize
  [56, 2], // e_phnum
];
/** [offset, size] of the Elf64_Phdr fields. */
const PHDR_FIELDS: [number, number][] = [
  [0, 4], // p_type
  [4, 4], // p_flags
  [8, 8], // p_offset
  [16, 8], // p_vaddr
  [32, 8], // p_filesz
  [40, 8], // p_memsz
  [48, 8], // p_align
];
/** [offset, size] of the note header fields: n_namesz, n_descsz, n_type. */
const NOTE_FIELDS: [number, number][] = [
  [0, 4],
  [4, 4],
  [8, 4],
];

/** Values near every boundary the rules talk about. */
const interesting = fc.oneof(
  fc.constantFrom(
    0n,
    1n,
    2n,
    3n,
    4n,
    6n,
    8n,
    11n,
    12n,
    19n,
    20n,
    24n,
    32n,
    33n,
    56n,
    62n,
    64n,
    183n,
    0xfffn,
    0x1000n,
    0x1001n,
    0xfffffn,
    0x100000n,
    0x200000n,
    BigInt(2 * MiB - 1),
    BigInt(4 * MiB),
    6668n,
    6669n,
    0x7fffn,
    0xffffn,
    0x1_0000n,
    0xffff_ffffn,
    0x1_0000_0000n,
    (1n << 63n) - 1n,
    1n << 63n,
    (1n << 64n) - 0x1000n,
    (1n << 64n) - 1n,
  ),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  fc.bigInt({ min: 0n, max: 0x20_0000n }),
);

// Weighted towards the program headers and notes, where most of the rules are;
// unbiased positions, or fast-check would mostly truncate to nothing.
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('ehdr' as const),
      field: fc.nat({ max: EHDR_FIELDS.length - 1 }),
      value: interesting,
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('phdr' as const),
      index: fc.nat({ max: 9 }),
      field: fc.nat({ max: PHDR_FIELDS.length - 1 }),
      value: interesting,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('note' as const),
      which: fc.nat({ max: 1 }),
      field: fc.nat({ max: NOTE_FIELDS.length - 1 }),
      value: interesting,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('truncate' as const),
      // A uniform cut point (doubles drawn bit-pattern-wise crowd near 0).
      fraction: fc.noBias(fc.integer({ min: 0, max: 1_000_000 })).map((n) => n / 1_000_000),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('cut' as const), length: fc.nat({ max: 200 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('flip' as const),
      at: fc.noBias(fc.nat()),
      xor: fc.integer({ min: 1, max: 255 }),
      nearHeaders: fc.boolean(),
    }),
  },
);

function setField(bytes: Uint8Array, at: number, size: number, value: bigint): void {
  if (at < 0 || at + size > bytes.length) return;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const v = BigInt.asUintN(size * 8, value);
  if (size === 1) dv.setUint8(at, Number(v));
  else if (size === 2) dv.setUint16(at, Number(v), true);
  else if (size === 4) dv.setUint32(at, Number(v), true);
  else dv.setBigUint64(at, v, true);
}

function mutate(seed: Seed, mutations: Mutation[]): Uint8Array {
  let bytes = new Uint8Array(seed.bytes);
  for (const m of mutations) {
    switch (m.kind) {
      case 'ehdr': {
        const [at, size] = EHDR_FIELDS[m.field]!;
        setField(bytes, at, size, m.value);
        break;
      }
      case 'phdr': {
        const [at, size] = PHDR_FIELDS[m.field]!;
        setField(bytes, seed.phoff + (m.index % (seed.phnum + 1)) * 56 + at, size, m.value);
        break;
      }
      case 'note': {
        const [at, size] = NOTE_FIELDS[m.field]!;
        const note = seed.notes[m.which % seed.notes.length];
        if (note !== undefined) setField(bytes, note + at, size, m.value);
        break;
      }
      case 'truncate':
        bytes = bytes.subarray(0, Math.floor(bytes.length * m.fraction));
        break;
      case 'cut':
        bytes = bytes.subarray(0, m.length);
        break;
      case 'flip': {
        // Half the flips land in the headers and notes, where the checks are.
        const span = m.nearHeaders ? Math.min(bytes.length, 0x1000) : bytes.length;
        if (span > 0) bytes[m.at % span]! ^= m.xor;
        break;
      }
    }
  }
  return bytes;
}

/** A message with its numbers blanked: the kind of failure, for the coverage tally. */
const kindOf = (message: string) => message.replace(/^[^:]*: /, '').replace(/\b\d+\b/g, 'N');

describe('ELF reader, notes, manifest and loader under mutation', () => {
  let seeds: Seed[] = [];

  beforeAll(async () => {
    const guests = await buildGuests();
    seeds = Object.entries(guests).map(([name, path]) => {
      const bytes = new Uint8Array(readFileSync(path));
      const elf = readElf(bytes, name, 'note', EM_X86_64);
      const notes = elf.phdrs.filter((p) => p.type === 4).map((p) => Number(p.offset));
      return { name, bytes, phoff: Number(elf.header.phoff), phnum: elf.header.phnum, notes };
    });
  });

  it(`only ever throws typed errors, over ${RUNS} mutated guest ELFs`, () => {
    expect(seeds.length).toBeGreaterThan(0);
    const memories = [2 * MiB, 4 * MiB, 8 * MiB].map((size) => ({
      size,
      memory: GuestMemory.allocate(size + GUARD),
    }));
    const outcomes = new Map<string, number>();
    let runs = 0;
    let untyped = 0;
    let loaded = 0;
    let firstUntyped: unknown;

    const attempt = (what: string, fn: () => void) => {
      try {
        fn();
        return true;
      } catch (error) {
        // Only the errors that describe a bad executable count: a GuestAccessError
        // here would mean the loader tried to write outside guest memory.
        const typed =
          error instanceof ElfError || error instanceof AbiError || error instanceof ManifestError;
        if (typed && error instanceof HvtError && error.exitStatus === 1) {
          const kind = `${what}: ${kindOf(error.message)}`;
          outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
          return false;
        }
        untyped++;
        firstUntyped ??= error;
        throw error;
      }
    };

    try {
      fc.assert(
        fc.property(
          fc.nat(),
          fc.array(mutation, { minLength: 1, maxLength: 4 }),
          fc.nat({ max: 2 }),
          (seedIndex, mutations, memIndex) => {
            runs++;
            const seed = seeds[seedIndex % seeds.length]!;
            const bytes = mutate(seed, mutations);
            const file = `${seed.name}.hvt`;
            attempt('elf', () => readElf(bytes, file, 'note', EM_X86_64));
            attempt('abi', () => {
              findSolo5Note(bytes, file, ABI1_NOTE, EM_X86_64);
              requireHvtAbi(readAbiNote(bytes, file, EM_X86_64), file);
            });
            attempt('mft', () => {
              const raw = findSolo5Note(bytes, file, MFT1_NOTE, EM_X86_64);
              if (raw) parseManifest(raw, file);
              const manifest = readManifestNote(bytes, file, EM_X86_64);
              // A manifest that validated must encode and render without surprises.
              expect(parseManifest(manifest.encode(), file).entries.length).toBe(
                manifest.entries.length,
              );
              JSON.stringify(manifest);
            });
            const { size, memory } = memories[memIndex]!;
            const ok = attempt('load', () => {
              const result = loadElf(bytes, file, memory, { machine: EM_X86_64, memSize: size });
              expect(result.entry).toBeGreaterThanOrEqual(0x100000);
              expect(result.entry).toBeLessThan(size);
              expect(result.kernelEnd).toBeLessThanOrEqual(size);
              for (const s of result.segments) {
                expect(s.end).toBeLessThanOrEqual(size);
                const inGuest = Buffer.from(memory.read(s.vaddr, s.filesz));
                const inFile = Buffer.from(bytes.subarray(s.offset, s.offset + s.filesz));
                expect(inGuest.equals(inFile)).toBe(true);
              }
            });
            if (ok) loaded++;
            // Nothing past the memory size, success or failure.
            const guard = memory.read(size, GUARD);
            if (guard.some((b) => b !== 0)) {
              memory.fill(size, GUARD, 0);
              throw new Error(`loader wrote past mem_size ${size}`);
            }
          },
        ),
        { numRuns: RUNS },
      );
    } finally {
      console.log(`elf fuzz: ${runs} mutated ELFs, ${untyped} untyped errors`);
    }
    const top = [...outcomes.entries()].sort((a, b) => b[1] - a[1]);
    console.log(
      `elf fuzz: ${loaded} loaded, ${outcomes.size} kinds of typed error:\n` +
        top.map(([k, n]) => `  ${String(n).padStart(6)}  ${k}`).join('\n'),
    );
    expect(untyped).toBe(0);
    expect(firstUntyped).toBeUndefined();
    expect(runs).toBeGreaterThanOrEqual(RUNS);
    // The mutations must reach deep into the checks, not stop at the header.
    expect(loaded).toBeGreaterThan(RUNS / 20);
    const kinds = [...outcomes.keys()];
    for (const expected of [
      'elf header does not match the expected size',
      'elf header invalid while loading note',
      'program header does not match the expected size',
      'p_filesz note does not fall within valid size',
      'INV_EXE: phdr',
      'No Solo5 ABI information found',
      'Solo5 manifest is invalid',
      'e_entry does not fall within',
      'program file segment falls outside',
      'program memory segment falls outside',
      'is not in ascending order',
      'host file segment mismatched',
    ]) {
      expect(
        kinds.some((k) => k.includes(expected)),
        `no mutated ELF reached "${expected}"`,
      ).toBe(true);
    }
  });
});
