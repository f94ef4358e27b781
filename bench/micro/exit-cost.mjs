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
// does nothing (dispatchNoopNs), one call of the platform's clock (clockNs),
// and the whole exit with an allocation-free clock (jsFastClockNsPerExit);
// and a BLOCK_READ exit of 512 B and of 64 KiB from the page cache, through
// core's block module and the C way (js/cBlockRead512Ns, js/cBlockRead64kNs),
// and with the read done by one addon call instead of fs.readSync
// (jsFastBlockRead512Ns, jsFastBlockRead64kNs).

import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const importDist = (/** @type {string} */ pkg) =>
  import(pathToFileURL(join(root, 'packages', pkg, 'dist', 'index.js')).href);
const core = await importDist('core');
const kvm = await importDist('linux-kvm');
/** @type {{ fakeAttach(exit: Float64Array, port: number, gpa: number, n: number, haltGpa: number): void, fakeRun(): number, cWalltimeLoop(n: number): number, cBlockReadLoop(n: number, fd: number, len: number): number, guestMemory(size: number): ArrayBuffer, preadGuest(fd: number, gpa: number, len: number, position: number): number, clockBind(out: Uint32Array): void, clockFill(): void }} */
const addon = createRequire(import.meta.url)(join(root, 'bench', 'out', 'native-loop.node'));

const { values } = parseArgs({
  options: { n: { type: 'string', default: '200000' }, reps: { type: 'string', default: '7' } },
});
const n = Number(values.n);
const reps = Number(values.reps);

const WALLTIME_GPA = 0x1000;
const HALT_GPA = 0x2000;
// Guest RAM as both tenders map it (shared anonymous memory), one mapping for
// the JavaScript and the C loops alike: where a copy lands changes its cost.
const memory = new core.GuestMemory([new Uint8Array(addon.guestMemory(1 << 20))]);
const guest = { memory, size: memory.size };
const hypercalls = new core.Hypercalls(guest);
// Only what the core module's setup touches: the guest, the clock, registration.
const setupContext = {
  guest,
  platform: kvm.linuxKvmPlatform,
  registerHypercall: (/** @type {number} */ nr, /** @type {(gpa: number) => void} */ handler) =>
    hypercalls.register(nr, handler),
};
core.createCoreModule(new core.WaitSet()).setup(setupContext);
const exit = new Float64Array(8);
const vm = { exit, memory, run: () => addon.fakeRun() };

// WALLTIME as core serves it, but with a clock that fills two u32 halves
// instead of allocating a BigInt: what that one change would save.
const fastClockCalls = new core.Hypercalls(guest);
const halves = new Uint32Array(2);
addon.clockBind(halves);
fastClockCalls.register(core.Hypercall.WALLTIME, (/** @type {number} */ gpa) => {
  core.checkStruct(guest, gpa, core.HypercallStructSize.WALLTIME, 'micro:WALLTIME');
  addon.clockFill();
  memory.writeU32(gpa, /** @type {number} */ (halves[0]));
  memory.writeU32(gpa + 4, /** @type {number} */ (halves[1]));
});

// The same exit with a handler that does nothing: what dispatch alone costs.
const noopCalls = new core.Hypercalls(guest);
noopCalls.register(core.Hypercall.WALLTIME, () => {});

/**
 * ns per exit of core's runLoop serving `count` WALLTIME exits, then a HALT.
 * @param {import('../../packages/core/dist/index.js').Hypercalls} table
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
const manifest = core.readManifestNote(core.readKernelFile(blockElf), blockElf);
const block = new core.BlockModule();
const warn = (/** @type {string} */ text) => {
  throw new Error(text);
};
if (
  !block.handleOption(`--block:storage=${diskPath}`, {
    manifest,
    platform: kvm.linuxKvmPlatform,
    warn,
  })
) {
  throw new Error('block option refused');
}
const blockCalls = new core.Hypercalls(guest);
block.setup({
  manifest,
  guest,
  warn,
  registerHypercall: (/** @type {number} */ nr, /** @type {(gpa: number) => void} */ handler) =>
    blockCalls.register(nr, handler),
});
const storage = manifest.entries.find((/** @type {{ name: string }} */ e) => e.name === 'storage');

// The same checks as core's block module, but the read done by one addon call
// straight into guest memory instead of by Node's fs.readSync: what a native
// read path would save.
const fastBlockCalls = new core.Hypercalls(guest);
const CAPACITY = 8 << 20;
fastBlockCalls.register(core.Hypercall.BLOCK_READ, (/** @type {number} */ gpa) => {
  core.checkStruct(guest, gpa, core.HypercallStructSize.BLOCK_IO, 'micro:BLOCK_READ');
  const handle = memory.readU32(gpa);
  const offset = memory.readU64(gpa + 8);
  const data = memory.readU64(gpa + 16);
  const len = memory.readU64(gpa + 24);
  if (
    handle !== storage.index ||
    len > core.SSIZE_MAX ||
    offset >= CAPACITY ||
    len > CAPACITY - offset
  ) {
    memory.writeI32(gpa + 32, core.Solo5Result.EINVAL);
    return;
  }
  if (!core.guestRangeValid(guest, data, len)) throw new Error('micro: bad range');
  if (addon.preadGuest(diskFd, data, len, offset) !== len) throw new Error('micro: short read');
  memory.writeI32(gpa + 32, core.Solo5Result.OK);
});

/**
 * ns per BLOCK_READ exit of `len` bytes through core's runLoop and `table`.
 * @param {number} count
 * @param {number} len
 * @param {import('../../packages/core/dist/index.js').Hypercalls} [table]
 */
function blockReadNs(count, len, table = blockCalls) {
  memory.writeU64(BLOCK_GPA, storage.index);
  memory.writeU64(BLOCK_GPA + 8, 0);
  memory.writeU64(BLOCK_GPA + 16, BLOCK_DATA_GPA);
  memory.writeU64(BLOCK_GPA + 24, len);
  addon.fakeAttach(exit, core.HVT_PIO_BASE + core.Hypercall.BLOCK_READ, BLOCK_GPA, count, HALT_GPA);
  const t0 = process.hrtime.bigint();
  const status = core.runLoop(vm, table, 'KVM');
  const ns = Number(process.hrtime.bigint() - t0);
  if (status !== 0 || memory.readI32(BLOCK_GPA + 32) !== 0) throw new Error('block read failed');
  return ns / (count + 1);
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
  jsFastClockNsPerExit: () => runLoopNs(fastClockCalls, n),
  clockNs: () => clockNs(n),
  jsBlockRead512Ns: () => blockReadNs(n / 4, 512),
  cBlockRead512Ns: () => addon.cBlockReadLoop(n / 4, diskFd, 512) / (n / 4),
  jsFastBlockRead512Ns: () => blockReadNs(n / 4, 512, fastBlockCalls),
  jsBlockRead64kNs: () => blockReadNs(n / 10, 65536),
  jsFastBlockRead64kNs: () => blockReadNs(n / 10, 65536, fastBlockCalls),
  cBlockRead64kNs: () => addon.cBlockReadLoop(n / 10, diskFd, 65536) / (n / 10),
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
