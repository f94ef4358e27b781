import { mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Manifest } from '../src/entry/kernel.js';
import { BlockModule, type GuestRam, Hypercall, Solo5Result } from '../src/entry/tender.js';
import { GuestAccessError, HvtError } from '../src/index.js';
import {
  BLOCK,
  guestRam,
  M,
  manifestOf,
  NET,
  optionContext,
  scratchPerTest,
  setUp,
  thrown,
  warnings,
} from './tender-helpers.js';

const scratch = scratchPerTest();
let block: BlockModule;
beforeEach(() => {
  block = new BlockModule();
});
afterEach(() => block.close());

function file(name: string, size: number, fill = 0): string {
  const path = join(scratch.dir, name);
  writeFileSync(path, new Uint8Array(size).fill(fill));
  return path;
}

/** storage (1), service (2, a net device), backup (3). */
const devices = () =>
  manifestOf([
    { name: 'storage', type: BLOCK },
    { name: 'service', type: NET },
    { name: 'backup', type: BLOCK },
  ]);

function option(manifest: Manifest, arg: string) {
  const printed = warnings();
  const accepted = block.handleOption(arg, optionContext(manifest, printed.warn));
  return { accepted, warnings: printed.list };
}

describe('--block:NAME=PATH', () => {
  it('opens PATH read-write, takes its size as capacity and attaches NAME', () => {
    const m = devices();
    const path = file('disk', 8192);
    expect(option(m, `--block:storage=${path}`)).toEqual({ accepted: true, warnings: [] });
    const storage = m.findByName('storage')!;
    expect(storage.attached).toBe(true);
    expect(storage.block.capacity).toBe(8192);
    expect(block.attachedDevices().map((d) => [d.path, d.capacity])).toEqual([[path, 8192]]);
  });

  it('refuses names that are not declared BLOCK_BASIC devices, with a warning', () => {
    const m = devices();
    const path = file('disk', 512);
    for (const name of ['nope', 'service']) {
      expect(option(m, `--block:${name}=${path}`)).toEqual({
        accepted: false,
        warnings: [`Resource not declared in manifest: '${name}'`],
      });
    }
  });

  it('does not take arguments of the wrong shape, silently', () => {
    const m = devices();
    const path = file('disk', 512);
    for (const arg of [
      '--block:storage=',
      '--block:=x',
      '--block:sto-rage=x',
      `--block:${'a'.repeat(68)}=${path}`,
      '--blockstorage=x',
      '--block',
      '--mem=2',
    ]) {
      expect(option(m, arg)).toEqual({ accepted: false, warnings: [] });
    }
  });

  it('skips leading whitespace in PATH and stops at whitespace (%s)', () => {
    const m = devices();
    const path = file('disk', 512);
    expect(option(m, `--block:storage= ${path} trailing`).accepted).toBe(true);
    expect(block.attachedDevices()[0]!.path).toBe(path);
  });

  it('fails at once when PATH cannot be opened', () => {
    const m = devices();
    const missing = join(scratch.dir, 'missing');
    const error = thrown(() => option(m, `--block:storage=${missing}`));
    expect(error).toBeInstanceOf(HvtError);
    expect(error.message).toBe(
      `Could not open block device: ${missing}: No such file or directory`,
    );
    const dir = join(scratch.dir, 'dir');
    mkdirSync(dir);
    expect(thrown(() => option(m, `--block:storage=${dir}`)).message).toBe(
      `Could not open block device: ${dir}: Is a directory`,
    );
  });

  it('lets the last --block for a NAME win', () => {
    const m = devices();
    option(m, `--block:storage=${file('a', 512)}`);
    option(m, `--block:storage=${file('b', 1024)}`);
    expect(block.attachedDevices().map((d) => d.capacity)).toEqual([1024]);
    expect(m.findByName('storage')!.block.capacity).toBe(1024);
  });
});

describe('--block-sector-size:NAME=N', () => {
  it('accepts powers of two from 512 (trailing text ignored)', () => {
    const m = devices();
    for (const n of ['512', '1024', '4096', '32768', '4096xyz', ' 2048']) {
      expect(option(m, `--block-sector-size:storage=${n}`)).toEqual({
        accepted: true,
        warnings: [],
      });
    }
  });

  it('refuses other sizes with a warning, before looking NAME up', () => {
    const m = devices();
    for (const n of ['0', '256', '511', '1000', '-512', '65536', '66048', '1048576']) {
      for (const name of ['storage', 'nope']) {
        expect(option(m, `--block-sector-size:${name}=${n}`)).toEqual({
          accepted: false,
          warnings: ['Block size must be a multiple of 2 greater than or equal 512'],
        });
      }
    }
  });

  it('refuses an undeclared NAME, and a value that is no number silently', () => {
    const m = devices();
    expect(option(m, '--block-sector-size:nope=512')).toEqual({
      accepted: false,
      warnings: ["Resource not declared in manifest: 'nope'"],
    });
    expect(option(m, '--block-sector-size:storage=abc')).toEqual({
      accepted: false,
      warnings: [],
    });
  });
});

describe('block setup (11.2)', () => {
  function attach(m: Manifest, size: number, sectorSize?: number) {
    option(m, `--block:storage=${file('disk', size)}`);
    if (sectorSize !== undefined) option(m, `--block-sector-size:storage=${sectorSize}`);
    option(m, `--block:backup=${file('backup', 512)}`);
  }

  it('defaults to 512-byte sectors and reports capacity and sector size in the manifest', () => {
    const m = devices();
    attach(m, 8192);
    const { hypercalls } = setUp([block], m, guestRam(M));
    expect(m.findByName('storage')!.block).toEqual({ capacity: 8192, blockSize: 512 });
    expect(hypercalls.isRegistered(Hypercall.BLOCK_WRITE)).toBe(true);
    expect(hypercalls.isRegistered(Hypercall.BLOCK_READ)).toBe(true);
    const encoded = new DataView(m.encode().buffer);
    expect(encoded.getBigUint64(8 + 104 + 72, true)).toBe(8192n);
    expect(encoded.getUint16(8 + 104 + 80, true)).toBe(512);
  });

  it('takes the sector size given before or after --block', () => {
    const m = devices();
    option(m, '--block-sector-size:storage=4096');
    option(m, `--block:storage=${file('disk', 8192)}`);
    option(m, `--block:backup=${file('backup', 512)}`);
    setUp([block], m, guestRam(M));
    expect(m.findByName('storage')!.block.blockSize).toBe(4096);
  });

  it('refuses a capacity that is not a whole number of sectors', () => {
    for (const [size, sector] of [
      [1000, undefined],
      [256, undefined],
      [2048, 4096],
      [4096 + 512, 4096],
    ] as const) {
      block.close();
      block = new BlockModule();
      const m = devices();
      attach(m, size, sector);
      const error = thrown(() => setUp([block], m, guestRam(M)));
      expect(error).toBeInstanceOf(HvtError);
      expect(error.message).toBe(
        `storage: Backing storage size must be block aligned (${sector ?? 512} bytes)`,
      );
    }
  });

  it('refuses an empty backing file', () => {
    const m = devices();
    attach(m, 0);
    expect(thrown(() => setUp([block], m, guestRam(M))).message).toBe(
      'storage: Backing storage must be at least 1 block (512 bytes) in size',
    );
  });

  it('registers no hypercalls when no block device is attached', () => {
    const { hypercalls } = setUp([block], devices(), guestRam(M));
    expect(hypercalls.isRegistered(Hypercall.BLOCK_WRITE)).toBe(false);
    expect(hypercalls.isRegistered(Hypercall.BLOCK_READ)).toBe(false);
  });

  it('declares pread/pwrite on each backing file for the sandbox', () => {
    const m = devices();
    attach(m, 4096);
    setUp([block], m, guestRam(M));
    const needs = block.sandboxNeeds();
    expect(needs.fds?.map((f) => [f.kind, f.ops, f.size])).toEqual([
      ['block', ['pread', 'pwrite'], 4096],
      ['block', ['pread', 'pwrite'], 512],
    ]);
  });
});

describe('BLOCK_WRITE and BLOCK_READ (8.4, 8.5)', () => {
  const STRUCT = 0x20000;
  const BUF = 0x30000;
  let ram: GuestRam;
  let disk: string;
  let dispatch: (nr: number, gpa: number) => boolean;
  let call: (
    nr: number,
    handle: bigint | number,
    offset: bigint | number,
    len: bigint | number,
    data?: bigint | number,
  ) => number;

  beforeEach(() => {
    const m = devices();
    disk = file('disk', 4096, 0x11);
    option(m, `--block:storage=${disk}`);
    option(m, `--block:backup=${file('backup', 512)}`);
    ram = guestRam(M);
    const { hypercalls } = setUp([block], m, ram);
    dispatch = (nr, gpa) => hypercalls.dispatch(nr, gpa);
    call = (nr, handle, offset, len, data = BUF) => {
      const mem = ram.memory;
      mem.writeU64Big(STRUCT, BigInt(handle));
      mem.writeU64Big(STRUCT + 8, BigInt(offset));
      mem.writeU64Big(STRUCT + 16, BigInt(data));
      mem.writeU64Big(STRUCT + 24, BigInt(len));
      mem.writeI32(STRUCT + 32, -99);
      hypercalls.dispatch(nr, STRUCT);
      return mem.readI32(STRUCT + 32);
    };
  });

  it('writes guest bytes at the offset and reads them back', () => {
    ram.memory.fill(BUF, 512, 0xab);
    expect(call(Hypercall.BLOCK_WRITE, 1, 1024, 512)).toBe(Solo5Result.OK);
    const bytes = readFileSync(disk);
    expect(bytes.subarray(1024, 1536).every((b) => b === 0xab)).toBe(true);
    expect(bytes[1023]).toBe(0x11);
    expect(bytes[1536]).toBe(0x11);
    ram.memory.fill(BUF, 512, 0);
    expect(call(Hypercall.BLOCK_READ, 1, 1024, 512)).toBe(Solo5Result.OK);
    expect(ram.memory.read(BUF, 512).every((b) => b === 0xab)).toBe(true);
    // Length and alignment are the guest bindings' business: any range inside goes.
    expect(call(Hypercall.BLOCK_READ, 1, 4095, 1)).toBe(Solo5Result.OK);
    expect(ram.memory.readU8(BUF)).toBe(0x11);
    expect(call(Hypercall.BLOCK_WRITE, 1, 0, 0)).toBe(Solo5Result.OK);
    expect(ram.memory.readU64(STRUCT + 24)).toBe(0); // len is left alone
  });

  it('returns EINVAL for handles that are not block devices', () => {
    for (const handle of [0, 2, 4, 99, 0xffffffff]) {
      expect(call(Hypercall.BLOCK_WRITE, handle, 0, 512)).toBe(Solo5Result.EINVAL);
      expect(call(Hypercall.BLOCK_READ, handle, 0, 512)).toBe(Solo5Result.EINVAL);
    }
  });

  it('looks the handle up by its low 32 bits, as the reference does', () => {
    expect(call(Hypercall.BLOCK_READ, 0x1_0000_0001n, 0, 512)).toBe(Solo5Result.OK);
    expect(call(Hypercall.BLOCK_READ, 0xffffffff_00000003n, 0, 512)).toBe(Solo5Result.OK);
    expect(call(Hypercall.BLOCK_READ, 0x1_0000_0000n, 0, 512)).toBe(Solo5Result.EINVAL);
  });

  it('returns EINVAL for offsets and lengths outside the device', () => {
    for (const [offset, len] of [
      [4096, 0],
      [4096, 512],
      [3584, 1024],
      [4095, 2],
      [0, 4097],
      [0, 2n ** 63n],
      [0, 2n ** 64n - 1n],
      [2n ** 64n - 1n, 1],
      [2n ** 63n, 512],
      [512, 2n ** 64n - 512n],
    ] as const) {
      expect(call(Hypercall.BLOCK_WRITE, 1, offset, len)).toBe(Solo5Result.EINVAL);
      expect(call(Hypercall.BLOCK_READ, 1, offset, len)).toBe(Solo5Result.EINVAL);
    }
    expect(readFileSync(disk).every((b) => b === 0x11)).toBe(true);
  });

  it('is fatal when the buffer is not inside guest memory (strictly)', () => {
    for (const nr of [Hypercall.BLOCK_WRITE, Hypercall.BLOCK_READ]) {
      const where = nr === Hypercall.BLOCK_WRITE ? 'block.ts:BLOCK_WRITE' : 'block.ts:BLOCK_READ';
      for (const [data, len] of [
        [M - 512, 512],
        [M, 0],
        [0xffffffff, 1],
        [2n ** 64n - 256n, 512],
      ] as const) {
        const error = thrown(() => call(nr, 1, 0, len, data));
        expect(error).toBeInstanceOf(GuestAccessError);
        expect(error.message).toBe(
          `${where}: Invalid guest access: gpa=0x${data.toString(16)}, sz=${len}`,
        );
      }
      expect(call(nr, 1, 0, 512, M - 513)).toBe(Solo5Result.OK);
    }
    // The struct itself must fit: 40 bytes ending at the top are out.
    expect(thrown(() => dispatch(Hypercall.BLOCK_READ, M - 40)).message).toBe(
      `block.ts:BLOCK_READ: Invalid guest access: gpa=0x${(M - 40).toString(16)}, sz=40`,
    );
  });

  it('is fatal, without the prog prefix, when the backing file comes up short', () => {
    truncateSync(disk, 1024);
    const error = thrown(() => call(Hypercall.BLOCK_READ, 1, 512, 1024));
    expect(error).toBeInstanceOf(HvtError);
    expect(error.message).toBe('Fatal error: read only 512 out of 1024 bytes');
    expect((error as HvtError).prefixed).toBe(false);
    expect((error as HvtError).exitStatus).toBe(1);
  });
});
