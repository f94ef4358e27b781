#!/usr/bin/env node
// Builds the project's own hvt test guests (freestanding C) with the system gcc,
// or for aarch64 with Debian's aarch64-linux-gnu-gcc cross compiler.
//
//   node test/guests/build.mjs [x86_64|aarch64]   build what changed, print "<name> <path>"
//
// As a module: `await buildGuests()` (x86_64) or `await buildGuests('aarch64')`
// returns { name: absolute ELF path }. Every guest is test/guests/<name>.c;
// <name>.json beside it (solo5-elftool's manifest format) declares its devices.
// The runtime is runtime/*.{c,S} plus runtime/<arch>/*.{c,S}. Output goes to
// test/guests/out/ (x86_64) and test/guests/out/aarch64/.
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

/**
 * What differs per architecture: the compiler, its flags, where the output
 * goes, and the guests that exercise one architecture's instructions only.
 * @typedef {'x86_64' | 'aarch64'} GuestArch
 */
export const ARCHES = {
  x86_64: {
    cc: 'gcc',
    install: 'gcc (e.g. the build-essential package)',
    cflags: ['-mno-red-zone', '-fcf-protection=none'],
    outDir: OUT_DIR,
    /** @type {Record<string, string>} guest name to why it is not built */
    skip: {},
  },
  aarch64: {
    cc: 'aarch64-linux-gnu-gcc',
    install: 'gcc-aarch64-linux-gnu',
    // No calls to libgcc's LSE helpers, which need the C library; plain loops
    // in the mem* routines stay loops (runtime/aarch64/cpu.c).
    cflags: ['-mno-outline-atomics', '-fno-tree-loop-distribute-patterns'],
    outDir: join(OUT_DIR, 'aarch64'),
    skip: {
      fpu: 'x87 and SSE instructions',
      hlt: 'HLT; aarch64 has no HLT exit',
      tls: 'the IA32_FS_BASE MSR and %fs addressing',
      gdb: 'x86 breakpoints, debug registers and PAUSE; gdb is x86_64 only',
    },
  },
};
const RUNTIME_DIR = join(GUESTS_DIR, 'runtime');
const LINKER_SCRIPT = join(RUNTIME_DIR, 'guest.lds');

const CFLAGS = [
  '-std=gnu11',
  '-ffreestanding',
  '-nostdlib',
  '-fno-pie',
  '-no-pie',
  '-static',
  '-fno-stack-protector',
  '-fno-stack-clash-protection',
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

/**
 * @param {GuestArch} arch
 * @returns {string[]}
 */
export const cflagsFor = (arch) => [
  ...CFLAGS,
  ...ARCHES[arch].cflags,
  '-I',
  join(RUNTIME_DIR, arch),
];

// Code is built without SSE except in the guests that test floating point:
// some hosts' KVM (e.g. PVM) runs every instruction of a guest like ours in
// KVM's instruction emulator, which lacks most SSE instructions, and the
// other guests should run there too.
export const NO_SSE = ['-mgeneral-regs-only'];
export const FLOATING_POINT_GUESTS = ['fpu'];

export const LDFLAGS = [
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

/**
 * @param {GuestArch} arch
 * @returns {Promise<string>} the compiler's identity, part of every hash
 */
async function checkCompiler(arch) {
  const { cc, install } = ARCHES[arch];
  let version;
  try {
    version = await run(cc, ['-dumpfullversion']);
  } catch (e) {
    const err = /** @type {NodeJS.ErrnoException} */ (e);
    if (err.code === 'ENOENT') {
      throw new Error(
        `${cc} not found on PATH: the hvt test guests for ${arch} are freestanding C built ` +
          `with it (install ${install})`,
      );
    }
    throw e;
  }
  const machine = await run(cc, ['-dumpmachine']);
  const target = machine.stdout.trim();
  if (!target.startsWith(arch)) {
    throw new Error(`${cc} targets ${target}; the hvt test guests for ${arch} need a ${arch} gcc`);
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
 * Compiles the runtime once per runtime hash into <out>/runtime-<hash>/.
 * @param {GuestArch} arch
 * @param {string} hash
 * @param {string[]} sources
 * @param {number} jobs
 * @returns {Promise<string[]>} object files
 */
async function buildRuntime(arch, hash, sources, jobs) {
  const { cc, outDir } = ARCHES[arch];
  const dir = join(outDir, `runtime-${hash}`);
  const objects = sources.map((s) => join(dir, `${basename(s)}.o`));
  if (await exists(join(dir, '.complete'))) return objects;

  const tmp = dir + tmpSuffix();
  await mkdir(tmp, { recursive: true });
  try {
    await pool(
      sources.map((src) => async () => {
        const obj = join(tmp, `${basename(src)}.o`);
        await mustRun(
          cc,
          [...cflagsFor(arch), ...NO_SSE, '-c', src, '-o', obj],
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
  for (const entry of await readdir(outDir)) {
    if (entry.startsWith('runtime-') && entry !== `runtime-${hash}` && !entry.includes('.tmp-')) {
      await rm(join(outDir, entry), { recursive: true, force: true });
    }
  }
  return objects;
}

/**
 * @param {GuestArch} arch
 * @param {string} name
 * @param {string} inputsHash
 * @param {string[]} runtimeObjects
 * @param {Manifest} manifest
 * @returns {Promise<string>} the ELF path
 */
async function buildGuest(arch, name, inputsHash, runtimeObjects, manifest) {
  const { cc, outDir } = ARCHES[arch];
  const cflags = cflagsFor(arch);
  const elf = join(outDir, `${name}.hvt`);
  const stamp = join(outDir, `${name}.hash`);
  if ((await exists(elf)) && (await readFile(stamp, 'utf8').catch(() => '')) === inputsHash) {
    return elf;
  }
  const suffix = tmpSuffix();
  const asm = join(outDir, `${name}.manifest${suffix}.S`);
  const guestObj = join(outDir, `${name}${suffix}.o`);
  const mftObj = join(outDir, `${name}.manifest${suffix}.o`);
  const tmpElf = elf + suffix;
  try {
    await writeFile(asm, manifestNoteAsm(manifest));
    const fp = FLOATING_POINT_GUESTS.includes(name) ? [] : NO_SSE;
    await mustRun(
      cc,
      [...cflags, ...fp, '-c', join(GUESTS_DIR, `${name}.c`), '-o', guestObj],
      `compiling ${name}.c`,
    );
    await mustRun(cc, [...cflags, '-c', asm, '-o', mftObj], `assembling ${name}'s manifest`);
    await mustRun(
      cc,
      [...cflags, ...LDFLAGS, '-o', tmpElf, ...runtimeObjects, guestObj, mftObj, '-lgcc'],
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

/** @type {Map<GuestArch, Promise<Record<string, string>>>} */
const inflight = new Map();

/**
 * Builds every guest of `arch` that is out of date.
 * @param {GuestArch} [arch]
 * @returns {Promise<Record<string, string>>} guest name to absolute ELF path
 */
export function buildGuests(arch = 'x86_64') {
  if (!Object.hasOwn(ARCHES, arch)) throw new Error(`unknown guest architecture ${arch}`);
  // One build per process and architecture at a time; later callers share it.
  let build = inflight.get(arch);
  if (build === undefined) {
    build = doBuild(arch).finally(() => {
      inflight.delete(arch);
    });
    inflight.set(arch, build);
  }
  return build;
}

/**
 * The files of a runtime folder (not its subfolders), sorted.
 * @param {string} dir
 */
async function filesIn(dir) {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(dir, e.name))
    .sort();
}

/**
 * The runtime's files for `arch`: runtime/* and runtime/<arch>/*, headers and
 * linker script included (the inputs of its hash); its sources are the .c and .S.
 * @param {GuestArch} arch
 */
export async function runtimeInputs(arch) {
  return [...(await filesIn(RUNTIME_DIR)), ...(await filesIn(join(RUNTIME_DIR, arch)))];
}

/** @param {GuestArch} arch */
async function doBuild(arch) {
  const compiler = await checkCompiler(arch);
  const { outDir, skip } = ARCHES[arch];
  await mkdir(outDir, { recursive: true });
  const jobs = Math.max(1, Math.min(4, availableParallelism()));

  const rtInputs = await runtimeInputs(arch);
  const runtimeSources = rtInputs.filter((f) => f.endsWith('.c') || f.endsWith('.S'));
  const selfHash = await hashFiles([fileURLToPath(import.meta.url)]);
  const runtimeHash = createHash('sha256')
    .update(compiler)
    .update(selfHash)
    .update(await hashFiles(rtInputs))
    .digest('hex')
    .slice(0, 16);
  const runtimeObjects = await buildRuntime(arch, runtimeHash, runtimeSources, jobs);

  const names = (await listGuests()).filter((n) => !Object.hasOwn(skip, n));
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
      return buildGuest(arch, name, hash, runtimeObjects, /** @type {Manifest} */ (manifests[i]));
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
    const guests = await buildGuests(/** @type {GuestArch} */ (process.argv[2] ?? 'x86_64'));
    for (const [name, path] of Object.entries(guests)) console.log(`${name} ${path}`);
  } catch (e) {
    console.error(/** @type {Error} */ (e).message);
    process.exit(1);
  }
}
