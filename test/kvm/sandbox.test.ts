import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Guests,
  guestPaths,
  runTender,
  SOLO5_HVT,
  procStatus as status,
  type TenderRun,
} from './tender-harness.js';

// The sandbox end to end, on real KVM: the tender as users start it (the
// sandbox is on unless --unsafe-no-sandbox), looked at from outside while the
// guest runs, and a tender that a guest has taken over (fixtures/
// compromised-tender.mjs, loaded with --import) trying to open files.

const MEM = '--mem=32';
const asRoot = process.getuid?.() === 0;
const COMPROMISED = fileURLToPath(new URL('./fixtures/compromised-tender.mjs', import.meta.url));

let g: Guests;
let scratch: string;
beforeAll(async () => {
  g = await guestPaths();
  scratch = await mkdtemp(join(tmpdir(), 'hvtjs-sandbox-'));
  // The sandboxed tender is nobody when started as root: it must reach in.
  chmodSync(scratch, 0o755);
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A task the kernel runs inside the process (PF_USER_WORKER, PF_IO_WORKER). */
function kernelWorker(pid: number, tid: string): boolean {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  const flags = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[6]);
  return (flags & (0x4000 | 0x10)) !== 0;
}

/** The tender with extra Node options (the compromised one is loaded with --import). */
function runWithNode(
  nodeArgs: string[],
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<TenderRun> {
  const started = Date.now();
  const child = spawn(process.execPath, [...nodeArgs, SOLO5_HVT, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (c: string) => {
    stdout += c;
  });
  child.stderr.on('data', (c: string) => {
    stderr += c;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ status: code, signal, stdout, stderr, pid: child.pid!, ms: Date.now() - started });
    });
  });
}

describe('while a guest sleeps in POLL', () => {
  it('the tender is filtered (Seccomp 2) with no_new_privs on every thread, and no longer root', async () => {
    let seen:
      | { main: Record<string, string>; threads: Record<string, string>[]; workers: number }
      | undefined;
    const run = await runTender([MEM, g['sleep']!], {
      onStdout: (stdout, child) => {
        // After the first one-second POLL, the guest is in the second.
        if (seen !== undefined || !stdout.includes('sleep 1:')) return;
        const pid = child.pid!;
        const tids = readdirSync(`/proc/${pid}/task`);
        const user = tids.filter((tid) => !kernelWorker(pid, tid));
        seen = {
          main: status(`/proc/${pid}/status`),
          threads: user.map((tid) => status(`/proc/${pid}/task/${tid}/status`)),
          workers: tids.length - user.length,
        };
      },
    });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('SUCCESS');
    expect(seen).toBeDefined();
    const { main, threads } = seen!;
    expect(main['Seccomp']).toBe('2');
    expect(main['NoNewPrivs']).toBe('1');
    expect(threads.length).toBeGreaterThan(1);
    for (const t of threads) {
      expect(t['Seccomp']).toBe('2');
      expect(t['NoNewPrivs']).toBe('1');
    }
    if (asRoot) {
      for (const t of [main, ...threads]) {
        expect(t['Uid']!.split(/\s+/).map(Number)).not.toContain(0);
        expect(t['Gid']!.split(/\s+/).map(Number)).not.toContain(0);
        expect(t['Groups']).toBe('');
      }
      expect(main['Uid']).toBe('65534\t65534\t65534\t65534');
    }
  });

  it('--unsafe-no-sandbox warns loudly and leaves the tender as it was', async () => {
    let seen: Record<string, string> | undefined;
    const run = await runTender(['--unsafe-no-sandbox', MEM, g['sleep']!], {
      onStdout: (stdout, child) => {
        if (seen === undefined && stdout.includes('sleep 1:')) {
          seen = status(`/proc/${child.pid}/status`);
        }
      },
    });
    expect(run.status).toBe(0);
    expect(run.stderr).toContain('solo5-hvt: WARNING: --unsafe-no-sandbox');
    expect(seen!['Seccomp']).toBe('0');
  });
});

describe('a guest cannot make the tender open a file', () => {
  const compromised = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    runWithNode(['--import', COMPROMISED], args, env);

  it('(the take-over works: without the sandbox the tender opens what the guest names)', async () => {
    const run = await compromised(['--unsafe-no-sandbox', MEM, g['hello']!, 'open=/etc/passwd:r']);
    expect(run.stderr).toMatch(/^ATTEMPT open r \/etc\/passwd: opened fd \d+$/m);
    expect(run.status).toBe(0);
  });

  it('(and through the thread pool: without the sandbox a pool thread creates the file)', async () => {
    const target = join(scratch, 'pool-unsandboxed');
    const run = await compromised(['--unsafe-no-sandbox', MEM, g['hello']!, `aopen=${target}:wx`]);
    expect(run.stderr).toContain(`ATTEMPT aopen wx ${target}: waited`);
    expect(run.status).toBe(0);
    expect(existsSync(target)).toBe(true);
  });

  it('reading a file fails (EACCES from the filter): nothing is opened', async () => {
    const run = await compromised([MEM, g['hello']!, 'open=/etc/passwd:r']);
    expect(run.stderr).toContain('ATTEMPT open r /etc/passwd: EACCES\n');
    expect(run.stdout).toContain('SUCCESS');
    expect(run.status).toBe(0);
  });

  it('opening a file for writing kills the tender (SIGSYS)', async () => {
    const run = await compromised([MEM, g['hello']!, 'open=/etc/passwd:r+']);
    expect(run.stderr).not.toContain('ATTEMPT');
    expect(run.signal).toBe('SIGSYS');
  });

  // Creating a file, from the vCPU thread (openSync) or from libuv's pool
  // (fs.open), in the dump directory itself, with and without --dumpcore,
  // with Landlock and without it (as on a kernel that lacks it): the filter
  // kills the tender every time, and no file appears. No core file is left
  // behind either.
  const variants: { thread: 'open' | 'aopen'; dumpcore: boolean; landlock: boolean }[] = [];
  for (const landlock of [true, false]) {
    for (const dumpcore of [true, false]) {
      for (const thread of ['open', 'aopen'] as const)
        variants.push({ thread, dumpcore, landlock });
    }
  }
  it.each(
    variants.map((v) => [
      `${v.thread === 'open' ? 'vCPU thread' : 'pool thread'}, ${v.dumpcore ? 'with' : 'without'} --dumpcore, ${v.landlock ? 'with' : 'without'} Landlock`,
      v,
    ]),
  )('creating a file kills the tender: %s', async (_name, v) => {
    const dumps = dumpDir(`create-${v.thread}-${v.dumpcore}-${v.landlock}`);
    const target = join(dumps, 'created');
    const run = await compromised(
      [
        MEM,
        ...(v.dumpcore ? [`--dumpcore=${dumps}`] : []),
        g['hello']!,
        `${v.thread}=${target}:wx`,
      ],
      v.landlock ? {} : { HVTJS_TEST_NO_LANDLOCK: '1', HVTJS_DEBUG: '1' },
    );
    if (!v.landlock) {
      // The switch took Landlock out, and nothing else.
      expect(run.stderr).toContain(
        'sandbox: unavailable: landlock: turned off by HVTJS_TEST_NO_LANDLOCK=1 (tests only)',
      );
      expect(run.stderr).toMatch(/sandbox: seccomp: \d+ allow rules/);
    }
    expect(run.stdout).toContain(`${v.thread}=${target}:wx`);
    expect(run.stderr).not.toContain('ATTEMPT');
    expect(run.signal).toBe('SIGSYS');
    expect(existsSync(target)).toBe(false);
    expect(await noCoreFileSoon(dumps)).toEqual([]);
  });
});

describe('--dumpcore leaves no core file behind when there is no dump', () => {
  it('after a guest that exits 0', async () => {
    const dumps = dumpDir('exit0');
    let during: string[] = [];
    const run = await runTender([MEM, `--dumpcore=${dumps}`, g['sleep']!], {
      onStdout: (stdout) => {
        // Created before the drop, it exists while the guest runs.
        if (during.length === 0 && stdout.includes('sleep 1:')) during = readdirSync(dumps);
      },
    });
    expect(run.status).toBe(0);
    expect(during).toEqual([`core.solo5-hvt.${run.pid}`]);
    expect(await noCoreFileSoon(dumps)).toEqual([]);
  });

  it('after a run ended by SIGTERM', async () => {
    const dumps = dumpDir('sigterm');
    let during: string[] = [];
    const run = await runTender([MEM, `--dumpcore=${dumps}`, g['sleep']!], {
      onStdout: (stdout, child) => {
        if (during.length === 0 && stdout.includes('sleep 1:')) {
          during = readdirSync(dumps);
          child.kill('SIGTERM');
        }
      },
    });
    expect(run.stderr).toBe('solo5-hvt: Exiting on signal 15\n');
    expect(run.status).toBe(1);
    expect(during).toEqual([`core.solo5-hvt.${run.pid}`]);
    expect(await noCoreFileSoon(dumps)).toEqual([]);
  });

  it('after --print-policy (which shows the file it created)', async () => {
    const dumps = dumpDir('print');
    const run = await runTender(['--print-policy', `--dumpcore=${dumps}`, g['hello']!]);
    expect(run.status).toBe(0);
    const printed = JSON.parse(run.stdout) as { policy: { fds: { kind: string; what: string }[] } };
    expect(printed.policy.fds.find((f) => f.kind === 'file')?.what).toContain(
      `${dumps}/core.solo5-hvt.${run.pid}`,
    );
    expect(await noCoreFileSoon(dumps)).toEqual([]);
  });
});

describe('--print-policy', () => {
  it('prints the policy and the rules it compiles to, without running the guest', async () => {
    const disk = join(scratch, 'disk');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(disk, new Uint8Array(512 * 64));
    const run = await runTender(['--print-policy', MEM, `--block:storage=${disk}`, g['block']!]);
    expect(run.status).toBe(0);
    expect(run.stderr).toBe('');
    const printed = JSON.parse(run.stdout) as {
      platform: string;
      policy: { fds: { fd: number; kind: string; ops: string[]; ioctls?: string[] }[] };
      compiled: {
        identity: { action: string };
        seccomp: {
          defaultAction: string;
          allow: { syscall: string; args: { means: string }[] }[];
          alwaysDenied: Record<string, string[]>;
        };
        landlock: { abi?: number; unavailable?: string };
        rlimits: { NPROC: number; CORE: number };
      };
    };
    expect(printed.platform).toBe('linux-kvm');
    const vcpu = printed.policy.fds.find((f) => f.kind === 'vcpu')!;
    expect(vcpu.ops).toEqual(['ioctl']);
    expect(vcpu.ioctls).toEqual([
      'KVM_RUN (0xae80)',
      'KVM_GET_REGS (0x8090ae81)',
      'KVM_GET_SREGS (0x8138ae83)',
    ]);
    const block = printed.policy.fds.find((f) => f.kind === 'block')!;
    expect(block.ops).toEqual(['pread', 'pwrite']);
    const { seccomp } = printed.compiled;
    expect(seccomp.defaultAction).toBe('kill-process');
    const ioctls = seccomp.allow.filter((r) => r.syscall === 'ioctl');
    expect(ioctls.map((r) => r.args.map((a) => a.means))).toEqual([
      [`fd ${vcpu.fd} (vCPU 0)`, 'request KVM_RUN (0xae80)'],
      [`fd ${vcpu.fd} (vCPU 0)`, 'request KVM_GET_REGS (0x8090ae81)'],
      [`fd ${vcpu.fd} (vCPU 0)`, 'request KVM_GET_SREGS (0x8138ae83)'],
    ]);
    expect(seccomp.allow.filter((r) => r.syscall === 'pread64')).toHaveLength(1);
    expect(seccomp.alwaysDenied['program execution']).toEqual(['execve', 'execveat']);
    expect(printed.compiled.rlimits).toMatchObject({ NPROC: 0, CORE: 0 });
    expect(printed.compiled.identity.action).toBe(asRoot ? 'drop' : 'keep');
    // Landlock is there or says why not: never silently missing.
    expect(printed.compiled.landlock.abi ?? printed.compiled.landlock.unavailable).toBeDefined();
    // The guest never ran.
    expect(run.stdout).not.toContain('Solo5:');
  });

  it('with --dumpcore: the core file and the channel, no open, and which threads Landlock confines', async () => {
    const dumps = dumpDir('policy');
    const run = await runTender(['--print-policy', MEM, `--dumpcore=${dumps}`, g['hello']!]);
    expect(run.status).toBe(0);
    const printed = JSON.parse(run.stdout) as {
      policy: { fds: { fd: number; kind: string; ops: string[]; size?: number; what: string }[] };
      compiled: {
        seccomp: { allow: { syscall: string; args: { means: string }[]; fails?: string }[] };
        landlock: { abi?: number; appliesTo?: string; grants?: unknown[] };
      };
    };
    const file = printed.policy.fds.find((f) => f.kind === 'file')!;
    expect(file.ops).toEqual(['pwrite', 'truncate']);
    // 32 MiB of guest memory and one page of headers.
    expect(file.size).toBe(4096 + (32 << 20));
    expect(file.what).toMatch(new RegExp(`^core file: ${dumps}/core\\.solo5-hvt\\.\\d+ `));
    const channel = printed.policy.fds.find((f) => f.kind === 'channel')!;
    expect(channel.ops).toEqual(['write']);
    expect(printed.policy.fds.some((f) => f.ops.includes('create'))).toBe(false);
    expect(printed.policy.fds.some((f) => f.kind === 'directory')).toBe(false);
    const { allow } = printed.compiled.seccomp;
    const opens = allow.filter((r) => ['open', 'openat', 'openat2', 'creat'].includes(r.syscall));
    expect(opens).toEqual([expect.objectContaining({ syscall: 'openat', fails: 'errno 13' })]);
    expect(allow.filter((r) => r.syscall === 'ftruncate').map((r) => r.args[0]!.means)).toEqual([
      `fd ${file.fd} (${file.what})`,
    ]);
    expect(allow.filter((r) => r.syscall === 'pwrite64').map((r) => r.args[0]!.means)).toEqual([
      `fd ${file.fd} (${file.what})`,
    ]);
    if (printed.compiled.landlock.abi !== undefined) {
      expect(printed.compiled.landlock.appliesTo).toMatch(
        /^only the thread that drops privileges and runs the vCPU/,
      );
      expect(printed.compiled.landlock.grants).toEqual([]);
    }
  });
});

/** A dump directory the sandboxed tender (nobody, when run as root) may write. */
function dumpDir(name: string): string {
  const dir = join(scratch, `dumps-${name}`);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o777);
  return dir;
}

/**
 * The core files left in `dir` once the remover has had its moment: it acts
 * when the tender's end closes its channel, just after the tender is gone.
 */
async function noCoreFileSoon(dir: string): Promise<string[]> {
  const cores = () => readdirSync(dir).filter((n) => n.startsWith('core.solo5-hvt.'));
  for (let i = 0; i < 100 && cores().length > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return cores();
}
