import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FloodTarget, flood, verifier } from './flood.js';
import { type Guests, guestPaths, SOLO5, Taps, type TenderRun, tapName } from './tender-harness.js';

// The self-contained executable (`solo5 build-exe`) as urunc and albatross
// run it (README, "A self-contained solo5-hvt"). urunc: the executable alone
// in a root that holds only it, /lib, /lib64, /usr/lib, /proc, a tmpfs /dev
// with null, urandom, kvm and net/tun, and a noexec /tmp; entered with chroot
// in new PID and mount namespaces, as PID 1, with the container's ids; its
// command line as urunc builds it, and as older urunc's join-and-split leaves
// it (empty arguments after the kernel). albatross: `--version` parsed as it
// parses it, stdio on one write-only O_APPEND FIFO, SIGTERM.

const canRun = Taps.available() && spawnSync('unshare', ['--help']).status === 0;
/** Made once for the suite: by vm/kvm-suite.mjs on the host (HVTJS_EXE), or here. */
let exe: string;
let scratch: string;
let root: string;
let g: Guests;
const mounts: string[] = [];
const taps = new Taps();
const CONTAINER_UID = 1000;
const MEM = '--mem=32';

function sh(command: string, args: string[]): void {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${r.stderr}`);
}

function mount(args: string[], target: string): void {
  mkdirSync(target, { recursive: true });
  sh('mount', [...args, target]);
  mounts.unshift(target);
}

/** A device node in the root's /dev, made as urunc makes them: the host's numbers, any user may open it. */
function device(host: string): void {
  const target = join(root, host);
  mkdirSync(join(target, '..'), { recursive: true });
  const { rdev } = statSync(host);
  sh('mknod', ['-m', '666', target, 'c', String(Math.floor(rdev / 256)), String(rdev % 256)]);
}

/** urunc's monitor root, with the executable at /solo5-hvt and the files urunc passes in /unikernel. */
function buildRoot(): void {
  root = join(scratch, 'root');
  mkdirSync(root, { recursive: true });
  chmodSync(scratch, 0o755);
  copyFileSync(exe, join(root, 'solo5-hvt'));
  chmodSync(join(root, 'solo5-hvt'), 0o755);
  for (const dir of ['/lib', '/lib64', '/usr/lib']) {
    if (existsSync(dir)) mount(['--bind', '-o', 'ro', realpathSync(dir)], join(root, dir));
  }
  mount(['-t', 'proc', 'proc'], join(root, 'proc'));
  mount(
    ['-t', 'tmpfs', '-o', 'nosuid,strictatime,mode=755,size=65536k', 'tmpfs'],
    join(root, 'dev'),
  );
  for (const node of ['/dev/null', '/dev/urandom', '/dev/kvm', '/dev/net/tun']) device(node);
  mount(
    ['-t', 'tmpfs', '-o', 'nosuid,noexec,strictatime,mode=1777,size=65536k', 'tmpfs'],
    join(root, 'tmp'),
  );
  mkdirSync(join(root, 'unikernel'), { mode: 0o755 });
  for (const name of ['hello', 'block', 'ringecho']) {
    copyFileSync(g[name]!, join(root, 'unikernel', `${name}.hvt`));
  }
  const disk = join(root, 'unikernel', 'disk.img');
  writeFileSync(disk, Buffer.alloc(512 * 64));
  chmodSync(disk, 0o666);
}

interface Launched {
  run: Promise<TenderRun>;
  child: ChildProcess;
}

/**
 * Runs `/solo5-hvt args` as urunc does: new PID and mount namespaces, chroot
 * into the root, the container's ids, the executable as PID 1.
 */
function urunc(args: string[], uid: number, onStdout?: (out: string) => void): Launched {
  const started = Date.now();
  const child = spawn(
    'unshare',
    [
      '--pid',
      '--mount',
      '--fork',
      '--kill-child',
      `--root=${root}`,
      `--setuid=${uid}`,
      `--setgid=${uid}`,
      '/solo5-hvt',
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
    onStdout?.(stdout);
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
  const run = new Promise<TenderRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, pid: child.pid!, ms: Date.now() - started });
    });
  });
  return { run, child };
}

/** /proc/PID/status of the tender: unshare's one child. */
function tenderStatus(unsharePid: number): string {
  const children = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim();
  return readFileSync(`/proc/${children.split(' ')[0]}/status`, 'utf8');
}

beforeAll(async () => {
  if (!canRun) return;
  g = await guestPaths();
  scratch = mkdtempSync(join(tmpdir(), 'hvtjs-exe-'));
  exe = process.env['HVTJS_EXE'] ?? join(scratch, 'solo5-hvt');
  if (process.env['HVTJS_EXE'] === undefined) {
    const made = spawnSync(process.execPath, [SOLO5, 'build-exe', '-o', exe], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`solo5 build-exe: ${made.stderr}`);
  }
  buildRoot();
}, 900_000);

afterAll(() => {
  for (const target of mounts.splice(0)) spawnSync('umount', ['-l', target]);
  taps.removeAll();
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

describe.skipIf(!canRun)('the executable in a root built as urunc builds one', () => {
  it('runs hello as the container root, PID 1 keeping root, with empty arguments after the kernel', async () => {
    // Older urunc joins its command line and splits it on single spaces.
    const { run } = urunc([MEM, '--', '/unikernel/hello.hvt', 'exit=0', '', ''], 0);
    const r = await run;
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('Hello, World\n');
    // The reference joins ARGS with single spaces, empty ones included.
    expect(r.stdout).toContain('cmdline: exit=0  \n');
    expect(r.status).toBe(0);
  });

  it('runs block as the container user', async () => {
    const { run } = urunc(
      [MEM, '--block:storage=/unikernel/disk.img', '--', '/unikernel/block.hvt'],
      CONTAINER_UID,
    );
    const r = await run;
    expect(r.stdout).toContain('capacity=32768 block_size=512');
    expect(r.stdout).toContain('SUCCESS\n');
    expect(r.status).toBe(0);
  });

  it('answers a verified ping flood on a tap made outside, sandboxed', async () => {
    const octet = 100 + ((process.pid + 71) % 100);
    const hostIp = `10.${octet}.12.1`;
    const guestIp = `10.${octet}.12.2`;
    const tap = tapName('x');
    taps.add(tap, hostIp);
    // urunc makes the tap; the container user may open it.
    sh('ip', ['tuntap', 'del', 'dev', tap, 'mode', 'tap']);
    sh('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap', 'user', String(CONTAINER_UID)]);
    sh('ip', ['addr', 'add', `${hostIp}/24`, 'dev', tap]);
    sh('ip', ['link', 'set', tap, 'up', 'txqueuelen', '20000']);
    const COUNT = 200;
    const target: FloodTarget = { tap, guestIp, pattern: '5aa5f00f3cc36996', payload: 120 };
    const check = verifier(target, COUNT, 120);
    await check.ready;
    let serving: () => void;
    const ready = new Promise<void>((resolve) => {
      serving = resolve;
    });
    const { run, child } = urunc(
      [
        MEM,
        `--net:service0=${tap}`,
        '--net-mac:service0=02:00:00:12:34:56',
        '--',
        '/unikernel/ringecho.hvt',
        `ip=${guestIp}`,
        'quiet=1',
        `limit=${COUNT}`,
      ],
      CONTAINER_UID,
      (out) => {
        if (out.includes('serving')) serving();
      },
    );
    await ready;
    const status = tenderStatus(child.pid!);
    const result = await flood(target, COUNT, 120);
    const r = await run;
    check.stop();
    const verified = await check.result;
    // The sandbox is on: the filter, no_new_privs, the container's uid kept.
    expect(status).toMatch(/^Seccomp:\s+2$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(status).toMatch(new RegExp(`^Uid:\\s+${CONTAINER_UID}\\s`, 'm'));
    expect(result).toMatchObject({ transmitted: COUNT, received: COUNT });
    expect(verified).toMatchObject({ replies: COUNT, intact: COUNT, corrupt: 0, unmatched: 0 });
    expect(r.stdout).toContain(`answered ${COUNT} echo requests`);
    expect(r.status).toBe(0);
  }, 600_000);
});

describe.skipIf(!canRun)("albatross's forms", () => {
  it('--version, stderr merged into stdout, has the line albatross parses', () => {
    const r = spawnSync(exe, ['--version'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const merged = `${r.stdout}${r.stderr}`;
    const abi = merged
      .split('\n')
      .map((line) => /^ABI version (\d+)$/.exec(line)?.[1])
      .find((v) => v !== undefined);
    expect(abi).toBe('2');
    expect(r.status).toBe(0);
  });

  /** Runs the executable with stdin, stdout and stderr one write-only O_APPEND FIFO. */
  async function onFifo(args: string[], whenOutput?: (out: string, child: ChildProcess) => void) {
    const fifo = join(scratch, `console-${Date.now()}`);
    sh('mkfifo', [fifo]);
    const reader = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'inherit'] });
    const fd = openSync(fifo, 'a');
    const child = spawn(exe, args, { stdio: [fd, fd, fd] });
    closeSync(fd);
    let out = '';
    reader.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      whenOutput?.(out, child);
    });
    const ended = new Promise<number | null>((resolve) => child.on('close', resolve));
    const drained = new Promise((resolve) => reader.on('close', resolve));
    const [status] = await Promise.all([ended, drained]);
    return { status, out };
  }

  it('writes the console and its messages to one O_APPEND FIFO', async () => {
    const r = await onFifo([MEM, '--', g['hello']!, 'exit=0']);
    expect(r.out).toContain('Hello, World\n');
    expect(r.status).toBe(0);
  });

  it('ends on SIGTERM with the reference message and status 1', async () => {
    const r = await onFifo([MEM, '--', g['sleep']!], (out, child) => {
      if (out.includes('sleep 1:')) child.kill('SIGTERM');
    });
    expect(r.out).toContain('sleep 1:');
    expect(r.out).toMatch(/solo5-hvt: Exiting on signal 15\n$/);
    expect(r.status).toBe(1);
  });
});
