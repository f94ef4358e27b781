import { closeSync, readFileSync } from 'node:fs';
import { HvtError } from '@hvtjs/core';
import type {
  SandboxNeeds,
  SandboxOptions,
  SandboxPolicy,
  SandboxReport,
} from '@hvtjs/core/platform';
import { isNativeError, native } from '../native.js';
import { landlockRightNames } from './landlock.js';
import {
  compileSandbox,
  type HostFacts,
  type IdentityPlan,
  type LinuxSandboxPlan,
  planToJson,
} from './plan.js';
import { jitEnabled, openFds, runtimeNeeds, threadIds } from './runtime.js';

/**
 * Applying the Linux sandbox (docs/architecture.md 4), in an order where each step still
 * has the system calls it needs: close what the policy does not name, set the
 * rlimits, give up the uid, then no_new_privs, Landlock, and last the seccomp
 * filter on every thread. Any step that fails is fatal and says which it was.
 */

/**
 * Step 14, first half: start lazy thread pools, then report the runtime's
 * needs (the fds in `declared` are the tender's, not the runtime's).
 */
export function prepareSandbox(declared: SandboxPolicy): SandboxNeeds {
  // While threads may still be created: the filter forbids clone.
  native.warmThreadPool();
  return runtimeNeeds(new Set(declared.fds.map((f) => f.fd)));
}

function fail(what: string, error: unknown): HvtError {
  const detail = isNativeError(error)
    ? `${error.syscall}: ${error.message}`
    : error instanceof Error
      ? error.message
      : String(error);
  const failure = new HvtError(`sandbox: ${what}: ${detail}`);
  failure.cause = error;
  return failure;
}

function step<T>(what: string, action: () => T): T {
  try {
    return action();
  } catch (error) {
    throw fail(what, error);
  }
}

/**
 * Whom the process becomes: as root, an unprivileged user (nobody unless
 * --user says otherwise), except as PID 1 of a container (pid 1, parent 0),
 * where root is the container's own and the process keeps it.
 */
export function resolveIdentity(
  options: SandboxOptions = {},
  self: { euid: number; pid: number; ppid: number } = {
    euid: process.geteuid?.() ?? -1,
    pid: process.pid,
    ppid: process.ppid,
  },
): IdentityPlan {
  if (self.euid !== 0) {
    return { action: 'keep', reason: `not root (euid ${self.euid}): nothing to give up` };
  }
  if (self.pid === 1 && self.ppid === 0) {
    return { action: 'keep', reason: 'PID 1 of a container: keeps the container root' };
  }
  const userName = options.user ?? 'nobody';
  const numeric = (s: string) => (/^\d+$/.test(s) ? Number(s) : undefined);
  let uid = numeric(userName);
  let primaryGid: number | undefined;
  if (uid === undefined) {
    const entry = native.lookupUser(userName);
    if (entry === null) throw new HvtError(`sandbox: no such user '${userName}' (see --user)`);
    uid = entry.uid;
    primaryGid = entry.gid;
  }
  let gid: number | undefined;
  let groupName: string;
  if (options.group !== undefined) {
    groupName = options.group;
    gid = numeric(groupName) ?? native.lookupGroup(groupName) ?? undefined;
    if (gid === undefined)
      throw new HvtError(`sandbox: no such group '${groupName}' (see --group)`);
  } else {
    groupName = 'nogroup';
    gid = native.lookupGroup('nogroup') ?? undefined;
    if (gid === undefined && primaryGid !== undefined) {
      groupName = `the group of ${userName}`;
      gid = primaryGid;
    }
    if (gid === undefined) {
      throw new HvtError(
        `sandbox: no group 'nogroup' and no group for user '${userName}' (see --group)`,
      );
    }
  }
  if (uid === 0 || gid === 0) {
    throw new HvtError('sandbox: --user and --group must name an unprivileged user and group');
  }
  return { action: 'drop', uid, gid, user: userName, group: groupName };
}

/**
 * For tests only: set to 1, the sandbox goes on without Landlock (reported as
 * unavailable, like a kernel without it), everything else unchanged, so that
 * the tests can show what the seccomp filter stops on its own.
 */
export const NO_LANDLOCK_VARIABLE = 'HVTJS_TEST_NO_LANDLOCK';

/** The facts the plan depends on, read now. */
export function hostFacts(options: SandboxOptions = {}): HostFacts {
  const noLandlock = process.env[NO_LANDLOCK_VARIABLE] === '1';
  return {
    pid: process.pid,
    ioThreadSignal: native.ioThreadSignal,
    jit: jitEnabled(),
    landlockAbi: native.landlockAbi(),
    ...(noLandlock
      ? { landlockDisabled: `turned off by ${NO_LANDLOCK_VARIABLE}=1 (tests only)` }
      : {}),
    openFds: openFds().map((f) => f.fd),
    identity: resolveIdentity(options),
    hasSyscall: (name) => native.syscallNumber(name) >= 0,
  };
}

/** What dropPrivileges would apply, as JSON-ready data. */
export function describeSandbox(policy: SandboxPolicy, options: SandboxOptions = {}): unknown {
  const facts = hostFacts(options);
  const plan = step('compiling the policy', () => compileSandbox(policy, facts));
  const bpf = step('compiling the seccomp filter', () => native.seccompExport(plan.seccomp));
  return planToJson(plan, bpf.byteLength / 8);
}

/** libuv's io_uring runs operations with the credentials it started with (CVE-2024-22017). */
function refuseIoUring(): void {
  const inUse = native.libuvIoUring();
  const rings = openFds().filter((f) => f.target === 'anon_inode:[io_uring]');
  const setting = process.env['UV_USE_IO_URING'];
  const [major = 0, minor = 0] = (process.versions.uv ?? '0.0').split('.').map(Number);
  // Without Node's patch to ask, a libuv from 1.45 on uses io_uring unless told not to.
  const unknownButLikely = inUse === -1 && (major > 1 || minor >= 45) && setting !== '0';
  if (inUse === 1 || unknownButLikely || rings.length > 0) {
    throw new HvtError(
      "sandbox: refusing to drop privileges while libuv's io_uring is enabled: its operations " +
        'keep the credentials they were set up with (CVE-2024-22017). ' +
        (setting !== undefined && setting !== '0'
          ? `Unset UV_USE_IO_URING (it is '${setting}').`
          : 'Run with UV_USE_IO_URING=0.'),
    );
  }
}

/**
 * Tasks the kernel runs inside this process (PF_USER_WORKER: KVM's huge page
 * recovery worker since Linux 6.13; PF_IO_WORKER: io_uring's) never return to
 * user space: their credentials and system calls are not the process's.
 */
const KERNEL_WORKER_FLAGS = 0x4000 | 0x10;

function isKernelWorker(tid: number): boolean {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces): state is the
  // first, flags the seventh.
  const flags = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[6]);
  return (flags & KERNEL_WORKER_FLAGS) !== 0;
}

/** Every thread's real, effective, saved and fs uid and gid, and its groups, from /proc. */
function checkAllThreads(uid: number, gid: number): void {
  for (const tid of threadIds()) {
    let status: string;
    try {
      if (isKernelWorker(tid)) continue;
      status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
    } catch {
      // The thread ended meanwhile.
      continue;
    }
    const ids = (field: string) =>
      (new RegExp(`^${field}:[ \\t]*(.*)$`, 'm').exec(status)?.[1] ?? '').trim().split(/\s+/);
    const uids = ids('Uid').map(Number);
    const gids = ids('Gid').map(Number);
    const groups = ids('Groups').filter((g) => g !== '');
    if (uids.some((u) => u !== uid) || gids.some((g) => g !== gid) || groups.length > 0) {
      throw new Error(
        `thread ${tid} still has uids ${uids.join('/')}, gids ${gids.join('/')}, groups [${groups.join(' ')}]`,
      );
    }
  }
}

function applyPlan(plan: LinuxSandboxPlan): SandboxReport {
  const applied: string[] = [];
  const unavailable: string[] = [];

  for (const fd of plan.closeFds) step(`closing fd ${fd}`, () => closeSync(fd));
  applied.push(
    `fds: kept ${plan.keepFds.join(', ')}; closed ${plan.closeFds.length > 0 ? plan.closeFds.join(', ') : 'none'}`,
  );

  step('setting RLIMIT_CORE', () => native.setRlimit(native.rlimits.CORE, plan.rlimits.CORE));
  step('clearing the dumpable flag', () => native.setDumpable(0));

  const identity = plan.identity;
  if (identity.action === 'drop') {
    step(`becoming uid ${identity.uid} gid ${identity.gid}`, () => {
      native.dropIds(identity.uid, identity.gid);
      const now = native.ids();
      if (
        now.uids.some((u) => u !== identity.uid) ||
        now.gids.some((g) => g !== identity.gid) ||
        now.groups.length > 0
      ) {
        throw new Error(`the ids are ${JSON.stringify(now)}`);
      }
      checkAllThreads(identity.uid, identity.gid);
    });
    applied.push(
      `user: uid ${identity.uid} (${identity.user}), gid ${identity.gid} (${identity.group}), ` +
        'no supplementary groups, on every thread',
    );
  } else {
    applied.push(`user: kept (${identity.reason})`);
  }

  step('setting RLIMIT_NOFILE', () => native.setRlimit(native.rlimits.NOFILE, plan.rlimits.NOFILE));
  step('setting RLIMIT_NPROC', () => native.setRlimit(native.rlimits.NPROC, plan.rlimits.NPROC));
  applied.push(
    `rlimits: NOFILE ${plan.rlimits.NOFILE}, NPROC ${plan.rlimits.NPROC}, CORE ${plan.rlimits.CORE}; not dumpable`,
  );

  step('setting no_new_privs', () => native.setNoNewPrivs());

  const landlock = plan.landlock;
  if ('unavailable' in landlock) {
    unavailable.push(`landlock: ${landlock.unavailable}`);
  } else {
    step('enforcing Landlock', () => native.landlockRestrictSelf(landlock, landlock.rules));
    const grants = landlock.rules.map(
      (r) => `${landlockRightNames(r.access).join('|')} beneath fd ${r.fd}`,
    );
    applied.push(
      `landlock: ABI ${landlock.abi}, no file system access` +
        (grants.length > 0 ? ` except ${grants.join('; ')}` : '') +
        ' (the vCPU thread only; seccomp confines every thread)',
    );
  }

  step('installing the seccomp filter', () => native.seccompInstall(plan.seccomp));
  applied.push(
    `seccomp: ${plan.seccomp.length} allow rules with argument checks, default kill-process, ` +
      `every thread, no_new_privs${plan.jit ? '' : ', no PROT_EXEC (--jitless)'}`,
  );
  return { applied, unavailable };
}

/**
 * Step 14: confines the process to `policy` (plus the runtime's needs, which
 * the caller merged in from prepareSandbox()). From here on, leave only
 * through exitProcess().
 */
export function dropPrivileges(policy: SandboxPolicy, options: SandboxOptions = {}): SandboxReport {
  const personality = step('reading the personality', () => native.personality());
  if ((personality & native.readImpliesExec) !== 0) {
    throw new HvtError(
      'Cowardly refusing to run with a sys_personality of READ_IMPLIES_EXEC. Please report a bug, ' +
        'with details of your Linux distribution and GCC version',
    );
  }
  refuseIoUring();
  const facts = hostFacts(options);
  const plan = step('compiling the policy', () => compileSandbox(policy, facts));
  return applyPlan(plan);
}

/** Ends the process now (exit_group), skipping Node's teardown. */
export function exitProcess(status: number): never {
  return native.exitNow(status);
}
