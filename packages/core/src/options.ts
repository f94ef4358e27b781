import { HvtError, UsageError } from './errors.js';
import type { Module, OptionContext } from './modules/module.js';
import { scanDecimal } from './modules/scan.js';
import { HVT_ABI_VERSION } from './notes.js';

/**
 * The command line of solo5-hvt (docs/guest-abi.md section 2), parsed in the
 * reference's two passes: the first finds KERNEL and the terminal options
 * before anything is read; the second, once the manifest is known, gives the
 * options to `--mem` and to the modules.
 */

/** Guest memory when `--mem` is not given: 512 MiB. */
export const DEFAULT_MEM_BYTES = 512n << 20n;

/** HVT_CMDLINE_SIZE: the guest command line and its NUL. */
export const CMDLINE_SIZE = 8192;

export type FirstPass =
  | { readonly action: 'help' }
  | { readonly action: 'version' }
  | {
      readonly action: 'run';
      /** The arguments as given, KERNEL and guest arguments included (the second pass walks these). */
      readonly args: readonly string[];
      readonly kernel: string;
      /** Everything after KERNEL: the guest's command line, still unjoined. */
      readonly guestArgs: readonly string[];
    };

/**
 * First pass: options are the arguments before KERNEL that start with `-`;
 * `--` ends them (what follows is KERNEL even if it starts with `-`).
 * `--help` and `--version` act at once, wherever they are among the options.
 */
export function firstPass(args: readonly string[]): FirstPass {
  let i = 0;
  while (i < args.length && args[i]!.startsWith('-')) {
    const arg = args[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (arg === '--help') return { action: 'help' };
    if (arg === '--version') return { action: 'version' };
    i++;
  }
  if (i >= args.length) throw new UsageError('Missing KERNEL operand');
  return { action: 'run', args, kernel: args[i]!, guestArgs: args.slice(i + 1) };
}

/** `--mem=N`: N MiB read as scanf's `%zd` (leading number, trailing garbage ignored). */
export function parseMem(arg: string): bigint {
  const mib = scanDecimal(arg.slice('--mem='.length));
  if (mib === undefined || mib <= 0n) throw new HvtError('Malformed argument to --mem');
  return mib << 20n;
}

/** Offers `arg` to each module in order; true when one consumed it. */
function offerToModules(arg: string, modules: readonly Module[], ctx: OptionContext): boolean {
  for (const module of modules) {
    if (module.handleOption?.(arg, ctx)) return true;
  }
  return false;
}

/**
 * Second pass (2.2), reproducing the reference's quirk: after a `--mem=`
 * argument, the argument that follows it is offered to the modules in the
 * same iteration, so a failing module option right after `--mem=` warns twice
 * before "Invalid option". Returns the requested memory size in bytes.
 */
export function secondPass(
  args: readonly string[],
  modules: readonly Module[],
  ctx: OptionContext,
  sandbox?: SandboxSettings,
): bigint {
  let mem = DEFAULT_MEM_BYTES;
  let i = 0;
  while (i < args.length && args[i]!.startsWith('-')) {
    if (args[i] === '--') break;
    if (sandbox !== undefined && sandboxOption(args[i]!, sandbox)) {
      i++;
      continue;
    }
    let matched = false;
    if (args[i]!.startsWith('--mem=')) {
      mem = parseMem(args[i]!);
      matched = true;
      i++;
    }
    if (i < args.length && offerToModules(args[i]!, modules, ctx)) {
      matched = true;
      i++;
    }
    if (!matched) throw new UsageError(`Invalid option: \`${args[i]}'`);
  }
  return mem;
}

/** What the command line says about the sandbox (docs/architecture.md 4); not in the reference. */
export interface SandboxSettings {
  /** --print-policy: print the policy and what it compiles to, then exit without running. */
  printPolicy: boolean;
  /** --unsafe-no-sandbox: keep every privilege (debugging only, loudly warned). */
  unsafeNoSandbox: boolean;
  /** --user=USER: whom to become when started as root (default: nobody). */
  user?: string;
  /** --group=GROUP: the group to become (default: nogroup). */
  group?: string;
}

export const defaultSandboxSettings = (): SandboxSettings => ({
  printPolicy: false,
  unsafeNoSandbox: false,
});

/** Consumes one sandbox option into `settings`; false when `arg` is not one. */
export function sandboxOption(arg: string, settings: SandboxSettings): boolean {
  if (arg === '--print-policy') {
    settings.printPolicy = true;
    return true;
  }
  if (arg === '--unsafe-no-sandbox') {
    settings.unsafeNoSandbox = true;
    return true;
  }
  for (const key of ['user', 'group'] as const) {
    if (!arg.startsWith(`--${key}=`)) continue;
    const value = arg.slice(key.length + 3);
    if (value === '') throw new HvtError(`Malformed argument to --${key}`);
    settings[key] = value;
    return true;
  }
  return false;
}

/** The guest command line: the arguments after KERNEL joined with single spaces (2). */
export function guestCommandLine(guestArgs: readonly string[]): Uint8Array {
  const bytes = new TextEncoder().encode(guestArgs.join(' '));
  if (bytes.byteLength > CMDLINE_SIZE - 1) {
    throw new HvtError(`Guest command line too long (max=${CMDLINE_SIZE - 1} characters)`);
  }
  return bytes;
}

/**
 * The usage text (2.1), generated from the modules: with the modules of the
 * reference's debug tender minus gdb, this is its text with our four sandbox
 * options added to the core options.
 * `prog` is what the first line shows (`solo5-hvt`, or `solo5 run`).
 */
export function usageText(prog: string, modules: readonly Module[]): string {
  const lines = [
    `usage: ${prog} [ CORE OPTIONS ] [ MODULE OPTIONS ] [ -- ] KERNEL [ ARGS ]`,
    'KERNEL is the filename of the unikernel to run.',
    'ARGS are optional arguments passed to the unikernel.',
    'Core options:',
    '  [ --mem=512 ] (guest memory in MB)',
    '    --help (display this help)',
    '    --version (display version information)',
    '  [ --user=nobody ] (user to become when started as root)',
    '  [ --group=nogroup ] (group to become when started as root)',
    '    --print-policy (print the sandbox policy and its rules, then exit)',
    '    --unsafe-no-sandbox (run without the sandbox: debugging only)',
    `Compiled-in modules: ${modules.map((m) => `${m.name} `).join('')}`,
    'Compiled-in module options:',
  ];
  const usages = modules.filter((m) => m.usage !== undefined).map((m) => `    ${m.usage}`);
  lines.push(...(usages.length > 0 ? usages : ['    (none)']));
  return `${lines.join('\n')}\n`;
}

/** `--version` (2.1): two lines on stderr, exit 0. */
export function versionText(prog: string, version: string): string {
  return `${prog} tender, version ${version}\nABI version ${HVT_ABI_VERSION}\n`;
}
