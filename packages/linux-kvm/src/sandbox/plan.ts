import type { SandboxPolicy } from '@hvtjs/core/platform';
import {
  compileLandlock,
  LANDLOCK_THREADS,
  type LandlockPlan,
  landlockRightNames,
  landlockUnavailable,
} from './landlock.js';
import { compileSeccomp, DENIED_SYSCALLS, type SeccompRule, seccompRuleToJson } from './seccomp.js';

/**
 * The whole Linux sandbox for one policy, as data, before anything is applied:
 * which fds stay, which ids the process takes, its rlimits, the Landlock
 * ruleset and the seccomp rules. `compileSandbox` is pure: the facts it needs
 * about the host are passed in, so tests and --print-policy get the same plan
 * the drop applies.
 */

/** Who the process becomes. */
export type IdentityPlan =
  | {
      readonly action: 'drop';
      readonly uid: number;
      readonly gid: number;
      readonly user: string;
      readonly group: string;
    }
  | { readonly action: 'keep'; readonly reason: string };

/** What compileSandbox must know about the host. */
export interface HostFacts {
  readonly pid: number;
  /** The signal a failing device I/O thread sends the vCPU thread. */
  readonly ioThreadSignal: number;
  /** Whether V8 compiles to machine code. */
  readonly jit: boolean;
  /** Landlock's ABI version, or minus the errno that says why there is none. */
  readonly landlockAbi: number;
  /** Set when Landlock is turned off on purpose (tests only): says by what. */
  readonly landlockDisabled?: string;
  /** Every fd open now. */
  readonly openFds: readonly number[];
  readonly identity: IdentityPlan;
  /** Whether this architecture has a system call (aarch64 has no poll, for one). */
  readonly hasSyscall?: (name: string) => boolean;
}

export interface LinuxSandboxPlan {
  readonly keepFds: readonly number[];
  readonly closeFds: readonly number[];
  readonly identity: IdentityPlan;
  readonly rlimits: { readonly NOFILE: number; readonly NPROC: number; readonly CORE: number };
  readonly landlock: LandlockPlan | { readonly unavailable: string };
  readonly seccomp: readonly SeccompRule[];
  readonly jit: boolean;
}

export function compileSandbox(policy: SandboxPolicy, host: HostFacts): LinuxSandboxPlan {
  const keep = new Set(policy.fds.map((f) => f.fd));
  const missing = policy.fds.filter((f) => !host.openFds.includes(f.fd));
  if (missing.length > 0) {
    const list = missing.map((f) => `${f.fd} (${f.what})`).join(', ');
    throw new Error(`the policy names fds that are not open: ${list}`);
  }
  // Nothing is opened after the drop: no fd number above the kept ones is needed.
  const highest = Math.max(-1, ...keep);
  // Compiled first: it refuses a policy that would create files after the drop.
  const seccomp = compileSeccomp(policy, {
    pid: host.pid,
    ioThreadSignal: host.ioThreadSignal,
    jit: host.jit,
  });
  return {
    keepFds: [...keep].sort((a, b) => a - b),
    closeFds: host.openFds.filter((fd) => !keep.has(fd)),
    identity: host.identity,
    rlimits: { NOFILE: highest + 1, NPROC: 0, CORE: 0 },
    landlock:
      host.landlockDisabled !== undefined
        ? { unavailable: host.landlockDisabled }
        : host.landlockAbi > 0
          ? compileLandlock(policy, host.landlockAbi)
          : { unavailable: landlockUnavailable(-host.landlockAbi) },
    // A call the architecture does not have cannot be made: no rule for it.
    seccomp: seccomp.filter((r) => host.hasSyscall?.(r.syscall) ?? true),
    jit: host.jit,
  };
}

/** The plan as JSON-ready data (--print-policy). */
export function planToJson(plan: LinuxSandboxPlan, bpfInstructions?: number): unknown {
  const landlock =
    'unavailable' in plan.landlock
      ? { unavailable: plan.landlock.unavailable }
      : {
          abi: plan.landlock.abi,
          handledFs: landlockRightNames(plan.landlock.handledFs),
          handledNet: plan.landlock.handledNet === 0n ? [] : ['BIND_TCP', 'CONNECT_TCP'],
          scoped: plan.landlock.scoped === 0n ? [] : ['ABSTRACT_UNIX_SOCKET', 'SIGNAL'],
          grants: plan.landlock.rules.map((r) => ({
            fd: r.fd,
            rights: landlockRightNames(r.access),
            why: r.what,
          })),
          appliesTo: LANDLOCK_THREADS,
        };
  return {
    identity: plan.identity,
    closeFds: plan.closeFds,
    keepFds: plan.keepFds,
    rlimits: plan.rlimits,
    noNewPrivs: true,
    dumpable: false,
    landlock,
    seccomp: {
      defaultAction: 'kill-process',
      foreignArchitecture: 'kill-process',
      threads: 'all (TSYNC)',
      jit: plan.jit,
      ...(bpfInstructions !== undefined ? { bpfInstructions } : {}),
      allow: plan.seccomp.map(seccompRuleToJson),
      alwaysDenied: DENIED_SYSCALLS,
    },
  };
}
