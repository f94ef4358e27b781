import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// A verified ping flood through a tap, as the ring and readiness tests use it:
// `ping -f` counts replies but never compares their data, so echo-verify.py
// captures on the tap and checks every reply against its request.

/** Where a flood goes: the tap, the guest's address, the payload pattern and size. */
export interface FloodTarget {
  readonly tap: string;
  readonly guestIp: string;
  readonly pattern: string;
  readonly payload: number;
}

const VERIFY = fileURLToPath(new URL('./echo-verify.py', import.meta.url));

export interface FloodResult {
  transmitted: number;
  received: number;
  loss: string;
  output: string;
}

/**
 * `ping -f -A` with the payload pattern: a flood paced by the replies (-A),
 * so that a slow guest (the nested VM) is never sent more than it can answer,
 * and exactly `count` requests (no -w: with one, ping keeps sending until it
 * has `count` replies). Stopped with SIGINT, which still prints the
 * statistics, at `deadlineS` or when `signal` aborts.
 */
export function flood(
  target: FloodTarget,
  count: number,
  deadlineS: number,
  signal?: AbortSignal,
): Promise<FloodResult> {
  const { tap, guestIp, pattern, payload } = target;
  return new Promise((resolve, reject) => {
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), deadlineS * 1000);
    signal?.addEventListener('abort', () => stop.abort());
    const child = spawn(
      'ping',
      [
        '-n',
        '-q',
        '-f',
        '-A',
        '-c',
        String(count),
        '-p',
        pattern,
        '-s',
        String(payload),
        '-I',
        tap,
        guestIp,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], signal: stop.signal, killSignal: 'SIGINT' },
    );
    child.on('exit', () => clearTimeout(timer));
    let output = '';
    child.stdout.on('data', (c) => {
      output += c;
    });
    child.stderr.on('data', (c) => {
      output += c;
    });
    child.on('error', (error) => {
      if (error.name !== 'AbortError') reject(error);
    });
    child.on('close', () => {
      const m = /(\d+) packets transmitted, (\d+) received.*?(\d+(?:\.\d+)?)% packet loss/.exec(
        output,
      );
      resolve({
        transmitted: m ? Number(m[1]) : 0,
        received: m ? Number(m[2]) : 0,
        loss: m ? `${m[3]}%` : '?',
        output,
      });
    });
  });
}

export interface Verified {
  requests: number;
  replies: number;
  intact: number;
  corrupt: number;
  unmatched: number;
  examples: string[];
}

/** Starts echo-verify.py on the tap; resolves `ready` once it captures. */
export function verifier(target: FloodTarget, count: number, timeoutS: number) {
  const { tap, guestIp, pattern } = target;
  const child: ChildProcess = spawn(
    'python3',
    [VERIFY, tap, guestIp, pattern, String(count), String(timeoutS)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  let output = '';
  let onReady: () => void;
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (c: string) => {
    output += c;
    if (output.includes('ready\n')) onReady();
  });
  const result = new Promise<Verified>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', () => {
      const line = output.split('\n').find((l) => l.startsWith('{'));
      if (line === undefined) reject(new Error(`echo-verify.py printed: ${output}`));
      else resolve(JSON.parse(line) as Verified);
    });
  });
  return { ready, result, stop: () => child.stdin!.end() };
}
