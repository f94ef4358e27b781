#!/usr/bin/env node
// @ts-check
// Builds what the benchmark runs, with the system gcc, into bench/out/:
//   bench-core.hvt, bench-block.hvt, bench-net.hvt   the benchmark guest (guests/bench.c
//       with the test guests' runtime), linked with three manifests
//   baseline-tender    our minimal C hvt tender, the floor (baseline/tender.c, -O2)
//   measure            fork/exec/wait4 wrapper: start-to-exit time and peak RSS (tools/measure.c)
//   native-loop.node   bench-only N-API addon serving cheap hypercalls in C (native-loop/loop.c)
//
//   node bench/build.mjs      build what changed, print "<name> <path>"
//
// As a module: `await buildBench()` returns { name: absolute path }. Each
// output is rebuilt when a hash over its inputs and the compiler changes.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  cflagsFor,
  LDFLAGS as GUEST_LDFLAGS,
  manifestNoteAsm,
  mustRun,
  NO_SSE,
  run,
  runtimeInputs,
  validateManifest,
} from '../test/guests/build.mjs';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const OUT_DIR = join(BENCH_DIR, 'out');
// The test guests' flags and runtime (test/guests/build.mjs), x86_64, without SSE:
// hosts whose KVM emulates every guest instruction (PVM) lack most SSE instructions.
const GUEST_CFLAGS = [...cflagsFor('x86_64'), ...NO_SSE];
const HOST_CFLAGS = [
  '-O2',
  '-std=gnu11',
  '-Wall',
  '-Wextra',
  '-Werror=implicit-function-declaration',
];

/** The manifests the one guest source is linked with. */
export const GUEST_VARIANTS = ['core', 'block', 'net'];

/** @returns {Promise<string>} */
async function compilerIdentity() {
  try {
    const v = await run('gcc', ['-dumpfullversion']);
    const m = await run('gcc', ['-dumpmachine']);
    return `${v.stdout.trim()} ${m.stdout.trim()}`;
  } catch (e) {
    if (/** @type {NodeJS.ErrnoException} */ (e).code === 'ENOENT') {
      throw new Error(
        'gcc not found on PATH: the benchmark builds its guests and tenders with gcc',
      );
    }
    throw e;
  }
}

/**
 * @param {string[]} files
 * @param {string[]} extra
 */
async function hashOf(files, extra) {
  const h = createHash('sha256');
  for (const s of extra) h.update(s).update('\0');
  for (const f of files) {
    h.update(basename(f)).update('\0');
    h.update(await readFile(f)).update('\0');
  }
  return h.digest('hex');
}

/**
 * Runs `make(tmpPath)` unless `out` is up to date for `inputsHash`; the result
 * is renamed into place, then its stamp written, so a stamp always describes
 * the file beside it.
 * @param {string} out
 * @param {string} inputsHash
 * @param {(tmp: string) => Promise<void>} make
 */
async function buildIfStale(out, inputsHash, make) {
  const stamp = `${out}.hash`;
  if (existsSync(out) && (await readFile(stamp, 'utf8').catch(() => '')) === inputsHash) return;
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    await make(tmp);
    await rename(tmp, out);
    await writeFile(stamp, inputsHash);
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Node's own headers, for the addon; official builds ship them beside the binary. */
function nodeIncludeDir() {
  const dir = join(dirname(dirname(process.execPath)), 'include', 'node');
  if (!existsSync(join(dir, 'node_api.h'))) {
    throw new Error(
      `node_api.h not found under ${dir}: the native-loop experiment needs Node's headers`,
    );
  }
  return dir;
}

/**
 * @param {string} compiler
 * @param {string} self
 */
async function buildGuests(compiler, self) {
  const runtimeFiles = await runtimeInputs('x86_64');
  const runtimeSources = runtimeFiles.filter((f) => f.endsWith('.c') || f.endsWith('.S'));
  const source = join(BENCH_DIR, 'guests', 'bench.c');
  /** @type {Record<string, string>} */
  const out = {};
  for (const variant of GUEST_VARIANTS) {
    const json = join(BENCH_DIR, 'guests', `${variant}.json`);
    const elf = join(OUT_DIR, `bench-${variant}.hvt`);
    const inputs = [...runtimeFiles, source, json];
    const hash = await hashOf(inputs, [compiler, self]);
    await buildIfStale(elf, hash, async (tmp) => {
      const manifest = validateManifest(JSON.parse(await readFile(json, 'utf8')), json);
      const work = `${tmp}.d`;
      await mkdir(work, { recursive: true });
      try {
        const asm = join(work, 'manifest.S');
        await writeFile(asm, manifestNoteAsm(manifest));
        const objects = await Promise.all(
          [...runtimeSources, source, asm].map(async (src, i) => {
            const obj = join(work, `${i}-${basename(src)}.o`);
            await mustRun(
              'gcc',
              [...GUEST_CFLAGS, '-c', src, '-o', obj],
              `compiling ${basename(src)}`,
            );
            return obj;
          }),
        );
        await mustRun(
          'gcc',
          [...GUEST_CFLAGS, ...GUEST_LDFLAGS, '-o', tmp, ...objects, '-lgcc'],
          `linking bench-${variant}.hvt`,
        );
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    });
    out[`bench-${variant}`] = elf;
  }
  return out;
}

/** @type {Promise<Record<string, string>> | undefined} */
let inflight;

/** @returns {Promise<Record<string, string>>} output name to absolute path */
export function buildBench() {
  inflight ??= doBuild().finally(() => {
    inflight = undefined;
  });
  return inflight;
}

async function doBuild() {
  const compiler = await compilerIdentity();
  const self = await hashOf([fileURLToPath(import.meta.url)], []);
  await mkdir(OUT_DIR, { recursive: true });
  const out = await buildGuests(compiler, self);

  /** @type {Array<[string, string, string[]]>} name, source, extra flags */
  const hostPrograms = [
    ['baseline-tender', join(BENCH_DIR, 'baseline', 'tender.c'), []],
    ['measure', join(BENCH_DIR, 'tools', 'measure.c'), []],
  ];
  for (const [name, source, flags] of hostPrograms) {
    const bin = join(OUT_DIR, name);
    await buildIfStale(bin, await hashOf([source], [compiler, self]), (tmp) =>
      mustRun('gcc', [...HOST_CFLAGS, ...flags, source, '-o', tmp], `compiling ${name}`),
    );
    out[name] = bin;
  }

  const addonSource = join(BENCH_DIR, 'native-loop', 'loop.c');
  const addon = join(OUT_DIR, 'native-loop.node');
  const include = nodeIncludeDir();
  await buildIfStale(
    addon,
    await hashOf([addonSource, join(include, 'node_api.h')], [compiler, self]),
    (tmp) =>
      mustRun(
        'gcc',
        [...HOST_CFLAGS, '-shared', '-fPIC', '-I', include, addonSource, '-o', tmp],
        'compiling native-loop.node',
      ),
  );
  out['native-loop'] = addon;
  return out;
}

const invokedAs = process.argv[1];
if (invokedAs !== undefined && import.meta.url === pathToFileURL(invokedAs).href) {
  try {
    for (const [name, path] of Object.entries(await buildBench())) console.log(`${name} ${path}`);
  } catch (e) {
    console.error(/** @type {Error} */ (e).message);
    process.exit(1);
  }
}
