// The benchmark (`pnpm bench`) runs in no CI job of its own: its build is
// checked here, so that a change to the test guests' runtime or flags that
// breaks the benchmark's guests, tenders or native-loop addon fails the suite
// instead of the next person's `pnpm bench`.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SOLO5 = join(ROOT, 'packages', 'cli', 'dist', 'solo5.js');
/** bench/build.mjs, outside this package's TypeScript project. */
const bench = (await import(pathToFileURL(join(ROOT, 'bench', 'build.mjs')).href)) as {
  buildBench(): Promise<Record<string, string>>;
  GUEST_VARIANTS: readonly string[];
};

describe('the benchmark build', () => {
  it('builds its guests, each with its manifest, and its C tenders', async () => {
    const built = await bench.buildBench();
    for (const name of ['baseline-tender', 'measure', 'native-loop']) {
      expect(existsSync(built[name]!), name).toBe(true);
      // ELF, as a C program or an addon must be.
      expect(readFileSync(built[name]!).subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    }
    for (const variant of bench.GUEST_VARIANTS) {
      const info = JSON.parse(
        execFileSync(process.execPath, [SOLO5, 'info', '--json', built[`bench-${variant}`]!], {
          encoding: 'utf8',
        }),
      );
      const declared = JSON.parse(
        readFileSync(join(ROOT, 'bench', 'guests', `${variant}.json`), 'utf8'),
      );
      expect(info.abi).toEqual({ target: 'hvt', version: 2 });
      expect(info.manifest).toEqual(declared);
    }
  });
});
