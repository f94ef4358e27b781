#!/usr/bin/env node
// Runs the KVM test suite (test/vitest.kvm.config.ts) where a working
// /dev/kvm is: on the host if it has one, else inside one nested VM for the
// whole suite (run-in-vm). Never skips: if neither works, it fails and says why.
//
//   HVTJS_KVM=auto (default) | host | vm   force where the suite runs
//   extra arguments go to vitest (a file filter, -t NAME, ...)
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSmoke } from '../kvm/smoke-build.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const testDir = path.resolve(here, '..');

function say(msg) {
  process.stderr.write(`kvm-suite: ${msg}\n`);
}

// Opening /dev/kvm is not enough (a device node can exist without a module,
// or KVM can refuse to create VMs); the smoke program creates a VM and runs it.
function probeHostKvm() {
  if (!fs.existsSync('/dev/kvm')) return { usable: false, reason: 'this host has no /dev/kvm' };
  // PVM (kvm_pvm) runs guests through KVM's instruction emulator: no SSE, and
  // writes to read-only guest memory come back as MMIO exits. Real unikernels
  // cannot run faithfully there, so it does not count as a usable KVM.
  const loaded = (name) => fs.existsSync(`/sys/module/${name}`);
  if (loaded('kvm_pvm') && !loaded('kvm_amd') && !loaded('kvm_intel')) {
    return {
      usable: false,
      reason:
        "this host's /dev/kvm is kvm_pvm (software emulation: no SSE, no host/guest translation faults); HVTJS_KVM=host forces it",
    };
  }
  try {
    fs.closeSync(fs.openSync('/dev/kvm', 'r+'));
  } catch (err) {
    return { usable: false, reason: `cannot open /dev/kvm read-write (${err.code})` };
  }
  let smoke;
  try {
    smoke = buildSmoke();
  } catch (err) {
    return { usable: false, reason: `cannot check /dev/kvm: ${err.message}` };
  }
  try {
    const run = spawnSync(smoke.binary, { encoding: 'utf8', timeout: 60_000 });
    if (run.status === 0) return { usable: true, reason: '/dev/kvm works here (a test VM ran)' };
    const output =
      `${run.stdout}${run.stderr}`.trim() || run.error?.message || `status ${run.status}`;
    return { usable: false, reason: `/dev/kvm is there but a test VM failed: ${output}` };
  } finally {
    smoke.cleanup();
  }
}

function vitestEntry() {
  const pkg = createRequire(import.meta.url).resolve('vitest/package.json');
  return path.join(path.dirname(pkg), 'vitest.mjs');
}

// Runs a child in the foreground and passes on its exit status; a signal to
// us goes to it too, so that run-in-vm can take its VM down.
function runAndExit(argv) {
  const child = spawn(argv[0], argv.slice(1), { cwd: testDir, stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('error', (err) => {
    say(`cannot start ${argv[0]}: ${err.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal) say(`the suite was killed by ${signal}`);
    process.exit(code ?? 1);
  });
}

const mode = process.env.HVTJS_KVM || 'auto';
if (!['auto', 'host', 'vm'].includes(mode)) {
  say(`HVTJS_KVM must be auto, host or vm, not '${mode}'`);
  process.exit(1);
}
const vitest = [process.execPath, vitestEntry(), 'run', '--config', 'vitest.kvm.config.ts'];
// The JSON report feeds the summary line of `pnpm test` (scripts/test.mjs).
const reporters = [
  '--reporter=default',
  '--reporter=json',
  '--outputFile.json=../.test-results/kvm.json',
];
const vitestArgs = [...vitest, ...reporters, ...process.argv.slice(2)];

function chooseWhere() {
  if (mode === 'vm') return { where: 'vm', why: 'HVTJS_KVM=vm' };
  const host = probeHostKvm();
  if (host.usable) return { where: 'host', why: host.reason };
  if (mode === 'host') {
    say(`HVTJS_KVM=host, but the host cannot run the KVM suite: ${host.reason}`);
    process.exit(1);
  }
  return { where: 'vm', why: host.reason };
}

function prepareVm(why) {
  // setup.sh installs QEMU and fetches the guest kernel; running it apart
  // from the suite tells its failure apart from a failing test.
  const setup = spawnSync('bash', [path.join(here, 'setup.sh')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (setup.status === 0) return;
  say(
    [
      `cannot run the KVM suite: ${why};`,
      'and the nested VM cannot be prepared either (test/vm/setup.sh failed, see above).',
      'Fix one: give this user a working /dev/kvm (read-write), or run on a Debian host as root',
      'or with password-less sudo, so that test/vm/setup.sh can install qemu-system-x86,',
      'busybox-static, kmod, cpio and xz-utils and download the guest kernel.',
    ].join('\n'),
  );
  process.exit(1);
}

// kvm/exe.test.ts runs the self-contained executable; made here at native
// speed (copying and rewriting the ~100 MB Node binary is slow emulated) into
// a folder of the shared checkout, and named to the VM through HVTJS_EXE.
function prepareExe() {
  if (process.env.HVTJS_EXE) return;
  const exe = path.resolve(testDir, '..', '.test-results', 'exe', 'solo5-hvt');
  fs.mkdirSync(path.dirname(exe), { recursive: true });
  const solo5 = path.resolve(testDir, '..', 'packages', 'cli', 'dist', 'solo5.js');
  const made = spawnSync(process.execPath, [solo5, 'build-exe', '-o', exe], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (made.status !== 0) say('solo5 build-exe failed; kvm/exe.test.ts makes its own');
  else process.env.HVTJS_EXE = exe;
}

const { where, why } = chooseWhere();
if (where === 'host') {
  say(`running the KVM suite on the host (mode ${mode}): ${why}`);
  runAndExit(vitestArgs);
} else {
  say(`running the KVM suite inside one nested VM under QEMU (mode ${mode}): ${why}`);
  prepareVm(why);
  // The whole suite in one emulated VM, two 10,000-packet floods included, can
  // outlast run-in-vm's 30-minute default on a 2-core machine: allow an hour
  // (CI has 90 minutes), unless HVTJS_VM_TIMEOUT says otherwise.
  const timeout = process.env.HVTJS_VM_TIMEOUT ?? '3600';
  prepareExe();
  runAndExit([
    process.execPath,
    path.join(here, 'run-in-vm.mjs'),
    '--timeout',
    timeout,
    '--',
    ...vitestArgs,
  ]);
}
