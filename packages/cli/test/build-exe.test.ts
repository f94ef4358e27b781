import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENTRY_X86_64 } from '../src/build-exe-entry.js';

// `solo5 build-exe`: the executable is made from the built packages, then
// run without KVM: --version, the addon loaded from its memory file, and a
// launcher's seccomp filter that forbids threads reported in one line.

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const SOLO5 = here('../dist/solo5.js');
const linuxX64 = process.platform === 'linux' && process.arch === 'x64';
let scratch: string;
let exe: string;
let preseccomp: string;

beforeAll(() => {
  if (!linuxX64) return;
  scratch = mkdtempSync(join(tmpdir(), 'hvtjs-build-exe-'));
  exe = join(scratch, 'solo5-hvt');
  const made = spawnSync(process.execPath, [SOLO5, 'build-exe', '-o', exe], { encoding: 'utf8' });
  expect(made.stderr).toBe(`solo5: wrote ${exe}\n`);
  expect(made.status).toBe(0);
  preseccomp = join(scratch, 'preseccomp');
  const cc = spawnSync(
    'gcc',
    ['-O2', here('fixtures/preseccomp.c'), '-o', preseccomp, '-lseccomp'],
    {
      encoding: 'utf8',
    },
  );
  expect(cc.stderr).toBe('');
}, 120_000);

afterAll(() => {
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

describe.skipIf(!linuxX64)('solo5 build-exe', () => {
  it('carries the assembled entry code of exe-entry/entry-x86_64.S', () => {
    const obj = join(scratch, 'entry.o');
    const bin = join(scratch, 'entry.bin');
    expect(
      spawnSync('gcc', ['-c', here('../src/exe-entry/entry-x86_64.S'), '-o', obj]).status,
    ).toBe(0);
    expect(spawnSync('objcopy', ['-O', 'binary', '-j', '.text', obj, bin]).status).toBe(0);
    expect(readFileSync(bin).equals(ENTRY_X86_64)).toBe(true);
  });

  it('refuses a missing -o', () => {
    const r = spawnSync(process.execPath, [SOLO5, 'build-exe'], { encoding: 'utf8' });
    expect(r.stderr).toContain('build-exe needs -o PATH');
    expect(r.status).not.toBe(0);
  });

  it('prints --version as the reference, with the ABI line albatross parses', () => {
    const r = spawnSync(exe, ['--version'], { encoding: 'utf8' });
    expect(r.stderr).toBe('solo5-hvt tender, version 0.1.0\nABI version 2\n');
    expect(r.status).toBe(0);
  });

  it('loads the platform and its addon from memory before it opens the kernel', () => {
    // The platform (and so the addon) is loaded before KERNEL is read.
    const r = spawnSync(exe, ['--mem=32', '/nonexistent/k.hvt', '', ''], { encoding: 'utf8' });
    expect(r.stderr).toBe(
      'solo5-hvt: /nonexistent/k.hvt: Could not open: No such file or directory\n',
    );
    expect(r.status).toBe(1);
  });

  it.each([
    ['trap', 'clone3', 435],
    ['errno', 'clone3', 435],
    ['trap', 'clone', 56],
    ['errno', 'clone', 56],
  ])('under a launcher filter that %ss %s: one line, status 1, no SIGSYS', (action, call, nr) => {
    const r = spawnSync(preseccomp, [action, call, '--', exe, '--version'], { encoding: 'utf8' });
    expect(r.stderr).toBe(
      `solo5-hvt: a seccomp filter set before start-up forbids system call ${nr}, which this ` +
        'executable needs to start (56 and 435 make threads): run it without that filter\n',
    );
    expect(r.signal).toBeNull();
    expect(r.status).toBe(1);
  });

  it('runs normally under a filter that answers clone3 with ENOSYS (glibc then uses clone)', () => {
    // Docker's default profile does this; EPERM from errno(1) is a refusal, ENOSYS is not.
    const r = spawnSync(preseccomp, ['enosys', 'clone3', '--', exe, '--version'], {
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('solo5-hvt tender, version 0.1.0\nABI version 2\n');
    expect(r.status).toBe(0);
  });
});
