#!/usr/bin/env node
// @ts-check
// `pnpm bench`: builds what the benchmark needs, then runs bench/run.mjs
// natively where this host has a KVM that runs guests on the CPU, or else
// inside the nested VM of test/vm/ (QEMU TCG with nested SVM), where only
// ratios mean anything. The per-exit micro-benchmark needs no KVM, so in VM
// mode it runs here on the host CPU first and travels into the report.
//
//   pnpm bench [--quick] [--baseline CMD]... [--rounds N] [--name NAME] [--no-build]
//
// HVTJS_BENCH_MODE=auto|host|vm picks where (auto: host when /dev/kvm is
// usable and is not PVM, whose instruction emulation makes numbers meaningless).

import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_DIR, buildBench, OUT_DIR } from './build.mjs';
import { runMicro } from './lib/micro.mjs';
import { measureHostStartup } from './lib/startup.mjs';

const ROOT = join(BENCH_DIR, '..');
// Boot, Node start-ups at emulated speed and the run itself: the issue wants
// under 10 minutes; past this the VM is killed and the run fails.
const VM_TIMEOUT_S = 1200;
const VM_MEM_MIB = 2048;

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    baseline: { type: 'string', multiple: true, default: [] },
    rounds: { type: 'string' },
    name: { type: 'string' },
    'no-build': { type: 'boolean', default: false },
    'no-experiments': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
const say = (/** @type {string} */ text) => process.stderr.write(`bench: ${text}\n`);

if (opts.help) {
  console.log(`usage: pnpm bench [--quick] [--baseline CMD]... [--rounds N] [--name NAME] [--no-build] [--no-experiments]

  --quick           one short round, no experiments: a smoke test
  --baseline CMD    also compare against another hvt tender (e.g. an installed solo5-hvt);
                    repeatable; CMD takes solo5-hvt's arguments
  --rounds N        rounds per workload (default 3 in the nested VM, 5 natively)
  --name NAME       results go to bench/results/NAME.{json,md,svg} (default latest)
  --no-build        use what is built
HVTJS_BENCH_MODE=auto|host|vm: where to run (auto: natively only on a KVM that is not PVM).`);
  process.exit(0);
}

/** Why this host's KVM cannot give meaningful numbers, or '' when it can. */
function hostKvmProblem() {
  if (!existsSync('/dev/kvm')) return 'no /dev/kvm';
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return '/dev/kvm is not readable and writable by this user';
  }
  if (existsSync('/sys/module/kvm_pvm')) {
    return '/dev/kvm is PVM (kvm_pvm), which emulates guest instructions';
  }
  return '';
}

function chooseMode() {
  if (process.env['HVTJS_IN_VM'] === '1') return 'host';
  const forced = process.env['HVTJS_BENCH_MODE'] ?? 'auto';
  if (forced === 'host' || forced === 'vm') return forced;
  if (forced !== 'auto') {
    say(`HVTJS_BENCH_MODE must be auto, host or vm, not '${forced}'`);
    process.exit(2);
  }
  const problem = hostKvmProblem();
  if (problem) say(`running in the nested VM: ${problem}`);
  return problem ? 'vm' : 'host';
}

const started = Date.now();
const mode = chooseMode();
if (!opts['no-build']) {
  say('building hvt.js (turbo, cached) and the benchmark programs');
  const turbo = spawnSync(
    'pnpm',
    ['exec', 'turbo', 'run', 'build', '--filter=@hvtjs/cli...', '--output-logs=errors-only'],
    { cwd: ROOT, stdio: 'inherit' },
  );
  if (turbo.status !== 0) {
    say('building hvt.js failed');
    process.exit(1);
  }
}
const built = await buildBench();
// The self-contained executable, made here (natively: copying and rewriting
// the Node binary is slow emulated); its hello is timed beside the others.
const exe = join(OUT_DIR, 'solo5-hvt');
const madeExe = spawnSync(
  process.execPath,
  [join(ROOT, 'packages', 'cli', 'dist', 'solo5.js'), 'build-exe', '-o', exe],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
if (madeExe.status !== 0) {
  say('solo5 build-exe failed');
  process.exit(1);
}

const runArgs = [
  ...(opts.quick ? ['--quick'] : []),
  ...(opts['no-experiments'] ? ['--no-experiments'] : []),
  ...(opts.rounds ? ['--rounds', opts.rounds] : []),
  ...(opts.name ? ['--name', opts.name] : []),
  ...(opts.baseline ?? []).flatMap((b) => ['--baseline', b]),
  ...['--exe', exe],
];
let status;
if (mode === 'host') {
  status = spawnSync(process.execPath, [join(BENCH_DIR, 'run.mjs'), ...runArgs], {
    cwd: ROOT,
    stdio: 'inherit',
  }).status;
} else {
  say('per-exit micro-benchmark on the host CPU');
  const microFile = join(OUT_DIR, 'micro-host.json');
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(microFile, JSON.stringify(runMicro(opts.quick ?? false)));
  // Loading hvt.js needs no KVM: its host figures are measured here.
  say('start-up breakdown on the host (node -e 0, loading hvt.js)');
  const startupFile = join(OUT_DIR, 'startup-host.json');
  writeFileSync(
    startupFile,
    JSON.stringify(
      measureHostStartup(/** @type {string} */ (built['measure']), opts.quick ? 3 : 21),
    ),
  );
  const cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim();
  say('booting the nested VM (test/vm/run-in-vm)');
  status = spawnSync(
    process.execPath,
    [
      join(ROOT, 'test', 'vm', 'run-in-vm.mjs'),
      ...['--timeout', String(VM_TIMEOUT_S), '--mem', String(VM_MEM_MIB)],
      '--',
      ...[process.execPath, join(BENCH_DIR, 'run.mjs'), '--micro', microFile],
      ...['--host-startup', startupFile, ...runArgs],
    ],
    {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, ...(cpu ? { HVTJS_BENCH_HOST_CPU: cpu } : {}) },
    },
  ).status;
}
const minutes = (Date.now() - started) / 60000;
say(
  `${status === 0 ? 'done' : 'FAILED'} in ${minutes.toFixed(1)} min (${mode === 'vm' ? 'nested VM' : 'natively'})`,
);
process.exit(status ?? 1);
