import { type SpawnSyncOptions, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildGuests } from '../guests/build.mjs';

/**
 * What a user gets from the published packages: every workspace package packed
 * as it would be published, installed with npm into an empty project on a PATH
 * that has no compiler, no make and no python, then used. The install must take
 * the prebuilt addon and build nothing. Runs in `pnpm test` (the normal suite);
 * the unikernel itself runs inside the nested VM (test/vm/), as this host's
 * /dev/kvm, if any, is not trusted for real guests.
 */

const checkout = fileURLToPath(new URL('../..', import.meta.url));
// Under the checkout, not /tmp: the nested VM sees the checkout at the same
// path but has a /tmp of its own.
const work = join(checkout, '.cache/install-test');
const tarballs = join(work, 'tarballs');
const app = join(work, 'app');
const bin = join(work, 'bin');
const kvmPackage = join(checkout, 'packages/linux-kvm');
const PACKAGES = ['core', 'cli', 'linux-kvm', 'posix-kit', 'freebsd-vmm', 'openbsd-vmm'];
const PREBUILD = '@hvtjs+linux-kvm.glibc.node';
const NOT_INSTALLED = '@hvtjs/linux-kvm, the platform package for linux on x64, is not installed';
/** What a build from source would need; none of it may be on the install's PATH. */
const BUILD_TOOLS = ['cc', 'gcc', 'c++', 'g++', 'clang', 'make', 'python3', 'python'];

function run(cmd: string, args: string[], options: SpawnSyncOptions = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  return {
    status: r.status,
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? ''),
    output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}`,
  };
}

function mustRun(cmd: string, args: string[], options: SpawnSyncOptions = {}) {
  const r = run(cmd, args, options);
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.output}`);
  return r;
}

/** The environment of the install and of the installed commands: this PATH only. */
const cleanEnv = () => ({
  PATH: bin,
  HOME: process.env['HOME'] ?? '/root',
  // npm's cache: the packages' own dependencies (node-gyp-build, node-addon-api)
  // come from the registry or this cache, as for any user.
  ...(process.env['npm_config_cache'] ? { npm_config_cache: process.env['npm_config_cache'] } : {}),
});

/** A new empty project with the same package.json as the main one. */
function copyApp(name: string): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), readFileSync(join(app, 'package.json')));
  return dir;
}

let hello: string;
let installLog: string;

beforeAll(() => {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(tarballs, { recursive: true });
  mkdirSync(app, { recursive: true });
  mkdirSync(bin, { recursive: true });

  // The prebuilt addons are build outputs: made (or found up to date) here.
  mustRun(process.execPath, ['scripts/prebuild.mjs'], { cwd: kvmPackage, stdio: 'inherit' });
  // pnpm pack, as pnpm publish would: workspace:* becomes the real version.
  for (const name of PACKAGES) {
    mustRun('pnpm', ['pack', '--pack-destination', tarballs], {
      cwd: join(checkout, 'packages', name),
    });
  }
  const tgz = (name: string) => `file:${join(tarballs, `hvtjs-${name}-0.1.0.tgz`)}`;
  // The user's project depends on the CLI only. The overrides stand in for the
  // registry: npm takes @hvtjs/* from the tarballs, then chooses among the
  // CLI's optional platform packages by their os/cpu fields as it would there.
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify(
      {
        name: 'hvtjs-install-test',
        version: '1.0.0',
        private: true,
        dependencies: { '@hvtjs/cli': tgz('cli') },
        overrides: Object.fromEntries(
          PACKAGES.filter((n) => n !== 'cli').map((n) => [`@hvtjs/${n}`, tgz(n)]),
        ),
      },
      null,
      2,
    ),
  );
  // A PATH with node, npm and a shell, and nothing else.
  for (const tool of ['node', 'npm', 'sh']) {
    const found = mustRun('sh', ['-c', `command -v ${tool}`]).stdout.trim();
    symlinkSync(found, join(bin, tool));
  }
}, 900_000);

describe('installing the packed packages with npm, without build tools', () => {
  it('ships an x86_64 prebuild that needs no libseccomp.so', () => {
    const file = join(kvmPackage, 'prebuilds/linux-x64', PREBUILD);
    expect(run('readelf', ['-h', file]).stdout).toMatch(/Machine:\s+Advanced Micro Devices X86-64/);
    const needed = run('readelf', ['-d', file]).stdout.match(/\(NEEDED\).*/g) ?? [];
    console.log(`linux-x64 prebuild needs:\n  ${needed.join('\n  ')}`);
    expect(needed.length).toBeGreaterThan(0);
    expect(needed.join('\n')).not.toMatch(/libseccomp/);
  });

  it('ships an aarch64 prebuild, cross-compiled, that needs no libseccomp.so', () => {
    const file = join(kvmPackage, 'prebuilds/linux-arm64', PREBUILD);
    const header = run('readelf', ['-h', file]).stdout;
    console.log(`linux-arm64 prebuild: ${/Machine:.*/.exec(header)?.[0]}`);
    expect(header).toMatch(/Class:\s+ELF64/);
    expect(header).toMatch(/Machine:\s+AArch64/);
    expect(run('readelf', ['-d', file]).stdout).not.toMatch(/libseccomp/);
  });

  it('packs both prebuilds into the package', () => {
    const listing = mustRun('tar', ['tzf', join(tarballs, 'hvtjs-linux-kvm-0.1.0.tgz')]).stdout;
    expect(listing).toContain(`package/prebuilds/linux-x64/${PREBUILD}`);
    expect(listing).toContain(`package/prebuilds/linux-arm64/${PREBUILD}`);
    expect(listing).not.toMatch(/package\/build\//);
  });

  it('has no compiler, make or python on the PATH of the install', () => {
    for (const tool of BUILD_TOOLS) {
      expect(run('sh', ['-c', `command -v ${tool}`], { env: cleanEnv() }).status, tool).not.toBe(0);
    }
  });

  it('installs the CLI, core, the POSIX kit and exactly one platform package, building nothing', () => {
    const r = run(
      'npm',
      ['install', '--foreground-scripts', '--no-audit', '--no-fund', '--loglevel=info'],
      { cwd: app, env: cleanEnv() },
    );
    installLog = r.output;
    console.log(
      `npm install (exit ${r.status}):\n${installLog.trim().split('\n').slice(-25).join('\n')}`,
    );
    expect(r.status).toBe(0);
    // posix-kit: what the platform packages share (JavaScript and C headers, no addon).
    expect(readdirSync(join(app, 'node_modules/@hvtjs')).sort()).toEqual([
      'cli',
      'core',
      'linux-kvm',
      'posix-kit',
    ]);
    // The install hook ran and took the prebuild...
    expect(installLog).toContain(
      `@hvtjs/linux-kvm: using the prebuilt addon prebuilds/linux-x64/${PREBUILD}; nothing to build`,
    );
    // ...and no build step ran: node-gyp prints "gyp info" lines, make "make:".
    expect(installLog).not.toMatch(/gyp (info|ERR)|node-gyp rebuild|make: |CXX\(target\)/);
    const installed = join(app, 'node_modules/@hvtjs/linux-kvm');
    expect(existsSync(join(installed, 'build'))).toBe(false);
    expect(readdirSync(join(installed, 'prebuilds')).sort()).toEqual(['linux-arm64', 'linux-x64']);
  });

  it('loads the prebuilt addon at run time', () => {
    const installed = join(app, 'node_modules/@hvtjs/linux-kvm');
    const r = mustRun(
      'node',
      [
        '-e',
        `const d = process.argv[1]; const p = require('node-gyp-build').path(d);
         require(p); console.log(require('node:path').relative(d, p));`,
        installed,
      ],
      { cwd: installed, env: cleanEnv() },
    );
    console.log(`addon loaded: ${r.stdout.trim()}`);
    expect(r.stdout.trim()).toBe(`prebuilds/linux-x64/${PREBUILD}`);
    const platform = mustRun(
      'node',
      ['--input-type=module', '-e', "console.log((await import('@hvtjs/linux-kvm')).default.name)"],
      { cwd: app, env: cleanEnv() },
    );
    expect(platform.stdout.trim()).toBe('linux-kvm');
  });

  it('installs the CLI as bundled bins: one file each, chunks, no unbundled modules', () => {
    const cli = join(app, 'node_modules/@hvtjs/cli');
    const manifest = JSON.parse(readFileSync(join(cli, 'package.json'), 'utf8'));
    expect(manifest.bin).toEqual({ solo5: './dist/solo5.js', 'solo5-hvt': './dist/solo5-hvt.js' });
    // exe/: the self-contained executable's script, for `solo5 build-exe`.
    expect(readdirSync(join(cli, 'dist')).sort()).toEqual([
      'api.d.ts',
      'api.js',
      'chunks',
      'exe',
      'package.json',
      'solo5-hvt.js',
      'solo5.js',
    ]);
    // CommonJS, and what solo5-hvt loads at start-up is that one file: never a
    // package by name; its platform chunk only when a unikernel is run.
    expect(JSON.parse(readFileSync(join(cli, 'dist/package.json'), 'utf8'))).toEqual({
      type: 'commonjs',
    });
    const entry = readFileSync(join(cli, 'dist/solo5-hvt.js'), 'utf8');
    expect(entry).not.toMatch(/^(?:(?:const|let|var) \w+ = )?require\("@hvtjs\//m);
    expect(entry).toContain('require("./chunks/solo5-hvt-linux-kvm.js")');
  });

  it('offers the embedding API as the main entry, to import and require, finding its own tender', () => {
    const cli = join(app, 'node_modules/@hvtjs/cli');
    const probe = (type: 'module' | 'commonjs', load: string) =>
      mustRun(
        'node',
        [
          `--input-type=${type}`,
          '-e',
          `${load}
           console.log(JSON.stringify({ tender: api.resolveTender(), args: api.tenderArgs({ kernel: 'k', mem: 32 }).args, run: typeof api.runUnikernel }));`,
        ],
        { cwd: app, env: cleanEnv() },
      ).stdout;
    const expected = {
      tender: join(cli, 'dist/solo5-hvt.js'),
      args: ['--mem=32', '--', 'k'],
      run: 'function',
    };
    expect(JSON.parse(probe('module', "const api = await import('@hvtjs/cli');"))).toEqual(
      expected,
    );
    expect(JSON.parse(probe('commonjs', "const api = require('@hvtjs/cli');"))).toEqual(expected);
  });

  it("types the embedding API from the installed package's declarations", () => {
    // The workspace's compiler and Node types; the package's own declarations.
    const check = join(app, 'typed.mts');
    writeFileSync(
      check,
      `import { runUnikernel, tenderArgs, type Unikernel, type UnikernelExit } from '@hvtjs/cli';
const vm: Unikernel = runUnikernel({ kernel: 'hello.hvt', mem: 32, block: { storage: { path: 'disk.img', sectorSize: 4096 } } });
const exit: Promise<UnikernelExit> = vm.exit;
const args: string[] = tenderArgs({ kernel: 'k' }).args;
// @ts-expect-error mem is a number of MiB
runUnikernel({ kernel: 'hello.hvt', mem: '32' });
// @ts-expect-error the console is a stream, not a string
const text: string = vm.console;
export { args, exit, text };
`,
    );
    const tsc = join(checkout, 'node_modules/typescript/bin/tsc');
    const types = join(checkout, 'node_modules/@types');
    const options = ['--noEmit', '--strict', '--module', 'nodenext'];
    const r = run(process.execPath, [tsc, ...options, '--typeRoots', types, check], { cwd: app });
    expect(r.output.trim()).toBe('');
    expect(r.status).toBe(0);
  });

  it('runs solo5 --version, solo5-hvt --version and solo5 info', async () => {
    hello = (await buildGuests()).hello!;
    const hvt = mustRun(join(app, 'node_modules/.bin/solo5-hvt'), ['--version'], {
      env: cleanEnv(),
    });
    expect(hvt.stderr).toMatch(/^solo5-hvt tender, version 0\.1\.0$/m);
    const solo5 = join(app, 'node_modules/.bin/solo5');
    const version = mustRun(solo5, ['--version'], { env: cleanEnv() });
    console.log(version.stdout.trim());
    expect(version.stdout).toMatch(/^solo5 \(hvt\.js\) version 0\.1\.0$/m);
    const info = mustRun(solo5, ['info', hello], { env: cleanEnv() });
    console.log(info.stdout.trim());
    expect(info.stdout).toMatch(/^ABI: hvt, version \d+$/m);
  });

  // Where no prebuild fits: LIBC=musl makes node-gyp-build look for a musl one,
  // as on Alpine, and there is none.
  it('names the missing tools where no prebuild fits and nothing can build one', () => {
    const dir = copyApp('app-musl-no-tools');
    const r = run('npm', ['install', '--foreground-scripts', '--no-audit', '--no-fund'], {
      cwd: dir,
      env: { ...cleanEnv(), LIBC: 'musl' },
    });
    const said = r.output.split('\n').filter((l) => l.startsWith('@hvtjs/linux-kvm: '));
    console.log(said.join('\n'));
    // The platform package is an optional dependency: npm leaves it out and goes on.
    expect(r.status).toBe(0);
    expect(readdirSync(join(dir, 'node_modules/@hvtjs')).sort()).toEqual(['cli', 'core']);
    expect(said[0]).toBe(
      '@hvtjs/linux-kvm: no prebuilt addon fits linux-x64 (musl), and a build from source is not ' +
        'possible: missing python3, make, a C++ compiler (c++, e.g. g++), a C compiler (cc, e.g. gcc).',
    );
    expect(said[1]).toMatch(/^@hvtjs\/linux-kvm: A source build needs node-gyp, python3, make/);
    const solo5 = run(join(dir, 'node_modules/.bin/solo5'), ['run', hello], { env: cleanEnv() });
    console.log(solo5.stderr.trim());
    expect(solo5.status).toBe(1);
    expect(solo5.stderr).toContain(NOT_INSTALLED);
  });

  it('builds from source where no prebuild fits and the tools are there', () => {
    const dir = copyApp('app-musl-source-build');
    const r = run('npm', ['install', '--foreground-scripts', '--no-audit', '--no-fund'], {
      cwd: dir,
      env: { ...cleanEnv(), PATH: process.env['PATH'] ?? '', LIBC: 'musl' },
    });
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain(
      '@hvtjs/linux-kvm: no prebuilt addon fits linux-x64 (musl): building it from source',
    );
    expect(r.output).toMatch(/gyp info ok/);
    const installed = join(dir, 'node_modules/@hvtjs/linux-kvm');
    const loaded = mustRun(
      'node',
      ['-e', "console.log(require('node-gyp-build').path(process.argv[1]))", installed],
      { cwd: installed, env: { ...cleanEnv(), LIBC: 'musl' } },
    );
    expect(loaded.stdout.trim()).toBe(join(installed, 'build/Release/hvt_linux_kvm.node'));
  }, 600_000);

  it('says where unikernels run when npm installed no platform package', () => {
    // Installed without optional dependencies, npm leaves out every platform package.
    const bare = copyApp('app-without-optional');
    mustRun('npm', ['install', '--omit=optional', '--no-audit', '--no-fund'], {
      cwd: bare,
      env: cleanEnv(),
    });
    expect(readdirSync(join(bare, 'node_modules/@hvtjs')).sort()).toEqual(['cli', 'core']);
    const r = run(join(bare, 'node_modules/.bin/solo5'), ['run', hello], { env: cleanEnv() });
    console.log(r.stderr.trim());
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(NOT_INSTALLED);
    expect(r.stderr).toContain(
      'hvt.js runs unikernels on x86_64 and aarch64 Linux (KVM), x86_64 FreeBSD (vmm) and OpenBSD (vmm)',
    );
  });

  it('runs the hello unikernel with the installed solo5, solo5-hvt and runUnikernel() inside the nested VM', () => {
    const solo5 = join(app, 'node_modules/.bin/solo5');
    const solo5Hvt = join(app, 'node_modules/.bin/solo5-hvt');
    // A program of the user's: the API, imported by the package's name.
    const program = join(app, 'embedded.mjs');
    writeFileSync(
      program,
      `import { runUnikernel } from '@hvtjs/cli';
const vm = runUnikernel({ kernel: process.argv[2], args: ['via-api'], mem: 32 });
vm.console.pipe(process.stdout);
const exit = await vm.exit;
console.log(\`api exit: \${JSON.stringify(exit)}\`);
`,
    );
    // One boot for all three: each prints its own command line.
    const script =
      '"$0" run --mem=32 "$2" via-solo5 && "$1" --mem=32 "$2" via-solo5-hvt && "$4" "$3" "$2"';
    const r = run(
      process.execPath,
      [
        join(checkout, 'test/vm/run-in-vm.mjs'),
        '--',
        'sh',
        '-c',
        script,
        solo5,
        solo5Hvt,
        hello,
        program,
        process.execPath,
      ],
      { cwd: app, timeout: 300_000 },
    );
    console.log(
      `solo5, solo5-hvt and the API in the nested VM (exit ${r.status}):\n${r.output.trim()}`,
    );
    expect(r.stdout.match(/Hello, World/g)).toHaveLength(3);
    expect(r.stdout).toContain('cmdline: via-solo5\n');
    expect(r.stdout).toContain('cmdline: via-solo5-hvt\n');
    expect(r.stdout).toContain('cmdline: via-api\n');
    expect(r.stdout).toContain('api exit: {"status":0,"messages":[]}');
    expect(r.status).toBe(0);
  }, 300_000);

  // The same installed tree on an arm64 machine: it has no compiler, and the
  // package carries the arm64 prebuild, which node-gyp-build picks there.
  // (npm itself ran on this x86_64 host: the aarch64 VM has no npm.)
  it('runs the aarch64 hello with the installed solo5 inside the nested aarch64 VM', async () => {
    const helloArm = (await buildGuests('aarch64')).hello!;
    const solo5 = join(app, 'node_modules/.bin/solo5');
    const script =
      'for t in cc gcc c++ make python3; do command -v $t; done; "$0" run --mem=32 "$1" on-arm64';
    const r = run(
      process.execPath,
      [
        join(checkout, 'test/vm/run-in-vm.mjs'),
        ...['--arch', 'aarch64', '--'],
        ...['sh', '-c', script, solo5, helloArm],
      ],
      { cwd: app, timeout: 600_000 },
    );
    console.log(`solo5 in the nested aarch64 VM (exit ${r.status}):\n${r.output.trim()}`);
    expect(r.stdout).toContain('Hello, World');
    expect(r.stdout).toContain('cmdline: on-arm64');
    // No build tool on the arm64 machine's PATH: the addon is the prebuild.
    expect(r.stdout).not.toMatch(/^\//m);
    expect(r.status).toBe(0);
  }, 600_000);
});
