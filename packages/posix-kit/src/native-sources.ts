import { copyFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ADDON_FLAGS,
  addonIncludes,
  CORE_FLAGS,
  clang,
  clangxx,
  compile,
  undefinedSymbols,
  withTempDir,
} from './toolchain.js';

/** The libc calls every BSD core makes (files, memory, the helper process and its channel). */
export const CORE_LIBC = [
  '_exit',
  'calloc',
  'close',
  'closefrom',
  'dup',
  'dup2',
  'fork',
  'free',
  'ioctl',
  'memcpy',
  'memset',
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
  'waitpid',
  'write',
] as const;

/** What a BSD package's native-source checks need to know about it. */
export interface NativeSourcesSpec {
  /** The package's src/native directory. */
  readonly nativeDir: string;
  /** The libc-only core, e.g. 'fb_vmm.c'. */
  readonly core: string;
  /** 'FreeBSD' or 'OpenBSD', for the test names. */
  readonly system: string;
  /** Every clang --target the core must pass -fsyntax-only for: one per supported release. */
  readonly targets: readonly string[];
  /** The target the object-file check compiles for. */
  readonly objectTarget: string;
  /** The libc functions the object may reference besides CORE_LIBC. */
  readonly libc: readonly string[];
  /** The calls that make it a tender, which must be there. */
  readonly required: readonly string[];
  /** Another system's target, which the core must refuse with `refusal`. */
  readonly foreignTarget: string;
  readonly refusal: RegExp;
  /** The ABI header (fb_abi.h) and the one generated from TypeScript (fb_abi_gen.h). */
  readonly abiHeader: string;
  readonly generatedHeader: string;
  /** The generated header's text as the TypeScript tables give it now. */
  readonly render: () => string;
  /** A line of the generated header and a wrong value for it: the build must then fail. */
  readonly corrupt: readonly [line: string, wrong: string];
}

/** Compiles `#include "<header>"` from a copy of the native sources, with `generated` in place. */
function compileHeader(spec: NativeSourcesSpec, generated: string): void {
  withTempDir((dir) => {
    for (const f of readdirSync(spec.nativeDir))
      copyFileSync(join(spec.nativeDir, f), join(dir, f));
    writeFileSync(join(dir, spec.generatedHeader), generated);
    const main = join(dir, 'check.c');
    writeFileSync(main, `#include "${spec.abiHeader}"\n`);
    compile(clang(), [`--target=${spec.objectTarget}`, ...CORE_FLAGS, '-fsyntax-only', main]);
  });
}

/**
 * The checks every BSD package runs from any host: the core compiles for each
 * supported release without system headers and references only libc; the C
 * structs agree with the TypeScript layouts (the generated asserts hold, and
 * fail the build when a number is wrong); the glue compiles against
 * node-addon-api and the kit's headers.
 */
export function describeNativeSources(spec: NativeSourcesSpec): void {
  // Each check runs the compiler; on a busy 2-core host one takes seconds.
  const timeout = 60_000;
  const core = join(spec.nativeDir, spec.core);

  describe(`the libc-only core (${spec.core})`, () => {
    for (const target of spec.targets) {
      it(
        `passes clang --target=${target} -fsyntax-only without system headers`,
        () => {
          compile(clang(), [`--target=${target}`, ...CORE_FLAGS, '-fsyntax-only', core]);
        },
        timeout,
      );
    }

    it(
      `compiles to an object whose only external references are ${spec.system} libc functions`,
      () => {
        withTempDir((dir) => {
          const object = join(dir, 'core.o');
          compile(clang(), [
            `--target=${spec.objectTarget}`,
            ...CORE_FLAGS,
            '-O2',
            '-c',
            core,
            '-o',
            object,
          ]);
          const symbols = undefinedSymbols(object);
          const allowed = new Set<string>([...CORE_LIBC, ...spec.libc]);
          expect(symbols.filter((s) => !allowed.has(s))).toEqual([]);
          for (const s of spec.required) expect(symbols).toContain(s);
        });
      },
      timeout,
    );

    it(
      'refuses to build for any other system',
      () => {
        expect(() =>
          compile(clang(), [
            `--target=${spec.foreignTarget}`,
            ...CORE_FLAGS,
            '-fsyntax-only',
            core,
          ]),
        ).toThrow(spec.refusal);
      },
      timeout,
    );
  });

  describe(`the C structs (${spec.abiHeader}) against the TypeScript tables`, () => {
    it(
      `hold: ${spec.generatedHeader} as generated now compiles with them`,
      () => {
        compileHeader(spec, spec.render());
      },
      timeout,
    );

    it(
      'fail the build when the tables give another number',
      () => {
        const [line, wrong] = spec.corrupt;
        const text = spec.render();
        expect(text).toContain(line);
        expect(() => compileHeader(spec, text.replace(line, wrong))).toThrow(/static.?assert/i);
      },
      timeout,
    );
  });

  describe('the node-addon-api glue (addon.cc)', () => {
    const includes = addonIncludes();
    it.skipIf(includes === undefined)(
      "compiles against node-addon-api and the kit with this host's POSIX headers",
      () => {
        compile(clangxx(), [...ADDON_FLAGS, ...(includes ?? []), join(spec.nativeDir, 'addon.cc')]);
      },
      timeout,
    );
  });
}
