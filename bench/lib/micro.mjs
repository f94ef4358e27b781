// @ts-check
// Runs the per-exit micro-benchmark (bench/micro/exit-cost.mjs) with and
// without V8's JIT, each in its own Node process.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MICRO = join(dirname(fileURLToPath(import.meta.url)), '..', 'micro', 'exit-cost.mjs');

/**
 * @param {boolean} quick
 * @returns {{ jit: object, jitless: object }}
 */
export function runMicro(quick) {
  const n = quick ? 20000 : 200000;
  const run = (/** @type {string[]} */ flags, /** @type {number} */ count) =>
    JSON.parse(
      execFileSync(process.execPath, [...flags, MICRO, '--n', String(count)], {
        encoding: 'utf8',
        // --jitless warns that it disables wasm; nothing else is written there.
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    );
  // Without the JIT an exit costs about ten times more: fewer keep it short.
  return { jit: run([], n), jitless: run(['--jitless'], n / 4) };
}
