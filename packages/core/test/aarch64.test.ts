// The aarch64 guest as data (docs/guest-abi.md 5.3, 6.2, 7.2, 10.2): the tables and
// registers against the reference's numbers, the MMIO hypercall decoding, and
// the one run loop serving MMIO exits with the same handlers as port exits.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  aarch64,
  ExitField,
  ExitKind,
  GuestMemory,
  type Vm,
  X86_64,
} from '../src/entry/platform.js';
import {
  createCoreFile,
  guestArch,
  Hypercall,
  Hypercalls,
  mmioHypercall,
  runLoop,
  writeCoreFile,
} from '../src/entry/tender.js';

const MiB = 0x10_0000;
const GiB = 0x4000_0000;
const { AARCH64, Aarch64Address: A } = aarch64;

function tables(memSize: number): GuestMemory {
  const memory = GuestMemory.allocate(Math.min(memSize, 64 * MiB));
  aarch64.writePageTables(memory, memSize);
  return memory;
}

describe('aarch64 translation tables (5.3)', () => {
  it('links level 0 to level 1 and level 1 to one level-2 table per GiB of RAM', () => {
    const m = tables(2 * GiB + 2 * MiB);
    expect(m.readU64Big(A.PGD)).toBe(0x2003n);
    expect(m.readU64Big(A.PGD + 8)).toBe(0n);
    expect(m.readU64Big(A.PUD)).toBe(0x3003n);
    expect(m.readU64Big(A.PUD + 8)).toBe(0x4003n);
    expect(m.readU64Big(A.PUD + 16)).toBe(0x5003n);
    // Three GiBs hold RAM; the fourth is not mapped.
    expect(m.readU64Big(A.PUD + 24)).toBe(0n);
    expect(m.readU64Big(A.PMD)).toBe(0x7003n);
  });

  it('maps the hypercall window as one 1 GiB device-nGnRE block, never executable', () => {
    const m = tables(64 * MiB);
    // PXN | UXN | AF | inner shareable | AttrIndx 1 | block.
    expect(m.readU64Big(A.PUD + 4 * 8)).toBe(0x0060_0001_0000_0705n);
    expect(m.readU64Big(A.PUD + 5 * 8)).toBe(0n);
  });

  it('maps the first 2 MiB in 4 KiB pages: none below 64 KiB, read-only and no-exec to 1 MiB', () => {
    const m = tables(64 * MiB);
    const pte = (gpa: number) => m.readU64Big(A.PTE + (gpa / 0x1000) * 8);
    expect(pte(0)).toBe(0n);
    expect(pte(0x1000)).toBe(0n);
    expect(pte(0xf000)).toBe(0n);
    // PXN | UXN | AF | inner shareable | AP[2] read-only | AttrIndx 4 | page.
    expect(pte(0x10000)).toBe(0x0060_0000_0001_0793n);
    expect(pte(0xff000)).toBe(0x0060_0000_000f_f793n);
    // UXN | AF | inner shareable | AttrIndx 4 | page: EL1 may write and execute.
    expect(pte(0x100000)).toBe(0x0040_0000_0010_0713n);
    expect(pte(0x1ff000)).toBe(0x0040_0000_001f_f713n);
  });

  it('maps the rest of RAM in 2 MiB blocks up to the allocated size, across level-2 tables', () => {
    const m = tables(4 * GiB);
    expect(m.readU64Big(A.PMD + 8)).toBe(0x0040_0000_0020_0711n);
    // The last block of the fourth GiB is the last entry of the fourth table.
    expect(m.readU64Big(A.PMD + 2047 * 8)).toBe(BigInt(4 * GiB - 2 * MiB) | 0x0040_0000_0000_0711n);
    expect(m.readU64Big(A.PUD + 3 * 8)).toBe(0x6003n);

    const small = tables(6 * MiB);
    expect(small.readU64Big(A.PMD + 2 * 8)).toBe(0x0040_0000_0040_0711n);
    expect(small.readU64Big(A.PMD + 3 * 8)).toBe(0n);
  });

  it('zeroes the table pages it owns', () => {
    const m = GuestMemory.allocate(4 * MiB);
    m.fill(0, 0x10000, 0xaa);
    aarch64.writePageTables(m, 4 * MiB);
    expect(m.readU64Big(A.PGD + 8)).toBe(0n);
    expect(m.readU64Big(A.PUD + 8)).toBe(0n);
    expect(m.readU64Big(A.PMD + 4 * 0x1000 - 8)).toBe(0n);
    // Nothing outside the tables is touched.
    expect(m.readU64Big(0)).toBe(0xaaaa_aaaa_aaaa_aaaan);
    expect(m.readU64Big(0x8000)).toBe(0xaaaa_aaaa_aaaa_aaaan);
  });
});

describe('aarch64 initial vCPU state (6.2)', () => {
  it('starts at e_entry, EL1h with DAIF masked, MMU and caches on, FP untrapped', () => {
    const s = aarch64.initialVcpuState(0x100000, 512 * MiB);
    expect(s).toEqual({
      pc: 0x100000n,
      sp: BigInt(512 * MiB - 16),
      x0: 0x10000n,
      pstate: 0x3c5n,
      sctlr: 0x1005n,
      tcr: 0x32_b518_3518n,
      mair: 0x0000_bbff_440c_0400n,
      ttbr0: 0x1000n,
      cpacr: 0x30_0000n,
    });
  });

  it('refuses a platform without the aarch64 vCPU', () => {
    const vm = { initVcpuX86: () => ({ tscHz: 1 }) } as unknown as Vm;
    expect(() => AARCH64.initVcpu(vm, 0x100000, 4 * MiB)).toThrow(
      'this platform cannot run aarch64 guests',
    );
  });
});

describe('aarch64 hypercall transport (7.2)', () => {
  it('takes a 4-byte write at 0x1_0000_0000 + 8 * nr as hypercall nr', () => {
    for (let nr = 0; nr < 9; nr++) expect(mmioHypercall(0x1_0000_0000 + nr * 8, 4, true)).toBe(nr);
    // Between two slots: the lower one, as the reference's shift gives it.
    expect(mmioHypercall(0x1_0000_0013, 4, true)).toBe(2);
  });

  it.each([
    [0x1_0000_0010, 4, false, 'Invalid guest mmio access: mmio=0x100000010 len=4'],
    [0x1_0000_0010, 1, true, 'Invalid guest mmio access: mmio=0x100000010 len=1'],
    [0x1_0000_0010, 2, true, 'Invalid guest mmio access: mmio=0x100000010 len=2'],
    [0x1_0000_0010, 8, true, 'Invalid guest mmio access: mmio=0x100000010 len=8'],
    [0x1_0000_0048, 4, true, 'Invalid guest mmio access: mmio=0x100000048'],
    [0x1_0000_0100, 4, true, 'Invalid guest mmio access: mmio=0x100000100'],
    [0x0_ffff_fff8, 4, true, 'Invalid guest mmio access: mmio=0xfffffff8'],
    // The access is judged before the address, as the reference does.
    [0x2_0000_0000, 1, true, 'Invalid guest mmio access: mmio=0x200000000 len=1'],
  ])('refuses %s (len %s, write %s): %s', (address, size, write, message) => {
    expect(() => mmioHypercall(address, size, write)).toThrow(message);
  });

  it('kicks the ring with a store to 0x1_0000_0100, named so in the sandbox report', () => {
    expect(AARCH64.ringKick).toBe(0x1_0000_0100);
    expect(AARCH64.ringKickText).toBe('mmio 0x100000100');
    expect(X86_64.ringKick).toBe(0x600);
    expect(guestArch('aarch64')).toBe(AARCH64);
    expect(guestArch('x86_64')).toBe(X86_64);
  });
});

/** A VM that replays MMIO exits, as the aarch64 vCPU reports them. */
function replayVm(exits: Array<[address: number, size: number, write: boolean, value: number]>) {
  const exit = new Float64Array(8);
  const memory = GuestMemory.allocate(4 * MiB);
  let next = 0;
  const vm = {
    memory,
    exit,
    run: () => {
      const e = exits[next++];
      if (e === undefined) throw new Error('ran past the last exit');
      exit[ExitField.ADDRESS] = e[0];
      exit[ExitField.SIZE] = e[1];
      exit[ExitField.DIRECTION] = e[2] ? 1 : 0;
      exit[ExitField.VALUE] = e[3];
      return ExitKind.MMIO;
    },
    getRegistersAarch64: () => ({ x: [], sp: 0n, pc: 0x100abcn, pstate: 0x3c5n }),
  } as unknown as Vm;
  return { vm, memory };
}

describe('the run loop on aarch64 (7.2, 13.3)', () => {
  it('serves MMIO exits with the same handlers as port exits, then HALT', () => {
    const { vm, memory } = replayVm([
      [0x1_0000_0000 + Hypercall.WALLTIME * 8, 4, true, 0x20000],
      [0x1_0000_0000 + Hypercall.WALLTIME * 8, 4, true, 0x20100],
      [0x1_0000_0000 + Hypercall.HALT * 8, 4, true, 0x20200],
    ]);
    const h = new Hypercalls({ memory, size: memory.size });
    const served: number[] = [];
    h.register(Hypercall.WALLTIME, (gpa) => served.push(gpa));
    memory.writeU32(0x20200 + 8, 7); // struct hvt_hc_halt: cookie 0, exit_status 7
    expect(runLoop(vm, h, 'KVM', [], undefined, AARCH64)).toBe(7);
    expect(served).toEqual([0x20000, 0x20100]);
  });

  it('ends on an MMIO exit that is not a hypercall, with the reference message', () => {
    const { vm, memory } = replayVm([[0x1_0000_0008, 4, false, 0]]);
    const h = new Hypercalls({ memory, size: memory.size });
    expect(() => runLoop(vm, h, 'KVM', [], undefined, AARCH64)).toThrow(
      'Invalid guest mmio access: mmio=0x100000008 len=4',
    );
  });

  it('refuses a hypercall number without a handler', () => {
    const { vm, memory } = replayVm([[0x1_0000_0000 + 5 * 8, 4, true, 0x20000]]);
    const h = new Hypercalls({ memory, size: memory.size });
    expect(() => runLoop(vm, h, 'KVM', [], undefined, AARCH64)).toThrow(
      'Invalid guest hypercall: num=5',
    );
  });

  it('names the program counter pc= in fatal exits', () => {
    const { vm, memory } = replayVm([]);
    (vm as { run: () => number }).run = () => {
      vm.exit[ExitField.REASON] = 0x1c;
      return ExitKind.OTHER;
    };
    const h = new Hypercalls({ memory, size: memory.size });
    expect(() => runLoop(vm, h, 'KVM', [], undefined, AARCH64)).toThrow(
      'KVM: unhandled exit: exit_reason=0x1c, pc=0x100abc',
    );
  });
});

describe('aarch64 core files (11.4)', () => {
  it('writes an EM_AARCH64 core whose 392-byte NT_PRSTATUS holds user_pt_regs, trap frame first', () => {
    const memory = GuestMemory.allocate(4 * MiB);
    // The test runtime's cookie: {far, esr, elr, spsr, sp}.
    for (const [i, v] of [0x1000n, 0x96000007n, 0x1020f4n, 0x800003c5n, 0x1fffff50n].entries()) {
      memory.writeU64Big(0x30000 + i * 8, v);
    }
    const x = Array.from({ length: 31 }, (_, i) => BigInt(0x100 + i));
    const vm = {
      getRegistersAarch64: () => ({ x, sp: 0x1ffff000n, pc: 0x100400n, pstate: 0x3c5n }),
    } as unknown as Vm;
    const registers = AARCH64.coreRegisters(vm, { memory, size: memory.size }, 0x30000);
    expect(registers).toEqual([...x, 0x1fffff50n, 0x1020f4n, 0x800003c5n]);
    expect(AARCH64.coreRegisters(vm, { memory, size: memory.size }, 0).slice(31)).toEqual([
      0x1ffff000n,
      0x100400n,
      0x3c5n,
    ]);

    const dir = mkdtempSync(join(tmpdir(), 'hvtjs-core-'));
    try {
      const file = createCoreFile(dir, 77);
      writeCoreFile({
        ...file,
        pid: 77,
        memory,
        memSize: 4 * MiB,
        registers,
        machine: AARCH64.elfMachine,
      });
      const core = readFileSync(file.path);
      expect(core.readUInt16LE(18)).toBe(183);
      const note = Number(core.readBigUInt64LE(64 + 8));
      expect(core.readUInt32LE(note + 4)).toBe(392);
      expect(core.readUInt32LE(note + 8)).toBe(1); // NT_PRSTATUS
      const reg = (i: number) => core.readBigUInt64LE(note + 20 + 112 + i * 8);
      expect(reg(0)).toBe(0x100n);
      expect(reg(30)).toBe(0x11en);
      expect([reg(31), reg(32), reg(33)]).toEqual([0x1fffff50n, 0x1020f4n, 0x800003c5n]);
      const readelf = spawnSync('readelf', ['-h', '-n', file.path], { encoding: 'utf8' });
      if (readelf.error === undefined) {
        expect(readelf.stdout).toMatch(/Machine:\s+AArch64/);
        expect(readelf.stdout).toMatch(/CORE\s+0x00000188\s+NT_PRSTATUS/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
