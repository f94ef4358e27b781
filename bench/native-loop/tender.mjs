#!/usr/bin/env node
// @ts-check
// Bench-only experiment: hvt.js's own solo5-hvt, unchanged except that each
// VM's run() is the native loop of loop.c, which serves WALLTIME and PUTS
// without returning to JavaScript. Comparing it with hvt.js proper isolates
// what the JavaScript side of one exit costs. Same arguments as solo5-hvt;
// guests with a net device are refused (the loop does not know the ring).
//
//   node bench/native-loop/tender.mjs [solo5-hvt options] KERNEL [ARGS...]

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
/** @type {{ attach(fd: number, runSize: number, mem: ArrayBufferLike, size: number, exit: Float64Array): void, run(): number, served(): number }} */
const loop = require(join(root, 'bench', 'out', 'native-loop.node'));

// The CLI imports this same module (same file, so the same instance) when it
// loads the platform; patching the exported object reaches the tender.
const kvm = await import(
  pathToFileURL(join(root, 'packages', 'linux-kvm', 'dist', 'index.js')).href
);
/** @type {import('../../packages/linux-kvm/dist/index.js').LinuxKvmPlatform} */
const platform = kvm.linuxKvmPlatform;
const createVm = platform.createVm;
platform.createVm = (memSize) => {
  const vm = createVm(memSize);
  if (vm.memory.chunks.length !== 1) throw new Error('native-loop: guest memory over 1 GiB');
  const chunk = /** @type {Uint8Array} */ (vm.memory.chunks[0]);
  // The vCPU fd and the kvm_run size are private to LinuxKvmVm; this
  // experiment reaches in rather than widening the production API for it.
  const internals = /** @type {{ vcpu: { fd: number }, kvm: { vcpuMmapSize(): number } }} */ (
    /** @type {unknown} */ (vm)
  );
  // Now, before the tender's sandbox forbids mapping the vCPU fd. Without a
  // net ring (refused below) the guest sees all of memSize.
  loop.attach(internals.vcpu.fd, internals.kvm.vcpuMmapSize(), chunk.buffer, memSize, vm.exit);
  vm.run = () =>
    /** @type {import('../../packages/core/dist/entry/platform.js').ExitKind} */ (loop.run());
  return vm;
};

if (process.argv.some((a) => a.startsWith('--net:'))) {
  console.error('native-loop: guests with a net device are not supported by this experiment');
  process.exit(1);
}
const { tenderMain } = await import(
  pathToFileURL(join(root, 'packages', 'cli', 'dist', 'lib', 'run.js')).href
);
process.exitCode = await tenderMain(process.argv.slice(2), {
  prog: 'solo5-hvt',
  usageProg: 'solo5-hvt',
});
