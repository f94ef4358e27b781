// The platform package's code as one function, not run when the snapshot is
// made (it loads the addon as it starts): scripts/bundle.mjs makes it.
import linuxKvm from 'hvtjs:embedded-platform';
import { closeSync, readdirSync, readlinkSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { startupSnapshot } from 'node:v8';
import * as core from '@hvtjs/core';
import { HvtError } from '@hvtjs/core';
import * as coreKernel from '@hvtjs/core/kernel';
import type { Platform } from '@hvtjs/core/platform';
import * as corePlatform from '@hvtjs/core/platform';
import * as coreTender from '@hvtjs/core/tender';
import { ADDON_MEMFD_NAME, EXE_ASSETS } from './build-exe-entry.js';
import { tenderMain } from './run.js';

/**
 * The entry of the self-contained `solo5-hvt` executable (`solo5 build-exe`,
 * build-exe.ts). Its module evaluation — the CLI and core — happens once,
 * when the executable is made, into a V8 startup snapshot; each run
 * deserialises it and calls the main function below. The platform package's
 * code is in the snapshot too, as a function not yet called, because its
 * module evaluation needs the addon, which a snapshot cannot hold: the addon
 * travels as an asset of the executable and is loaded at run time from a
 * memory file (loadEmbeddedAddon).
 */

/** hvt.js's version, fixed when the bundle is made (scripts/bundle.mjs). */
declare const HVTJS_VERSION: string;

/**
 * The descriptor of the addon's memory file. The executable's entry code
 * (before Node's own start) made it with memfd_create and left it open; it is
 * found by its name under /proc/self/fd, because Node has no memfd API.
 */
function addonFd(): number {
  let entries: string[];
  try {
    entries = readdirSync('/proc/self/fd');
  } catch {
    throw new HvtError(
      'this executable needs /proc mounted: it loads its KVM addon through /proc/self/fd',
    );
  }
  for (const entry of entries) {
    try {
      if (readlinkSync(`/proc/self/fd/${entry}`).startsWith(`/memfd:${ADDON_MEMFD_NAME}`)) {
        return Number(entry);
      }
    } catch {}
  }
  throw new HvtError(
    `the executable's start-up code left no memory file for its addon (memfd_create failed; ` +
      'Linux 3.17 or later is needed)',
  );
}

/**
 * Loads the addon carried in the executable: its bytes written into the
 * memory file, then dlopen()ed through /proc/self/fd. No file system path is
 * written, so neither a writable directory nor one without noexec is needed.
 */
function loadEmbeddedAddon(): unknown {
  const { getAsset } = require('node:sea') as typeof import('node:sea');
  const bytes = new Uint8Array(getAsset(EXE_ASSETS.addon));
  const fd = addonFd();
  try {
    for (let done = 0; done < bytes.byteLength; ) {
      done += writeSync(fd, bytes, done, bytes.byteLength - done);
    }
    const module = { exports: {} as unknown };
    process.dlopen(module, `/proc/self/fd/${fd}`);
    return module.exports;
  } finally {
    closeSync(fd);
  }
}

/**
 * Runs the platform package's module body with a `require` that gives it
 * this executable's core, its addon in place of the package's addon file, and
 * Node's built-in modules; it reads nothing from the file system.
 */
const CORE: Readonly<Record<string, unknown>> = {
  '@hvtjs/core': core,
  '@hvtjs/core/platform': corePlatform,
  '@hvtjs/core/kernel': coreKernel,
  '@hvtjs/core/tender': coreTender,
};

async function loadEmbeddedPlatform(): Promise<Platform> {
  const addon = loadEmbeddedAddon();
  const builtin = require;
  const embeddedRequire = (id: string): unknown => {
    const coreEntry = CORE[id];
    if (coreEntry !== undefined) return coreEntry;
    // lazyAddon requires the addon's file by path (posix-kit's addonFile).
    if (id.endsWith('.node')) return addon;
    if (id === 'node:module' || id === 'module') {
      return { ...(builtin('node:module') as object), createRequire: () => embeddedRequire };
    }
    return builtin(id);
  };
  const module = { exports: {} as { default?: Platform } };
  linuxKvm(module.exports, embeddedRequire, module, process.execPath);
  const platform = module.exports.default;
  if (platform === undefined) throw new HvtError('the embedded platform provides no platform');
  return platform;
}

startupSnapshot.setDeserializeMainFunction(() => {
  // As the reference: messages carry the name the executable was run as.
  const prog = basename(process.argv[1] ?? 'solo5-hvt');
  void tenderMain(process.argv.slice(2), {
    prog,
    usageProg: prog,
    version: HVTJS_VERSION,
    loadPlatform: loadEmbeddedPlatform,
  }).then((status) => {
    process.exitCode = status;
  });
});
