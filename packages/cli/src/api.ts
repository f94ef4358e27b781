import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { OPTION_NAME_MAX } from '@hvtjs/core/tender';
import { cliPackage } from './package.js';

/**
 * Running a unikernel from Node: one child process per VM, running a
 * solo5-hvt compatible tender. A child, not this process, because the tender
 * sandboxes the whole process it runs in before the guest's first instruction
 * (seccomp, Landlock, dropped privileges cannot be undone), and because a guest
 * exit ends the process. The tender is this package's own `solo5-hvt`
 * (`resolveTender`), unless the caller names another.
 */

/** A block device: a file or device path, and optionally its sector size. */
export type BlockOption = string | { readonly path: string; readonly sectorSize?: number };

/**
 * A network device: a tap interface name, or an open descriptor (a tap, or any
 * descriptor that keeps frame boundaries) handed to the tender; optionally the
 * MAC address the guest is told.
 */
export type NetOption =
  | string
  | { readonly tap: string; readonly mac?: string }
  | { readonly fd: number; readonly mac?: string };

export interface RunUnikernelOptions {
  /** Path of the Solo5 hvt unikernel (an ELF built for solo5-hvt). */
  readonly kernel: string;
  /** The guest's command line, as separate arguments (the tender joins them with spaces). */
  readonly args?: readonly string[];
  /** Guest memory in MiB (the tender's default: 512). */
  readonly mem?: number;
  /** Block devices by manifest name. */
  readonly block?: Readonly<Record<string, BlockOption>>;
  /** Network devices by manifest name. */
  readonly net?: Readonly<Record<string, NetOption>>;
  /** Directory for a guest core dump on abort or trap (`--dumpcore`). */
  readonly dumpcore?: string;
  /** Whom the tender becomes when started as root (`--user`, `--group`). */
  readonly user?: string;
  readonly group?: string;
  /** Run without the sandbox (`--unsafe-no-sandbox`): debugging only. */
  readonly unsafeNoSandbox?: boolean;
  /**
   * The tender: a solo5-hvt compatible program, a `.js`/`.mjs` script (run with
   * this Node) or an executable (the reference C solo5-hvt works too).
   * Default: `resolveTender()`.
   */
  readonly tender?: string;
  /** The tender's environment (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** The tender's working directory (default: this process's). */
  readonly cwd?: string;
  /**
   * Where the tender's own messages (stderr) go: collected into
   * `UnikernelExit.messages` (default), or this process's stderr.
   */
  readonly stderr?: 'collect' | 'inherit';
  /** Aborting it stops the unikernel (SIGTERM to the tender). */
  readonly signal?: AbortSignal;
}

/** How a unikernel's run ended. */
export interface UnikernelExit {
  /**
   * The tender's exit status: the guest's HALT status (0 to 255) when the guest
   * halted, else the tender's own (1 for an error, 255 for a guest abort or
   * trap: docs/guest-abi.md section 12); 128 + the signal number when a signal
   * killed the tender.
   */
  readonly status: number;
  /** The signal that killed the tender, if one did. */
  readonly signal?: NodeJS.Signals;
  /** The tender's messages (stderr lines), when collected; the last 1000. */
  readonly messages: readonly string[];
}

/** A running unikernel. */
export interface Unikernel {
  /** The tender's process id. */
  readonly pid: number | undefined;
  /**
   * The guest's console output. Read it (or `resume()` it): like any pipe, a
   * console nobody reads stops the guest once the pipe is full.
   */
  readonly console: Readable;
  /** Settles when the tender has exited; rejects only when it could not be started. */
  readonly exit: Promise<UnikernelExit>;
  /** Sends a signal to the tender (default SIGTERM: it stops the guest and exits with status 1). */
  kill(signal?: NodeJS.Signals): boolean;
}

/** Messages kept in `UnikernelExit.messages` at most. */
const MESSAGES_KEPT = 1000;

const NAME = new RegExp(`^[A-Za-z0-9]{1,${OPTION_NAME_MAX}}$`);
const MAC = /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/;
/** What the tender reads as one word: no whitespace, nothing empty. */
const WORD = /^[^\s]+$/;

function checkName(kind: string, name: string): void {
  if (!NAME.test(name)) {
    throw new RangeError(
      `${kind} device name '${name}' must be 1 to ${OPTION_NAME_MAX} letters or digits (as in the manifest)`,
    );
  }
}

function checkWord(what: string, value: unknown): string {
  if (typeof value !== 'string' || !WORD.test(value)) {
    throw new TypeError(
      `${what} must be a non-empty string without whitespace, not ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/**
 * The tender's command line for `options` (what follows the tender's name),
 * and the descriptors to hand it: `fds[i]` becomes the tender's fd 3 + i.
 * Throws TypeError or RangeError for options the tender would refuse or misread.
 */
export function tenderArgs(options: RunUnikernelOptions): { args: string[]; fds: number[] } {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('options must be an object');
  const { kernel } = options;
  if (typeof kernel !== 'string' || kernel === '')
    throw new TypeError('kernel must be a non-empty path');
  const args: string[] = [];
  const fds: number[] = [];
  if (options.mem !== undefined) {
    if (!Number.isSafeInteger(options.mem) || options.mem <= 0) {
      throw new RangeError(`mem must be a positive whole number of MiB, not ${options.mem}`);
    }
    args.push(`--mem=${options.mem}`);
  }
  for (const [name, device] of Object.entries(options.block ?? {})) {
    checkName('block', name);
    const spec = typeof device === 'string' ? { path: device } : device;
    args.push(`--block:${name}=${checkWord(`block '${name}' path`, spec?.path)}`);
    if (spec.sectorSize !== undefined) {
      const size = spec.sectorSize;
      if (!Number.isSafeInteger(size) || size < 512 || size > 0xffff || (size & (size - 1)) !== 0) {
        throw new RangeError(
          `block '${name}' sectorSize must be a power of two from 512 to 32768, not ${size}`,
        );
      }
      args.push(`--block-sector-size:${name}=${size}`);
    }
  }
  for (const [name, device] of Object.entries(options.net ?? {})) {
    checkName('net', name);
    const spec = typeof device === 'string' ? { tap: device } : device;
    if (typeof spec !== 'object' || spec === null)
      throw new TypeError(`net '${name}' must be a tap name or an object`);
    if ('fd' in spec) {
      if (!Number.isSafeInteger(spec.fd) || spec.fd < 0) {
        throw new RangeError(`net '${name}' fd must be an open descriptor number, not ${spec.fd}`);
      }
      args.push(`--net:${name}=@${3 + fds.length}`);
      fds.push(spec.fd);
    } else {
      args.push(`--net:${name}=${checkWord(`net '${name}' tap`, spec.tap)}`);
    }
    if (spec.mac !== undefined) {
      if (typeof spec.mac !== 'string' || !MAC.test(spec.mac)) {
        throw new TypeError(
          `net '${name}' mac must look like 02:00:00:00:00:01, not ${JSON.stringify(spec.mac)}`,
        );
      }
      args.push(`--net-mac:${name}=${spec.mac}`);
    }
  }
  if (options.dumpcore !== undefined)
    args.push(`--dumpcore=${checkWord('dumpcore', options.dumpcore)}`);
  if (options.user !== undefined) args.push(`--user=${checkWord('user', options.user)}`);
  if (options.group !== undefined) args.push(`--group=${checkWord('group', options.group)}`);
  if (options.unsafeNoSandbox === true) args.push('--unsafe-no-sandbox');
  const guestArgs = options.args ?? [];
  if (!Array.isArray(guestArgs) || guestArgs.some((a) => typeof a !== 'string')) {
    throw new TypeError('args must be an array of strings');
  }
  if ([kernel, ...guestArgs].some((a) => a.includes('\0'))) {
    throw new TypeError('kernel and args must not contain NUL characters');
  }
  // `--` so that a kernel path starting with '-' is still the kernel.
  args.push('--', kernel, ...guestArgs);
  return { args, fds };
}

/**
 * The default tender: this package's own `solo5-hvt` bin, as its package.json
 * names it, found from this module (in the installed package, the bundle
 * beside it; in the workspace, the build's). Throws if it has not been built.
 */
export function resolveTender(): string {
  const { dir, manifest } = cliPackage();
  const bin = manifest.bin?.['solo5-hvt'];
  const tender = bin === undefined ? undefined : join(dir, bin);
  if (tender === undefined || !existsSync(tender)) {
    throw new Error(
      `the solo5-hvt of @hvtjs/cli is missing in ${dir} (build @hvtjs/cli), or pass the path of a solo5-hvt compatible tender as 'tender'`,
    );
  }
  return tender;
}

/** Keeps the last `MESSAGES_KEPT` complete lines of a stream. */
function collectLines(stream: Readable): { lines: string[]; flush(): void } {
  const lines: string[] = [];
  let partial = '';
  const keep = (line: string) => {
    lines.push(line);
    if (lines.length > MESSAGES_KEPT) lines.shift();
  };
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) keep(line);
  });
  return {
    lines,
    flush: () => {
      if (partial !== '') keep(partial);
      partial = '';
    },
  };
}

/**
 * Starts `options.kernel` under a tender in a child process of its own. The
 * options are checked first (TypeError, RangeError) and the tender looked up
 * (Error) before anything starts; what the tender itself refuses (a missing
 * kernel, an undeclared device, no /dev/kvm) ends the run with its status and
 * message, as on the command line.
 */
export function runUnikernel(options: RunUnikernelOptions): Unikernel {
  const { args, fds } = tenderArgs(options);
  const tender = options.tender ?? resolveTender();
  if (typeof tender !== 'string' || !existsSync(tender)) {
    throw new Error(`the tender ${JSON.stringify(tender)} does not exist`);
  }
  const script = /\.[cm]?js$/.test(tender);
  const command = script ? process.execPath : tender;
  const argv = script ? [tender, ...args] : args;
  const collect = (options.stderr ?? 'collect') === 'collect';
  const stdio: StdioOptions = ['ignore', 'pipe', collect ? 'pipe' : 'inherit', ...fds];
  const child: ChildProcess = spawn(command, argv, {
    stdio,
    env: options.env ?? process.env,
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
  });
  const messages = collect && child.stderr ? collectLines(child.stderr) : undefined;

  const abort = () => child.kill('SIGTERM');
  options.signal?.addEventListener('abort', abort, { once: true });
  if (options.signal?.aborted) abort();

  const exit = new Promise<UnikernelExit>((resolve, reject) => {
    child.once('error', (error) => {
      options.signal?.removeEventListener('abort', abort);
      reject(new Error(`cannot start the tender ${tender}: ${error.message}`, { cause: error }));
    });
    // 'close': stdout and stderr are drained, so `messages` is complete.
    child.once('close', (code, signal) => {
      options.signal?.removeEventListener('abort', abort);
      messages?.flush();
      const lines = messages?.lines ?? [];
      if (signal !== null) {
        resolve({ status: 128 + (constants.signals[signal] ?? 0), signal, messages: lines });
      } else {
        resolve({ status: code ?? 1, messages: lines });
      }
    });
  });
  return {
    pid: child.pid,
    console: child.stdout!,
    exit,
    kill: (signal: NodeJS.Signals = 'SIGTERM') => child.kill(signal),
  };
}
