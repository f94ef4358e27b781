// Install hook. Without one, package managers run a bare `node-gyp rebuild` for
// any package with a binding.gyp. Instead: inside this repository's workspace,
// do nothing (the `build` task compiles the addon); elsewhere, load the prebuilt
// addon that node-gyp-build picks for this host and stop there, so that users
// need no compiler. Only where none fits, or the one that fits cannot be loaded
// (a glibc older than the one it was built against), build from source against
// the running Node's own headers, after checking that the tools are there and
// naming the missing ones if not.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
if (
  existsSync(new URL('../../../pnpm-workspace.yaml', import.meta.url)) &&
  existsSync(new URL('../src/index.ts', import.meta.url))
) {
  process.exit(0);
}
const say = (msg) => process.stderr.write(`@hvtjs/linux-kvm: ${msg}\n`);
const require = createRequire(import.meta.url);

function tryPrebuilt() {
  let file;
  try {
    file = require('node-gyp-build').path(root);
  } catch {
    // node-gyp-build's own notion of the C library, which picks the prebuild.
    const libc = process.env.LIBC || (existsSync('/etc/alpine-release') ? 'musl' : 'glibc');
    return `no prebuilt addon fits ${process.platform}-${process.arch} (${libc})`;
  }
  try {
    require(file);
  } catch (error) {
    return `the prebuilt addon ${relative(root, file)} cannot be loaded here (${String(error.message).split('\n')[0]})`;
  }
  say(`using the prebuilt addon ${relative(root, file)}; nothing to build`);
  return undefined;
}

const why = tryPrebuilt();
if (why === undefined) process.exit(0);

const onPath = (name) => spawnSync('sh', ['-c', `command -v "${name}"`]).status === 0;
function nodeGypAvailable() {
  try {
    require.resolve('node-gyp/bin/node-gyp.js');
    return true;
  } catch {
    return Boolean(process.env.npm_config_node_gyp) || onPath('node-gyp');
  }
}
const missing = [];
if (!nodeGypAvailable()) missing.push('node-gyp');
if (!onPath('python3')) missing.push('python3');
if (!onPath('make')) missing.push('make');
if (!onPath(process.env.CXX || 'c++'))
  missing.push(`a C++ compiler (${process.env.CXX || 'c++, e.g. g++'})`);
if (!onPath(process.env.CC || 'cc'))
  missing.push(`a C compiler (${process.env.CC || 'cc, e.g. gcc'})`);
const tools =
  'node-gyp, python3, make, a C and C++ compiler (gcc, g++) and libseccomp with its static library ' +
  '(Debian/Ubuntu: libseccomp-dev; Fedora: libseccomp-devel libseccomp-static; Alpine: libseccomp-dev libseccomp-static)';
if (missing.length > 0) {
  say(`${why}, and a build from source is not possible: missing ${missing.join(', ')}.`);
  say(`A source build needs ${tools}.`);
  process.exit(1);
}
say(`${why}: building it from source`);
const result = spawnSync(
  process.execPath,
  [fileURLToPath(new URL('node-gyp.mjs', import.meta.url)), 'rebuild'],
  { cwd: root, stdio: 'inherit' },
);
if (result.status !== 0) {
  say(`${why}, and building it from source failed (see above). A source build needs ${tools}.`);
  process.exit(1);
}
