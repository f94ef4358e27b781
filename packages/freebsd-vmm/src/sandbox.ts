import { HvtError } from '@hvtjs/core';
import type {
  SandboxNeeds,
  SandboxOptions,
  SandboxPolicy,
  SandboxReport,
} from '@hvtjs/core/platform';
import { warmRuntimeForSandbox } from '@hvtjs/posix-kit';
import {
  CapFcntl,
  type CapsicumFdRights,
  capsicumRightsFor,
  describeCapsicum,
} from './capsicum.js';
import { isNativeError, native } from './native.js';

/**
 * FreeBSD's sandbox is Capsicum alone, as the reference's: the tender keeps its
 * identity (creating and destroying VMs needs root, which the destroyer
 * process keeps outside the sandbox). Asking for another user is refused
 * rather than ignored.
 */
function refuseIdentity(options: SandboxOptions | undefined): void {
  if (options?.user !== undefined || options?.group !== undefined) {
    throw new HvtError(
      'changing user or group is not part of the FreeBSD sandbox (Capsicum confines the process instead)',
    );
  }
}

/**
 * Step 14, first half: what Node would otherwise do lazily and cannot do in
 * capability mode, where no path can be opened: create its stdio streams
 * (isatty, fstat, and for a terminal a reopen of the tty) and load the local
 * time zone. The runtime's own descriptors (kqueue, wake-up pipes) need no
 * rule: capability mode takes away paths and global namespaces, not the
 * rights of descriptors nobody limited.
 */
export function prepareSandbox(): SandboxNeeds {
  return warmRuntimeForSandbox();
}

/** The Capsicum limits for `policy` as JSON-ready data, without applying anything. */
export function describeSandbox(policy: SandboxPolicy, options?: SandboxOptions): unknown {
  refuseIdentity(options);
  const hex = (n: number | bigint) => `0x${n.toString(16)}`;
  return {
    mechanism: 'capsicum',
    fds: capsicumRightsFor(policy).map((e) => ({
      fd: e.fd,
      what: e.what,
      owner: e.owner,
      rights: e.rights.map((r) => `CAP_${r}`),
      cap_rights_t: e.words.map(hex),
      ...(e.ioctls ? { ioctls: e.ioctls.map((r) => `${r.name} (${hex(r.request)})`) } : {}),
      ...(e.fcntls ? { fcntls: e.fcntls.map((f) => `F_${f}`) } : {}),
    })),
    capabilityMode: 'cap_enter() after the limits',
  };
}

function limitOne(entry: CapsicumFdRights): void {
  const fcntls = entry.fcntls?.reduce((bits, name) => bits | CapFcntl[name], 0) ?? -1;
  native().capLimit(
    entry.fd,
    entry.words[0],
    entry.words[1],
    entry.ioctls?.map((r) => r.request) ?? null,
    fcntls,
  );
}

/**
 * Step 14 on FreeBSD: limits every descriptor of the policy, then enters
 * capability mode. All or nothing: a limit that cannot be applied, or a
 * kernel without capability mode, is an HvtError, never a silent fallback.
 */
export function dropPrivileges(policy: SandboxPolicy, options?: SandboxOptions): SandboxReport {
  refuseIdentity(options);
  const table = capsicumRightsFor(policy);
  const closed: number[] = [];
  for (const entry of table) {
    try {
      limitOne(entry);
    } catch (e) {
      if (entry.mayBeClosed && isNativeError(e) && e.code === 'EBADF') {
        closed.push(entry.fd);
        continue;
      }
      const reason = isNativeError(e) ? `${e.syscall}: ${e.message}` : String(e);
      throw new HvtError(
        `Unable to enter sandbox: limiting fd ${entry.fd} (${entry.what}) failed: ${reason}`,
      );
    }
  }
  try {
    native().capEnter();
  } catch (e) {
    const reason = isNativeError(e) ? `: ${e.message}` : '';
    throw new HvtError(`Unable to enter sandbox: cap_enter() failed${reason}`);
  }
  const limited = table.filter((e) => !closed.includes(e.fd));
  return {
    applied: [
      ...describeCapsicum(limited)
        .slice(1, -1)
        .map((l) => l.trim()),
      'capability mode (cap_enter)',
    ],
    unavailable: closed.map((fd) => `fd ${fd} is closed: nothing to limit`),
  };
}

/** Ends the process now (_exit): the destroyer process still takes the VM down. */
export function exit(status: number): never {
  return native().exitNow(status);
}
