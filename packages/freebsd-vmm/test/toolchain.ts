import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Helpers for the tests that compile the native sources with the host's clang. */

export const packageRoot = fileURLToPath(new URL('..', import.meta.url));
export const nativeDir = join(packageRoot, 'src', 'native');

function found(command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** clang is required: these checks are part of the package's tests (.ci/run installs it). */
export function clang(): string {
  if (found('clang')) return 'clang';
  throw new Error('clang is needed for the native-source tests (Debian: apt-get install clang)');
}

export function clangxx(): string {
  if (found('clang++')) return 'clang++';
  throw new Error('clang++ is needed for the native-source tests');
}

/** Runs the compiler; throws with its diagnostics on failure. */
export function compile(compiler: string, args: readonly string[]): void {
  const result = spawnSync(compiler, args, { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`${compiler} ${args.join(' ')}\n${result.stderr}${result.stdout}`);
  }
}

export function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'hvtjs-native-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Undefined symbols of an object file (llvm-nm or binutils nm). */
export function undefinedSymbols(object: string): string[] {
  const nm = found('llvm-nm') ? 'llvm-nm' : 'nm';
  const out = execFileSync(nm, ['-u', object], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/).pop() ?? '')
    .filter((s) => s.length > 0)
    .sort();
}

/** Include directories for the glue: Node's headers and node-addon-api's, when present. */
export function addonIncludes(): string[] | undefined {
  const require = createRequire(import.meta.url);
  const naa = (require('node-addon-api') as { include_dir: string }).include_dir;
  const candidates = [
    join(dirname(process.execPath), '..', 'include', 'node'),
    process.env.npm_config_nodedir ? join(process.env.npm_config_nodedir, 'include', 'node') : '',
  ];
  const node = candidates.find((d) => d !== '' && existsSync(join(d, 'node_api.h')));
  return node === undefined ? undefined : [`-I${node}`, `-I${naa}`];
}
