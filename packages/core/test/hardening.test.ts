import { execFileSync, spawnSync } from 'node:child_process';
import { constants, existsSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EM_X86_64, loadElf } from '../src/entry/kernel.js';
import { CHUNK_SIZE, GuestMemory, Prot } from '../src/entry/platform.js';
import {
  BlockModule,
  bigintClock,
  createModules,
  type GuestRam,
  Hypercall,
  Hypercalls,
  NetModule,
  Solo5Result,
  walltimeHypercall,
} from '../src/entry/tender.js';
import { ElfError, GuestAccessError, HvtError } from '../src/index.js';
import { buildUnikernel, TEXT_VADDR } from './elf-builder.js';
import {
  BLOCK,
  M,
  MiB,
  manifestOf,
  NET,
  optionContext,
  scratchPerTest,
  setUp,
  thrown,
  warnings,
} from './tender-helpers.js';

// What a hostile guest (or kernel file) found in a review of the tender, each
// with the test that shows it fixed.

/** Guest RAM whose [0x100000, 0x101000) is read-only and [0x101000, 0x102000) no-access, as the loader leaves text and a PF-less segment. */
function protectedRam(): GuestRam {
  const memory = GuestMemory.allocate(M);
  memory.restrict(0x100000, 0x1000, Prot.READ);
  memory.restrict(0x101000, 0x1000, Prot.NONE);
  return { memory, size: M };
}

const access = (where: string, gpa: number, sz: number) =>
  `${where}: Invalid guest access: gpa=0x${gpa.toString(16)}, sz=${sz}`;

const scratch = scratchPerTest();

describe('argument structs and buffers in the guest’s read-only or no-access pages', () => {
  const RO = 0x100000;
  const NONE = 0x101000;
  const RW = 0x200000;

  function tender(guest: GuestRam) {
    const disk = join(scratch.dir, 'disk');
    execFileSync('truncate', ['-s', '8192', disk]);
    const manifest = manifestOf([
      { name: 'disk', type: BLOCK },
      { name: 'service', type: NET },
    ]);
    const modules = createModules();
    const printed = warnings();
    const ctx = optionContext(manifest, printed.warn);
    for (const arg of [`--block:disk=${disk}`]) {
      expect(modules.some((m) => m.handleOption?.(arg, ctx))).toBe(true);
    }
    // A pipe stands in for the tap: the handlers only read and write it.
    const net = modules.find((m) => m instanceof NetModule) as NetModule;
    const fifo = join(scratch.dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    net.attach({ entry: manifest.entries[2]!, iface: 'fifo', fd, mtu: 1500 });
    const { hypercalls } = setUp(modules, manifest, guest);
    return {
      hypercalls,
      close: () => {
        for (const m of modules) m.close?.();
      },
    };
  }

  it('the guest RAM accessors refuse them instead of faulting', () => {
    const { memory } = protectedRam();
    expect(memory.readU32(RO)).toBe(0);
    expect(thrown(() => memory.writeU32(RO, 1))).toBeInstanceOf(GuestAccessError);
    expect(thrown(() => memory.readU8(NONE + 0xfff))).toBeInstanceOf(GuestAccessError);
    expect(thrown(() => memory.write(RO - 4, new Uint8Array(8)))).toBeInstanceOf(GuestAccessError);
    expect(thrown(() => memory.read(NONE - 1, 2))).toBeInstanceOf(GuestAccessError);
    expect(memory.permits(RO, 0x1000, Prot.READ)).toBe(true);
    expect(memory.permits(RO - 1, 1, Prot.WRITE)).toBe(true);
    expect(memory.permits(NONE + 0x1000, 8, Prot.READ | Prot.WRITE)).toBe(true);
  });

  it('end with the reference’s invalid guest access message, exit 1', () => {
    const guest = protectedRam();
    const { memory } = guest;
    const t = tender(guest);
    try {
      // A valid buffer, to show that only the protected range is the problem.
      memory.writeU64(RW, RW + 0x100);
      memory.writeU64(RW + 8, 4);
      const cases: [number, number, string][] = [
        [Hypercall.WALLTIME, RO, access('core.ts:WALLTIME', RO, 8)],
        [Hypercall.WALLTIME, NONE, access('core.ts:WALLTIME', NONE, 8)],
        [Hypercall.PUTS, NONE, access('core.ts:PUTS', NONE, 16)],
        [Hypercall.POLL, RO, access('core.ts:POLL', RO, 24)],
        [Hypercall.BLOCK_READ, RO + 0x800, access('block.ts:BLOCK_READ', RO + 0x800, 40)],
        [Hypercall.BLOCK_WRITE, RO, access('block.ts:BLOCK_WRITE', RO, 40)],
        [Hypercall.NET_READ, NONE, access('net.ts:NET_READ', NONE, 32)],
        [Hypercall.NET_WRITE, RO, access('net.ts:NET_WRITE', RO, 32)],
        [Hypercall.HALT, NONE, access('hypercalls.ts:HALT', NONE, 16)],
      ];
      for (const [nr, gpa, message] of cases) {
        const error = thrown(() => t.hypercalls.dispatch(nr, gpa));
        expect(error).toBeInstanceOf(GuestAccessError);
        expect(error.message).toBe(message);
        expect((error as HvtError).exitStatus).toBe(1);
      }
    } finally {
      t.close();
    }
  });

  it('check the direction: read-only data may be written out, not read into', () => {
    const guest = protectedRam();
    const { memory } = guest;
    const t = tender(guest);
    try {
      // PUTS may take its bytes (and its struct) from read-only memory...
      memory.writeU64(RW, RO);
      memory.writeU64(RW + 8, 0);
      expect(t.hypercalls.dispatch(Hypercall.PUTS, RW)).toBe(false);
      // ...and BLOCK_WRITE too, but BLOCK_READ may not fill it.
      const block = (nr: number, data: number) => {
        memory.writeU64(RW + 0x40, 1);
        memory.writeU64(RW + 0x48, 0);
        memory.writeU64(RW + 0x50, data);
        memory.writeU64(RW + 0x58, 512);
        memory.writeI32(RW + 0x60, -1);
        t.hypercalls.dispatch(nr, RW + 0x40);
        return memory.readI32(RW + 0x60);
      };
      expect(block(Hypercall.BLOCK_WRITE, RO)).toBe(Solo5Result.OK);
      expect(thrown(() => block(Hypercall.BLOCK_READ, RO)).message).toBe(
        access('block.ts:BLOCK_READ', RO, 512),
      );
      expect(thrown(() => block(Hypercall.BLOCK_WRITE, NONE)).message).toBe(
        access('block.ts:BLOCK_WRITE', NONE, 512),
      );
      // NET_READ into read-only memory, NET_WRITE out of no-access memory.
      const net = (nr: number, data: number) => {
        memory.writeU64(RW + 0x80, 2);
        memory.writeU64(RW + 0x88, data);
        memory.writeU64(RW + 0x90, 64);
        t.hypercalls.dispatch(nr, RW + 0x80);
      };
      expect(thrown(() => net(Hypercall.NET_READ, RO)).message).toBe(
        access('net.ts:NET_READ', RO, 64),
      );
      expect(thrown(() => net(Hypercall.NET_WRITE, NONE + 0xfc0)).message).toBe(
        access('net.ts:NET_WRITE', NONE + 0xfc0, 64),
      );
    } finally {
      t.close();
    }
  });
});

describe('a segment over the network ring area', () => {
  it('is refused with a typed ELF error, before any protection is applied', () => {
    // rodata at 0x101000: pretend the ring area starts there.
    const u = buildUnikernel();
    const memory = GuestMemory.allocate(M);
    const protectedRanges: number[] = [];
    const error = thrown(() =>
      loadElf(u.bytes, 'kernel.hvt', memory, {
        machine: EM_X86_64,
        protect: (s) => protectedRanges.push(s.start),
        reserved: { start: TEXT_VADDR + 0x1000, end: M, what: 'network ring area' },
      }),
    );
    expect(error).toBeInstanceOf(ElfError);
    expect(error.message).toBe(
      `kernel.hvt: invalid executable: phdr[1] overlaps the network ring area (${TEXT_VADDR + 0x1000}..${TEXT_VADDR + 0x2000} and ${TEXT_VADDR + 0x1000}..${M})`,
    );
    expect((error as HvtError).exitStatus).toBe(1);
    // text was loaded and protected; the overlapping rodata never was.
    expect(protectedRanges).toEqual([TEXT_VADDR]);
  });

  it('a segment ending where the ring starts is fine', () => {
    const u = buildUnikernel();
    const loaded = loadElf(u.bytes, 'kernel.hvt', GuestMemory.allocate(M), {
      machine: EM_X86_64,
      reserved: { start: TEXT_VADDR + 0x3000, end: M, what: 'network ring area' },
    });
    expect(loaded.segments).toHaveLength(3);
  });
});

describe('block backing stores too large to address exactly', () => {
  // tmpfs takes sparse files of any size; most disk file systems stop at 16 TiB.
  const shm = '/dev/shm';
  const canMakeHuge = (() => {
    if (!existsSync(shm)) return false;
    const probe = join(shm, `hvtjs-probe-${process.pid}`);
    try {
      execFileSync('truncate', ['-s', String(2 ** 53 + 8192), probe], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    } finally {
      rmSync(probe, { force: true });
    }
  })();

  it.runIf(canMakeHuge)('are refused at option time, before any offset can round', () => {
    const path = join(shm, `hvtjs-huge-${process.pid}`);
    try {
      execFileSync('truncate', ['-s', String(2 ** 53 + 8192), path]);
      const manifest = manifestOf([{ name: 'disk', type: BLOCK }]);
      const block = new BlockModule();
      const printed = warnings();
      const error = thrown(() =>
        block.handleOption(`--block:disk=${path}`, optionContext(manifest, printed.warn)),
      );
      expect(error).toBeInstanceOf(HvtError);
      expect(error.message).toBe(
        `${path}: Backing storage of ${2n ** 53n + 8192n} bytes is larger than the ${2 ** 53 - 1} bytes this tender can address exactly`,
      );
      expect(manifest.entries[1]!.attached).toBe(false);
      block.close();
    } finally {
      rmSync(path, { force: true });
    }
  });
});

describe('NET_WRITE', () => {
  it('drops a frame a non-blocking device will not take now, instead of failing the guest', () => {
    const manifest = manifestOf([{ name: 'service', type: NET }]);
    const net = new NetModule();
    const fifo = join(scratch.dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    net.attach({ entry: manifest.entries[1]!, iface: 'fifo', fd, mtu: 1500 });
    const guest: GuestRam = { memory: GuestMemory.allocate(M), size: M };
    const { hypercalls, warnings: printed } = setUp([net], manifest, guest);
    const { memory } = guest;
    const write = () => {
      memory.writeU64(0x1000, 1);
      memory.writeU64(0x1008, 0x10000);
      memory.writeU64(0x1010, 4096);
      memory.writeI32(0x1018, -1);
      hypercalls.dispatch(Hypercall.NET_WRITE, 0x1000);
      return memory.readI32(0x1018);
    };
    try {
      // A pipe holds 16 pages: the 17th and later frames find it full.
      for (let i = 0; i < 40; i++) expect(write()).toBe(Solo5Result.OK);
      expect(printed).toEqual([
        "net 'service': fifo takes no more frames for now; dropping them as a full tap queue does",
      ]);
    } finally {
      net.close();
    }
  });

  it('sends a frame across a GiB view boundary with no host copy of it', () => {
    // In a child, so that its peak RSS is this write's alone: a 512 MiB
    // frame at 1 GiB - 16 goes to /dev/null. A copy would add 512 MiB.
    const child = fileURLToPath(new URL('./fixtures/frame-across-views.mjs', import.meta.url));
    const run = spawnSync(process.execPath, [child], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const result = JSON.parse(run.stdout) as { wrote: number; growthMiB: number };
    expect(result.wrote).toBe(512 * MiB);
    expect(result.growthMiB).toBeLessThan(64);
    expect(CHUNK_SIZE).toBe(2 ** 30);
  });
});

describe('a struct across the 1 GiB boundary between two views of guest RAM', () => {
  it('is served, as the reference serves it, field by field', () => {
    const size = CHUNK_SIZE + 4096;
    const memory = GuestMemory.allocate(size);
    for (let at = CHUNK_SIZE - 7; at < CHUNK_SIZE; at++) {
      memory.writeU64Big(at, 0x1122334455667788n);
      expect(memory.readU64Big(at)).toBe(0x1122334455667788n);
      expect(memory.readU64(at)).toBe(Number(0x1122334455667788n));
      memory.writeU64(at, 2 ** 40 + 5);
      expect(memory.readU64(at)).toBe(2 ** 40 + 5);
    }
    memory.writeI32(CHUNK_SIZE - 2, -2);
    expect(memory.readI32(CHUNK_SIZE - 2)).toBe(-2);
    expect([...memory.read(CHUNK_SIZE - 2, 4)]).toEqual([0xfe, 0xff, 0xff, 0xff]);
    memory.writeU16(CHUNK_SIZE - 1, 0xbeef);
    expect(memory.readU16(CHUNK_SIZE - 1)).toBe(0xbeef);
  });

  it('serves WALLTIME and HALT with their structs straddling the views', () => {
    const size = CHUNK_SIZE + 4096;
    const guest: GuestRam = { memory: GuestMemory.allocate(size), size };
    const now = 0x1234_5678_9abc_def0n;
    const gpa = CHUNK_SIZE - 4;
    walltimeHypercall(
      guest,
      bigintClock(() => now),
    )(gpa);
    expect(guest.memory.readU64Big(gpa)).toBe(now);
    const hypercalls = new Hypercalls(guest);
    guest.memory.writeU64(CHUNK_SIZE - 8, 0);
    guest.memory.writeI32(CHUNK_SIZE, 7);
    expect(hypercalls.dispatch(Hypercall.HALT, CHUNK_SIZE - 8)).toBe(true);
    expect(hypercalls.haltStatus).toBe(7);
  });
});
