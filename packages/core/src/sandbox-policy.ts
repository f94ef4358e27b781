/**
 * The sandbox policy: what the tender may still do once it has dropped privileges,
 * as plain data. Each module (and the platform, for its VM objects) declares the
 * file descriptors it keeps using after setup and the operations on each; core
 * merges the declarations; each platform compiles the result to its own mechanism
 * (Linux seccomp + Landlock, FreeBSD Capsicum, OpenBSD pledge). Because it is data
 * it can be printed (`solo5 run --print-policy`) and tested rule by rule.
 */

/** An operation allowed on one descriptor. */
export type FdOperation =
  /** read(2) */
  | 'read'
  /** write(2) */
  | 'write'
  /** pread(2) within [0, size) */
  | 'pread'
  /**
   * pwrite(2) at offsets within [0, size) (the filter sees the offset, not the
   * length: a write that starts inside may run past the end by its length)
   */
  | 'pwrite'
  /** ftruncate(2) to a length of at most size */
  | 'truncate'
  /** waited on for readability (POLL); for an `eventpoll` fd: waited on (epoll_wait) */
  | 'poll'
  /** the ioctl requests listed in `ioctls` */
  | 'ioctl'
  /**
   * files may be created below this directory, exclusively (never opening an
   * existing file) and write-only, then written, truncated and closed. Only a
   * platform without `Platform.removeFileAtExit` gets this (dumpcore then
   * creates its file at dump time); one that has it creates files before the
   * drop, and its compiler refuses the operation: after the drop no thread
   * may create or open a file.
   */
  | 'create';

export type FdKind =
  | 'stdio'
  | 'block'
  | 'tap'
  | 'eventfd'
  | 'hypervisor'
  | 'vm'
  | 'vcpu'
  | 'directory'
  /** a regular file created before the drop and written after it (dumpcore's core file) */
  | 'file'
  /** our end of a pipe to a helper process outside the sandbox (Platform.removeFileAtExit) */
  | 'channel'
  /** an end of a pipe within this process (the network ring's kick on the BSDs) */
  | 'pipe'
  | 'waitset'
  /** a connected socket (the gdb module's debugger) */
  | 'socket'
  /** an event loop's wait instance of the runtime itself (an epoll fd on Linux) */
  | 'eventpoll';

/**
 * Clocks read at run time: the guest's WALLTIME, and the runtime's own timers
 * (`monotonic-coarse` is the cheap clock libuv reads for its loop time).
 */
export type ClockName = 'realtime' | 'monotonic' | 'monotonic-coarse';

export interface IoctlRule {
  /** The kernel's name for the request, e.g. KVM_RUN. */
  readonly name: string;
  /** The request number as the platform's binary issues it. */
  readonly request: number;
}

export interface FdRule {
  readonly fd: number;
  readonly kind: FdKind;
  /** The module (or `platform`, `tender`, `node` for the runtime) that needs it. */
  readonly owner: string;
  /** For people: what the descriptor is, e.g. `block 'storage': disk.img`. */
  readonly what: string;
  readonly ops: readonly FdOperation[];
  readonly ioctls?: readonly IoctlRule[];
  /** Size of the byte range for pread/pwrite, and the longest length for truncate. */
  readonly size?: number;
}

export interface SandboxPolicy {
  readonly fds: readonly FdRule[];
  /** Clocks read at run time. */
  readonly clocks: readonly ClockName[];
  /** Threads started before the drop that keep running, by name. */
  readonly threads: readonly string[];
}

/** One module's (or the platform's) share of the policy. */
export interface SandboxNeeds {
  readonly fds?: readonly FdRule[];
  readonly clocks?: readonly ClockName[];
  readonly threads?: readonly string[];
}

/** The tender's own share: its diagnostics go to stderr until it exits. */
export const TENDER_SANDBOX_NEEDS: SandboxNeeds = {
  fds: [{ fd: 2, kind: 'stdio', owner: 'tender', what: 'diagnostics (stderr)', ops: ['write'] }],
};

/** The policy as JSON-ready data (`--print-policy`): fds with their ioctls by name and number. */
export function policyToJson(policy: SandboxPolicy): unknown {
  return {
    fds: policy.fds.map((f) => ({
      fd: f.fd,
      kind: f.kind,
      owner: f.owner,
      what: f.what,
      ops: f.ops,
      ...(f.ioctls
        ? { ioctls: f.ioctls.map((i) => `${i.name} (0x${i.request.toString(16)})`) }
        : {}),
      ...(f.size !== undefined ? { size: f.size } : {}),
    })),
    clocks: policy.clocks,
    threads: policy.threads,
  };
}

const unique = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

/**
 * Merges the declarations. Two declarations of the same fd must agree on its
 * kind; their operations and ioctls are joined.
 */
export function mergeSandboxNeeds(parts: readonly SandboxNeeds[]): SandboxPolicy {
  const byFd = new Map<number, FdRule>();
  for (const rule of parts.flatMap((p) => p.fds ?? [])) {
    const prev = byFd.get(rule.fd);
    if (!prev) {
      byFd.set(rule.fd, { ...rule, ops: unique(rule.ops) });
      continue;
    }
    if (prev.kind !== rule.kind) {
      throw new Error(`sandbox policy: fd ${rule.fd} declared as ${prev.kind} and ${rule.kind}`);
    }
    const ioctls = [...(prev.ioctls ?? []), ...(rule.ioctls ?? [])].filter(
      (r, i, all) => all.findIndex((o) => o.request === r.request) === i,
    );
    byFd.set(rule.fd, {
      ...prev,
      owner: prev.owner === rule.owner ? prev.owner : `${prev.owner}+${rule.owner}`,
      ops: unique([...prev.ops, ...rule.ops]),
      ...(ioctls.length > 0 ? { ioctls } : {}),
      ...(prev.size !== undefined || rule.size !== undefined
        ? { size: Math.max(prev.size ?? 0, rule.size ?? 0) }
        : {}),
    });
  }
  return {
    fds: [...byFd.values()].sort((a, b) => a.fd - b.fd),
    clocks: unique(parts.flatMap((p) => p.clocks ?? [])).sort(),
    threads: unique(parts.flatMap((p) => p.threads ?? [])).sort(),
  };
}
