import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildGuests } from '../guests/build.mjs';

/**
 * Runs the built `solo5-hvt` on our guests, as a user would: a child process,
 * stdout and stderr kept apart, the exit status as the shell sees it.
 */

export const SOLO5_HVT = fileURLToPath(
  new URL('../../packages/cli/dist/solo5-hvt.js', import.meta.url),
);
/** `solo5`, whose `run` command is the same tender. */
export const SOLO5 = fileURLToPath(new URL('../../packages/cli/dist/solo5.js', import.meta.url));

/** Guest ELF path by name (test/guests/<name>.c). */
export type Guests = Record<string, string>;

let guests: Promise<Guests> | undefined;
export function guestPaths(): Promise<Guests> {
  guests ??= buildGuests() as Promise<Guests>;
  return guests;
}

export interface TenderRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  pid: number;
  ms: number;
}

export interface RunOptions {
  /** Kills the tender (SIGKILL) after this long; the test then fails on status null. */
  timeoutMs?: number;
  /** Called with all stdout so far each time more arrives. */
  onStdout?: (stdout: string, child: ChildProcess) => void;
  /** Descriptors to pass beyond stdio (as fds 3, 4, ...). */
  extraFds?: number[];
  /** The script and leading arguments; default solo5-hvt. */
  command?: string[];
}

export function runTender(args: string[], options: RunOptions = {}): Promise<TenderRun> {
  const started = Date.now();
  const child = spawn(process.execPath, [...(options.command ?? [SOLO5_HVT]), ...args], {
    stdio: ['ignore', 'pipe', 'pipe', ...(options.extraFds ?? [])],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    stdout += chunk;
    options.onStdout?.(stdout, child);
  });
  child.stderr!.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, pid: child.pid!, ms: Date.now() - started });
    });
  });
}

/** `<prog>: ` lines of stderr without the prefix. */
export function messages(run: Pick<TenderRun, 'stderr'>): string[] {
  return run.stderr
    .split('\n')
    .filter((l) => l.startsWith('solo5-hvt: '))
    .map((l) => l.slice('solo5-hvt: '.length));
}

/** This host's KVM is PVM, which emulates guest instructions without SSE support. */
export const HOST_IS_PVM = existsSync('/sys/module/kvm_pvm');

/** Tap interfaces for the net tests, created and removed with `ip`. */
export class Taps {
  readonly names: string[] = [];

  /** Whether this process may create taps (root and /dev/net/tun). */
  static available(): boolean {
    return (
      process.getuid?.() === 0 &&
      existsSync('/dev/net/tun') &&
      spawnSync('ip', ['-V'], { stdio: 'ignore' }).status === 0
    );
  }

  /** A new tap `name` with host address `hostIp`/24, up, with the given MTU. */
  add(name: string, hostIp: string, mtu = 1500): string {
    const ip = (...args: string[]) => {
      const r = spawnSync('ip', args, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
    };
    ip('tuntap', 'add', 'dev', name, 'mode', 'tap');
    this.names.push(name);
    ip('addr', 'add', `${hostIp}/24`, 'dev', name);
    ip('link', 'set', name, 'mtu', String(mtu));
    ip('link', 'set', name, 'up');
    return name;
  }

  removeAll(): void {
    for (const name of this.names.splice(0)) {
      spawnSync('ip', ['link', 'del', name], { stdio: 'ignore' });
    }
  }
}

/** A tap name unique to this test process (IFNAMSIZ allows 15 characters). */
export function tapName(tag: string): string {
  return `hvt${process.pid % 100000}${tag}`.slice(0, 15);
}

/** `ping` from the host through `tap`; resolves with the parsed counts. */
export function ping(
  tap: string,
  address: string,
  count: number,
  size = 56,
): Promise<{ transmitted: number; received: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'ping',
      ['-n', '-c', String(count), '-i', '0.2', '-W', '5', '-s', String(size), '-I', tap, address],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (c) => {
      output += c;
    });
    child.stderr.on('data', (c) => {
      output += c;
    });
    child.on('error', reject);
    child.on('close', () => {
      const m = /(\d+) packets transmitted, (\d+) received/.exec(output);
      resolve({
        transmitted: m ? Number(m[1]) : 0,
        received: m ? Number(m[2]) : 0,
        output,
      });
    });
  });
}

/** The fields of a /proc status file (`/proc/PID/status`, `/proc/PID/task/TID/status`). */
export function procStatus(path: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^(\w+):\s*(.*)$/.exec(line);
    if (m) fields[m[1]!] = m[2]!;
  }
  return fields;
}
