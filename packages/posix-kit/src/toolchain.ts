import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Helpers for the tests that compile a package's native sources with the host's clang. */

/** The kit's own headers (hvt/posix_addon.h, hvt/bsd_types.h), as an -I flag. */
export const kitInclude = `-I${fileURLToPath(new URL('../include', import.meta.url))}`;

function found(command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** clang is required: these checks are part of the packages' tests (.ci/run installs it). */
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

/**
 * Include flags for an addon's glue: Node's headers, node-addon-api's and the
 * kit's; undefined when this Node ships no headers.
 */
export function addonIncludes(): string[] | undefined {
  const require = createRequire(import.meta.url);
  const naa = (require('node-addon-api') as { include_dir: string }).include_dir;
  const candidates = [
    join(dirname(process.execPath), '..', 'include', 'node'),
    process.env.npm_config_nodedir ? join(process.env.npm_config_nodedir, 'include', 'node') : '',
  ];
  const node = candidates.find((d) => d !== '' && existsSync(join(d, 'node_api.h')));
  return node === undefined ? undefined : [`-I${node}`, `-I${naa}`, kitInclude];
}

/** The flags of the glue check: C++17, every warning an error, N-API 8 with exceptions. */
export const ADDON_FLAGS = [
  '-std=c++17',
  '-Wall',
  '-Wextra',
  '-Werror',
  '-fsyntax-only',
  '-DNAPI_VERSION=8',
  '-DNODE_ADDON_API_DISABLE_DEPRECATED',
  '-DNAPI_CPP_EXCEPTIONS',
] as const;

/** The flags of the libc-only cores: strict C11 without any system header. */
export const CORE_FLAGS = [
  '-std=c11',
  '-Wall',
  '-Wextra',
  '-Werror',
  '-pedantic',
  '-nostdinc',
  kitInclude,
] as const;
