import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface AddonSpec {
  /** process.platform where the addon exists, e.g. 'openbsd' */
  readonly platform: NodeJS.Platform;
  /** The package, for the message elsewhere, e.g. '@hvtjs/openbsd-vmm' */
  readonly packageName: string;
  /** The system's name in messages, e.g. 'OpenBSD' */
  readonly system: string;
  /** A URL inside the package's src/ or dist/ (import.meta.url of its native.ts). */
  readonly from: string;
}

/**
 * The package's addon, loaded on first use by node-gyp-build (build/ or
 * prebuilds/). Lazy so that the pure parts of a package (tables, policy
 * translation) work on every OS, e.g. for `--print-policy` and the tests.
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
      const require = createRequire(spec.from);
      const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
      // The package root: the parent of src/ (tests) and of dist/ (built).
      loaded = nodeGypBuild(fileURLToPath(new URL('..', spec.from))) as T;
    }
    return loaded;
  };
}
