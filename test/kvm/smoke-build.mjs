// Builds the smoke program: test/kvm/smoke.c for x86_64 (natively), or
// smoke-aarch64.c for aarch64 (cross-compiled, static, to run in the nested
// aarch64 VM). Shared by the smoke test, the harness test and vm/kvm-suite.mjs,
// which runs the same program to decide whether the host's /dev/kvm is usable.
// compileC builds other test programs the same way (vm/echo-flood.c, the
// aarch64 test's verified ping flood).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Per architecture: the compiler command (the one place it is spelled) and the smoke program. */
const TARGETS = {
  x86_64: { cc: ['gcc'], smoke: path.join(here, 'smoke.c') },
  aarch64: { cc: ['aarch64-linux-gnu-gcc', '-static'], smoke: path.join(here, 'smoke-aarch64.c') },
};

/**
 * Compiles the C program `source` for `arch` (warnings are errors) into a
 * fresh folder under `parent`, the OS temporary folder by default, as `name`.
 * Returns its path and a function that removes the folder. Throws with the
 * compiler's output if it does not compile.
 * @param {string} source
 * @param {string} name
 * @param {string} [parent]
 * @param {'x86_64' | 'aarch64'} [arch]
 * @returns {{ binary: string, cleanup: () => void }}
 */
export function compileC(source, name, parent = os.tmpdir(), arch = 'x86_64') {
  const [compiler, ...flags] = TARGETS[arch].cc;
  fs.mkdirSync(parent, { recursive: true });
  const dir = fs.mkdtempSync(path.join(parent, `hvtjs-${name}-`));
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  const binary = path.join(dir, name);
  const cc = spawnSync(
    compiler,
    [...flags, '-O2', '-Wall', '-Wextra', '-Werror', '-o', binary, source],
    {
      encoding: 'utf8',
    },
  );
  if (cc.status !== 0) {
    cleanup();
    const why = cc.error ? cc.error.message : `${cc.stdout}${cc.stderr}`.trim();
    throw new Error(`cannot compile ${source} with ${compiler}: ${why}`);
  }
  return { binary, cleanup };
}

/**
 * Compiles the smoke program for `arch` with compileC.
 * @param {string} [parent]
 * @param {'x86_64' | 'aarch64'} [arch]
 * @returns {{ binary: string, cleanup: () => void }}
 */
export function buildSmoke(parent = os.tmpdir(), arch = 'x86_64') {
  return compileC(TARGETS[arch].smoke, 'smoke', parent, arch);
}
