import { spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitField, ExitKind, NetRingFailureKind, type Vm } from '@hvtjs/core/platform';
import { RING_KICK_PORT } from '@hvtjs/core/tender';
import { describe, expect, it } from 'vitest';
import { DATA_GPA, ioProgram, loadGuest, MEM_SIZE, SPIN_PROGRAM } from './test-guest.js';

/** For the platforms' host tests (run on the platform itself, as root). */

/**
 * The vitest options of a platform's host suite: test/host only, one file
 * after another in forked processes (sandboxes are entered in child
 * processes), with room for real VMs.
 */
export const HOST_TEST_OPTIONS = {
  include: ['test/host/**/*.test.ts'],
  pool: 'forks',
  fileParallelism: false,
  testTimeout: 60_000,
} as const;

/**
 * Runs the test guest's I/O program to its first exit: an OUT of the marker
 * to port 0x505, 4 bytes, which the guest also stored at `markerGpa`
 * (visible through the zero-copy views).
 */
export function expectMarkerOut(vm: Vm, markerGpa: number): void {
  expect(vm.run()).toBe(ExitKind.IO);
  expect([vm.exit[ExitField.PORT], vm.exit[ExitField.SIZE], vm.exit[ExitField.DIRECTION]]).toEqual([
    0x505, 4, 1,
  ]);
  expect(vm.exit[ExitField.VALUE]).toBe(0x12345678);
  expect(vm.memory.readU32(markerGpa)).toBe(0x12345678);
}

/** Polls `check` every 50 ms until it holds or `ms` pass; its last answer. */
export async function waitUntil(check: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

/** Runs a fixture script under this Node, collecting its stdout lines. */
export function childOutput(script: string): {
  child: ReturnType<typeof spawn>;
  lines: () => string[];
} {
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d) => {
    out += String(d);
  });
  return { child, lines: () => out.split('\n').filter((l) => l !== '') };
}

/**
 * The checks that a VM never outlives its tender, over two fixtures in
 * `fixtures`: killed-child.mjs prints the VM's id and waits to be killed;
 * signal-child.mjs prints the id, runs a spinning guest with the termination
 * signals caught and prints `{ kind, signal }` once SIGTERM ended the run.
 */
export function describeVmNeverOutlivesTender(spec: {
  readonly fixtures: string;
  /** Whether the VM the fixture printed (its first line) still exists. */
  readonly exists: (id: string) => boolean;
  /** How the platform ends it, e.g. 'destroyed by the destroyer process'. */
  readonly endedBy: string;
}): void {
  describe('the VM never outlives the tender', () => {
    it(`is ${spec.endedBy} when the tender is killed with SIGKILL`, async () => {
      const { child, lines } = childOutput(join(spec.fixtures, 'killed-child.mjs'));
      await waitUntil(() => lines().length > 0);
      const id = lines()[0]!;
      expect(spec.exists(id)).toBe(true);
      child.kill('SIGKILL');
      expect(await waitUntil(() => !spec.exists(id))).toBe(true);
    });

    it('SIGTERM ends a run of a spinning guest with ExitKind.SIGNAL', async () => {
      const { child, lines } = childOutput(join(spec.fixtures, 'signal-child.mjs'));
      await waitUntil(() => lines().length > 0);
      const id = lines()[0]!;
      child.kill('SIGTERM');
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(code).toBe(0);
      expect(JSON.parse(lines()[1]!)).toEqual({ kind: ExitKind.SIGNAL, signal: 15 });
      expect(spec.exists(id)).toBe(false);
    });
  });
}

/**
 * Ring I/O on a real VM (docs/guest-abi.md 10), with the test guest: the
 * kick's OUT never reaches JavaScript and wakes the sleeping thread, which
 * writes the frame published in the ring to the device (a file here); an
 * entry outside guest-visible memory ends a spinning guest's run with
 * IO_THREAD. `create` makes a VM of MEM_SIZE bytes.
 */
export function describeRingOnHost(create: () => Vm): void {
  // The tender's layout: the top 2 MiB are the ring area.
  const RING = MEM_SIZE - 2 * 1024 * 1024;
  const FRAME = DATA_GPA + 0x1000;
  /** Publishes one entry for handle 0 (struct hvt_ring, 10.1): entries[0], then ent_tail = 1. */
  const entry = (vm: Vm, op: number, data: number, len: number) => {
    vm.memory.writeU32(RING + 128, op);
    vm.memory.writeU32(RING + 132, 0);
    vm.memory.writeU64(RING + 136, data);
    vm.memory.writeU32(RING + 144, len);
    vm.memory.writeU32(RING, 1);
  };

  describe('ring I/O (Vm.netRing)', () => {
    it('wakes the thread on the kick port without an exit; the frame reaches the device', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hvtjs-ring-'));
      const device = openSync(join(dir, 'frames'), 'w');
      const vm = create();
      try {
        loadGuest(vm, ioProgram(RING_KICK_PORT));
        const ring = vm.netRing!.start({
          ringGpa: RING,
          visibleSize: RING,
          devices: [{ handle: 0, fd: device }],
        });
        // Past its spin, the thread asks for a kick and sleeps on the pipe.
        expect(await waitUntil(() => vm.memory.readU32(RING + 72) === 1)).toBe(true);
        vm.memory.write(FRAME, Buffer.from('hvtjs-ring-frame'.padEnd(60, '.')));
        entry(vm, 1, FRAME, 60);
        expectMarkerOut(vm, DATA_GPA);
        expect(vm.run()).toBe(ExitKind.IO);
        expect(vm.exit[ExitField.PORT]).toBe(0x508);
        expect(await waitUntil(() => fstatSync(device).size === 60)).toBe(true);
        expect(vm.memory.readU32(RING + 64)).toBe(1);
        ring.stop();
        expect(ring.failure()).toBeUndefined();
        expect(readFileSync(join(dir, 'frames'), 'utf8')).toMatch(/^hvtjs-ring-frame\.+$/);
      } finally {
        vm.destroy();
        closeSync(device);
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('ends the run of a spinning guest with IO_THREAD when an entry lies outside guest memory', () => {
      const vm = create();
      try {
        loadGuest(vm, SPIN_PROGRAM);
        const ring = vm.netRing!.start({
          ringGpa: RING,
          visibleSize: RING,
          devices: [{ handle: 0, fd: 2 }],
        });
        entry(vm, 1, RING - 60, 60);
        expect(vm.run()).toBe(ExitKind.IO_THREAD);
        expect(ring.failure()).toMatchObject({ kind: NetRingFailureKind.DATA_RANGE, len: 60 });
        ring.stop();
      } finally {
        vm.destroy();
      }
    });
  });
}
