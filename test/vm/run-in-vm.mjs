#!/usr/bin/env node
// Runs one command inside a QEMU guest (software emulation, so no host KVM is
// needed) that has a working /dev/kvm of its own, and hands back the
// command's stdout, stderr and exit status. See usage() and test/vm/README.md.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const checkout = path.resolve(here, '..', '..');

// Exit statuses of our own, as `timeout` and `env` use them.
const TIMED_OUT = 124;
const HARNESS_FAILED = 125;

const PASSED_ENV = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'LANG',
  'LC_ALL',
  'TERM',
  'TZ',
  'CI',
  'NO_COLOR',
  'FORCE_COLOR',
];

function usage() {
  return `usage: run-in-vm [--arch ARCH] [--timeout SECONDS] [--mem MiB] [--] CMD [ARGS...]

Boots a QEMU (TCG) guest with /dev/kvm, the host root read-only and the
checkout (${checkout}) read-write at the same path, runs CMD there in the
current directory, and exits with its status (124 on timeout, 125 when the
VM itself failed).

  --arch ARCH        ${Object.keys(ARCHES).join(' or ')} (default $HVTJS_VM_ARCH or x86_64); an
                     aarch64 guest runs its own busybox and Node, the host root is at /host
  --timeout SECONDS  kill the VM after this long (default $HVTJS_VM_TIMEOUT or 1800)
  --mem MiB          guest memory (default $HVTJS_VM_MEM or 4608: room for a 4 GiB inner guest)

Environment: HVTJS_VM_CACHE (kernel cache, see setup.sh), HVTJS_VM_CPU (QEMU -cpu
model), HVTJS_VM_APPEND (more kernel command line), HVTJS_VM_VERBOSE=1 (stream
the guest console to stderr).
The command sees ${PASSED_ENV.join(', ')}, every HVTJS_* variable, and HVTJS_IN_VM=1.`;
}

function say(msg) {
  process.stderr.write(`run-in-vm: ${msg}\n`);
}

function positiveInt(name, text) {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) {
    say(`${name} must be a positive integer, got '${text}'`);
    process.exit(HARNESS_FAILED);
  }
  return n;
}

function parseArgs(argv) {
  const opts = {
    arch: process.env.HVTJS_VM_ARCH ?? 'x86_64',
    timeout: positiveInt('HVTJS_VM_TIMEOUT', process.env.HVTJS_VM_TIMEOUT ?? '1800'),
    mem: positiveInt('HVTJS_VM_MEM', process.env.HVTJS_VM_MEM ?? '4608'),
    command: [],
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      i++;
      break;
    }
    if (arg === '--help' || arg === '-h') {
      console.log(usage());
      process.exit(0);
    }
    if (arg === '--timeout' || arg === '--mem' || arg === '--arch') {
      const value = argv[++i];
      if (value === undefined) {
        say(`${arg} needs a value`);
        process.exit(HARNESS_FAILED);
      }
      opts[arg.slice(2)] = arg === '--arch' ? value : positiveInt(arg, value);
      continue;
    }
    if (arg.startsWith('--')) {
      say(`unknown option ${arg}\n${usage()}`);
      process.exit(HARNESS_FAILED);
    }
    break;
  }
  if (!Object.hasOwn(ARCHES, opts.arch)) {
    say(`unknown architecture '${opts.arch}' (${Object.keys(ARCHES).join(' or ')})`);
    process.exit(HARNESS_FAILED);
  }
  opts.command = argv.slice(i);
  if (opts.command.length === 0) {
    say(`no command given\n${usage()}`);
    process.exit(HARNESS_FAILED);
  }
  return opts;
}

function shellQuote(s) {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

function runSetup(arch) {
  const setup = spawnSync('bash', [path.join(here, 'setup.sh'), arch], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  if (setup.status !== 0) {
    say(`setup.sh failed (${setup.error?.message ?? `status ${setup.status}`}); see above`);
    process.exit(HARNESS_FAILED);
  }
  return Object.fromEntries(
    setup.stdout
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

// QEMU 7.2's TCG gives `max` every emulated feature, virtual GIF included;
// older builds may lack it, and the named EPYC models still carry SVM.
function x86CpuModel(qemu) {
  const help = spawnSync(qemu, ['-cpu', 'help'], { encoding: 'utf8' }).stdout ?? '';
  const models = new Set(help.split('\n').map((line) => line.trim().split(/\s+/)[1]));
  for (const model of ['max', 'EPYC-Rome', 'EPYC']) if (models.has(model)) return model;
  return 'qemu64,+svm,+npt';
}

// What differs between the architectures of the outer guest; everything else
// (shares, serial ports, status, timeouts) is one code path.
// Kernel command lines: panic=-1 with softlockup_panic=1 (both): a stuck guest
// reboots, which -no-reboot turns into QEMU exiting, instead of hanging until
// the timeout.
const ARCHES = {
  x86_64: {
    qemu: 'qemu-system-x86_64',
    // -machine pc with PVH boot of the uncompressed vmlinux.
    machine: () => ['-machine', 'pc'],
    cpu: x86CpuModel,
    // tsc=reliable: TCG's TSC is the host's, but the kernel marks it unstable and
    // falls back to the emulated HPET, which makes every clock read a slow exit.
    // acpi=noirq: routing PCI interrupts through ACPI took ~0.45 s per device.
    append: 'console=ttyS0 tsc=reliable acpi=noirq',
    noKvmHint: 'kvm_amd loaded but found no SVM (check the QEMU -cpu model)',
    env: {},
  },
  aarch64: {
    qemu: 'qemu-system-aarch64',
    // virtualization=on emulates EL2, so the kernel boots there and KVM can use it.
    machine: () => ['-machine', 'virt,virtualization=on,gic-version=3'],
    // pauth-impdef: QEMU's own pointer-authentication hash instead of the
    // architected QARMA, which is far slower to emulate.
    cpu: () => 'max,pauth-impdef=on',
    // nvhe: the kernel's KVM in the non-VHE split (the reference measurement).
    append: 'console=ttyAMA0 kvm-arm.mode=nvhe',
    noKvmHint: 'the kernel found no usable EL2 (QEMU needs -machine virtualization=on)',
    // The checkout's build/ folders hold the host's x86_64 addons: node-gyp-build
    // must take the arm64 prebuilds (scripts/prebuild.mjs arm64) instead.
    env: { PREBUILDS_ONLY: '1' },
  },
};

function kernelCommandLine(arch) {
  const base = `${ARCHES[arch].append} panic=-1 softlockup_panic=1 quiet`;
  return process.env.HVTJS_VM_APPEND ? `${base} ${process.env.HVTJS_VM_APPEND}` : base;
}

function writeJob(share, opts) {
  const config = {
    HVTJS_VM_CHECKOUT: checkout,
    HVTJS_VM_NO_KVM_HINT: ARCHES[opts.arch].noKvmHint,
    HVTJS_VM_VERBOSE: process.env.HVTJS_VM_VERBOSE ?? '',
  };
  fs.writeFileSync(
    path.join(share, 'config'),
    Object.entries(config)
      .map(([k, v]) => `${k}=${shellQuote(v)}\n`)
      .join(''),
  );
  const env = { ...process.env };
  const exports = Object.keys(env)
    .filter((k) => PASSED_ENV.includes(k) || /^HVTJS_\w+$/.test(k))
    .map((k) => `export ${k}=${shellQuote(env[k] ?? '')}`);
  exports.push('export HVTJS_IN_VM=1');
  for (const [k, v] of Object.entries(ARCHES[opts.arch].env))
    exports.push(`export ${k}=${shellQuote(v)}`);
  const script = [
    ...exports,
    `cd ${shellQuote(process.cwd())} || exit ${HARNESS_FAILED}`,
    `exec ${opts.command.map(shellQuote).join(' ')}`,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(share, 'cmd.sh'), script);
}

// QEMU connects to these as a client at start-up, so nothing the guest
// writes can be lost before we listen.
function listen(socketPath, onData) {
  return new Promise((resolve, reject) => {
    let closed;
    const done = new Promise((r) => {
      closed = r;
    });
    const server = net.createServer((conn) => {
      conn.on('data', onData);
      conn.on('close', () => closed());
      conn.on('error', () => closed());
      server.close();
    });
    server.on('error', reject);
    server.listen(socketPath, () => resolve({ server, done }));
  });
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function signalQuietly(pid, signal) {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

// /proc/PID/task/*/children needs CONFIG_PROC_CHILDREN, which not every
// kernel has; the parent field of /proc/*/stat is always there.
function childrenOf(parent) {
  const children = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readIfExists(`/proc/${entry}/stat`);
    // The command name may contain spaces and parentheses; fields resume after the last ')'.
    const ppid = stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
    if (ppid === String(parent)) children.push(Number(entry));
  }
  return children;
}

function readIfExists(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const artifacts = runSetup(opts.arch);
  const arch = ARCHES[opts.arch];
  const qemu = arch.qemu;

  const jobDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hvtjs-vm-'));
  const share = path.join(jobDir, 'share');
  fs.mkdirSync(share);
  writeJob(share, opts);

  let vm;
  let vmExited = Promise.resolve();
  // Killing the whole group at once would orphan QEMU before `timeout` reaps
  // it (a zombie until init gets to it), so QEMU goes first and `timeout`
  // exits on its own; the group kill is the fallback.
  const stopVm = async () => {
    if (!vm?.pid) return;
    for (const pid of childrenOf(vm.pid)) signalQuietly(pid, 'SIGKILL');
    await Promise.race([vmExited, sleep(5000)]);
    signalQuietly(-vm.pid, 'SIGKILL');
  };
  // Whatever way we leave, the VM goes with us and the job folder is removed.
  process.on('exit', () => {
    if (vm?.pid && vm.exitCode === null && vm.signalCode === null)
      signalQuietly(-vm.pid, 'SIGKILL');
    fs.rmSync(jobDir, { recursive: true, force: true });
  });
  for (const [signal, number] of [
    ['SIGINT', 2],
    ['SIGTERM', 15],
    ['SIGHUP', 1],
  ]) {
    process.on(signal, async () => {
      say(`${signal}: killing the VM`);
      await stopVm();
      process.exit(128 + number);
    });
  }

  const verbose = process.env.HVTJS_VM_VERBOSE === '1';
  let consoleTail = '';
  const outputs = await Promise.all([
    listen(path.join(jobDir, 'stdout.sock'), (chunk) => process.stdout.write(chunk)),
    listen(path.join(jobDir, 'stderr.sock'), (chunk) => process.stderr.write(chunk)),
    listen(path.join(jobDir, 'console.sock'), (chunk) => {
      if (verbose) process.stderr.write(chunk);
      consoleTail = (consoleTail + chunk.toString('utf8')).slice(-16384);
    }),
  ]);

  const fsdev = (id, dir, extra) =>
    [
      '-fsdev',
      `local,id=${id},path=${dir},security_model=none,multidevs=remap${extra}`,
      '-device',
      `virtio-9p-pci,fsdev=${id},mount_tag=${id}`,
    ].flat();
  const qemuArgs = [
    ...['-name', 'hvtjs-vm'],
    ...arch.machine(),
    ...['-accel', 'tcg,thread=single', '-cpu', process.env.HVTJS_VM_CPU || arch.cpu(qemu)],
    ...['-smp', '2', '-m', String(opts.mem)],
    ...['-nographic', '-nodefaults', '-no-reboot', '-monitor', 'none'],
    ...['-kernel', artifacts.KERNEL, '-initrd', artifacts.INITRD],
    ...['-append', kernelCommandLine(opts.arch)],
    ...['-chardev', `socket,id=console,path=${path.join(jobDir, 'console.sock')}`],
    ...['-serial', 'chardev:console'],
    ...fsdev('hvtjob', share, ''),
    ...fsdev('hvtroot', '/', ',readonly=on'),
    ...fsdev('hvtcheckout', checkout, ''),
    ...['-device', 'virtio-serial-pci'],
    ...['-chardev', `socket,id=stdout,path=${path.join(jobDir, 'stdout.sock')}`],
    ...['-device', 'virtserialport,chardev=stdout,name=hvtjs.stdout'],
    ...['-chardev', `socket,id=stderr,path=${path.join(jobDir, 'stderr.sock')}`],
    ...['-device', 'virtserialport,chardev=stderr,name=hvtjs.stderr'],
  ];
  // `timeout` is a backstop for when this process is SIGKILLed and cannot
  // clean up: the VM then still dies shortly after its own deadline.
  vm = spawn('timeout', ['--signal=KILL', String(opts.timeout + 30), qemu, ...qemuArgs], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  vmExited = new Promise((resolve) => {
    vm.on('error', (error) => resolve({ error }));
    vm.on('close', (code, signal) => resolve({ code, signal }));
  });
  say(`VM process group ${vm.pid}, ${opts.arch}, timeout ${opts.timeout} s, ${opts.mem} MiB`);
  let qemuOutput = '';
  vm.stdout.on('data', (chunk) => {
    qemuOutput += chunk;
  });
  vm.stderr.on('data', (chunk) => {
    qemuOutput += chunk;
  });

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stopVm();
  }, opts.timeout * 1000);

  const exit = await vmExited;
  clearTimeout(timer);
  // After QEMU is gone, its socket ends are closed too: drain what is left.
  for (const o of outputs) o.server.close();
  await Promise.race([Promise.all(outputs.map((o) => o.done)), sleep(2000)]);

  const elapsed = ((Date.now() - started) / 1000).toFixed(1);
  if (qemuOutput.trim()) say(`qemu said:\n${qemuOutput.trimEnd()}`);
  if (timedOut) {
    say(`timed out after ${opts.timeout} s: killed the VM (guest console, last lines below)`);
    say(`console:\n${lastLines(consoleTail, 30)}`);
    process.exit(TIMED_OUT);
  }
  if (exit.error) {
    say(`cannot start ${qemu}: ${exit.error.message}`);
    process.exit(HARNESS_FAILED);
  }
  const status = readIfExists(path.join(share, 'status'))?.trim();
  const initError = readIfExists(path.join(share, 'init-error'))?.trim();
  if (initError) {
    say(`the guest could not be prepared: ${initError}`);
    say(`console:\n${lastLines(consoleTail, 30)}`);
    process.exit(HARNESS_FAILED);
  }
  if (status === undefined || !/^\d+$/.test(status)) {
    const how = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
    say(`the VM stopped (qemu ${how}) without the command's exit status, after ${elapsed} s`);
    say(`console:\n${lastLines(consoleTail, 40)}`);
    process.exit(HARNESS_FAILED);
  }
  const boot = readIfExists(path.join(share, 'boot-seconds'))?.trim();
  say(`exit status ${status} (guest booted in ${boot ?? '?'} s; ${elapsed} s in all)`);
  process.exit(Number(status));
}

function lastLines(text, n) {
  // Drop SeaBIOS's terminal control sequences and carriage returns.
  const plain = text.replace(/\x1b(\[[0-9;?]*[A-Za-z]|c)/g, '').replace(/\r/g, '');
  const lines = plain.trimEnd().split('\n');
  return lines.slice(-n).join('\n') || '(no console output)';
}

main().catch((err) => {
  say(`internal error: ${err?.stack ?? err}`);
  process.exit(HARNESS_FAILED);
});
