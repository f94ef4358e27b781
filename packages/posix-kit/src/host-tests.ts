import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ExitField, ExitKind, type Vm } from '@hvtjs/core/platform';
import { describe, expect, it } from 'vitest';

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
