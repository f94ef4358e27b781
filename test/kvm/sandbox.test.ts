import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Guests, guestPaths, runTender, SOLO5_HVT, type TenderRun } from './tender-harness.js';

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

/** The fields of a /proc status file. */
function status(path: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^(\w+):\s*(.*)$/.exec(line);
    if (m) fields[m[1]!] = m[2]!;
  }
  return fields;
}

/** A task the kernel runs inside the process (PF_USER_WORKER, PF_IO_WORKER). */
function kernelWorker(pid: number, tid: string): boolean {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  const flags = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[6]);
  return (flags & (0x4000 | 0x10)) !== 0;
}

/** The tender with extra Node options (the compromised one is loaded with --import). */
function runWithNode(nodeArgs: string[], args: string[]): Promise<TenderRun> {
  const started = Date.now();
  const child = spawn(process.execPath, [...nodeArgs, SOLO5_HVT, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
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
  const compromised = (args: string[]) => runWithNode(['--import', COMPROMISED], args);

  it('(the take-over works: without the sandbox the tender opens what the guest names)', async () => {
    const run = await compromised(['--unsafe-no-sandbox', MEM, g['hello']!, 'open=/etc/passwd:r']);
    expect(run.stderr).toMatch(/^ATTEMPT r \/etc\/passwd: opened fd \d+$/m);
    expect(run.status).toBe(0);
  });

  it('reading a file fails (EACCES from the filter): nothing is opened', async () => {
    const run = await compromised([MEM, g['hello']!, 'open=/etc/passwd:r']);
    expect(run.stderr).toContain('ATTEMPT r /etc/passwd: EACCES\n');
    expect(run.stdout).toContain('SUCCESS');
    expect(run.status).toBe(0);
  });

  it('opening a file for writing kills the tender (SIGSYS)', async () => {
    const run = await compromised([MEM, g['hello']!, 'open=/etc/passwd:r+']);
    expect(run.stderr).not.toContain('ATTEMPT');
    expect(run.signal).toBe('SIGSYS');
  });

  it('creating a file kills the tender when dumpcore is off', async () => {
    const target = join(scratch, 'created');
    const run = await compromised([MEM, g['hello']!, `open=${target}:wx`]);
    expect(run.signal).toBe('SIGSYS');
    expect(existsSync(target)).toBe(false);
  });

  it('with dumpcore on, files can be created in its directory only (Landlock)', async () => {
    const dumps = join(scratch, 'dumps');
    mkdirSync(dumps, { recursive: true });
    chmodSync(dumps, 0o777);
    const printed = await runTender(['--print-policy', `--dumpcore=${dumps}`, g['hello']!]);
    const landlock = (JSON.parse(printed.stdout) as { compiled: { landlock: { abi?: number } } })
      .compiled.landlock;
    const outside = join(scratch, 'outside');
    const inside = join(dumps, 'inside');
    const run = await compromised([
      MEM,
      `--dumpcore=${dumps}`,
      g['hello']!,
      `open=${outside}:wx`,
      `open=${inside}:wx`,
    ]);
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(new RegExp(`^ATTEMPT wx ${inside}: opened fd \\d+$`, 'm'));
    expect(existsSync(inside)).toBe(true);
    if (landlock.abi !== undefined) {
      expect(run.stderr).toContain(`ATTEMPT wx ${outside}: EACCES\n`);
      expect(existsSync(outside)).toBe(false);
    }
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
});
