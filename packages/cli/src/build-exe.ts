import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { HvtError, UsageError } from '@hvtjs/core';
import { EXE_ASSETS, prependEntry } from './build-exe-entry.js';
import type { CommandIo } from './main.js';
import { cliPackage } from './package.js';

/**
 * `solo5 build-exe -o PATH`: makes the self-contained `solo5-hvt`
 * executable, for launchers that exec a tender in a root holding nothing
 * else (urunc, albatross; README, "A self-contained solo5-hvt"). From the
 * installed packages and the running Node only, with no compiler:
 *
 * 1. Node's single executable application blob, from the bundled script
 *    (dist/exe/solo5-hvt.js, src/exe.ts) evaluated into a V8 startup
 *    snapshot, with the platform's addon as an asset;
 * 2. a copy of this Node binary with the blob injected (postject);
 * 3. the executable's own entry code added (build-exe-entry.ts).
 *
 * The executable runs with the Node it was made from and on x86_64 Linux only.
 */

/** NODE_SEA_FUSE's name, as Node's documentation gives it for postject. */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const USAGE = 'usage: solo5 build-exe -o PATH\n';

/** The installed addon of @hvtjs/linux-kvm, as node-gyp-build would load it. */
function installedAddon(cliDir: string): string {
  const fromCli = createRequire(join(cliDir, 'package.json'));
  let entry: string;
  try {
    entry = fromCli.resolve('@hvtjs/linux-kvm');
  } catch {
    throw new HvtError(
      'build-exe: @hvtjs/linux-kvm, whose addon the executable carries, is not installed',
    );
  }
  const root = dirname(dirname(entry));
  const nodeGypBuild = createRequire(join(root, 'package.json'))('node-gyp-build') as {
    path(dir: string): string;
  };
  return nodeGypBuild.path(root);
}

export async function buildExe(args: readonly string[], io: CommandIo): Promise<number> {
  const i = args.indexOf('-o');
  const output = i >= 0 ? args[i + 1] : undefined;
  if (output === undefined || args.length !== 2)
    throw new UsageError(`build-exe needs -o PATH\n${USAGE}`);
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new HvtError(
      `build-exe: the executable is for x86_64 Linux; this host is ${process.platform} on ${process.arch}`,
    );
  }
  const cliDir = cliPackage().dir;
  const script = join(cliDir, 'dist', 'exe', 'solo5-hvt.js');
  const addon = installedAddon(cliDir);
  const work = mkdtempSync(join(tmpdir(), 'hvtjs-exe-'));
  const target = resolve(output);
  const partial = `${target}.partial`;
  try {
    const blob = join(work, 'sea.blob');
    const config = join(work, 'sea.json');
    writeFileSync(
      config,
      JSON.stringify({
        main: script,
        output: blob,
        disableExperimentalSEAWarning: true,
        useSnapshot: true,
        assets: { [EXE_ASSETS.addon]: addon },
      }),
    );
    const made = spawnSync(process.execPath, ['--experimental-sea-config', config], {
      encoding: 'utf8',
    });
    if (made.status !== 0) {
      throw new HvtError(`build-exe: node --experimental-sea-config failed: ${made.stderr.trim()}`);
    }
    copyFileSync(process.execPath, partial);
    chmodSync(partial, 0o755);
    const { inject } = createRequire(join(cliDir, 'package.json'))('postject') as {
      inject(file: string, name: string, data: Buffer, options: object): Promise<void>;
    };
    // postject prints LIEF's warnings about section names on stderr; silence them.
    const silenced = muteStderr();
    try {
      await inject(partial, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE });
    } finally {
      silenced();
    }
    prependEntry(partial);
    renameSync(partial, target);
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(partial, { force: true });
  }
  io.err(`solo5: wrote ${target}\n`);
  return 0;
}

function muteStderr(): () => void {
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = () => true;
  return () => {
    process.stderr.write = write;
  };
}
