#!/usr/bin/env node
// Builds the project's own hvt test guests (freestanding C) with the system gcc.
//
//   node test/guests/build.mjs      build what changed, print "<name> <path>" per guest
//
// As a module: `await buildGuests()` returns { name: absolute ELF path }.
// Every guest is test/guests/<name>.c; <name>.json beside it (solo5-elftool's
// manifest format) declares its devices. Output goes to test/guests/out/.
// A guest is rebuilt when a hash over its inputs (runtime sources, its own
// source and manifest, this script, the compiler version) changes. Outputs are
// written under temporary names and renamed into place, so concurrent builders
// never see half-written files.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const GUESTS_DIR = dirname(fileURLToPath(import.meta.url));
export const OUT_DIR = join(GUESTS_DIR, 'out');
const RUNTIME_DIR = join(GUESTS_DIR, 'runtime');
const LINKER_SCRIPT = join(RUNTIME_DIR, 'guest.lds');

const CFLAGS = [
  '-std=gnu11',
  '-ffreestanding',
  '-nostdlib',
  '-fno-pie',
  '-no-pie',
  '-static',
  '-mno-red-zone',
  '-fno-stack-protector',
  '-fno-stack-clash-protection',
  '-fcf-protection=none',
  '-fno-asynchronous-unwind-tables',
  '-fno-unwind-tables',
  '-ffunction-sections',
  '-fdata-sections',
  '-O2',
  '-g',
  '-Wall',
  '-Wextra',
  // Debug info then names paths relative to this directory, not the checkout.
  `-ffile-prefix-map=${GUESTS_DIR}=guests`,
  '-I',
  RUNTIME_DIR,
];

// Code is built without SSE except in the guests that test floating point:
// some hosts' KVM (e.g. PVM) runs every instruction of a guest like ours in
// KVM's instruction emulator, which lacks most SSE instructions, and the
// other guests should run there too.
const NO_SSE = ['-mgeneral-regs-only'];
export const FLOATING_POINT_GUESTS = ['fpu'];

const LDFLAGS = [
  `-Wl,-T,${LINKER_SCRIPT}`,
  '-Wl,--build-id=none',
  '-Wl,--gc-sections',
  '-Wl,-z,norelro',
  '-z',
  'noexecstack',
  '-z',
  'max-page-size=0x1000',
];

// --- manifest: solo5-elftool's JSON input to the MFT1 note -----------------

const MFT_NAME_MAX = 67;
const MFT_MAX_DEVICES = 63;
const MFT_ENTRY_SIZE = 104;
export const DEVICE_TYPES = { BLOCK_BASIC: 1, NET_BASIC: 2 };
export const MFT_RESERVED_FIRST = 0x40000000;

/**
 * @typedef {{ name: string, type: 'BLOCK_BASIC' | 'NET_BASIC' }} ManifestDevice
 * @typedef {{ type: 'solo5.manifest', version: 1, devices: ManifestDevice[] }} Manifest
 */

/**
 * Checks a manifest as solo5-elftool does (exact keys and types, names of
 * 1..67 alphanumerics, at most 63 devices), plus unique names, which device
 * lookup by name needs.
 * @param {unknown} json
 * @param {string} source where the manifest came from, for messages
 * @returns {Manifest}
 */
export function validateManifest(json, source) {
  const fail = (/** @type {string} */ msg) => {
    throw new Error(`${source}: invalid manifest: ${msg}`);
  };
  const isObject = (/** @type {unknown} */ v) =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  const exactKeys = (/** @type {object} */ obj, /** @type {string[]} */ keys, where) => {
    for (const k of Object.keys(obj)) {
      if (!keys.includes(k)) fail(`${where}: unknown key "${k}"`);
    }
    for (const k of keys) {
      if (!(k in obj)) fail(`${where}: missing key "${k}"`);
    }
  };
  if (!isObject(json)) fail('root: expected an object');
  const root = /** @type {Record<string, unknown>} */ (json);
  exactKeys(root, ['type', 'version', 'devices'], 'root');
  if (root['type'] !== 'solo5.manifest') fail('.type: expected "solo5.manifest"');
  if (root['version'] !== 1) fail('.version: expected 1');
  const devices = root['devices'];
  if (!Array.isArray(devices)) fail('.devices: expected an array');
  const list = /** @type {unknown[]} */ (devices);
  if (list.length > MFT_MAX_DEVICES) {
    fail(`.devices[]: too many entries (${list.length}), maximum ${MFT_MAX_DEVICES}`);
  }
  const seen = new Set();
  const out = list.map((d, i) => {
    const where = `.devices[${i}]`;
    if (!isObject(d)) fail(`${where}: expected an object`);
    const dev = /** @type {Record<string, unknown>} */ (d);
    exactKeys(dev, ['name', 'type'], where);
    const { name, type } = dev;
    if (typeof name !== 'string') fail(`${where}.name: expected a string`);
    const n = /** @type {string} */ (name);
    if (n.length < 1 || n.length > MFT_NAME_MAX) {
      fail(`${where}.name: length must be 1..${MFT_NAME_MAX}, got ${n.length}`);
    }
    if (!/^[A-Za-z0-9]+$/.test(n)) fail(`${where}.name: "${n}" is not alphanumeric`);
    if (seen.has(n)) fail(`${where}.name: duplicate name "${n}"`);
    seen.add(n);
    if (type !== 'BLOCK_BASIC' && type !== 'NET_BASIC') {
      fail(`${where}.type: expected "BLOCK_BASIC" or "NET_BASIC", got ${JSON.stringify(type)}`);
    }
    return /** @type {ManifestDevice} */ ({ name: n, type });
  });
  return { type: 'solo5.manifest', version: 1, devices: out };
}

/**
 * Assembler source for the MFT1 note (docs/guest-abi.md 4.3, 4.4): the note header,
 * 4 bytes of padding (counted in n_descsz), struct mft and one 104-byte entry
 * per device after the reserved entry 0. The section is 4-aligned so that
 * readelf parses it as the 4-byte note format the padding assumes.
 * @param {Manifest} manifest
 * @returns {string}
 */
export function manifestNoteAsm(manifest) {
  const entries = manifest.devices.length + 1;
  const descsz = 4 + 8 + MFT_ENTRY_SIZE * entries;
  const lines = [
    '\t.section .note.solo5.manifest, "", @note',
    '\t.balign 4',
    '\t.long 6',
    `\t.long ${descsz}`,
    '\t.long 0x3154464d',
    '\t.asciz "Solo5"',
    '\t.balign 4',
    '\t.long 0',
    '\t.long 1',
    `\t.long ${entries}`,
  ];
  const entry = (/** @type {string} */ name, /** @type {number} */ type) => {
    if (name.length > 0) lines.push(`\t.ascii "${name}"`);
    lines.push(
      `\t.fill ${68 - name.length}, 1, 0`,
      `\t.long 0x${type.toString(16)}`,
      '\t.fill 32, 1, 0', // device properties, backing, attached, padding
    );
  };
  entry('', MFT_RESERVED_FIRST);
  for (const d of manifest.devices) entry(d.name, DEVICE_TYPES[d.type]);
  lines.push('\t.section .note.GNU-stack, "", @progbits', '');
  return lines.join('\n');
}

// --- build ---------------------------------------------------------------

/**
 * Runs `cmd` to its end with its output collected (also for bench/build.mjs).
 * @param {string} cmd
 * @param {string[]} args
 * @returns {Promise<{ code: number, stdout: string, stderr: string }>}
 */
export function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** @returns {Promise<string>} the compiler's identity, part of every hash */
async function checkCompiler() {
  let version;
  try {
    version = await run('gcc', ['-dumpfullversion']);
  } catch (e) {
    const err = /** @type {NodeJS.ErrnoException} */ (e);
    if (err.code === 'ENOENT') {
      throw new Error(
        'gcc not found on PATH: the hvt test guests are freestanding C built with the system ' +
          'gcc for x86_64 (install gcc, e.g. the build-essential package)',
      );
    }
    throw e;
  }
  const machine = await run('gcc', ['-dumpmachine']);
  const target = machine.stdout.trim();
  if (!target.startsWith('x86_64')) {
    throw new Error(`gcc targets ${target}; the hvt test guests need an x86_64 gcc`);
  }
  return `${version.stdout.trim()} ${target}`;
}

/**
 * Runs `cmd`; a non-zero exit throws with its stderr, warnings are passed on.
 * @param {string} cmd
 * @param {string[]} args
 * @param {string} what
 */
export async function mustRun(cmd, args, what) {
  const r = await run(cmd, args);
  if (r.code !== 0) {
    throw new Error(`${what} failed (exit ${r.code}):\n${cmd} ${args.join(' ')}\n${r.stderr}`);
  }
  // Warnings would otherwise vanish with a successful build.
  if (r.stderr !== '') process.stderr.write(`${what}:\n${r.stderr}`);
}

/**
 * Runs jobs at most `limit` at a time.
 * @template T
 * @param {Array<() => Promise<T>>} jobs
 * @param {number} limit
 * @returns {Promise<T[]>}
 */
async function pool(jobs, limit) {
  /** @type {T[]} */
  const results = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await /** @type {() => Promise<T>} */ (jobs[i])();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return results;
}

/** @param {string} path */
async function exists(path) {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

const tmpSuffix = () => `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;

/**
 * Writes a file atomically (temporary name, then rename).
 * @param {string} path
 * @param {string} text
 */
async function writeAtomic(path, text) {
  const tmp = path + tmpSuffix();
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/**
 * Compiles the runtime once per runtime hash into out/runtime-<hash>/.
 * @param {string} hash
 * @param {string[]} sources
 * @param {number} jobs
 * @returns {Promise<string[]>} object files
 */
async function buildRuntime(hash, sources, jobs) {
  const dir = join(OUT_DIR, `runtime-${hash}`);
  const objects = sources.map((s) => join(dir, `${basename(s)}.o`));
  if (await exists(join(dir, '.complete'))) return objects;

  const tmp = dir + tmpSuffix();
  await mkdir(tmp, { recursive: true });
  try {
    await pool(
      sources.map((src) => async () => {
        const obj = join(tmp, `${basename(src)}.o`);
        await mustRun(
          'gcc',
          [...CFLAGS, ...NO_SSE, '-c', src, '-o', obj],
          `compiling ${basename(src)}`,
        );
      }),
      jobs,
    );
    await writeFile(join(tmp, '.complete'), '');
    try {
      await rename(tmp, dir);
    } catch (e) {
      // Another builder got there first with identical inputs: use theirs.
      const code = /** @type {NodeJS.ErrnoException} */ (e).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  // Runtimes of older sources are dead weight; one in use elsewhere has the same hash.
  for (const entry of await readdir(OUT_DIR)) {
    if (entry.startsWith('runtime-') && entry !== `runtime-${hash}` && !entry.includes('.tmp-')) {
      await rm(join(OUT_DIR, entry), { recursive: true, force: true });
    }
  }
  return objects;
}

/**
 * @param {string} name
 * @param {string} inputsHash
 * @param {string[]} runtimeObjects
 * @param {Manifest} manifest
 * @returns {Promise<string>} the ELF path
 */
async function buildGuest(name, inputsHash, runtimeObjects, manifest) {
  const elf = join(OUT_DIR, `${name}.hvt`);
  const stamp = join(OUT_DIR, `${name}.hash`);
  if ((await exists(elf)) && (await readFile(stamp, 'utf8').catch(() => '')) === inputsHash) {
    return elf;
  }
  const suffix = tmpSuffix();
  const asm = join(OUT_DIR, `${name}.manifest${suffix}.S`);
  const guestObj = join(OUT_DIR, `${name}${suffix}.o`);
  const mftObj = join(OUT_DIR, `${name}.manifest${suffix}.o`);
  const tmpElf = elf + suffix;
  try {
    await writeFile(asm, manifestNoteAsm(manifest));
    const fp = FLOATING_POINT_GUESTS.includes(name) ? [] : NO_SSE;
    await mustRun(
      'gcc',
      [...CFLAGS, ...fp, '-c', join(GUESTS_DIR, `${name}.c`), '-o', guestObj],
      `compiling ${name}.c`,
    );
    await mustRun('gcc', [...CFLAGS, '-c', asm, '-o', mftObj], `assembling ${name}'s manifest`);
    await mustRun(
      'gcc',
      [...CFLAGS, ...LDFLAGS, '-o', tmpElf, ...runtimeObjects, guestObj, mftObj, '-lgcc'],
      `linking ${name}.hvt`,
    );
    await rename(tmpElf, elf);
    // The stamp follows the ELF, so a matching stamp always describes the file beside it.
    await writeAtomic(stamp, inputsHash);
  } finally {
    await Promise.all([asm, guestObj, mftObj, tmpElf].map((f) => rm(f, { force: true })));
  }
  return elf;
}

/**
 * @param {string[]} paths
 * @returns {Promise<string>}
 */
async function hashFiles(paths) {
  const h = createHash('sha256');
  for (const p of paths) {
    h.update(basename(p));
    h.update('\0');
    h.update(await readFile(p));
    h.update('\0');
  }
  return h.digest('hex');
}

/**
 * Lists the guests: every <name>.c directly in test/guests/.
 * @returns {Promise<string[]>}
 */
export async function listGuests() {
  const files = await readdir(GUESTS_DIR);
  return files
    .filter((f) => f.endsWith('.c'))
    .map((f) => f.slice(0, -2))
    .sort();
}

/**
 * Reads and validates <name>.json; a guest without one declares no devices.
 * @param {string} name
 * @returns {Promise<Manifest>}
 */
export async function readManifest(name) {
  const file = join(GUESTS_DIR, `${name}.json`);
  let text;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (/** @type {NodeJS.ErrnoException} */ (e).code === 'ENOENT') {
      return { type: 'solo5.manifest', version: 1, devices: [] };
    }
    throw e;
  }
  let json;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: invalid JSON: ${/** @type {Error} */ (e).message}`);
  }
  return validateManifest(json, file);
}

/** @type {Promise<Record<string, string>> | undefined} */
let inflight;

/**
 * Builds every guest that is out of date.
 * @returns {Promise<Record<string, string>>} guest name to absolute ELF path
 */
export function buildGuests() {
  // One build per process at a time; later callers share the running one.
  if (inflight === undefined) {
    inflight = doBuild().finally(() => {
      inflight = undefined;
    });
  }
  return inflight;
}

async function doBuild() {
  const compiler = await checkCompiler();
  await mkdir(OUT_DIR, { recursive: true });
  const jobs = Math.max(1, Math.min(4, availableParallelism()));

  const runtimeSources = (await readdir(RUNTIME_DIR))
    .filter((f) => f.endsWith('.c') || f.endsWith('.S'))
    .sort()
    .map((f) => join(RUNTIME_DIR, f));
  const runtimeInputs = (await readdir(RUNTIME_DIR)).sort().map((f) => join(RUNTIME_DIR, f));
  const selfHash = await hashFiles([fileURLToPath(import.meta.url)]);
  const runtimeHash = createHash('sha256')
    .update(compiler)
    .update(selfHash)
    .update(await hashFiles(runtimeInputs))
    .digest('hex')
    .slice(0, 16);
  const runtimeObjects = await buildRuntime(runtimeHash, runtimeSources, jobs);

  const names = await listGuests();
  const manifests = await Promise.all(names.map((n) => readManifest(n)));
  const paths = await pool(
    names.map((name, i) => async () => {
      const inputs = [join(GUESTS_DIR, `${name}.c`)];
      const json = join(GUESTS_DIR, `${name}.json`);
      if (await exists(json)) inputs.push(json);
      const hash = createHash('sha256')
        .update(runtimeHash)
        .update(await hashFiles(inputs))
        .digest('hex');
      return buildGuest(name, hash, runtimeObjects, /** @type {Manifest} */ (manifests[i]));
    }),
    jobs,
  );
  /** @type {Record<string, string>} */
  const result = {};
  names.forEach((n, i) => {
    result[n] = /** @type {string} */ (paths[i]);
  });
  return result;
}

const invokedAs = process.argv[1];
if (invokedAs !== undefined && import.meta.url === pathToFileURL(invokedAs).href) {
  try {
    const guests = await buildGuests();
    for (const [name, path] of Object.entries(guests)) console.log(`${name} ${path}`);
  } catch (e) {
    console.error(/** @type {Error} */ (e).message);
    process.exit(1);
  }
}
