// echo-flood.c, the aarch64 test's verified ping flood, checked on the host:
// it compiles for both architectures (warnings are errors), and its verifier
// tells an intact reply from damaged ones (-T feeds it made-up replies, each
// spoiled in one way, and fails if any is judged wrongly). The flood itself
// runs in the aarch64 VM (aarch64.test.ts).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compileC } from '../kvm/smoke-build.mjs';

const source = path.join(path.dirname(fileURLToPath(import.meta.url)), 'echo-flood.c');

describe('echo-flood', () => {
  it('cross-compiles, static, for aarch64', () => {
    const { cleanup } = compileC(source, 'echo-flood', undefined, 'aarch64');
    cleanup();
  });

  it('accepts the faithful reply and rejects every damaged one (self-check)', () => {
    const { binary, cleanup } = compileC(source, 'echo-flood');
    try {
      const run = spawnSync(binary, ['-T'], { encoding: 'utf8' });
      expect(run.stderr).toBe('');
      expect(run.stdout).toMatch(/^self-check: \d+ cases, 0 failed\n$/);
      expect(run.status).toBe(0);
    } finally {
      cleanup();
    }
  });

  it('refuses to run without a destination', () => {
    const { binary, cleanup } = compileC(source, 'echo-flood');
    try {
      const run = spawnSync(binary, [], { encoding: 'utf8' });
      expect(run.stderr).toContain('usage: echo-flood');
      expect(run.status).toBe(2);
    } finally {
      cleanup();
    }
  });
});
