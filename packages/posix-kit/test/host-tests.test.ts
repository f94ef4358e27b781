import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { childOutput, waitUntil } from '../src/host-tests.js';

describe('host-test helpers', () => {
  it("collect a real child's stdout lines and wait for them", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvtjs-kit-'));
    try {
      const script = join(dir, 'child.mjs');
      writeFileSync(script, "console.log('vm-1');\nsetTimeout(() => console.log('{}'), 100);\n");
      const { child, lines } = childOutput(script);
      const exited = new Promise((resolve) => child.on('exit', resolve));
      expect(await waitUntil(() => lines().length === 2, 10_000)).toBe(true);
      expect(lines()).toEqual(['vm-1', '{}']);
      await exited;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000);

  it('give up after the time allowed with the last answer', async () => {
    const start = Date.now();
    expect(await waitUntil(() => false, 120)).toBe(false);
    expect(Date.now() - start).toBeGreaterThanOrEqual(100);
  });
});
