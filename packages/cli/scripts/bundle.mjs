#!/usr/bin/env node
// @ts-check
// Bundles each published bin of the CLI, and its embedding API, into one file
// each, so that start-up reads
// and compiles one module instead of a few dozen (in the nested test VM, where
// every file access is a 9p round trip and V8 runs emulated, loading hvt.js
// cost three times Node's own start-up):
//
//   dist/lib/*.js          tsc's output (the input here; also what the bench imports)
//   dist/solo5-hvt.js      solo5-hvt: the CLI and core in one file
//   dist/solo5.js          solo5: the dispatcher; `run` and `info` come as chunks
//   dist/chunks/*.js       what a run loads only when it needs it: the one platform
//                          package of this host (never the others), `info`
//   dist/api.js, api.d.ts  the package's main entry: runUnikernel() for programs,
//                          which starts dist/solo5-hvt.js as a child process
//   dist/exe/solo5-hvt.js  the self-contained executable's script (src/exe.ts,
//                          `solo5 build-exe`): everything in one file, the Linux
//                          platform's module body as a function not yet called
//
// A platform package's JavaScript is bundled too (a second copy of core would
// come with it otherwise), but its addon stays in the installed package: the
// platform's loader finds it relative to `import.meta.url`, which in the bundle
// is rewritten to the installed package's own entry, resolved at run time as
// `import('@hvtjs/<platform>')` would. The CLI depends on the exact version of
// each platform package (workspace:* on publish), so bundled code and addon match.

import { readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(PACKAGE_DIR, 'dist');
const LIB = join(DIST, 'lib');
/** The bins, then the embedding API (`exports['.']`): one bundle each. */
const ENTRIES = ['solo5-hvt', 'solo5', 'api'];

/** The platform packages whose loader the bundle must point back at their install. */
const PLATFORMS = ['@hvtjs/linux-kvm', '@hvtjs/freebsd-vmm', '@hvtjs/openbsd-vmm'];

/**
 * The package a bundled file belongs to, from its real path: pnpm links each
 * workspace package as packages/<dir>, and the name is read from there.
 * @param {string} file
 */
async function owningPackage(file) {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      return /** @type {{ name: string }} */ (
        JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'))
      ).name;
    } catch {}
  }
  return undefined;
}

/**
 * Rewrites `import.meta.url` in a platform package's modules to a URL inside
 * that package as installed beside the CLI: its loader takes the package root
 * from it (`new URL('..', url)`) and a require rooted there, so the file name
 * does not matter. Found as Node finds a bare specifier, in the node_modules
 * of each folder upwards, but by one existsSync per level: Node's own
 * resolution through the package's `exports` cost about 6% of loading in the
 * nested VM's profile (its resolver's code compiled and run once, emulated).
 * A missing package fails as `import()` would, MODULE_NOT_FOUND naming it.
 * @returns {import('vite').Plugin}
 */
function platformLocation() {
  return {
    name: 'hvtjs-platform-location',
    async transform(code, id) {
      if (!code.includes('import.meta.url') || !id.includes(`${sep}dist${sep}`)) return null;
      const name = await owningPackage(id);
      if (name === undefined || !PLATFORMS.includes(name)) return null;
      const header = `import { existsSync as hvtjsExists, realpathSync as hvtjsRealpath } from 'node:fs';
import { dirname as hvtjsDirname, join as hvtjsJoin } from 'node:path';
import { fileURLToPath as hvtjsToPath, pathToFileURL as hvtjsToUrl } from 'node:url';
const hvtjsPackageUrl = (() => {
  const name = ${JSON.stringify(name)};
  for (let dir = hvtjsDirname(hvtjsToPath(import.meta.url)); ; dir = hvtjsDirname(dir)) {
    const root = hvtjsJoin(dir, 'node_modules', name);
    if (hvtjsExists(hvtjsJoin(root, 'package.json'))) {
      return hvtjsToUrl(hvtjsJoin(hvtjsRealpath(root), 'dist', 'index.js')).href;
    }
    if (hvtjsDirname(dir) === dir) {
      throw Object.assign(new Error(\`Cannot find module '\${name}'\`), { code: 'MODULE_NOT_FOUND' });
    }
  }
})();
`;
      return { code: header + code.replaceAll('import.meta.url', 'hvtjsPackageUrl'), map: null };
    },
  };
}

/**
 * A chunk's file name: the workspace package its modules come from (core, a
 * platform) or, for the CLI's own lazy commands, the command's name.
 * @param {{ name: string, facadeModuleId: string | null, moduleIds: string[] }} chunk
 */
function chunkLabel(chunk) {
  const first = chunk.facadeModuleId ?? chunk.moduleIds[0] ?? '';
  const inPackage = /[\\/]packages[\\/]([^\\/]+)[\\/]dist[\\/]/.exec(first)?.[1];
  return inPackage === undefined || inPackage === 'cli' ? chunk.name : inPackage;
}

// Only what this run writes may be published: clear all but tsc's output.
for (const entry of await readdir(DIST)) {
  if (entry !== 'lib') await rm(join(DIST, entry), { recursive: true, force: true });
}
for (const entry of ENTRIES) {
  await build({
    configFile: false,
    logLevel: 'warn',
    root: PACKAGE_DIR,
    plugins: [platformLocation()],
    build: {
      ssr: join(LIB, `${entry}.js`),
      outDir: DIST,
      emptyOutDir: false,
      minify: false,
      target: 'node20',
      rollupOptions: {
        output: {
          // CommonJS: Node runs a CommonJS entry without starting its ESM
          // loader, whose own code is a large part of loading in the VM
          // (profile: README, start-up). Lazy chunks are require()d.
          format: 'cjs',
          dynamicImportInCjs: false,
          entryFileNames: '[name].js',
          chunkFileNames: (chunk) => `chunks/${entry}-${chunkLabel(chunk)}.js`,
        },
      },
    },
    ssr: { noExternal: true, target: 'node' },
  });
}
/**
 * The executable's script. A V8 startup snapshot holds the evaluated CLI and
 * core, but not an addon, and the Linux platform's module evaluation loads
 * its addon; so that package is bundled on its own as CommonJS (core, Node's
 * modules and node-gyp-build left as `require`s) and enters the script as the
 * body of a function, `hvtjs:embedded-platform`, that src/exe.ts calls at run
 * time with a `require` of its own. The version is fixed here: the
 * executable has no package.json to read it from.
 */
/** Core's entries: the platform's bundle requires these, and the executable hands it its own. */
const CORE_ENTRIES = [
  '@hvtjs/core',
  '@hvtjs/core/platform',
  '@hvtjs/core/kernel',
  '@hvtjs/core/tender',
];

async function bundleExe() {
  const platformRoot = await realpath(join(PACKAGE_DIR, 'node_modules', '@hvtjs', 'linux-kvm'));
  const platform = /** @type {import('rollup').RollupOutput} */ (
    await build({
      configFile: false,
      logLevel: 'warn',
      root: platformRoot,
      build: {
        ssr: join(platformRoot, 'dist', 'index.js'),
        write: false,
        minify: false,
        target: 'node20',
        rollupOptions: {
          external: [...CORE_ENTRIES, 'node-gyp-build'],
          output: { format: 'cjs', codeSplitting: false, exports: 'named' },
        },
      },
      ssr: { noExternal: true, target: 'node' },
    })
  ).output[0].code;
  const { version } = JSON.parse(await readFile(join(PACKAGE_DIR, 'package.json'), 'utf8'));
  const VIRTUAL = 'hvtjs:embedded-platform';
  await build({
    configFile: false,
    logLevel: 'warn',
    root: PACKAGE_DIR,
    define: { HVTJS_VERSION: JSON.stringify(version) },
    plugins: [
      {
        name: 'hvtjs-embedded-platform',
        resolveId: (id) => (id === VIRTUAL ? `\0${VIRTUAL}` : null),
        load: (id) =>
          id === `\0${VIRTUAL}`
            ? `export default function (exports, require, module, __filename) {\n${platform}\n}\n`
            : null,
      },
    ],
    build: {
      ssr: join(LIB, 'exe.js'),
      outDir: join(DIST, 'exe'),
      emptyOutDir: false,
      minify: false,
      target: 'node20',
      rollupOptions: {
        // Never loaded by the executable (it passes its own platform loader).
        external: PLATFORMS,
        onwarn(warning, warn) {
          // The embedding API's runUnikernel() finds the installed tender
          // through import.meta.resolve; the executable never calls it.
          if (warning.code !== 'EMPTY_IMPORT_META' || !warning.id?.endsWith('api.js'))
            warn(warning);
        },
        output: {
          format: 'cjs',
          dynamicImportInCjs: false,
          codeSplitting: false,
          entryFileNames: 'solo5-hvt.js',
        },
      },
    },
    ssr: { noExternal: true, target: 'node' },
  });
}
await bundleExe();

// The package is ESM ("type": "module"); the bundle's folder says CommonJS
// for its files, and tsc's output below it (an input only, kept for the
// workspace's own tools in bench/, not published) says ESM again.
await writeFile(join(DIST, 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);
await writeFile(join(LIB, 'package.json'), `${JSON.stringify({ type: 'module' })}\n`);
await rm(join(DIST, '.vite'), { recursive: true, force: true });
// The embedding API's types, published beside its bundle: tsc's declaration,
// which must name nothing of the package but Node's own types.
const apiTypes = await readFile(join(LIB, 'api.d.ts'), 'utf8');
if (/(?:from |import\()['"]\./.test(apiTypes)) {
  throw new Error(
    'dist/lib/api.d.ts imports other modules of the package: it cannot be published alone',
  );
}
await writeFile(join(DIST, 'api.d.ts'), apiTypes);
