import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { buildSmoke } from './smoke-build.mjs';

// Runs before any tender exists: if this fails, nothing else in the KVM suite can pass.
it('creates a VM that starts in long mode, exits on OUT, then on HLT', () => {
  const { binary, cleanup } = buildSmoke();
  try {
    const run = spawnSync(binary, { encoding: 'utf8', timeout: 60_000 });
    expect(run.stdout).toContain('kvm smoke: ok');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  } finally {
    cleanup();
  }
});
