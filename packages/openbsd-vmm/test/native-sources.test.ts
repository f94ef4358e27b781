import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ADDON_FLAGS,
  addonIncludes,
  CORE_FLAGS,
  clang,
  clangxx,
  compile,
  kitInclude,
  undefinedSymbols,
  withTempDir,
} from '@hvtjs/posix-kit/toolchain';
import { describe, expect, it } from 'vitest';
import {
  OPENBSD_RELEASES,
  openbsdIoctlTable,
  openbsdLayouts,
  SIOCGIFFLAGS,
  SIOCGIFMTU,
} from '../src/abi.js';

const packageRoot = fileURLToPath(new URL('..', import.meta.url));
const nativeDir = join(packageRoot, 'src', 'native');

const core = join(nativeDir, 'ob_vmm.c');
const strict = CORE_FLAGS;

describe('the libc-only core (ob_vmm.c)', () => {
  for (const target of [
    'x86_64-unknown-openbsd',
    'x86_64-unknown-openbsd7.4',
    'x86_64-unknown-openbsd7.8',
  ]) {
    it(`passes clang --target=${target} -fsyntax-only without system headers`, () => {
      compile(clang(), [`--target=${target}`, ...strict, '-fsyntax-only', core]);
    });
  }

  it('compiles to an object whose only external references are OpenBSD libc functions', () => {
    const libc = new Set([
      '__errno',
      '__guard_local',
      '__stack_smash_handler',
      '_exit',
      'calloc',
      'chdir',
      'chroot',
      'close',
      'closefrom',
      'dup',
      'dup2',
      'fork',
      'free',
      'ioctl',
      'memcpy',
      'memset',
      'minherit',
      'mmap',
      'mprotect',
      'munmap',
      'open',
      'pledge',
      'recv',
      'send',
      'setgroups',
      'setresgid',
      'setresuid',
      'setsid',
      'signal',
      'socket',
      'socketpair',
      'sysctl',
      'waitpid',
      'write',
    ]);
    withTempDir((dir) => {
      const object = join(dir, 'ob_vmm.o');
      compile(clang(), [
        '--target=x86_64-unknown-openbsd',
        ...strict,
        '-O2',
        '-c',
        core,
        '-o',
        object,
      ]);
      const symbols = undefinedSymbols(object);
      expect(symbols.filter((s) => !libc.has(s))).toEqual([]);
      for (const s of ['ioctl', 'mmap', 'chroot', 'setresuid', 'pledge', 'fork'])
        expect(symbols).toContain(s);
    });
  });

  it('refuses to build for any other system', () => {
    expect(() =>
      compile(clang(), ['--target=x86_64-unknown-freebsd14', ...strict, '-fsyntax-only', core]),
    ).toThrow(/builds only for an OpenBSD target/);
  });
});

describe('the C tables (ob_abi.h)', () => {
  it('equal the TypeScript tables for every release: what changed, layouts, ioctl numbers', () => {
    const dump = withTempDir((dir) => {
      const exe = join(dir, 'ob_dump');
      compile(clang(), [
        '-std=c11',
        '-Wall',
        '-Wextra',
        '-Werror',
        '-nostdinc',
        kitInclude,
        join(packageRoot, 'test/native/ob_dump.c'),
        '-o',
        exe,
      ]);
      return JSON.parse(execFileSync(exe, { encoding: 'utf8' }));
    });
    expect(dump.releases.map((r: { release: string }) => r.release)).toEqual(
      OPENBSD_RELEASES.map((r) => r.release),
    );
    for (const [i, abi] of OPENBSD_RELEASES.entries()) {
      const { layouts, ioctls, ...facts } = dump.releases[i];
      expect(facts).toEqual(abi);
      expect(layouts).toEqual(openbsdLayouts(abi));
      expect(ioctls).toEqual(openbsdIoctlTable(abi));
    }
    expect(dump.SIOCGIFFLAGS).toBe(SIOCGIFFLAGS);
    expect(dump.SIOCGIFMTU).toBe(SIOCGIFMTU);
  });
});

describe('the node-addon-api glue (addon.cc)', () => {
  const includes = addonIncludes();
  it.skipIf(includes === undefined)(
    "compiles against node-addon-api with this host's POSIX headers",
    () => {
      compile(clangxx(), [...ADDON_FLAGS, ...(includes ?? []), join(nativeDir, 'addon.cc')]);
    },
  );
});
