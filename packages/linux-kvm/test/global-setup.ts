import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Builds the test-only probe addon (test/native/) that the sandbox tests use to
 * make raw system calls; it is never part of the production addon.
 */
export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const source = `${root}test/native/probe.c`;
  const built = `${root}test/native/build/Release/hvt_probe.node`;
  if (existsSync(built) && statSync(built).mtimeMs >= statSync(source).mtimeMs) return;
  const result = spawnSync(
    process.execPath,
    [`${root}scripts/node-gyp.mjs`, 'rebuild', '-C', `${root}test/native`],
    { encoding: 'utf8' },
  );
  if (result.status !== 0) {
    throw new Error(`building the probe addon failed:\n${result.stdout}\n${result.stderr}`);
  }
}
