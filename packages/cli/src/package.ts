import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What the CLI reads of its own package.json. */
export interface CliManifest {
  readonly name: string;
  readonly version?: string;
  readonly bin?: Readonly<Record<string, string>>;
}

/**
 * The CLI's own package: its folder and manifest, found from this module
 * upwards, as the first package.json named `@hvtjs/cli`. The same walk serves
 * tsc's output (dist/lib), the bundle and its chunks (dist, dist/chunks) and
 * the sources under test, where a folder's own package.json in between only
 * sets its module type.
 */
export function cliPackage(): { readonly dir: string; readonly manifest: CliManifest } {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as Partial<CliManifest>;
      if (manifest.name === '@hvtjs/cli') return { dir, manifest: manifest as CliManifest };
    }
    if (dirname(dir) === dir) throw new Error('the package.json of @hvtjs/cli is missing');
  }
}
