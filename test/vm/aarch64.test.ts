// solo5-hvt on aarch64: our aarch64 guests under a real arm64 KVM, in one boot of
// the nested aarch64 VM (run-in-vm --arch aarch64). aarch64-cases.mjs runs the
// cases in there and records what happened; the assertions are here. Needs the
// built packages (dist/) and the arm64 prebuild of the addon, which beforeAll
// cross-compiles if it is missing or stale.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARCHES, buildGuests } from '../guests/build.mjs';
import { hostileFatal, memOf } from '../kvm/hostile-expected.js';
import { compileC } from '../kvm/smoke-build.mjs';
import { messages, type TenderRun } from '../kvm/tender-harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const checkout = path.resolve(here, '..', '..');
const fatal = hostileFatal('aarch64');

interface CaseResult extends Omit<TenderRun, 'pid' | 'ms'> {
  seconds: number;
  live?: { seccomp?: string; uid?: string; gid?: string; noNewPrivs?: string };
  ping?: { status: number; text: string };
  flood?: { status: number; text: string };
}

let results: Record<string, CaseResult>;
let scratch: string;
let vmOutput = '';

function result(name: string): CaseResult {
  const r = results[name];
  expect(r, `no result for ${name}; the VM said:\n${vmOutput}`).toBeDefined();
  return r!;
}

beforeAll(async () => {
  await buildGuests('aarch64');
  const prebuild = spawnSync(
    process.execPath,
    [path.join(checkout, 'packages/linux-kvm/scripts/prebuild.mjs'), 'arm64'],
    { encoding: 'utf8' },
  );
  expect(prebuild.status, prebuild.stderr).toBe(0);
  fs.mkdirSync(path.join(checkout, '.cache'), { recursive: true });
  scratch = fs.mkdtempSync(path.join(checkout, '.cache', 'aarch64-'));
  const resultsFile = path.join(scratch, 'results.json');
  // In the checkout, which the VM shares at the same path; removed with scratch.
  const flood = compileC(path.join(here, 'echo-flood.c'), 'echo-flood', scratch, 'aarch64');
  const status = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(
      path.join(here, 'run-in-vm'),
      [
        ...['--arch', 'aarch64', '--timeout', '1200', '--'],
        ...['node', path.join(here, 'aarch64-cases.mjs'), ARCHES.aarch64.outDir],
        ...[resultsFile, '/tmp', Object.keys(fatal).join(','), flood.binary],
      ],
      { cwd: checkout, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout.on('data', (d) => {
      vmOutput += d;
    });
    child.stderr.on('data', (d) => {
      vmOutput += d;
    });
    child.on('error', reject);
    child.on('close', resolve);
  });
  process.stderr.write(vmOutput);
  expect(status, vmOutput).toBe(0);
  results = JSON.parse(fs.readFileSync(resultsFile, 'utf8'));
}, 1_800_000);

afterAll(() => {
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

describe('solo5-hvt on aarch64 (nested arm64 KVM)', () => {
  it('runs hello: boot info with the generic timer frequency, PUTS, HALT', () => {
    const r = result('hello');
    expect(r.stdout).toMatch(/cpu_cycle_freq=[1-9]\d* /);
    expect(r.stdout).toContain('Hello, World\n');
    expect(r.stdout.trimEnd().endsWith('SUCCESS')).toBe(true);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.each(['walltime', 'puts_long', 'data'])('runs %s to SUCCESS', (name) => {
    const r = result(name);
    expect(r.stdout.trimEnd().endsWith('SUCCESS'), r.stdout + r.stderr).toBe(true);
    expect(r.status).toBe(0);
  });

  it('serves BLOCK_WRITE and BLOCK_READ, with their error cases', () => {
    const r = result('block');
    expect(r.stdout.trimEnd().endsWith('SUCCESS'), r.stdout + r.stderr).toBe(true);
    expect(r.status).toBe(0);
  });

  it('sleeps in POLL for the timeout the guest asked, sandboxed (seccomp mode 2, uid dropped)', () => {
    const r = result('sleep');
    const slept = [...r.stdout.matchAll(/sleep \d: (\d+) ms/g)].map((m) => Number(m[1]));
    expect(slept).toHaveLength(5);
    for (const ms of slept) {
      expect(ms).toBeGreaterThanOrEqual(990);
      expect(ms).toBeLessThan(3000);
    }
    expect(r.status).toBe(0);
    expect(r.live).toEqual({
      seccomp: '2',
      uid: '65534\t65534\t65534\t65534',
      gid: '65534\t65534\t65534\t65534',
      noNewPrivs: '1',
    });
  });

  it('answers pings through a tap (NET_READ, NET_WRITE, POLL readiness)', () => {
    const r = result('net');
    expect(r.ping?.text).toMatch(/3 packets transmitted, 3 packets received/);
    expect(r.stdout).toContain('answered 3 echo requests');
    expect(r.status).toBe(0);
  });

  it('serves a verified flood of 500 pings paced by the replies through the ring (MMIO kick)', () => {
    const r = result('ringecho');
    expect(r.stdout).toMatch(/ringecho: using the ring at 0x[0-9a-f]+/);
    // Every reply compared with its request (echo-flood.c), not only counted.
    expect(r.flood?.text).toContain(
      'flood: sent 500, replies 500, intact 500, corrupt 0, lost 0, duplicate 0\n',
    );
    expect(r.flood?.status, r.flood?.text).toBe(0);
    expect(r.stdout).toContain('answered 500 echo requests');
    expect(r.status).toBe(0);
  });

  it('ends with the guest status on HALT, and 255 on abort', () => {
    expect(result('halt').status).toBe(0);
    const abort = result('abort');
    expect(abort.stdout).toMatch(/Solo5: ABORT: abort\.c:\d+: guest called abort/);
    expect(abort.status).toBe(255);
  });

  it("reports the guest's own page fault (its vectors, our tables) and halts with 255", () => {
    const r = result('pagefault');
    expect(r.stdout).toMatch(
      /Solo5: trap: type=Synchronous\/EL1h esr=0x96\w+ \(ec=0x25\) pc=0x[0-9a-f]+ .* far=0x1000\n/,
    );
    expect(r.status).toBe(255);
  });

  it('dumps an aarch64 core of a fatal trap that readelf reads, pc and sp from the trap', () => {
    const r = result('dumpcore');
    expect(r.status).toBe(255);
    const core = fs.readdirSync(scratch).find((f) => f.startsWith('core.solo5-hvt.'));
    expect(core, r.stderr).toBeDefined();
    const file = path.join(scratch, core!);
    const header = spawnSync('readelf', ['-h', '-n', '-l', file], { encoding: 'utf8' });
    expect(header.status, header.stderr).toBe(0);
    expect(header.stdout).toMatch(/Type:\s+CORE/);
    expect(header.stdout).toMatch(/Machine:\s+AArch64/);
    // struct elf_prstatus of arm64: 392 bytes.
    expect(header.stdout).toMatch(/CORE\s+0x00000188\s+NT_PRSTATUS/);
    // pr_reg (at 112 in the descriptor, after the 20-byte note header): x0..x30, sp, pc, pstate.
    const bytes = fs.readFileSync(file);
    const noteOffset = Number(bytes.readBigUInt64LE(64 + 8));
    const reg = (i: number) => bytes.readBigUInt64LE(noteOffset + 20 + 112 + i * 8);
    const trap = /pc=0x([0-9a-f]+) sp=0x([0-9a-f]+) spsr=0x([0-9a-f]+)/.exec(r.stdout);
    expect(trap, r.stdout).not.toBeNull();
    expect(reg(32)).toBe(BigInt(`0x${trap![1]}`));
    expect(reg(31)).toBe(BigInt(`0x${trap![2]}`));
    expect(reg(33)).toBe(BigInt(`0x${trap![3]}`));
    expect(r.stderr).toMatch(/dumpcore: dumped \d+ pages of total \d+ pages/);
  });

  it('a write to the text segment is a host/guest translation fault named by pc=', () => {
    const r = result('writetext');
    expect(messages(r)).toEqual([
      expect.stringMatching(/^KVM: host\/guest translation fault: pc=0x[0-9a-f]+$/),
    ]);
    expect(r.status).toBe(1);
  });

  for (const [mode, expected] of Object.entries(fatal)) {
    it(`hostile ${mode}: fatal, exit 1`, () => {
      const r = result(`hostile ${mode}`);
      expect(r.stdout).toContain(`hostile: mode=${mode} `);
      expect(r.stdout).not.toContain('UNEXPECTED');
      expect(messages(r)).toEqual([expected(memOf(r), r)]);
      expect(r.status).toBe(1);
    });
  }
});
