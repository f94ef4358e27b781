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
import { FREEBSD_LAYOUTS, FREEBSD_LINES, freebsdIoctlTable, SIOCGIFMTU } from '../src/abi.js';
import { CapRight } from '../src/capsicum.js';

const packageRoot = fileURLToPath(new URL('..', import.meta.url));
const nativeDir = join(packageRoot, 'src', 'native');

const core = join(nativeDir, 'fb_vmm.c');
const strict = CORE_FLAGS;

describe('the libc-only core (fb_vmm.c)', () => {
  for (const release of ['13', '14', '15']) {
    it(`passes clang --target=x86_64-unknown-freebsd${release} -fsyntax-only without system headers`, () => {
      compile(clang(), [
        `--target=x86_64-unknown-freebsd${release}`,
        ...strict,
        '-fsyntax-only',
        core,
      ]);
    });
  }

  it('compiles to an object whose only external references are FreeBSD libc functions', () => {
    const libc = new Set([
      '__error',
      '_exit',
      'calloc',
      'cap_enter',
      'cap_fcntls_limit',
      'cap_getmode',
      'cap_ioctls_limit',
      'cap_rights_limit',
      'close',
      'closefrom',
      'dup',
      'dup2',
      'fork',
      'free',
      'ioctl',
      'memcpy',
      'memset',
      'mincore',
      'mmap',
      'mprotect',
      'munmap',
      'open',
      'recv',
      'send',
      'setsid',
      'signal',
      'socket',
      'socketpair',
      'sysctlbyname',
      'waitpid',
      'write',
    ]);
    withTempDir((dir) => {
      const object = join(dir, 'fb_vmm.o');
      compile(clang(), [
        '--target=x86_64-unknown-freebsd14',
        ...strict,
        '-O2',
        '-c',
        core,
        '-o',
        object,
      ]);
      const symbols = undefinedSymbols(object);
      expect(symbols.filter((s) => !libc.has(s))).toEqual([]);
      // The calls that make it a tender are really there.
      for (const s of ['ioctl', 'mmap', 'sysctlbyname', 'cap_rights_limit', 'cap_enter', 'fork']) {
        expect(symbols).toContain(s);
      }
    });
  });

  it('refuses to build for any other system', () => {
    expect(() =>
      compile(clang(), ['--target=x86_64-unknown-openbsd', ...strict, '-fsyntax-only', core]),
    ).toThrow(/builds only for a FreeBSD target/);
  });
});

describe('the C tables (fb_abi.h)', () => {
  it('equal the TypeScript tables: layouts, ioctl numbers, rights, SIOCGIFMTU', () => {
    const dump = withTempDir((dir) => {
      const exe = join(dir, 'fb_dump');
      compile(clang(), [
        '-std=c11',
        '-Wall',
        '-Wextra',
        '-Werror',
        '-nostdinc',
        kitInclude,
        join(packageRoot, 'test/native/fb_dump.c'),
        '-o',
        exe,
      ]);
      return JSON.parse(execFileSync(exe, { encoding: 'utf8' }));
    });
    for (const line of FREEBSD_LINES) {
      expect(dump.layouts[String(line)]).toEqual(FREEBSD_LAYOUTS[line]);
      expect(dump.ioctls[String(line)]).toEqual(freebsdIoctlTable(line));
    }
    for (const [name, value] of Object.entries(dump.capRights as Record<string, string>)) {
      expect(BigInt(value)).toBe(CapRight[name as keyof typeof CapRight]);
    }
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
