import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { FdRule, SandboxNeeds } from '@hvtjs/core/platform';

/**
 * What the Node runtime itself needs once the guest runs, found by looking at
 * the process (/proc/self): no guessing from Node's version.
 *
 * Measured with strace on a sleeping guest and on a 60-second GC workload
 * (package README): at steady state the runtime's threads only wait on futexes,
 * manage memory, and wake each other through their event loops, each an epoll
 * instance with an eventfd as its wake-up call (libuv's uv_async_send writes
 * it; the loop reads it). Those fds are the runtime's share of the policy;
 * every other fd Node holds (the signal pipes libuv never uses here,
 * /dev/null placeholders, stdin) is closed by the drop.
 */

/** An open descriptor and what the kernel says it is. */
export interface OpenFd {
  readonly fd: number;
  /** readlink of /proc/self/fd/N: a path, `pipe:[...]`, `anon_inode:[eventfd]`, ... */
  readonly target: string;
  /** For an epoll fd: the fds it watches. */
  readonly watches?: readonly number[];
}

/** The descriptors open now, in order. */
export function openFds(): OpenFd[] {
  const fds: OpenFd[] = [];
  for (const name of readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      // The directory listing's own fd, closed by now.
      continue;
    }
    if (target === 'anon_inode:[eventpoll]') {
      const info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
      const watches = [...info.matchAll(/^tfd:\s*(\d+)/gm)].map((m) => Number(m[1]));
      fds.push({ fd, target, watches });
    } else {
      fds.push({ fd, target });
    }
  }
  return fds.sort((a, b) => a.fd - b.fd);
}

/** The ids of this process's threads. */
export function threadIds(): number[] {
  return readdirSync('/proc/self/task')
    .map(Number)
    .sort((a, b) => a - b);
}

/**
 * The runtime's share of the policy: each event loop's epoll fd (waited on)
 * and the eventfds (read by the loop, written by the threads that wake it),
 * its clocks, and its threads. Fds in `declared` belong to the tender's
 * modules and the VM, whatever they are.
 */
export function runtimeNeeds(
  declared: ReadonlySet<number> = new Set(),
  fds: readonly OpenFd[] = openFds(),
): SandboxNeeds {
  const rules: FdRule[] = [];
  const byFd = new Map(fds.map((f) => [f.fd, f]));
  // Every other eventfd open now is a loop's wake-up: a loop registers its own
  // with epoll only when it first runs, so the watch lists may not show it yet.
  const wakers = new Set(
    fds.filter((f) => f.target === 'anon_inode:[eventfd]' && !declared.has(f.fd)).map((f) => f.fd),
  );
  for (const f of fds) {
    if (f.watches === undefined || declared.has(f.fd)) continue;
    const eventfds = f.watches.filter((w) => byFd.get(w)?.target === 'anon_inode:[eventfd]');
    rules.push({
      fd: f.fd,
      kind: 'eventpoll',
      owner: 'node',
      what: `event loop (epoll${eventfds.length > 0 ? `, woken by fd ${eventfds.join(', ')}` : ''})`,
      ops: ['poll'],
    });
  }
  for (const fd of wakers) {
    rules.push({
      fd,
      kind: 'eventfd',
      owner: 'node',
      what: 'event loop wake-up (eventfd)',
      ops: ['read', 'write'],
    });
  }
  const threads = threadIds().length - 1;
  return {
    fds: rules,
    clocks: ['monotonic', 'monotonic-coarse', 'realtime'],
    threads: [
      `${threads} runtime threads started before the drop (V8 platform workers, libuv's thread pool, Node's helpers)`,
    ],
  };
}

/**
 * Whether V8 runs with its JIT: Node given --jitless (on its command line or
 * in NODE_OPTIONS, the last of --jitless/--no-jitless winning) runs without.
 */
export function jitEnabled(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env['NODE_OPTIONS'] ?? '',
): boolean {
  let jit = true;
  for (const arg of [...nodeOptions.split(/\s+/), ...execArgv]) {
    if (arg === '--jitless' || arg === '--jitless=true') jit = false;
    else if (arg === '--no-jitless' || arg === '--jitless=false') jit = true;
  }
  return jit;
}
