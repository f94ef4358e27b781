#!/usr/bin/env node
// Builds the prebuilt addons that the published package ships, with prebuildify:
//
//   node scripts/prebuild.mjs [x64] [arm64]     (default: both)
//
// prebuilds/linux-x64/@hvtjs+linux-kvm.glibc.node     native build (x86_64 host)
// prebuilds/linux-arm64/@hvtjs+linux-kvm.glibc.node   cross-compiled with Debian's
//                                                     aarch64-linux-gnu toolchain
//
// Each is N-API (one binary for every Node version >= 20), stripped, linked
// with libseccomp statically (no libseccomp.so needed on the user's machine),
// and tagged glibc so that node-gyp-build never loads it on musl. No musl
// prebuild: Debian has no musl C++ toolchain (musl-tools is C only), see
// README.md. On a Debian host, missing compilers and libseccomp are installed
// with apt-get (multiarch for arm64's libseccomp-dev); elsewhere the script
// names what is missing.
//
// The build runs in a temporary copy of the package: node-gyp rebuilds in
// place, and build/ is the workspace's own addon. A build whose inputs (sources,
// binding.gyp, scripts, compiler, Node headers, libseccomp.a) did not change
// since the last one is skipped.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { arch as hostArch, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const require = createRequire(import.meta.url);
const say = (msg) => process.stderr.write(`prebuild: ${msg}\n`);
const fail = (msg) => {
  say(msg);
  process.exit(1);
};

/** What a target needs, by Debian package and by the tool names the build runs. */
const TARGETS = {
  x64: {
    triple: 'x86_64-linux-gnu',
    machine: 'Advanced Micro Devices X86-64',
    debArch: 'amd64',
  },
  arm64: {
    triple: 'aarch64-linux-gnu',
    machine: 'AArch64',
    debArch: 'arm64',
  },
};

const LIBC = 'glibc';
const prebuildName = `${pkg.name.replace(/\//g, '+')}.${LIBC}.node`;

function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { encoding: 'utf8', ...options });
  if (result.error) return { status: 127, stdout: '', stderr: result.error.message };
  return result;
}

const hasTool = (name) => run('sh', ['-c', `command -v "${name}"`]).status === 0;

function debInstalled(name) {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format syntax.
  const q = run('dpkg-query', ['-W', '-f=${Status}', name]);
  return q.status === 0 && q.stdout.includes('install ok installed');
}

/** Installs Debian packages that are missing, or fails naming them. */
function ensureDebs(names, foreignArch) {
  const missing = names.filter((n) => !debInstalled(n));
  if (missing.length === 0) return;
  const canApt = hasTool('apt-get') && process.getuid?.() === 0;
  if (!canApt) {
    fail(
      `missing ${missing.join(', ')}: install them (Debian/Ubuntu package names), ` +
        'or run this script as root on Debian so that it installs them itself',
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (foreignArch && !run('dpkg', ['--print-foreign-architectures']).stdout.includes(foreignArch)) {
    say(`dpkg --add-architecture ${foreignArch}`);
    if (run('dpkg', ['--add-architecture', foreignArch]).status !== 0) {
      fail(`dpkg --add-architecture ${foreignArch} failed`);
    }
  }
  say(`apt-get install ${missing.join(' ')}`);
  const apt = (args) => spawnSync('apt-get', args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
  if (apt(['update', '-qq']).status !== 0) fail('apt-get update failed');
  if (apt(['install', '-y', '-qq', '--no-install-recommends', ...missing]).status !== 0) {
    fail(`apt-get install ${missing.join(' ')} failed`);
  }
}

/** The toolchain for a target from this host: native tools or the Debian cross ones. */
function toolchain(target) {
  const t = TARGETS[target];
  const cross = target !== hostArch();
  if (!cross) {
    if (hasTool('dpkg-query')) ensureDebs(['g++', 'make', 'python3', 'libseccomp-dev']);
    return { cross, env: {}, strip: 'strip', cxx: 'c++' };
  }
  if (hostArch() !== 'x64') fail(`cross builds for ${target} are set up for x86_64 hosts only`);
  if (!hasTool('dpkg-query')) {
    fail(
      `cross-compiling for ${target} needs Debian's ${t.triple} toolchain and multiarch libseccomp-dev`,
    );
  }
  ensureDebs(
    [
      'make',
      'python3',
      `gcc-${t.triple}`,
      `g++-${t.triple}`,
      `binutils-${t.triple}`,
      `libseccomp-dev:${t.debArch}`,
    ],
    t.debArch,
  );
  const env = {
    CC: `${t.triple}-gcc`,
    CXX: `${t.triple}-g++`,
    LINK: `${t.triple}-g++`,
    AR: `${t.triple}-ar`,
  };
  return { cross, env, strip: `${t.triple}-strip`, cxx: env.CXX };
}

/** Every file the addon is built from, plus the tools that build it. */
function inputsHash(target, tools, stage) {
  const hash = createHash('sha256');
  const files = ['binding.gyp', 'scripts/find-libseccomp.mjs', 'scripts/prebuild.mjs'];
  for (const name of readdirSync(join(root, 'src/native')).sort()) files.push(`src/native/${name}`);
  for (const file of files) hash.update(file).update(readFileSync(join(root, file)));
  hash
    .update(process.version)
    .update(target)
    .update(run(tools.cxx, ['--version']).stdout);
  const seccomp = run(process.execPath, [join(stage, 'scripts/find-libseccomp.mjs'), target], {
    cwd: stage,
    env: { ...process.env, ...tools.env },
  });
  if (seccomp.status !== 0) fail(seccomp.stderr.trim());
  hash.update(readFileSync(seccomp.stdout.trim()));
  hash.update(readFileSync(require.resolve('node-addon-api/package.json')));
  return hash.digest('hex');
}

function readelf(args, file) {
  const r = run('readelf', [...args, file]);
  if (r.status !== 0) fail(`readelf ${args.join(' ')} ${file}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Fails unless the binary is for the target and needs no libseccomp.so. */
function check(target, file) {
  const machine = /Machine:\s+(.*)/.exec(readelf(['-h'], file))?.[1]?.trim();
  if (machine !== TARGETS[target].machine) {
    fail(`${file} is built for '${machine}', not '${TARGETS[target].machine}'`);
  }
  const needed = [...readelf(['-d'], file).matchAll(/\(NEEDED\).*\[(.*)\]/g)].map((m) => m[1]);
  if (needed.some((lib) => lib.startsWith('libseccomp'))) {
    fail(`${file} needs ${needed.join(', ')}: libseccomp was not linked statically`);
  }
}

/** A copy of what node-gyp reads, with node_modules shared with the package. */
function stageCopy() {
  const stage = mkdtempSync(join(tmpdir(), 'hvtjs-prebuild-'));
  for (const entry of ['binding.gyp', 'package.json', 'scripts', 'src/native']) {
    cpSync(join(root, entry), join(stage, entry), { recursive: true });
  }
  symlinkSync(join(root, 'node_modules'), join(stage, 'node_modules'));
  return stage;
}

function prebuild(target) {
  if (!TARGETS[target])
    fail(`unknown target '${target}' (known: ${Object.keys(TARGETS).join(', ')})`);
  const tools = toolchain(target);
  const outDir = join(root, 'prebuilds', `linux-${target}`);
  const out = join(outDir, prebuildName);
  const stampFile = join(root, 'node_modules/.cache/hvtjs-prebuilds', `linux-${target}.sha256`);
  const stage = stageCopy();
  try {
    const stamp = inputsHash(target, tools, stage);
    if (existsSync(out) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
      check(target, out);
      say(`linux-${target}: up to date (${out})`);
      return;
    }
    say(`linux-${target}: building${tools.cross ? ` with ${tools.env.CXX}` : ''}`);
    const prebuildify = join(dirname(require.resolve('prebuildify/package.json')), 'bin.js');
    // prebuildify spawns this without a shell: the package's own bin shim.
    const nodeGyp = join(root, 'node_modules/.bin/node-gyp');
    const nodeDir = dirname(dirname(process.execPath));
    const env = {
      ...process.env,
      ...tools.env,
      // The running Node's own headers: no header download at build time.
      ...(existsSync(join(nodeDir, 'include/node/node_api.h'))
        ? { npm_config_nodedir: nodeDir }
        : {}),
      PREBUILD_NODE_GYP: nodeGyp,
    };
    const args = [
      prebuildify,
      '--napi',
      '--strip',
      '--tag-libc',
      `--arch=${target}`,
      `--strip-bin=${tools.strip}`,
      `--target=${process.versions.node}`,
      `--out=${stage}`,
    ];
    const built = spawnSync(process.execPath, args, {
      cwd: stage,
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (built.status !== 0) fail(`linux-${target}: prebuildify failed (status ${built.status})`);
    const staged = join(stage, 'prebuilds', `linux-${target}`, prebuildName);
    check(target, staged);
    mkdirSync(outDir, { recursive: true });
    copyFileSync(staged, `${out}.tmp`);
    renameSync(`${out}.tmp`, out);
    mkdirSync(dirname(stampFile), { recursive: true });
    writeFileSync(stampFile, stamp);
    say(`linux-${target}: ${out}`);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

const targets = process.argv.slice(2);
for (const target of targets.length > 0 ? targets : Object.keys(TARGETS)) prebuild(target);
