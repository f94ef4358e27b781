// Builds test/kvm/smoke.c. Shared by the smoke test and by vm/kvm-suite.mjs,
// which runs the same program to decide whether the host's /dev/kvm is usable.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const smokeSource = path.join(path.dirname(fileURLToPath(import.meta.url)), 'smoke.c');

/**
 * Compiles the smoke program into a fresh folder (under `parent`, the OS
 * temporary folder by default) and returns its path and a function that
 * removes the folder. Throws with gcc's output if it does not compile.
 * @param {string} [parent]
 * @returns {{ binary: string, cleanup: () => void }}
 */
export function buildSmoke(parent = os.tmpdir()) {
  fs.mkdirSync(parent, { recursive: true });
  const dir = fs.mkdtempSync(path.join(parent, 'hvtjs-smoke-'));
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  const binary = path.join(dir, 'smoke');
  const cc = spawnSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', binary, smokeSource], {
    encoding: 'utf8',
  });
  if (cc.status !== 0) {
    cleanup();
    const why = cc.error ? cc.error.message : `${cc.stdout}${cc.stderr}`.trim();
    throw new Error(`cannot compile ${smokeSource} with gcc: ${why}`);
  }
  return { binary, cleanup };
}
