import { writeSync } from 'node:fs';
import type { Platform } from '@hvtjs/core/platform';
import { createModules, firstPass, runTender, usageText, versionText } from '@hvtjs/core/tender';
import { type CommandIo, report } from './main.js';
import { cliPackage } from './package.js';
import { loadPlatform } from './platform.js';

/** The version `--version` reports: hvt.js's own, read when asked for only. */
export function tenderVersion(): string {
  const { version } = cliPackage().manifest;
  if (version === undefined) throw new Error('the package.json of @hvtjs/cli has no version');
  return version;
}

/**
 * Writes all of `text` to `fd` synchronously. Never process.stdout/stderr:
 * Node makes a pipe non-blocking when it wraps it, and when stderr and stdout
 * share one pipe (2>&1) that would make the guest's console writes fail.
 */
function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text);
  let done = 0;
  while (done < bytes.byteLength) {
    try {
      done += writeSync(fd, bytes, done, bytes.byteLength - done);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

/** Console output of the tender: diagnostics on fd 2, written synchronously. */
export const tenderIo = (prog: string): CommandIo => ({
  prog,
  out: (text) => writeAll(1, text),
  err: (text) => writeAll(2, text),
});

export interface TenderNames {
  /** Prefix of every message: `<prog>: ...` (solo5-hvt, or solo5). */
  readonly prog: string;
  /** What the usage line shows before the options (solo5-hvt, or solo5 run). */
  readonly usageProg: string;
  /** hvt.js's version for --version; default: read from the CLI's package.json. */
  readonly version?: string;
  /** Loads the host's platform; default: the installed platform package. */
  readonly loadPlatform?: () => Promise<Platform>;
}

/**
 * The tender behind both `solo5-hvt` and `solo5 run`: same options, messages
 * and exit statuses as the reference solo5-hvt. Returns the process exit
 * status: the guest's (8 bits, as the OS keeps them), or the tender's own.
 */
export async function tenderMain(args: readonly string[], names: TenderNames): Promise<number> {
  // Once the sandbox goes on, the process must end through the platform.
  let leave: ((status: number) => never) | undefined;
  const status = await runTenderCommand(args, names, (exit) => {
    leave = exit;
  });
  if (leave !== undefined) leave(status);
  return status;
}

async function runTenderCommand(
  args: readonly string[],
  names: TenderNames,
  sandboxed: (exit: (status: number) => never) => void,
): Promise<number> {
  const io = tenderIo(names.prog);
  const usage = () => usageText(names.usageProg, createModules());
  try {
    const parsed = firstPass(args);
    if (parsed.action === 'help') {
      io.err(usage());
      return 1;
    }
    if (parsed.action === 'version') {
      io.err(versionText(names.prog, names.version ?? tenderVersion()));
      return 0;
    }
    const platform = await (names.loadPlatform ?? loadPlatform)();
    const status = runTender({
      platform,
      args: parsed.args,
      kernel: parsed.kernel,
      guestArgs: parsed.guestArgs,
      warn: (text) => io.err(`${names.prog}: ${text}\n`),
      out: io.out,
      onSandbox: () => {
        if (platform.exit) sandboxed((status) => platform.exit!(status));
      },
      debug: Boolean(process.env['HVTJS_DEBUG']),
    });
    return status & 0xff;
  } catch (error) {
    return report(error, io, usage);
  }
}

/** `solo5 run [options] [--] KERNEL [ARGS...]`. */
export const run = (args: readonly string[], _io: CommandIo): Promise<number> =>
  tenderMain(args, { prog: 'solo5', usageProg: 'solo5 run' });
