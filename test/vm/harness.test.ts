// The nested-VM harness itself, in the normal suite: it runs on every machine,
// including ones whose host /dev/kvm means kvm-suite.mjs never needs the VM.
// Four boots in all: three x86_64, one aarch64.
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

const nodeArch = { x86_64: 'x64', aarch64: 'arm64' } as const;

describe('run-in-vm', () => {
  // In the checkout (so the guest sees it) under the already ignored .cache/.
  const scratchParent = path.join(checkout, '.cache');
  let scratch: string;

  beforeAll(() => {
    // On a fresh machine this installs packages and downloads the kernels:
    // done here, under the hook timeout, not in the first test's.
    for (const arch of ['x86_64', 'aarch64']) {
      const setup = spawnSync('bash', [path.join(here, 'setup.sh'), arch], { encoding: 'utf8' });
      expect(setup.status, setup.stderr).toBe(0);
    }
    fs.mkdirSync(scratchParent, { recursive: true });
    scratch = fs.mkdtempSync(path.join(scratchParent, 'harness-'));
  }, 600_000);

  afterAll(() => {
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  // One boot per architecture. The x86_64 guest runs the host's programs (its
  // root is the host's, read-only); the aarch64 one its own busybox and Node,
  // with the host root read-only at /host. Busybox's ip has no tuntap, so a
  // tap is made there with its tunctl.
  it.each([
    { arch: 'x86_64', readOnly: '/usr', makeTap: 'ip tuntap add dev hvtjs0 mode tap' },
    { arch: 'aarch64', readOnly: '/host/usr', makeTap: 'tunctl -t hvtjs0 >/dev/null' },
  ] as const)(
    '$arch: gives /dev/kvm, tun, the checkout read-write and the host read-only',
    async ({ arch, readOnly, makeTap }) => {
      const smoke = buildSmoke(scratch, arch);
      const written = path.join(scratch, `from-${arch}-guest.txt`);
      const probe = [
        `${smoke.binary}`,
        'echo "machine=$(uname -m)"',
        `node -p '"node=" + process.arch + " " + process.version'`,
        'echo "cwd=$(pwd)"',
        'echo "in_vm=$HVTJS_IN_VM probe=$HVTJS_PROBE"',
        'printenv SECRET_NOT_PASSED || echo "secret=unset"',
        'for d in /tmp /run /dev/shm; do echo "fs $d=$(stat -f -c %T $d)"; done',
        `${makeTap} && ip link set hvtjs0 up && echo "tap=ok"`,
        'ip -o link show lo | grep -q "<LOOPBACK,UP" && echo "lo=up"',
        `touch ${readOnly}/hvtjs-probe 2>/dev/null && echo "root=writable" || echo "root=read-only"`,
        `echo written-in-guest > ${written}`,
      ].join('\n');
      const env = { ...process.env, HVTJS_PROBE: 'passed', SECRET_NOT_PASSED: 'leaked' };
      const result = await run(['--arch', arch, '--', 'sh', '-c', probe], env);
      smoke.cleanup();
      expect(result.stdout).toContain('kvm smoke: ok');
      expect(result.stdout).toContain(`machine=${arch}`);
      expect(result.stdout).toContain(`node=${nodeArch[arch]} ${process.version}`);
      expect(result.stdout).toContain(`cwd=${here}`);
      expect(result.stdout).toContain('in_vm=1 probe=passed');
      expect(result.stdout).toContain('secret=unset');
      for (const dir of ['/tmp', '/run', '/dev/shm'])
        expect(result.stdout).toContain(`fs ${dir}=tmpfs`);
      expect(result.stdout).toContain('tap=ok');
      expect(result.stdout).toContain('lo=up');
      expect(result.stdout).toContain('root=read-only');
      expect(result.stderr).toContain(`, ${arch}, timeout`);
      expect(result.status, result.stderr).toBe(0);
      expect(fs.readFileSync(written, 'utf8')).toBe('written-in-guest\n');
    },
    600_000,
  );

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
