// Runs node-gyp with the given arguments against the running Node's own headers
// when its install ships them (official builds and most distributions do), so
// that a build needs no header download: build machines may have no access to
// Node's release server. An explicit nodedir from the environment wins.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
const prefix = dirname(dirname(process.execPath));
const args = process.argv.slice(2);
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include/node/node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}
const result = spawnSync(process.execPath, [nodeGyp, ...args], { stdio: 'inherit' });
process.exit(result.status ?? 1);
