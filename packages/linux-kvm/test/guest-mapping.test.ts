import { execFileSync } from 'node:child_process';
import {
  closeSync,
  constants as fsConstants,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHUNK_SIZE, GuestMemory, nodeGuestIo, Prot, transferAll } from '@hvtjs/core/platform';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isNativeError, linuxKvmPlatform } from '../src/index.js';
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

// The hypercalls' block and net I/O: one addon call between a descriptor and
// guest RAM by guest-physical address, errors as minus the errno.
describe('guest I/O by guest-physical address', () => {
  const errno = (name: string) => -(osConstants.errno as Record<string, number>)[name]!;

  it('preads and pwrites straight into guest RAM, across a GiB view boundary in one call', () => {
    const mapping = new native.GuestMapping(GiB + 2 ** 21);
    const dir = mkdtempSync(join(tmpdir(), 'hvtjs-io-'));
    const file = join(dir, 'disk');
    writeFileSync(
      file,
      Uint8Array.from({ length: 4096 }, (_, i) => i & 0xff),
    );
    const fd = openSync(file, 'r+');
    try {
      const memory = memoryOf(mapping);
      const gpa = GiB - 100;
      expect(mapping.pread(fd, gpa, 200, 1000)).toBe(200);
      expect(Array.from(memory.read(gpa, 200))).toEqual(
        Array.from({ length: 200 }, (_, i) => (1000 + i) & 0xff),
      );
      memory.fill(gpa, 200, 0xab);
      expect(mapping.pwrite(fd, gpa, 200, 0)).toBe(200);
      expect(Array.from(readFileSync(file).subarray(0, 200))).toEqual(new Array(200).fill(0xab));
      // Short at the end of the file, as pread is.
      expect(mapping.pread(fd, 0x1000, 8192, 4000)).toBe(96);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
      mapping.release();
    }
  });

  it('reads and writes frames with read(2) and write(2)', () => {
    const mapping = new native.GuestMapping(2 ** 21);
    const dir = mkdtempSync(join(tmpdir(), 'hvtjs-io-'));
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const fd = openSync(fifo, fsConstants.O_RDWR | fsConstants.O_NONBLOCK);
    try {
      const memory = memoryOf(mapping);
      memory.write(0x1000, new TextEncoder().encode('a frame'));
      expect(mapping.write(fd, 0x1000, 7)).toBe(7);
      expect(mapping.read(fd, 0x2000, 100)).toBe(7);
      expect(new TextDecoder().decode(memory.read(0x2000, 7))).toBe('a frame');
      // Nothing more to read on a non-blocking descriptor: -EAGAIN, no exception.
      expect(mapping.read(fd, 0x2000, 100)).toBe(errno('EAGAIN'));
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
      mapping.release();
    }
  });

  it('refuses what lies outside the mapping, bad arguments and bad descriptors as -errno', () => {
    const mapping = new native.GuestMapping(2 ** 21);
    try {
      const fd = openSync('/dev/zero', 'r');
      try {
        expect(mapping.read(fd, 2 ** 21 - 4, 8)).toBe(errno('EFAULT'));
        expect(mapping.pread(fd, 2 ** 53, 1, 0)).toBe(errno('EINVAL'));
        expect(mapping.pread(fd, 0, -1, 0)).toBe(errno('EINVAL'));
        expect(mapping.pread(fd, 0.5, 1, 0)).toBe(errno('EINVAL'));
        expect(mapping.pwrite(9999, 0, 1, 0)).toBe(errno('EBADF'));
        expect(mapping.read(fd, 0, 2 ** 21)).toBe(2 ** 21);
      } finally {
        closeSync(fd);
      }
      mapping.release();
      // A released mapping is no longer guest RAM.
      expect(mapping.read(0, 0, 1)).toBe(errno('EFAULT'));
    } finally {
      mapping.release();
    }
  });

  it('reads CLOCK_REALTIME into two u32 halves without a bigint', () => {
    const clock = linuxKvmPlatform.realtimeClock();
    const before = BigInt(Date.now()) * 1_000_000n;
    clock.read();
    const ns = (BigInt(clock.halves[1]!) << 32n) | BigInt(clock.halves[0]!);
    expect(ns >= before - 1_000_000n && ns < before + 5_000_000_000n).toBe(true);
  });
});

// The native guest I/O and core's portable one must agree, result for result
// and byte for byte: random positioned transfers, including ranges across the
// GiB view boundary, past the end of the file and outside guest RAM.
describe('native guest I/O against the portable one', () => {
  it('agrees on 1,000 random transfers', () => {
    const size = GiB + 2 ** 21;
    const a = new native.GuestMapping(size);
    const b = new native.GuestMapping(size);
    const dir = mkdtempSync(join(tmpdir(), 'hvtjs-io-'));
    const fileA = join(dir, 'a');
    const fileB = join(dir, 'b');
    const seed = Uint8Array.from({ length: 65536 }, (_, i) => (i * 7) & 0xff);
    writeFileSync(fileA, seed);
    writeFileSync(fileB, seed);
    const fdA = openSync(fileA, 'r+');
    const fdB = openSync(fileB, 'r+');
    try {
      const memA = memoryOf(a);
      const memB = memoryOf(b);
      const portable = nodeGuestIo(memB);
      const near = [0, GiB - 70000, GiB - 3, GiB, size - 70000, size - 1];
      fc.assert(
        fc.property(
          fc.boolean(),
          fc.constantFrom(...near),
          fc.integer({ min: 0, max: 65536 }),
          fc.integer({ min: 0, max: 70000 }),
          fc.integer({ min: 0, max: 70000 }),
          (write, base, delta, len, position) => {
            const gpa = Math.min(base + delta, size);
            // Core never passes a range outside guest RAM; the native I/O refuses one.
            if (gpa + len > size) {
              expect(a.pread(fdA, gpa, len, position)).toBe(-osConstants.errno.EFAULT);
              return;
            }
            const got = write
              ? a.pwrite(fdA, gpa, len, position)
              : a.pread(fdA, gpa, len, position);
            const want = transferAll(portable, write, fdB, gpa, len, position);
            expect(got).toBe(want);
            if (!write && got > 0) {
              expect(Buffer.from(memA.read(gpa, got)).equals(memB.read(gpa, got))).toBe(true);
            }
          },
        ),
        { numRuns: 1000 },
      );
      expect(readFileSync(fileA).equals(readFileSync(fileB))).toBe(true);
    } finally {
      closeSync(fdA);
      closeSync(fdB);
      rmSync(dir, { recursive: true, force: true });
      a.release();
      b.release();
    }
  });
});
