import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The native fast path (docs/architecture.md 3.2) against core's handlers:
 * test/fuzz/fast-path-child.mjs serves random and hostile hypercalls in two
 * identical worlds, one through the native serve() that the vCPU's run loop
 * calls (then core's handler when it defers), one through core's handler
 * alone, and requires identical results, messages, warnings, guest memory,
 * files and bytes on the descriptors after every call.
 *
 * HVTJS_FAST_PATH_SEED=<n> replays a run; CI replays a fixed seed.
 */

const CI_SEED = 20261203;
const CHILD = fileURLToPath(new URL('../fuzz/fast-path-child.mjs', import.meta.url));
const seed = process.env['HVTJS_FAST_PATH_SEED']
  ? Number(process.env['HVTJS_FAST_PATH_SEED']) >>> 0
  : process.env['CI']
    ? CI_SEED
    : randomBytes(4).readUInt32LE(0);

interface Summary {
  served: Record<string, number>;
  deferred: Record<string, number>;
  outcomes: Record<string, number>;
  cases: number;
}
interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  summary?: Summary;
  mismatch?: { mismatch: string };
  stderr: string;
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function runChild(config: Record<string, unknown>): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'hvtjs-fastpath-'));
  dirs.push(dir);
  const stdout = join(dir, 'stdout');
  // PUTS writes to fd 1: a file of the child's own, which it reads back.
  const out = openSync(stdout, 'w');
  const child = spawn(process.execPath, [CHILD, JSON.stringify({ ...config, dir, stdout })], {
    stdio: ['ignore', out, 'pipe'],
  });
  closeSync(out);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      const lines = stderr.split('\n').filter((l) => l.startsWith('{'));
      const parsed = lines.map((l) => JSON.parse(l) as { summary?: Summary; mismatch?: string });
      resolve({
        code,
        signal,
        stderr,
        ...(parsed.find((p) => p.summary)?.summary !== undefined
          ? { summary: parsed.find((p) => p.summary)!.summary! }
          : {}),
        ...(parsed.some((p) => p.mismatch)
          ? { mismatch: parsed.find((p) => p.mismatch) as { mismatch: string } }
          : {}),
      });
    });
  });
}

const CALLS = ['WALLTIME', 'PUTS', 'BLOCK_WRITE', 'BLOCK_READ', 'NET_WRITE', 'NET_READ'];

describe('the native fast path serves exactly what core would', () => {
  for (const [layout, runs] of [
    ['small', 4000],
    ['big', 2000],
  ] as const) {
    it(`${runs} random and hostile hypercalls, ${layout === 'big' ? 'guest RAM over the 1 GiB view boundary' : 'an 8 MiB guest'}`, async () => {
      const r = await runChild({ seed, runs, layout });
      const why = `seed ${seed} (HVTJS_FAST_PATH_SEED=${seed} replays it):\n${r.stderr.slice(-3000)}`;
      expect(r.signal, why).toBeNull();
      expect(r.mismatch, why).toBeUndefined();
      expect(r.code, why).toBe(0);
      const s = r.summary!;
      expect(s.cases).toBe(runs);
      // Both sides of every call were exercised: served natively, and deferred.
      for (const call of CALLS) {
        expect(s.served[call], `${call} never served natively`).toBeGreaterThan(0);
        expect(s.deferred[call], `${call} never deferred`).toBeGreaterThan(0);
      }
      if (layout === 'small') {
        const outcomes = Object.keys(s.outcomes).join('\n');
        for (const expected of [
          'BLOCK_READ served, OK',
          'BLOCK_WRITE served, EINVAL',
          'NET_READ served, AGAIN',
          'NET_READ served, OK',
          'NET_WRITE served, OK',
          'core.ts:PUTS: Invalid guest access',
          'core.ts:WALLTIME: Invalid guest access',
          'Fatal error: read only',
          'Fatal error: wrote only',
          'Fatal error when reading: Bad file descriptor',
          'Fatal error when writing: Bad file descriptor',
        ]) {
          expect(outcomes, `no call ended with "${expected}"`).toContain(expected);
        }
      }
    }, 120_000);
  }

  it('catches a fast path that does not check what core checks', async () => {
    // World A's plan claims all of guest RAM visible: the native side then
    // serves buffers at the top that core refuses, and the worlds must differ.
    const r = await runChild({ seed, runs: 4000, layout: 'small', tamper: 'visible' });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(1);
    expect(r.mismatch?.mismatch).toBe('outcome');
  }, 120_000);
});
