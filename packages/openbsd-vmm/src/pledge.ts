import type { SandboxPolicy } from '@hvtjs/core/platform';

/**
 * The sandbox policy compiled to OpenBSD's mechanism (docs/architecture.md section 4,
 * docs/guest-abi.md 14.3): a chroot to the _vmd user's home and that user's ids,
 * then one pledge line with the fewest promises the tender and the Node
 * runtime under it need. pledge has no per-descriptor rules, so the policy's
 * fds select promises; what it cannot express exactly is refused.
 */

export interface PledgeOptions {
  /** Node runs without its JIT (--jitless): no executable mappings are made. */
  readonly jitless: boolean;
}

export interface PledgePlan {
  /** The pledge(2) promises, in a fixed order. */
  readonly promises: string;
  /** Why each promise is there, for `--print-policy`. */
  readonly reasons: readonly { readonly promise: string; readonly why: string }[];
}

const ORDER = ['stdio', 'vmm', 'prot_exec', 'tty', 'wpath', 'cpath'] as const;
type PledgePromise = (typeof ORDER)[number];

/** The terminal ioctls "tty" allows and "stdio" does not. */
const TTY_IOCTLS = new Set([
  'TIOCGETA',
  'TIOCSETA',
  'TIOCSETAW',
  'TIOCSETAF',
  'TIOCGWINSZ',
  'TIOCGPGRP',
]);

export function pledgePlanFor(policy: SandboxPolicy, options: PledgeOptions): PledgePlan {
  const reasons = new Map<PledgePromise, string>();
  reasons.set(
    'stdio',
    'read/write/pread/pwrite/ftruncate on open descriptors, poll, clocks, and the memory and threads of the Node runtime',
  );
  for (const rule of policy.fds) {
    if (rule.ops.includes('ioctl')) {
      if (rule.kind === 'vm' || rule.kind === 'hypervisor') {
        reasons.set(
          'vmm',
          `vmm(4) ioctls on ${rule.what}: ${(rule.ioctls ?? []).map((r) => r.name).join(', ')}`,
        );
      } else if (
        rule.kind === 'stdio' &&
        (rule.ioctls ?? []).every((r) => TTY_IOCTLS.has(r.name))
      ) {
        reasons.set('tty', `terminal ioctls on ${rule.what}`);
      } else {
        throw new Error(
          `sandbox policy: pledge cannot allow ioctls on fd ${rule.fd} (${rule.what}) without allowing all of its device's`,
        );
      }
    }
    // pwrite and ftruncate on a file created before the drop (`file`, ops
    // pwrite/truncate) are stdio; only creating files at run time, which
    // dumpcore does on a platform without a file remover (this one, so far),
    // needs path promises.
    if (rule.ops.includes('create')) {
      reasons.set('wpath', `files written below ${rule.what}`);
      reasons.set('cpath', `files created below ${rule.what}`);
    }
  }
  if (!options.jitless)
    reasons.set('prot_exec', "V8's JIT maps generated code executable (absent under --jitless)");
  const present = ORDER.filter((p) => reasons.has(p));
  return {
    promises: present.join(' '),
    reasons: present.map((promise) => ({ promise, why: reasons.get(promise)! })),
  };
}

/** The pledge(2) promise string for `policy`. */
export function pledgePromisesFor(policy: SandboxPolicy, options: PledgeOptions): string {
  return pledgePlanFor(policy, options).promises;
}

/** Whether this Node process runs without a JIT (`--jitless` on its command line or in NODE_OPTIONS). */
export function nodeIsJitless(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env.NODE_OPTIONS,
): boolean {
  return execArgv.includes('--jitless') || (nodeOptions ?? '').split(/\s+/).includes('--jitless');
}

/** Human-readable lines for `--print-policy`. */
export function describePledge(plan: PledgePlan, user: { name: string; dir?: string }): string[] {
  return [
    `chroot to ${user.dir ?? `the home of ${user.name}`}, then setgroups/setresgid/setresuid to ${user.name}`,
    `pledge("${plan.promises}", NULL)`,
    ...plan.reasons.map((r) => `  ${r.promise}: ${r.why}`),
  ];
}
