#!/usr/bin/env node
// Runs inside the nested aarch64 VM (run-in-vm --arch aarch64), started by
// aarch64.test.ts: the built solo5-hvt on our aarch64 guests, one child process
// per case, as a user would. Plain Node, no test framework: the arm64 guest has
// no native builds of the framework's own dependencies. It only records what
// each run did (status, output, what the live process looked like); the
// assertions are aarch64.test.ts's, on the host.
//
//   node test/vm/aarch64-cases.mjs GUESTS_DIR RESULTS_JSON SCRATCH_DIR HOSTILE_MODES ECHO_FLOOD
//
// HOSTILE_MODES: the hostile guest's fatal modes to run, comma-separated.
// ECHO_FLOOD: echo-flood.c built for arm64 (static), which floods the ring
// guest and checks every reply against its request.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [guests, resultsFile, scratch, modes, echoFlood] = process.argv.slice(2);
if (!guests || !resultsFile || !scratch || modes === undefined || !echoFlood) {
  process.stderr.write(
    'usage: aarch64-cases.mjs GUESTS_DIR RESULTS_JSON SCRATCH_DIR HOSTILE_MODES ECHO_FLOOD\n',
  );
  process.exit(2);
}
const solo5Hvt = fileURLToPath(new URL('../../packages/cli/dist/solo5-hvt.js', import.meta.url));
const g = (name) => path.join(guests, `${name}.hvt`);
const disk = path.join(scratch, 'disk.img');
const TAP = 'hvtjs-a0';
const HOST_IP = '10.0.0.1';
const GUEST_IP = '10.0.0.2';

/** A run that outlasts this is killed (SIGKILL), so that no case hangs the boot. */
const CASE_LIMIT_MS = 180_000;

/** Starts the tender; `watch(text, child)` sees its stdout as it grows. */
function tender(args, watch) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, [solo5Hvt, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), CASE_LIMIT_MS);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      watch?.(stdout, child);
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({
        status,
        signal,
        stdout,
        stderr,
        seconds: Number(process.hrtime.bigint() - started) / 1e9,
      });
    });
  });
}

/** The fields of /proc/PID/status a sandboxed tender must show. */
function liveState(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1];
  return {
    seccomp: field('Seccomp'),
    uid: field('Uid'),
    gid: field('Gid'),
    noNewPrivs: field('NoNewPrivs'),
  };
}

const sh = (cmd) => spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });

const results = {};
const record = (name, result) => {
  results[name] = result;
  process.stdout.write(`${name}: status ${result.status} in ${result.seconds.toFixed(1)} s\n`);
};

fs.writeFileSync(disk, Buffer.alloc(1024 * 1024));
const setup = sh(
  `tunctl -t ${TAP} >/dev/null && ip addr add ${HOST_IP}/24 dev ${TAP} && ip link set ${TAP} up`,
);
if (setup.status !== 0) throw new Error(`cannot make the tap: ${setup.stderr}`);

for (const name of [
  'hello',
  'walltime',
  'puts_long',
  'data',
  'halt',
  'abort',
  'pagefault',
  'writetext',
]) {
  record(name, await tender([g(name)]));
}
record('block', await tender([`--block:storage=${disk}`, g('block')]));
// A core of the guest's own fatal trap, in the shared folder for the host to read.
record('dumpcore', await tender([`--dumpcore=${path.dirname(resultsFile)}`, g('pagefault')]));

// POLL's timeouts, and the sandbox as it is while the guest sleeps.
let live;
record(
  'sleep',
  await tender([g('sleep')], (out, child) => {
    if (live === undefined && out.includes('sleep 1:')) live = liveState(child.pid);
  }),
);
results.sleep.live = live;

/**
 * Runs a net guest that halts after `limit` echo replies, and starts `pinger`
 * (a program and its arguments, the guest's address appended) once it serves;
 * records the tender's run, and the pinger's status and output (stdout, then
 * stderr) under `key`.
 */
async function netCase(name, args, key, [program, ...pingerArgs]) {
  let pinger;
  record(
    name,
    await tender([`--net:service0=${TAP}`, ...args], (out) => {
      if (pinger === undefined && out.includes('serving')) {
        pinger = new Promise((resolve) => {
          const p = spawn(program, [...pingerArgs, GUEST_IP], {
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let stdout = '';
          let stderr = '';
          p.stdout.on('data', (d) => {
            stdout += d;
          });
          p.stderr.on('data', (d) => {
            stderr += d;
          });
          p.on('error', (e) => {
            stderr += `${e.message}\n`;
          });
          p.on('close', (status) => resolve({ status, text: stdout + stderr }));
        });
      }
    }),
  );
  results[name][key] = await pinger;
  // The pinger's summary (ping's totals, echo-flood's counts) in the VM's log too.
  for (const line of results[name][key]?.text.split('\n') ?? []) {
    if (/packets transmitted|^flood: sent/.test(line)) process.stdout.write(`${name}: ${line}\n`);
  }
}

// Net through hypercalls: the guest answers three pings (busybox's), then halts.
const busyboxPing = ['ping', '-c', '3', '-w', '60'];
await netCase('net', [g('net'), `ip=${GUEST_IP}`, 'limit=3'], 'ping', busyboxPing);
// Through the ring (its kick an MMIO ioeventfd): a flood paced by the replies,
// every reply compared with its request; the guest halts at its 500th reply.
await netCase(
  'ringecho',
  [g('ringecho'), `ip=${GUEST_IP}`, 'path=ring', 'quiet=1', 'limit=500'],
  'flood',
  [echoFlood, '-c', '500', '-s', '1000', '-W', '5000', '-w', '120'],
);

const devices = [`--block:storage=${disk}`, `--net:service0=${TAP}`];
for (const mode of modes.split(',').filter(Boolean)) {
  record(`hostile ${mode}`, await tender([...devices, g('hostile'), `mode=${mode}`]));
}

fs.writeFileSync(resultsFile, JSON.stringify(results, null, 2));
