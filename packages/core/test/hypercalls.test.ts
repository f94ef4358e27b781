import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHUNK_SIZE, nodeGuestIo, Prot, transferAll, type Vm } from '../src/entry/platform.js';
import {
  armFastPath,
  bigintClock,
  createCoreModule,
  type FastPathCall,
  type FastPathPlan,
  type GuestRam,
  HvtHcPuts,
  HvtHcWalltime,
  Hypercall,
  Hypercalls,
  pollHypercall,
  putsHypercall,
  type SetupContext,
  WaitSet,
  walltimeHypercall,
} from '../src/entry/tender.js';
import { GuestAccessError, HvtError } from '../src/index.js';
import { guestRam, M, MiB, scratchPerTest, thrown } from './tender-helpers.js';

describe('port dispatch (7.2)', () => {
  const calls = () => new Hypercalls(guestRam(M));

  it('accepts only 4-byte OUTs to ports 0x500..0x508', () => {
    const h = calls();
    for (const [port, size, out] of [
      [0x501, 4, false],
      [0x501, 1, true],
      [0x501, 2, true],
      [0x501, 8, true],
      [0x4ff, 4, true],
      [0x509, 4, true],
      [0x600, 4, true],
      [0x3f8, 1, true],
    ] as const) {
      const error = thrown(() => h.dispatchPort(port, size, out, 0x1000));
      expect(error).toBeInstanceOf(HvtError);
      expect(error.message).toBe(`Invalid guest port access: port=0x${port.toString(16)}`);
    }
  });

  it('refuses hypercalls without a handler, 0 included', () => {
    const h = calls();
    expect(thrown(() => h.dispatchPort(0x500, 4, true, 0)).message).toBe(
      'Invalid guest hypercall: num=0',
    );
    for (const nr of [1, 2, 3, 4, 5, 6, 7]) {
      expect(thrown(() => h.dispatch(nr, 0x1000)).message).toBe(
        `Invalid guest hypercall: num=${nr}`,
      );
    }
  });

  it('calls the registered handler with the GPA and refuses a second registration', () => {
    const h = calls();
    const seen: number[] = [];
    h.register(Hypercall.PUTS, (gpa) => seen.push(gpa));
    expect(h.dispatchPort(0x502, 4, true, 0x12345)).toBe(false);
    expect(seen).toEqual([0x12345]);
    expect(() => h.register(Hypercall.PUTS, () => {})).toThrow(/twice/);
    expect(() => h.register(Hypercall.HALT, () => {})).toThrow();
    expect(() => h.register(0, () => {})).toThrow();
    expect(() => h.register(9, () => {})).toThrow();
  });
});

describe('HALT (8.8)', () => {
  function halt(ram: GuestRam, gpa: number, status: number, cookie: number | bigint) {
    ram.memory.writeU64Big(gpa, BigInt(cookie));
    ram.memory.writeI32(gpa + 8, status);
    const h = new Hypercalls(ram);
    const hooks: [string, number, number][] = [];
    h.registerHaltHook((s, c) => hooks.push(['first', s, c]));
    h.registerHaltHook((s, c) => hooks.push(['second', s, c]));
    const halted = h.dispatchPort(0x508, 4, true, gpa);
    return { halted, status: h.haltStatus, hooks };
  }

  it('returns the status and runs the hooks in order', () => {
    const ram = guestRam(M);
    expect(halt(ram, 0x20000, 7, 0)).toEqual({
      halted: true,
      status: 7,
      hooks: [
        ['first', 7, 0],
        ['second', 7, 0],
      ],
    });
    expect(halt(ram, 0x20000, -1, 0).status).toBe(-1);
    expect(halt(ram, 0x20000, 255, 0x30000).hooks[0]).toEqual(['first', 255, 0x30000]);
  });

  it('needs the struct and 512 cookie bytes strictly below the top', () => {
    const ram = guestRam(M);
    expect(halt(ram, M - 17, 0, 0).halted).toBe(true);
    const top = thrown(() => halt(ram, M - 16, 0, 0));
    expect(top).toBeInstanceOf(GuestAccessError);
    expect(top.message).toBe(
      `hypercalls.ts:HALT: Invalid guest access: gpa=0x${(M - 16).toString(16)}, sz=16`,
    );
    expect(halt(ram, 0x20000, 255, M - 513).halted).toBe(true);
    expect(thrown(() => halt(ram, 0x20000, 255, M - 512)).message).toBe(
      `hypercalls.ts:HALT: Invalid guest access: gpa=0x${(M - 512).toString(16)}, sz=512`,
    );
    expect(thrown(() => halt(ram, 0x20000, 255, 0xffffffffffffffffn)).message).toBe(
      'hypercalls.ts:HALT: Invalid guest access: gpa=0xffffffffffffffff, sz=512',
    );
  });

  it('checks against the guest-visible size, not the allocated one', () => {
    const ram = guestRam(M, M - 2 * MiB);
    expect(() => halt(ram, M - 2 * MiB, 0, 0)).toThrow(GuestAccessError);
    expect(() => halt(ram, 0x20000, 255, M - 2 * MiB - 100)).toThrow(GuestAccessError);
  });
});

describe('core hypercalls', () => {
  it('WALLTIME writes the clock in nanoseconds', () => {
    const ram = guestRam(M);
    const before = BigInt(Date.now()) * 1_000_000n;
    walltimeHypercall(
      ram,
      bigintClock(() => BigInt(Date.now()) * 1_000_000n),
    )(0x20000);
    const got = ram.memory.readU64Big(0x20000);
    expect(got >= before && got < before + 10_000_000_000n).toBe(true);
    expect(
      thrown(() =>
        walltimeHypercall(
          ram,
          bigintClock(() => 0n),
        )(M - 8),
      ).message,
    ).toBe(`core.ts:WALLTIME: Invalid guest access: gpa=0x${(M - 8).toString(16)}, sz=8`);
    walltimeHypercall(
      ram,
      bigintClock(() => 0n),
    )(M - 9);
  });

  it('PUTS validates the struct, then the data range, strictly', () => {
    const ram = guestRam(M);
    const puts = (gpa: number, data: number | bigint, len: number | bigint) => {
      ram.memory.writeU64Big(gpa, BigInt(data));
      ram.memory.writeU64Big(gpa + 8, BigInt(len));
      putsHypercall(ram)(gpa);
    };
    expect(thrown(() => puts(M - 16, 0x20000, 0)).message).toBe(
      `core.ts:PUTS: Invalid guest access: gpa=0x${(M - 16).toString(16)}, sz=16`,
    );
    // Zero bytes just below the top are fine; at the top they are not.
    puts(0x20000, M - 1, 0);
    expect(thrown(() => puts(0x20000, M, 0)).message).toBe(
      `core.ts:PUTS: Invalid guest access: gpa=0x${M.toString(16)}, sz=0`,
    );
    expect(thrown(() => puts(0x20000, M - 10, 10)).message).toMatch(/sz=10$/);
    expect(thrown(() => puts(0x20000, 0x1000, 0xffffffffffffffffn)).message).toBe(
      'core.ts:PUTS: Invalid guest access: gpa=0x1000, sz=18446744073709551615',
    );
    expect(thrown(() => puts(0x20000, 0xfffffffffffffff0n, 0x20)).message).toBe(
      'core.ts:PUTS: Invalid guest access: gpa=0xfffffffffffffff0, sz=32',
    );
  });

  it('POLL validates its struct before waiting', () => {
    const ram = guestRam(M);
    expect(thrown(() => pollHypercall(ram, new WaitSet())(M - 24)).message).toBe(
      `core.ts:POLL: Invalid guest access: gpa=0x${(M - 24).toString(16)}, sz=24`,
    );
  });
});

describe('I/O straight between a descriptor and guest RAM', () => {
  const scratch = scratchPerTest();

  it('writes and reads a range that crosses a GiB view in two calls', () => {
    const ram = guestRam(CHUNK_SIZE + 0x2000);
    const file = join(scratch.dir, 'f');
    writeFileSync(file, new Uint8Array(64));
    const fd = openSync(file, 'r+');
    try {
      const gpa = CHUNK_SIZE - 10;
      ram.memory.write(
        gpa,
        Uint8Array.from({ length: 20 }, (_, i) => i + 1),
      );
      const io = nodeGuestIo(ram.memory);
      expect(transferAll(io, true, fd, gpa, 20, 8)).toBe(20);
      const bytes = readFileSync(file);
      expect([...bytes.subarray(8, 28)]).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      ram.memory.fill(gpa, 20);
      expect(transferAll(io, false, fd, gpa, 20, 8)).toBe(20);
      expect([...ram.memory.read(gpa, 20)]).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      // Reading past the end is short, and says how much it got.
      expect(transferAll(io, false, fd, 0x1000, 100, 0)).toBe(64);
      // A failure is minus the errno, named by the I/O's own table.
      const bad = transferAll(io, false, 9999, 0x1000, 100, 0);
      expect(io.errnoName(-bad)).toBe('EBADF');
    } finally {
      closeSync(fd);
    }
  });
});

describe("the native fast path's plan (docs/architecture.md 3.2)", () => {
  it('carries what each module registered, the visible size and the protections', () => {
    const ram = guestRam(M, M - 4096);
    ram.memory.restrict(0x10000, 0x2000, Prot.READ);
    const h = new Hypercalls(ram);
    createCoreModule(new WaitSet()).setup?.({
      guest: ram,
      platform: { walltimeNs: () => 0n },
      registerHypercall: (nr: number, handler: (gpa: number) => void, fast?: FastPathCall) =>
        h.register(nr, handler, fast),
    } as unknown as SetupContext);
    const plan = h.fastPathPlan();
    expect(plan.portBase).toBe(0x500);
    expect(plan.visibleSize).toBe(M - 4096);
    expect(plan.restricted).toEqual([{ start: 0x10000, end: 0x12000, prot: Prot.READ }]);
    expect(plan.calls[Hypercall.WALLTIME]).toEqual({ kind: 'walltime', layout: HvtHcWalltime });
    expect(plan.calls[Hypercall.PUTS]).toEqual({ kind: 'puts', layout: HvtHcPuts, fd: 1 });
    // POLL waits and HALT ends the run: always core's.
    expect(plan.calls[Hypercall.POLL]).toBeUndefined();
    expect(plan.calls[Hypercall.HALT]).toBeUndefined();
  });

  it('is armed unless a module must see every exit', () => {
    const plans: FastPathPlan[] = [];
    const vm = { armFastPath: (plan: FastPathPlan) => plans.push(plan) } as unknown as Vm;
    const h = new Hypercalls(guestRam(M));
    expect(armFastPath(vm, h, [{ name: 'core' }])).toBe(true);
    expect(plans).toHaveLength(1);
    expect(armFastPath(vm, h, [{ name: 'core' }, { name: 'gdb', seesEveryExit: true }])).toBe(
      false,
    );
    expect(armFastPath({} as Vm, h, [{ name: 'core' }])).toBe(false);
    expect(plans).toHaveLength(1);
  });
});
