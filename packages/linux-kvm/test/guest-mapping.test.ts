import { CHUNK_SIZE, GuestMemory, Prot } from '@hvtjs/core';
import { describe, expect, it } from 'vitest';
import { isNativeError } from '../src/index.js';
import { native } from '../src/native.js';

const GiB = 2 ** 30;

function memoryOf(mapping: InstanceType<typeof native.GuestMapping>): GuestMemory {
  return new GuestMemory(mapping.chunks(CHUNK_SIZE).map((b) => new Uint8Array(b)));
}

// Guest RAM without a VM: the mapping and its views need no /dev/kvm.
describe('guest RAM mapping', () => {
  it('exposes 4 GiB as four 1 GiB views of one mapping', () => {
    const mapping = new native.GuestMapping(4 * GiB);
    try {
      const chunks = mapping.chunks(CHUNK_SIZE);
      expect(chunks.map((c) => c.byteLength)).toEqual([GiB, GiB, GiB, GiB]);
      const memory = memoryOf(mapping);
      expect(memory.size).toBe(4 * GiB);
      memory.writeU32(3.5 * GiB, 0xdeadbeef);
      // Views created again alias the same bytes: nothing was copied.
      expect(new DataView(mapping.chunks(CHUNK_SIZE)[3]!).getUint32(0.5 * GiB, true)).toBe(
        0xdeadbeef,
      );
      // A range crossing the 3 GiB boundary spans two views.
      memory.write(3 * GiB - 2, Uint8Array.of(1, 2, 3, 4));
      expect(Array.from(memory.read(3 * GiB - 2, 4))).toEqual([1, 2, 3, 4]);
    } finally {
      mapping.release();
    }
  });

  it('starts zeroed and reports which 4 KiB pages were touched', () => {
    const mapping = new native.GuestMapping(16 * 4096);
    try {
      const memory = memoryOf(mapping);
      expect(Array.from(mapping.resident(0, 16 * 4096))).toEqual(new Array(16).fill(0));
      expect(memory.readU32(5 * 4096)).toBe(0);
      memory.writeU8(2 * 4096 + 17, 1);
      memory.writeU8(9 * 4096, 1);
      const resident = mapping.resident(0, 16 * 4096);
      expect(resident.length).toBe(16);
      // Shared anonymous memory gets a page on any touch, reads included.
      expect([...resident.keys()].filter((i) => resident[i] === 1)).toEqual([2, 5, 9]);
      expect(Array.from(mapping.resident(8 * 4096, 4096 + 1))).toEqual([0, 1]);
    } finally {
      mapping.release();
    }
  });

  it('applies host protections and refuses ranges outside the mapping', () => {
    const mapping = new native.GuestMapping(4 * 4096);
    try {
      const memory = memoryOf(mapping);
      memory.writeU32(4096, 7);
      mapping.protect(4096, 4096, Prot.READ);
      expect(memory.readU32(4096)).toBe(7);
      mapping.protect(4096, 4096, Prot.READ | Prot.WRITE);
      memory.writeU32(4096, 8);
      expect(memory.readU32(4096)).toBe(8);
      for (const [offset, len] of [
        [3 * 4096, 2 * 4096],
        [100, 4096],
      ] as const) {
        let error: unknown;
        try {
          mapping.protect(offset, len, Prot.READ);
        } catch (e) {
          error = e;
        }
        expect(isNativeError(error) && error.code).toBe('EINVAL');
      }
    } finally {
      mapping.release();
    }
  });

  it('leaves views safe to use after release, reading zeros', () => {
    const mapping = new native.GuestMapping(4 * 4096);
    const memory = memoryOf(mapping);
    memory.writeU32(0, 0x12345678);
    mapping.protect(0, 4096, Prot.READ);
    mapping.release();
    mapping.release();
    expect(mapping.size).toBe(0);
    // Was read-only and held data: now fresh, writable zero memory.
    expect(memory.readU32(0)).toBe(0);
    memory.writeU32(0, 1);
    expect(memory.readU32(0)).toBe(1);
    expect(() => mapping.chunks(CHUNK_SIZE)).toThrow();
    expect(() => mapping.protect(0, 4096, Prot.READ)).toThrow();
  });

  it('validates sizes', () => {
    expect(() => new native.GuestMapping(0)).toThrow(RangeError);
    expect(() => new native.GuestMapping(4095)).toThrow(RangeError);
    expect(() => new native.GuestMapping(-4096)).toThrow(RangeError);
  });
});
