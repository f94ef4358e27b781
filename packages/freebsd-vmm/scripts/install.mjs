// Install hook: without one, package managers run `node-gyp rebuild` for any
// package with a binding.gyp, which cannot succeed off FreeBSD. On FreeBSD,
// node-gyp-build takes a prebuilt addon when one fits, else compiles it.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

if (process.platform === 'freebsd') {
  const require = createRequire(import.meta.url);
  const bin = require.resolve('node-gyp-build/bin.js');
  const packageRoot = fileURLToPath(new URL('..', import.meta.url));
  const result = spawnSync(process.execPath, [bin], { cwd: packageRoot, stdio: 'inherit' });
  process.exit(result.status ?? 1);
}
