import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface AddonSpec {
  /** process.platform where the addon exists, e.g. 'openbsd' */
  readonly platform: NodeJS.Platform;
  /** The package, for the message elsewhere, e.g. '@hvtjs/openbsd-vmm' */
  readonly packageName: string;
  /** The system's name in messages, e.g. 'OpenBSD' */
  readonly system: string;
  /** The addon's binding.gyp target_name, e.g. 'hvt_openbsd_vmm' */
  readonly target: string;
  /** A URL inside the package's src/ or dist/ (import.meta.url of its native.ts). */
  readonly from: string;
}

/**
 * Where the package's addon is, in the order node-gyp-build looks (which picked
 * it at install time): a source build, build/Release/<target>.node, unless
 * PREBUILDS_ONLY is set (node-gyp-build's switch; the aarch64 test VM sets it,
 * since the shared checkout's build/ holds the host's x86_64 addon), else the
 * prebuild shipped for this platform and CPU,
 * prebuilds/<platform>-<arch>/<package name with + for />.glibc.node, which
 * does not fit musl (there the install builds from source): undefined when
 * nothing can fit. One existsSync instead of node-gyp-build's directory scans
 * and package.json reads: in an emulated VM those were about a tenth of the
 * tender's start-up.
 */
export function addonFile(spec: AddonSpec, root: string): string | undefined {
  const release = join(root, 'build', 'Release', `${spec.target}.node`);
  const prebuildsOnly = Boolean(process.env['PREBUILDS_ONLY']);
  const musl = isMusl();
  if (!prebuildsOnly && (musl || existsSync(release))) return release;
  if (musl) return undefined;
  return join(
    root,
    'prebuilds',
    `${process.platform}-${process.arch}`,
    `${spec.packageName.replace(/\//g, '+')}.glibc.node`,
  );
}

/** node-gyp-build's test for a musl C library (the install hook uses the same). */
function isMusl(): boolean {
  return (process.env['LIBC'] ?? (existsSync('/etc/alpine-release') ? 'musl' : 'glibc')) === 'musl';
}

/**
 * The package's addon, loaded on first use (addonFile). Lazy so that the pure
 * parts of a package (tables, policy translation) work on every OS, e.g. for
 * `--print-policy` and the tests.
 */
export function lazyAddon<T>(spec: AddonSpec): () => T {
  let loaded: T | undefined;
  return () => {
    if (loaded === undefined) {
      if (process.platform !== spec.platform) {
        throw new Error(
          `${spec.packageName} runs on ${spec.system} only (this is ${process.platform})`,
        );
      }
      // The package root: the parent of src/ (tests) and of dist/ (built).
      const file = addonFile(spec, fileURLToPath(new URL('..', spec.from)));
      const missing = () =>
        new Error(
          `${spec.packageName}: no addon for ${process.platform}-${process.arch} ` +
            `(neither build/Release/${spec.target}.node nor a glibc prebuild` +
            `${file === undefined ? '' : `; tried ${file}`}): ` +
            'reinstall the package, which builds one where no prebuild fits',
        );
      if (file === undefined) throw missing();
      try {
        loaded = createRequire(spec.from)(file) as T;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error;
        throw missing();
      }
    }
    return loaded;
  };
}
