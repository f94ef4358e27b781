// The nested-VM harness itself, in the normal suite: it runs on every machine,
// including ones whose host /dev/kvm means kvm-suite.mjs never needs the VM.
// Three boots in all.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSmoke } from '../kvm/smoke-build.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const checkout = path.resolve(here, '..', '..');
const runInVm = path.join(here, 'run-in-vm');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(runInVm, args, { cwd: here, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

// Every process of a group gone, zombies included (kill(2) still finds those).
function groupIsGone(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

describe('run-in-vm', () => {
  // In the checkout (so the guest sees it) under the already ignored .cache/.
  const scratchParent = path.join(checkout, '.cache');
  let scratch: string;
  let smoke: { binary: string; cleanup: () => void };

  beforeAll(() => {
    // On a fresh machine this installs packages and downloads the kernel:
    // done here, under the hook timeout, not in the first test's.
    const setup = spawnSync('bash', [path.join(here, 'setup.sh')], { encoding: 'utf8' });
    expect(setup.status, setup.stderr).toBe(0);
    fs.mkdirSync(scratchParent, { recursive: true });
    scratch = fs.mkdtempSync(path.join(scratchParent, 'harness-'));
    smoke = buildSmoke(scratch);
  });

  afterAll(() => {
    smoke?.cleanup();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('gives /dev/kvm, tun, the checkout read-write and the host read-only', async () => {
    const written = path.join(scratch, 'from-guest.txt');
    const probe = [
      `${smoke.binary}`,
      'echo "cwd=$(pwd)"',
      'echo "in_vm=$HVTJS_IN_VM probe=$HVTJS_PROBE"',
      'printenv SECRET_NOT_PASSED || echo "secret=unset"',
      'for d in /tmp /run /dev/shm; do echo "fs $d=$(stat -f -c %T $d)"; done',
      'ip tuntap add dev hvtjs0 mode tap && ip link set hvtjs0 up && echo "tap=ok"',
      'ip -o link show lo | grep -q "<LOOPBACK,UP" && echo "lo=up"',
      'touch /usr/hvtjs-probe 2>/dev/null && echo "root=writable" || echo "root=read-only"',
      `echo written-in-guest > ${written}`,
    ].join('\n');
    const env = { ...process.env, HVTJS_PROBE: 'passed', SECRET_NOT_PASSED: 'leaked' };
    const result = await run(['--', 'sh', '-c', probe], env);
    expect(result.stdout).toContain('kvm smoke: ok');
    expect(result.stdout).toContain(`cwd=${here}`);
    expect(result.stdout).toContain('in_vm=1 probe=passed');
    expect(result.stdout).toContain('secret=unset');
    for (const dir of ['/tmp', '/run', '/dev/shm'])
      expect(result.stdout).toContain(`fs ${dir}=tmpfs`);
    expect(result.stdout).toContain('tap=ok');
    expect(result.stdout).toContain('lo=up');
    expect(result.stdout).toContain('root=read-only');
    expect(result.status, result.stderr).toBe(0);
    expect(fs.readFileSync(written, 'utf8')).toBe('written-in-guest\n');
  }, 600_000);

  it("passes on the command's exit status, stdout and stderr", async () => {
    const result = await run(['--', 'sh', '-c', 'echo to-stdout; echo to-stderr >&2; exit 3']);
    expect(result.stdout).toBe('to-stdout\n');
    expect(result.stderr).toContain('to-stderr\n');
    expect(result.stderr).not.toContain('to-stdout');
    expect(result.stderr).toContain('exit status 3');
    expect(result.status).toBe(3);
  }, 600_000);

  it('kills a hung guest at the timeout, says so, exits 124 and leaves no process', async () => {
    const timeout = 20;
    const started = Date.now();
    const result = await run(['--timeout', String(timeout), '--', 'sleep', '1000']);
    const seconds = (Date.now() - started) / 1000;
    expect(result.stderr).toContain(`timed out after ${timeout} s`);
    expect(result.status).toBe(124);
    expect(seconds).toBeGreaterThanOrEqual(timeout);
    expect(seconds).toBeLessThan(timeout + 30);
    const pgid = Number(/VM process group (\d+)/.exec(result.stderr)?.[1]);
    expect(pgid).toBeGreaterThan(0);
    expect(groupIsGone(pgid)).toBe(true);
  }, 600_000);
});
