// @ts-check
// The start-up breakdown: Node alone (`node -e 0`), Node loading what a run
// of hvt.js loads (the bundled CLI, core and the platform package with its
// addon) and exiting, and the tender's own work up to a guest's exit (hello).
// "Loading" is the real bin given a kernel that does not exist: the CLI loads
// the platform before it opens the kernel, so the run loads everything, does
// no VM work, and ends with the reference's "Could not open" message. The same
// with the unbundled modules (tsc's output) shows what the bundle saves.
//
// Loading needs no KVM, so it is measured on the host too, before the nested
// VM boots (bench/bench.mjs); the file travels into the VM's report.

import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarize } from './stats.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The published solo5-hvt: one bundled file and the chunks it loads. */
export const CLI = join(ROOT, 'packages', 'cli', 'dist', 'solo5-hvt.js');
/** The same CLI unbundled: tsc's output, one module per source file, packages by name. */
export const CLI_UNBUNDLED = join(ROOT, 'packages', 'cli', 'dist', 'lib', 'solo5-hvt.js');
const MISSING_KERNEL = '/nonexistent/hvtjs-bench-startup.hvt';

/**
 * Goals of the issue, each a share of `node -e 0`: loading beyond Node's own
 * start-up, on the host and in the nested VM; and hello beyond Node plus the
 * C tender's hello (the tender's work over C's), in the VM. And the
 * self-contained executable's hello beyond `node -e 0` plus C's hello, as a
 * share of that sum (exe).
 */
export const STARTUP_GOALS = { loadHost: 0.15, loadVm: 0.25, helloVm: 0.25, exe: 0.1 };

/** @param {string} cli */
export const loadArgv = (cli) => [process.execPath, cli, MISSING_KERNEL];

/**
 * Whether a loading run ended as it must: status 1 with the message for the
 * missing kernel, which comes after the platform and its addon were loaded.
 * @param {number | null} status
 * @param {string} stderr
 */
export const loadedAsExpected = (status, stderr) =>
  status === 1 && stderr.includes(`${MISSING_KERNEL}: Could not open`);

/**
 * Host figures, interleaved runs timed by bench/tools/measure.c (fork to
 * reaped exit): `node -e 0`, loading bundled and unbundled.
 * @param {string} measure the measure binary
 * @param {number} runs
 */
export function measureHostStartup(measure, runs) {
  const subjects = [
    { id: 'node', argv: [process.execPath, '-e', '0'], load: false },
    { id: 'load', argv: loadArgv(CLI), load: true },
    { id: 'loadUnbundled', argv: loadArgv(CLI_UNBUNDLED), load: true },
  ];
  /** @type {Record<string, number[]>} */
  const ms = {};
  // One untimed round first: the page cache, as for every later run.
  for (let r = -1; r < runs; r++) {
    for (const s of subjects) {
      const res = spawnSync(measure, s.argv, {
        encoding: 'utf8',
        stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      });
      const report = String(res.output[3] ?? '');
      const status = Number(/^status (\d+)$/m.exec(report)?.[1] ?? Number.NaN);
      const ok = s.load ? loadedAsExpected(status, res.stderr) : status === 0;
      if (!ok)
        throw new Error(
          `start-up on the host: ${s.argv.join(' ')}: status ${status}\n${res.stderr}`,
        );
      if (r < 0) continue;
      const wallNs = Number(/^wall_ns (\d+)$/m.exec(report)?.[1]);
      const list = ms[s.id] ?? [];
      list.push(wallNs / 1e6);
      ms[s.id] = list;
    }
  }
  return {
    runs,
    nodeMs: summarize(ms['node'] ?? []),
    loadMs: summarize(ms['load'] ?? []),
    loadUnbundledMs: summarize(ms['loadUnbundled'] ?? []),
  };
}
