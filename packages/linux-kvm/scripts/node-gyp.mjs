// Runs node-gyp with the given arguments against the running Node's own headers
// when its install ships them (official builds and most distributions do), so
// that a build needs no header download: build machines may have no access to
// Node's release server. An explicit nodedir from the environment wins.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
// node-gyp is a devDependency: an installed package uses the package
// manager's own (npm and pnpm name it in npm_config_node_gyp), else PATH's.
function findNodeGyp() {
  try {
    return [process.execPath, require.resolve('node-gyp/bin/node-gyp.js')];
  } catch {
    const fromManager = process.env.npm_config_node_gyp;
    if (fromManager && existsSync(fromManager)) {
      return /\.[cm]?js$/.test(fromManager) ? [process.execPath, fromManager] : [fromManager];
    }
    return ['node-gyp'];
  }
}
const [command, ...nodeGyp] = findNodeGyp();
const prefix = dirname(dirname(process.execPath));
const args = process.argv.slice(2);
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include/node/node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}
const result = spawnSync(command, [...nodeGyp, ...args], { stdio: 'inherit' });
if (result.error) process.stderr.write(`cannot run ${command}: ${result.error.message}\n`);
process.exit(result.status ?? 1);
