#!/usr/bin/env node
// @ts-check
// What one hypercall exit costs in user space, without KVM: hvt.js's own run
// loop (core's runLoop, Hypercalls and WALLTIME handler, the platform's clock)
// driven by a native stand-in for vm.run() that reports an OUT without any
// system call, against the same exit served in C the baseline tender's way.
// The kernel's share of an exit (KVM_RUN, the world switch) is the same for
// both tenders and is left out, so this runs at the CPU's own speed anywhere:
// on a host without KVM, or beside the nested VM whose emulated times would
// distort it.
//
//   node [--jitless] bench/micro/exit-cost.mjs [--n N] [--reps R]
//
// Prints one JSON object, each figure the median of R repetitions of N calls
// after a warm-up: ns per exit for the JavaScript loop (jsNsPerExit) and the
// C loop (cNsPerExit), and where the JavaScript time goes: the vm.run()
// crossing alone (crossingNs), the run loop and dispatch with a handler that
// does nothing (dispatchNoopNs), one reading of a bigint clock (clockNs), and
// the whole exit with the bigint clock the tender used before its
// allocation-free one (jsBigintClockNsPerExit); and a BLOCK_READ exit of 512 B
// and of 64 KiB from the page cache, through core's block module with the
// platform's guest I/O (one addon call) and the C way (js/cBlockRead512Ns,
// js/cBlockRead64kNs), and through Node's fs as before (jsFsBlockRead512Ns,
// jsFsBlockRead64kNs). And the same exits served by the native fast path the
// tender arms on Linux (docs/architecture.md 3.2): the plan core's modules
// give, and the serve() that the vCPU's run loop calls for each exit, called
// n times in one addon call (fastNsPerExit, fastBlockRead512Ns,
// fastBlockRead64kNs): what an exit costs in user space when it never
// reaches JavaScript.

import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const importDist = (/** @type {string} */ pkg, entry = 'index.js') =>
  import(pathToFileURL(join(root, 'packages', pkg, 'dist', entry)).href);
const core = await importDist('core', 'entry/tender.js');
const { readKernelFile, readManifestNote } = await importDist('core', 'entry/kernel.js');
const { nodeGuestIo } = await importDist('core', 'entry/platform.js');
const kvm = await importDist('linux-kvm');
/** @type {{ fakeAttach(exit: Float64Array, port: number, gpa: number, n: number, haltGpa: number): void, fakeRun(): number, cWalltimeLoop(n: number): number, cBlockReadLoop(n: number, fd: number, len: number): number, guestMemory(size: number): ArrayBuffer }} */
const addon = createRequire(import.meta.url)(join(root, 'bench', 'out', 'native-loop.node'));

const { values } = parseArgs({
  options: { n: { type: 'string', default: '200000' }, reps: { type: 'string', default: '7' } },
});
const n = Number(values.n);
const reps = Number(values.reps);

const WALLTIME_GPA = 0x1000;
const HALT_GPA = 0x2000;
// Guest RAM as the tender maps it (shared anonymous memory, with the
// platform's guest I/O), for the JavaScript loops; the C loops have their own.
const ram = kvm.mapGuestRam(1 << 20);
addon.guestMemory(1 << 20);
const { memory } = ram;
const guest = { memory, size: memory.size, io: ram.io };
const hypercalls = new core.Hypercalls(guest);
// Only what the core module's setup touches: the guest, the clock, registration.
const setupContext = {
  guest,
  platform: kvm.linuxKvmPlatform,
  registerHypercall: (
    /** @type {number} */ nr,
    /** @type {(gpa: number) => void} */ handler,
    /** @type {import('../../packages/core/dist/entry/tender.js').FastPathCall | undefined} */ fast,
  ) => hypercalls.register(nr, handler, fast),
};
core.createCoreModule(new core.WaitSet()).setup(setupContext);
// The fast path over the same RAM with the core module's plan.
const fast = ram.fastPath(hypercalls.fastPathPlan());
const exit = new Float64Array(8);
const vm = { exit, memory, run: () => addon.fakeRun() };

// WALLTIME as core served it before its allocation-free clock: a BigInt per exit.
const bigintClockCalls = new core.Hypercalls(guest);
bigintClockCalls.register(
  core.Hypercall.WALLTIME,
  core.walltimeHypercall(
    guest,
    core.bigintClock(() => kvm.walltimeNs()),
  ),
);

// The same exit with a handler that does nothing: what dispatch alone costs.
const noopCalls = new core.Hypercalls(guest);
noopCalls.register(core.Hypercall.WALLTIME, () => {});

/**
 * ns per exit of core's runLoop serving `count` WALLTIME exits, then a HALT.
 * @param {import('../../packages/core/dist/entry/tender.js').Hypercalls} table
 * @param {number} count
 */
function runLoopNs(table, count) {
  addon.fakeAttach(
    exit,
    core.HVT_PIO_BASE + core.Hypercall.WALLTIME,
    WALLTIME_GPA,
    count,
    HALT_GPA,
  );
  const t0 = process.hrtime.bigint();
  const status = core.runLoop(vm, table, 'KVM');
  const ns = Number(process.hrtime.bigint() - t0);
  if (status !== 0) throw new Error('run loop failed');
  return ns / (count + 1);
}

/**
 * ns per exit of the bare crossing: vm.run() and reading the exit, no dispatch.
 * @param {number} count
 */
function crossingNs(count) {
  addon.fakeAttach(exit, 0x501, WALLTIME_GPA, count, HALT_GPA);
  let sum = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    if (vm.run() === 1) sum += exit[1] ?? 0;
  }
  const ns = Number(process.hrtime.bigint() - t0);
  if (sum === 0) throw new Error('no exits');
  return ns / count;
}

/**
 * ns per call of the platform clock WALLTIME uses (a BigInt from the addon).
 * @param {number} count
 */
function clockNs(count) {
  let last = 0n;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) last = kvm.walltimeNs();
  const ns = Number(process.hrtime.bigint() - t0);
  if (last === 0n) throw new Error('clock');
  return ns / count;
}

// BLOCK_READ as core's block module serves it, on an 8 MiB file of the kind
// the KVM benchmark uses (page cache hits: the offset is always 0).
const BLOCK_GPA = 0x3000;
const BLOCK_DATA_GPA = 0x10000;
const scratch = mkdtempSync(join(os.tmpdir(), 'hvtjs-micro-'));
const diskPath = join(scratch, 'disk.img');
const diskFd = openSync(diskPath, 'w+');
writeSync(
  diskFd,
  new Uint8Array(8 << 20).map((_, i) => i * 7),
);
const blockElf = join(root, 'bench', 'out', 'bench-block.hvt');
const manifest = readManifestNote(readKernelFile(blockElf), blockElf);
const warn = (/** @type {string} */ text) => {
  throw new Error(text);
};
/** The block module's BLOCK_READ on `ram`'s I/O: the platform's, or Node's fs. */
function blockTable(/** @type {typeof guest} */ ram) {
  const block = new core.BlockModule();
  const context = { manifest, platform: kvm.linuxKvmPlatform, warn };
  if (!block.handleOption(`--block:storage=${diskPath}`, context)) {
    throw new Error('block option refused');
  }
  const table = new core.Hypercalls(ram);
  block.setup({
    manifest,
    guest: ram,
    warn,
    registerHypercall: (
      /** @type {number} */ nr,
      /** @type {(gpa: number) => void} */ handler,
      /** @type {import('../../packages/core/dist/entry/tender.js').FastPathCall | undefined} */ fast,
    ) => table.register(nr, handler, fast),
  });
  return table;
}
const blockCalls = blockTable(guest);
const blockFast = ram.fastPath(blockCalls.fastPathPlan());
const fsBlockCalls = blockTable({ memory, size: memory.size, io: nodeGuestIo(memory) });
const storage = manifest.entries.find((/** @type {{ name: string }} */ e) => e.name === 'storage');

/**
 * ns per BLOCK_READ exit of `len` bytes through core's runLoop and `table`.
 * @param {number} count
 * @param {number} len
 * @param {import('../../packages/core/dist/entry/tender.js').Hypercalls} [table]
 */
function blockReadNs(count, len, table = blockCalls) {
  blockReadStruct(len);
  addon.fakeAttach(exit, core.HVT_PIO_BASE + core.Hypercall.BLOCK_READ, BLOCK_GPA, count, HALT_GPA);
  const t0 = process.hrtime.bigint();
  const status = core.runLoop(vm, table, 'KVM');
  const ns = Number(process.hrtime.bigint() - t0);
  if (status !== 0 || memory.readI32(BLOCK_GPA + 32) !== 0) throw new Error('block read failed');
  return ns / (count + 1);
}

/**
 * ns per exit of the native fast path serving `count` exits of hypercall `nr`
 * (struct at `gpa`) in one addon call.
 * @param {{ serve(nr: number, gpa: number, times?: number): boolean }} path
 * @param {number} nr
 * @param {number} gpa
 * @param {number} count
 */
function fastNs(path, nr, gpa, count) {
  const t0 = process.hrtime.bigint();
  const served = path.serve(nr, gpa, count);
  const ns = Number(process.hrtime.bigint() - t0);
  if (!served) throw new Error(`fast path did not serve hypercall ${nr}`);
  return ns / count;
}

/**
 * A BLOCK_READ struct of `len` bytes at offset 0, as blockReadNs sets it up.
 * @param {number} len
 */
function blockReadStruct(len) {
  memory.writeU64(BLOCK_GPA, storage.index);
  memory.writeU64(BLOCK_GPA + 8, 0);
  memory.writeU64(BLOCK_GPA + 16, BLOCK_DATA_GPA);
  memory.writeU64(BLOCK_GPA + 24, len);
}

/** @param {number[]} xs */
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  const upper = s[m] ?? Number.NaN;
  return s.length % 2 === 1 ? upper : ((s[m - 1] ?? Number.NaN) + upper) / 2;
};

/** @type {Record<string, () => number>} */
const parts = {
  jsNsPerExit: () => runLoopNs(hypercalls, n),
  cNsPerExit: () => addon.cWalltimeLoop(n) / n,
  crossingNs: () => crossingNs(n),
  dispatchNoopNs: () => runLoopNs(noopCalls, n),
  jsBigintClockNsPerExit: () => runLoopNs(bigintClockCalls, n),
  clockNs: () => clockNs(n),
  jsBlockRead512Ns: () => blockReadNs(n / 4, 512),
  cBlockRead512Ns: () => addon.cBlockReadLoop(n / 4, diskFd, 512) / (n / 4),
  jsFsBlockRead512Ns: () => blockReadNs(n / 4, 512, fsBlockCalls),
  jsBlockRead64kNs: () => blockReadNs(n / 10, 65536),
  jsFsBlockRead64kNs: () => blockReadNs(n / 10, 65536, fsBlockCalls),
  cBlockRead64kNs: () => addon.cBlockReadLoop(n / 10, diskFd, 65536) / (n / 10),
  fastNsPerExit: () => fastNs(fast, core.Hypercall.WALLTIME, WALLTIME_GPA, n),
  fastBlockRead512Ns: () => {
    blockReadStruct(512);
    return fastNs(blockFast, core.Hypercall.BLOCK_READ, BLOCK_GPA, n / 4);
  },
  fastBlockRead64kNs: () => {
    blockReadStruct(65536);
    return fastNs(blockFast, core.Hypercall.BLOCK_READ, BLOCK_GPA, n / 10);
  },
};
// Warm-up: the JIT tiers the loops up, the clock's first calls settle.
for (let i = 0; i < 2; i++) for (const f of Object.values(parts)) f();
/** @type {Record<string, number[]>} */
const all = Object.fromEntries(Object.keys(parts).map((k) => [k, []]));
// Interleaved, so that a slow moment of a shared machine hits every part alike.
for (let r = 0; r < reps; r++) {
  for (const [k, f] of Object.entries(parts)) all[k]?.push(f());
}
if (memory.readU64Big(WALLTIME_GPA) === 0n) throw new Error('WALLTIME wrote nothing');
closeSync(diskFd);
rmSync(scratch, { recursive: true, force: true });
console.log(
  JSON.stringify({
    jitless: process.execArgv.includes('--jitless'),
    n,
    reps,
    ...Object.fromEntries(Object.entries(all).map(([k, v]) => [k, median(v)])),
    all,
  }),
);
