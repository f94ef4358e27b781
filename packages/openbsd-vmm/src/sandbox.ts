import { HvtError } from '@hvtjs/core';
import type {
  SandboxNeeds,
  SandboxOptions,
  SandboxPolicy,
  SandboxReport,
} from '@hvtjs/core/platform';
import { warmRuntimeForSandbox } from '@hvtjs/posix-kit';
import { isNativeError, native } from './native.js';
import { describePledge, nodeIsJitless, pledgePlanFor } from './pledge.js';

/** Whose home becomes the root and whose ids the tender takes, as vmd's VM processes (14.3). */
export const VMM_USER = '_vmd';

export interface Identity {
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
  readonly dir: string;
}

/** _vmd, or the user and group asked for (names or numbers); the chroot is the user's home. */
export function resolveIdentity(options: SandboxOptions | undefined): Identity {
  const addon = native();
  const name = options?.user ?? VMM_USER;
  const user = addon.lookupUser(name);
  if (user === null) throw new HvtError(`can't get ${name} user`);
  let gid = user.gid;
  if (options?.group !== undefined) {
    const group = /^\d+$/.test(options.group)
      ? Number(options.group)
      : addon.lookupGroup(options.group);
    if (group === null) throw new HvtError(`can't get ${options.group} group`);
    gid = group;
  }
  return { user: name, uid: user.uid, gid, dir: user.dir };
}

/**
 * Step 14, first half: what Node would otherwise do lazily and cannot do once
 * chrooted and pledged without path promises: create its stdio streams and
 * load the local time zone. pledge has no per-descriptor rules, so the
 * runtime's own descriptors need none.
 */
export function prepareSandbox(): SandboxNeeds {
  return warmRuntimeForSandbox();
}

/** The chroot, ids and pledge line for `policy` as JSON-ready data, without applying anything. */
export function describeSandbox(policy: SandboxPolicy, options?: SandboxOptions): unknown {
  const plan = pledgePlanFor(policy, { jitless: nodeIsJitless() });
  return {
    mechanism: 'pledge',
    chroot: `home of ${options?.user ?? VMM_USER}`,
    user: options?.user ?? VMM_USER,
    ...(options?.group !== undefined ? { group: options.group } : {}),
    pledge: plan.promises,
    reasons: plan.reasons,
  };
}

/**
 * Step 14 on OpenBSD (docs/guest-abi.md 14.3): chroot to the user's home,
 * chdir("/"), setgroups/setresgid/setresuid, then pledge. Every descriptor
 * must be open and every VM created before this (VMM_IOC_CREATE needs
 * "proc"). A failed step is an HvtError in the reference's words; a pledge
 * failure exits with its errno, as the reference does.
 */
export function dropPrivileges(policy: SandboxPolicy, options?: SandboxOptions): SandboxReport {
  const plan = pledgePlanFor(policy, { jitless: nodeIsJitless() });
  const id = resolveIdentity(options);
  try {
    native().dropPrivileges(id.dir, id.uid, id.gid, plan.promises);
  } catch (e) {
    if (!isNativeError(e)) throw e;
    switch (e.syscall) {
      case 'chroot':
        throw new HvtError(`chroot: ${id.dir}: ${e.message}`);
      case 'chdir':
        throw new HvtError(`chdir("/"): ${e.message}`);
      case 'pledge':
        throw new HvtError(`pledge: ${e.message}`, e.errno);
      default:
        throw new HvtError(`unable to revoke privs: ${e.message}`);
    }
  }
  return { applied: describePledge(plan, { name: id.user, dir: id.dir }), unavailable: [] };
}

/** Ends the process now (_exit): the terminator process still ends the VM. */
export function exit(status: number): never {
  return native().exitNow(status);
}
