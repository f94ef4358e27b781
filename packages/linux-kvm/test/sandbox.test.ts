import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The sandbox's specification, in the style of Firecracker's seccomp tests:
 * a child process builds a tender-shaped policy around real descriptors,
 * applies the real sandbox (the filter compiled from that policy, Landlock,
 * the uid drop), then makes one system call. Every rule gets a case that
 * must work, every checked argument a case where it is changed and the
 * process must die of SIGSYS, and so does every call of the always-denied
 * classes. The cases come from the same rule table the addon loads.
 */

const CHILD = fileURLToPath(new URL('./fixtures/sandbox-child.mjs', import.meta.url));
// Each case starts Node: seconds natively, much longer inside the nested VM.
const CHILD_MS = 120_000;
const scratch = mkdtempSync(join(tmpdir(), 'hvtjs-sandbox-'));
// The child drops to nobody, who must still be able to reach the dump directory.
chmodSync(scratch, 0o755);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface ProbeCase {
  name: string;
  syscall: string;
  args: string[];
  expect: 'allow' | 'errno' | 'kill';
  errno?: number;
  special?: 'exit' | 'signal' | 'thread-exit';
}

interface ChildRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  pid: number;
}

function runChild(
  args: string[],
  options: {
    nodeArgs?: string[];
    timeoutMs?: number;
    onLine?: (line: string, pid: number) => void;
    env?: NodeJS.ProcessEnv;
  } = {},
): Promise<ChildRun> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), CHILD, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.env ? { env: options.env } : {}),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const before = stdout.length;
    stdout += chunk;
    if (options.onLine) {
      const complete = stdout.slice(0, stdout.lastIndexOf('\n') + 1);
      for (const line of complete
        .slice(stdout.slice(0, before).lastIndexOf('\n') + 1)
        .split('\n')) {
        if (line !== '') options.onLine(line, child.pid!);
      }
    }
  });
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? CHILD_MS);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, pid: child.pid! });
    });
  });
}

interface Listing {
  cases: (ProbeCase & { index: number })[];
  plan: { keepFds: number[]; coreFd: number; channelFd: number; landlock: number | 'unavailable' };
}

function listCases(nodeArgs: string[]): Listing {
  const listed = spawnSync(process.execPath, [...nodeArgs, CHILD, 'list', scratch], {
    encoding: 'utf8',
  });
  if (listed.status !== 0) throw new Error(`listing the probe cases failed:\n${listed.stderr}`);
  const listing = JSON.parse(listed.stdout) as Listing;
  listing.cases = listing.cases.map((c, i) => ({ ...c, index: i }));
  return listing;
}

const { cases, plan } = listCases([]);
const allowed = cases.filter((c) => c.expect !== 'kill');
const forbidden = cases.filter((c) => c.expect === 'kill');
// Under --jitless the filter also refuses PROT_EXEC to mprotect: the cases
// that only exist there run under --jitless.
const jitNames = new Set(cases.map((c) => c.name));
const jitless = listCases(['--jitless']).cases;
const jitlessAllowed = jitless.filter((c) => c.expect !== 'kill' && !jitNames.has(c.name));
const jitlessForbidden = jitless.filter((c) => c.expect === 'kill' && !jitNames.has(c.name));
const asRoot = process.getuid?.() === 0;

describe('the probe cases', () => {
  it('cover every rule and every always-denied call', () => {
    expect(allowed.length).toBeGreaterThan(30);
    expect(jitlessForbidden.map((c) => c.name)).toEqual([
      'mprotect(prot without PROT_EXEC) with prot without PROT_EXEC changed to 0x4',
    ]);
    expect(forbidden.length).toBeGreaterThan(allowed.length);
    for (const name of ['execve', 'clone3', 'socket', 'openat', 'ptrace', 'io_uring_setup']) {
      expect(forbidden.some((c) => c.syscall === name && c.args.every((a) => a === '0x0'))).toBe(
        true,
      );
    }
  });
});

describe('allowed calls with allowed arguments work under the filter', () => {
  let run: ChildRun;
  const results = new Map<number, bigint>();

  beforeAll(async () => {
    run = await runChild(['allowed', scratch]);
    for (const m of run.stdout.matchAll(/^RESULT (\d+) (-?\d+)$/gm)) {
      results.set(Number(m[1]), BigInt(m[2]!));
    }
  });

  it('the child makes every call and ends through exit_group with status 0', () => {
    expect(run.stderr).toBe('');
    expect(run.signal).toBeNull();
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('\nDONE\n');
  });

  let jitlessRun: ChildRun;
  beforeAll(async () => {
    jitlessRun = await runChild(['allowed', scratch], { nodeArgs: ['--jitless'] });
  });

  it.each(jitlessAllowed.map((c) => [`${c.name} (--jitless)`, c] as const))('%s', (_name, c) => {
    expect(jitlessRun.status).toBe(0);
    expect(jitlessRun.stdout).toMatch(new RegExp(`^RESULT ${c.index} `, 'm'));
  });

  it.each(allowed.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    if (c.special === 'exit') {
      // exit_group ended the child with status 0 (checked above).
      expect(run.status).toBe(0);
      return;
    }
    expect(results.has(c.index)).toBe(true);
    if (c.expect === 'errno') expect(results.get(c.index)).toBe(-BigInt(c.errno!));
    if (c.special === 'signal') expect(results.get(c.index)).toBe(0n);
  });
});

describe('forbidden calls, and allowed calls with one argument changed, kill the process with SIGSYS', () => {
  it.concurrent.each(forbidden.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const run = await runChild(['forbidden', scratch, String(c.index), c.name]);
    expect(run.stdout).toContain(`PROBE ${c.index}\n`);
    expect(run.stdout).not.toContain('SURVIVED');
    expect(run.signal).toBe('SIGSYS');
  });

  it.concurrent.each(jitlessForbidden.map((c) => [`${c.name} (--jitless)`, c] as const))(
    '%s',
    async (_name, c) => {
      const run = await runChild(['forbidden', scratch, String(c.index), c.name], {
        nodeArgs: ['--jitless'],
      });
      expect(run.stdout).toContain(`PROBE ${c.index}\n`);
      expect(run.signal).toBe('SIGSYS');
    },
  );

  it('without --dumpcore, creating a file kills too', async () => {
    const run = await runChild(['plain', scratch, 'create']);
    expect(run.stdout).toContain('PROBE create\n');
    expect(run.signal).toBe('SIGSYS');
  });

  it('without the network ring thread, no thread may end (exit)', async () => {
    const run = await runChild(['plain', scratch, 'exit']);
    expect(run.stdout).toContain('PROBE exit\n');
    expect(run.signal).toBe('SIGSYS');
  });
});

describe('the rest of the sandbox', () => {
  it("refuses to drop privileges while libuv's io_uring is enabled (CVE-2024-22017)", async () => {
    const run = await runChild(['allowed', scratch], {
      env: { ...process.env, UV_USE_IO_URING: '1' },
    });
    expect(run.stderr).toContain(
      "sandbox: refusing to drop privileges while libuv's io_uring is enabled",
    );
    expect(run.stderr).toContain("Unset UV_USE_IO_URING (it is '1')");
    expect(run.stdout).not.toContain('REPORT');
    expect(run.status).toBe(1);
  });

  it('closes every fd the policy does not name, drops the uid as root, and reports it', async () => {
    const run = await runChild(['allowed', scratch]);
    const report = JSON.parse(/^REPORT (.*)$/m.exec(run.stdout)![1]!) as {
      applied: string[];
      unavailable: string[];
    };
    expect(report.applied.find((l) => l.startsWith('fds: kept'))).toBe(
      `fds: kept ${plan.keepFds.join(', ')}; closed ${
        report.applied.find((l) => l.startsWith('fds:'))!.split('closed ')[1]
      }`,
    );
    expect(report.applied.some((l) => l.startsWith('seccomp:'))).toBe(true);
    if (asRoot) expect(report.applied).toContainEqual(expect.stringMatching(/^user: uid 65534 /));
    else expect(report.applied).toContainEqual(expect.stringMatching(/^user: kept/));
    expect(report.applied).toContainEqual(
      expect.stringMatching(/^rlimits: NOFILE \d+, NPROC 0, CORE 0/),
    );
    if (plan.landlock === 'unavailable') expect(report.unavailable).toHaveLength(1);
  });
});

/** Whether `path` is gone within a few seconds (the remover acts once the child has ended). */
async function goneSoon(path: string): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (!existsSync(path)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

const corePath = (pid: number) => join(scratch, 'dumps', `core.solo5-hvt.${pid}`);

describe("dumpcore's core file: created before the drop, written after it, removed unless written", () => {
  it('is written (pwrite, ftruncate) and kept under the filter, and readelf reads it', async () => {
    const run = await runChild(['dumpfile', scratch]);
    expect(run.stderr).toBe('');
    expect(run.signal).toBeNull();
    expect(run.status).toBe(0);
    const result = JSON.parse(/^DUMPED (.*)$/m.exec(run.stdout)![1]!) as { writeErrors: number };
    expect(result.writeErrors).toBe(0);
    const path = corePath(run.pid);
    // Kept: still there well after the child ended.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const core = readFileSync(path);
    expect([...core.subarray(0, 4)]).toEqual([0x7f, 0x45, 0x4c, 0x46]);
    expect(core.length).toBe(4096 + (1 << 20));
    expect(core.subarray(4096 + 0x1000, 4096 + 0x1000 + 11).toString()).toBe('guest bytes');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const notes = spawnSync('readelf', ['-n', path], { encoding: 'utf8' });
    if (notes.status === 0) expect(notes.stdout).toMatch(/CORE\s+0x00000150\s+NT_PRSTATUS/);
  });

  it('is removed when the process ends without a dump (exit_group)', async () => {
    const run = await runChild(['allowed', scratch]);
    expect(run.status).toBe(0);
    expect(await goneSoon(corePath(run.pid))).toBe(true);
  });

  it('is removed when the process is killed (SIGKILL, SIGSYS)', async () => {
    const held = await runChild(['hold', scratch], {
      onLine: (line, pid) => {
        if (line === 'HOLDING') {
          // It exists while the process lives.
          expect(existsSync(corePath(pid))).toBe(true);
          process.kill(pid, 'SIGKILL');
        }
      },
    });
    expect(held.signal).toBe('SIGKILL');
    expect(await goneSoon(corePath(held.pid))).toBe(true);
    const killed = await runChild(['plain', scratch, 'create']);
    expect(killed.signal).toBe('SIGSYS');
    expect(await goneSoon(corePath(killed.pid))).toBe(true);
  });
});

describe('after the drop no thread creates or opens a file for writing: killed, nothing created', () => {
  const variants = [];
  for (const landlock of ['with Landlock', 'without Landlock (HVTJS_TEST_NO_LANDLOCK=1)']) {
    for (const dumpcore of ['with dumpcore', 'without dumpcore']) {
      for (const thread of ['main', 'pool'] as const) {
        variants.push({ landlock, dumpcore, thread });
      }
    }
  }
  it.concurrent.each(variants.map((v) => [`${v.thread} thread, ${v.dumpcore}, ${v.landlock}`, v]))(
    '%s',
    async (_name, v) => {
      const target = join(
        scratch,
        'dumps',
        `created-${v.thread}-${v.dumpcore.split(' ')[0]}-${v.landlock.split(' ')[0]}`,
      );
      const env = { ...process.env };
      if (v.landlock.startsWith('without')) env['HVTJS_TEST_NO_LANDLOCK'] = '1';
      else delete env['HVTJS_TEST_NO_LANDLOCK'];
      const args =
        v.dumpcore === 'with dumpcore'
          ? ['open', scratch, v.thread, target]
          : ['plain', scratch, `open-${v.thread}`, target];
      const run = await runChild(args, { env });
      const report = JSON.parse(/^REPORT (.*)$/m.exec(run.stdout)![1]!) as {
        applied: string[];
        unavailable: string[];
      };
      if (v.landlock.startsWith('without')) {
        expect(report.unavailable).toContain(
          'landlock: turned off by HVTJS_TEST_NO_LANDLOCK=1 (tests only)',
        );
      } else if (plan.landlock !== 'unavailable') {
        expect(report.applied.some((l) => l.startsWith('landlock: '))).toBe(true);
      }
      expect(run.stdout).toMatch(/^PROBE /m);
      expect(run.stdout).not.toContain('SURVIVED');
      expect(run.signal).toBe('SIGSYS');
      expect(existsSync(target)).toBe(false);
    },
  );
});

const WORKLOAD_SECONDS = Number(process.env['HVTJS_SANDBOX_WORKLOAD_SECONDS'] ?? 60);

/** The fields of /proc/PID/status the sandbox changes. */
function procStatus(pid: number): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = /^(\w+):\s*(.*)$/.exec(line);
    if (m) fields[m[1]!] = m[2]!;
  }
  return fields;
}

describe('a Node workload keeps running under the filter', () => {
  it.concurrent.each([
    ['with the JIT', []],
    ['--jitless', ['--jitless']],
  ])(
    `%s: GC-heavy allocation, a growing heap, timers and console output for ${WORKLOAD_SECONDS} s`,
    async (_mode, nodeArgs) => {
      let during: { status: Record<string, string> } | undefined;
      const run = await runChild(['workload', scratch, String(WORKLOAD_SECONDS)], {
        nodeArgs,
        timeoutMs: WORKLOAD_SECONDS * 1000 + 60_000,
        onLine: (line, pid) => {
          if (during === undefined && line.startsWith('tick '))
            during = { status: procStatus(pid) };
        },
      });
      expect(run.signal).toBeNull();
      expect(run.status).toBe(0);
      const result = JSON.parse(/^WORKLOAD (.*)$/m.exec(run.stdout)![1]!) as {
        ticks: number;
        seconds: number;
        allocatedMiB: number;
        heapAtStartMiB: number;
        heapAtEndMiB: number;
        retained: number;
      };
      expect(result.seconds).toBeGreaterThanOrEqual(WORKLOAD_SECONDS);
      // Timers kept firing (every 4 ms when the machine keeps up).
      expect(result.ticks).toBeGreaterThan(WORKLOAD_SECONDS * 20);
      // Far more allocated than the heap ever held: the collector ran throughout.
      expect(result.allocatedMiB).toBeGreaterThan(result.heapAtEndMiB * 5);
      // Every object retained is still there: at least 16 bytes each.
      expect(result.retained).toBe(result.ticks * 48);
      expect(result.heapAtEndMiB - result.heapAtStartMiB).toBeGreaterThan(
        (result.retained * 16) / 2 ** 20,
      );
      // While it ran: filtered, no_new_privs, and (as root) no longer root.
      expect(during).toBeDefined();
      expect(during!.status['Seccomp']).toBe('2');
      expect(during!.status['NoNewPrivs']).toBe('1');
      if (asRoot) {
        expect(during!.status['Uid']!.split(/\s+/).every((u) => u === '65534')).toBe(true);
        expect(during!.status['Gid']!.split(/\s+/).every((g) => g !== '0')).toBe(true);
        expect(during!.status['Groups']).toBe('');
      }
    },
    WORKLOAD_SECONDS * 1000 + 90_000,
  );
});
