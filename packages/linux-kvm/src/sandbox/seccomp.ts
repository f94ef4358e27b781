import { constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { ClockName, FdRule, SandboxPolicy } from '@hvtjs/core/platform';

/**
 * The seccomp half of the Linux sandbox, as data: the policy compiles to a list
 * of allow rules, each one system call with argument checks and the reason it
 * exists. Everything not allowed kills the process. This one table is what the
 * addon loads, what `--print-policy` prints and what the tests probe rule by
 * rule (test/sandbox.test.ts), so the three cannot drift apart.
 *
 * Numbers are Linux's generic ones (x86_64 and aarch64 agree on all of them).
 */

export type ArgOp = 'eq' | 'ne' | 'lt' | 'le' | 'ge' | 'gt' | 'masked-eq';

/** A check of one system call argument, as seccomp compares it: unsigned, 64 bits. */
export interface ArgCheck {
  readonly arg: number;
  readonly op: ArgOp;
  readonly value: bigint;
  /** For masked-eq: the argument ANDed with `mask` must equal `value`. */
  readonly mask?: bigint;
  /** For people: what the check means, e.g. `fd 23 (vCPU 0)`. */
  readonly label: string;
}

/**
 * One rule: when every check holds, the call is allowed, or, with `errno`,
 * fails with that error without reaching the kernel.
 */
export interface SeccompRule {
  readonly syscall: string;
  readonly args: readonly ArgCheck[];
  readonly errno?: number;
  /** Who needs it: a module, `platform`, `tender`, or `node` for the runtime. */
  readonly owner: string;
  readonly why: string;
}

/** What the compiler must know about the host besides the policy. */
export interface SeccompHost {
  /** This process's id, the only tgid signals may be forwarded within. */
  readonly pid: number;
  /** Whether V8 compiles to machine code (not run with --jitless). */
  readonly jit: boolean;
  /** The signal a failing device I/O thread sends the vCPU thread. */
  readonly ioThreadSignal: number;
}

/** The network ring's I/O thread, as the net module names it (src/native/netring.cc). */
export const NET_RING_THREAD = 'net-ring-io';

const PROT_EXEC = 0x4n;
const MAP_ANONYMOUS = 0x20n;
const MADV_DONTNEED = 4n;
const MADV_FREE = 8n;
const MADV_DONTFORK = 10n;
const FUTEX_WAIT = 0n;
const FUTEX_WAKE = 1n;
const FUTEX_WAIT_BITSET = 9n;
/** FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME may accompany any command. */
const FUTEX_COMMAND_MASK = 0xffff_ffff_ffff_fe7fn;
/** Not in Node's fs.constants. */
const O_CLOEXEC = 0o2000000;

const CLOCK_IDS: Readonly<Record<ClockName, { id: bigint; name: string }>> = {
  realtime: { id: 0n, name: 'CLOCK_REALTIME' },
  monotonic: { id: 1n, name: 'CLOCK_MONOTONIC' },
  'monotonic-coarse': { id: 6n, name: 'CLOCK_MONOTONIC_COARSE' },
};

const hex = (n: bigint | number): string => `0x${n.toString(16)}`;
const fdCheck = (f: FdRule): ArgCheck => ({
  arg: 0,
  op: 'eq',
  value: BigInt(f.fd),
  label: `fd ${f.fd} (${f.what})`,
});
const rule = (
  syscall: string,
  args: readonly ArgCheck[],
  owner: string,
  why: string,
): SeccompRule => ({ syscall, args, owner, why });
const EACCES = 13;

/** Rules for what the policy says each descriptor is used for. */
function fdRules(policy: SandboxPolicy): SeccompRule[] {
  const rules: SeccompRule[] = [];
  for (const f of policy.fds) {
    const fd = fdCheck(f);
    for (const op of f.ops) {
      switch (op) {
        case 'read':
          rules.push(rule('read', [fd], f.owner, `read ${f.what}`));
          break;
        case 'write':
          rules.push(rule('write', [fd], f.owner, `write ${f.what}`));
          break;
        case 'pread':
        case 'pwrite': {
          const syscall = op === 'pread' ? 'pread64' : 'pwrite64';
          const within: ArgCheck[] =
            f.size !== undefined
              ? [{ arg: 3, op: 'lt', value: BigInt(f.size), label: `offset < ${f.size}` }]
              : [];
          rules.push(rule(syscall, [fd, ...within], f.owner, `${op} ${f.what}`));
          if (op === 'pwrite' && f.kind === 'file') {
            // The file holds guest memory, written sparsely: only resident pages.
            rules.push(
              rule('mincore', [], f.owner, `which guest pages are resident (for ${f.what})`),
            );
          }
          break;
        }
        case 'truncate': {
          if (f.size === undefined) {
            throw new Error(
              `sandbox policy: fd ${f.fd} (${f.what}) allows truncate without a size`,
            );
          }
          rules.push(
            rule(
              'ftruncate',
              [fd, { arg: 1, op: 'le', value: BigInt(f.size), label: `length <= ${f.size}` }],
              f.owner,
              `size ${f.what}`,
            ),
          );
          break;
        }
        case 'poll':
          if (f.kind === 'eventpoll') {
            for (const syscall of ['epoll_wait', 'epoll_pwait']) {
              rules.push(rule(syscall, [fd], f.owner, `wait in ${f.what}`));
            }
          }
          // Other fds are waited on with ppoll, whose fds lie in memory that
          // seccomp cannot read: see the ppoll rule.
          break;
        case 'ioctl':
          for (const io of f.ioctls ?? []) {
            rules.push(
              rule(
                'ioctl',
                [
                  fd,
                  {
                    arg: 1,
                    op: 'eq',
                    value: BigInt(io.request),
                    label: `request ${io.name} (${hex(io.request)})`,
                  },
                ],
                f.owner,
                `${io.name} on ${f.what}`,
              ),
            );
          }
          break;
        case 'create':
          // This platform creates files before the drop (removeFileAtExit):
          // after it, no thread may create or open one.
          throw new Error(
            `sandbox policy: fd ${f.fd} (${f.what}) asks to create files after the drop, ` +
              'which this platform never allows',
          );
      }
    }
  }
  return rules;
}

/**
 * The seccomp rules for `policy`: the descriptors' operations, then what the
 * tender's run loop and the Node runtime need at steady state (measured with
 * strace on real runs; see the package README).
 */
export function compileSeccomp(policy: SandboxPolicy, host: SeccompHost): SeccompRule[] {
  const rules = fdRules(policy);
  const pollable = policy.fds.filter((f) => f.ops.includes('poll') && f.kind !== 'eventpoll');
  rules.push(
    rule(
      'ppoll',
      [{ arg: 1, op: 'le', value: BigInt(pollable.length), label: `nfds <= ${pollable.length}` }],
      'core',
      'the POLL hypercall: wait for the device fds (or only the timeout)',
    ),
    rule('rt_sigprocmask', [], 'platform', 'block SIGINT/SIGTERM around KVM_RUN and ppoll'),
  );
  const signals = osConstants.signals;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    rules.push(
      rule(
        'tgkill',
        [
          { arg: 0, op: 'eq', value: BigInt(host.pid), label: 'tgid: this process' },
          { arg: 2, op: 'eq', value: BigInt(signals[sig]), label: sig },
        ],
        'platform',
        `forward ${sig} from another thread to the vCPU thread`,
      ),
    );
  }
  rules.push(
    rule('getpid', [], 'platform', "glibc's pthread_kill asks for the tgid when forwarding"),
    rule('rt_sigreturn', [], 'platform', 'return from a signal handler'),
    rule('restart_syscall', [], 'node', 'a wait interrupted by a signal handler resumes'),
    rule('exit_group', [], 'tender', 'the process ends'),
    rule('close', [], 'tender', 'closing only gives access up (devices at exit)'),
  );
  for (const clock of policy.clocks) {
    const { id, name } = CLOCK_IDS[clock];
    rules.push(
      rule(
        'clock_gettime',
        [{ arg: 0, op: 'eq', value: id, label: name }],
        clock === 'realtime' ? 'core' : 'node',
        `read ${name} where the vDSO falls back to the kernel`,
      ),
    );
  }
  if (policy.clocks.includes('realtime')) {
    rules.push(rule('gettimeofday', [], 'node', 'Date.now() where the vDSO falls back'));
  }
  if (policy.threads.includes(NET_RING_THREAD)) rules.push(...netRingRules(host));
  rules.push(...runtimeRules(host));
  return rules;
}

/**
 * The network ring's thread moves frames with read and write on the fds the
 * net module declares; besides, it waits with poll for a tap that was full
 * (and the kick), tells the vCPU thread when it fails, and ends at HALT.
 */
function netRingRules(host: SeccompHost): SeccompRule[] {
  return [
    rule(
      'poll',
      [{ arg: 1, op: 'le', value: 2n, label: 'nfds <= 2' }],
      'net',
      'the ring thread waits until a full tap takes a frame, or for the kick',
    ),
    rule(
      'tgkill',
      [
        { arg: 0, op: 'eq', value: BigInt(host.pid), label: 'tgid: this process' },
        {
          arg: 2,
          op: 'eq',
          value: BigInt(host.ioThreadSignal),
          label: `signal ${host.ioThreadSignal} (the I/O thread signal)`,
        },
      ],
      'net',
      'the ring thread interrupts the vCPU thread when it fails',
    ),
    rule('exit', [], 'net', `the ${NET_RING_THREAD} thread ends at HALT`),
  ];
}

/** What V8, glibc and libuv do at steady state: memory, futexes, nothing else. */
function runtimeRules(host: SeccompHost): SeccompRule[] {
  const noExec = (arg: number): ArgCheck => ({
    arg,
    op: 'masked-eq',
    mask: PROT_EXEC,
    value: 0n,
    label: 'prot without PROT_EXEC',
  });
  const rules: SeccompRule[] = [
    rule(
      'mmap',
      [
        noExec(2),
        {
          arg: 3,
          op: 'masked-eq',
          mask: MAP_ANONYMOUS,
          value: MAP_ANONYMOUS,
          label: 'flags with MAP_ANONYMOUS (no file mappings)',
        },
      ],
      'node',
      'V8 reserves heap and code space (PROT_NONE, then mprotect); malloc arenas',
    ),
    host.jit
      ? rule(
          'mprotect',
          [],
          'node',
          "V8's JIT makes code space read-write-execute (run Node with --jitless to forbid PROT_EXEC)",
        )
      : rule('mprotect', [noExec(2)], 'node', 'V8 commits and decommits heap pages (--jitless)'),
    rule('munmap', [], 'node', 'V8 and malloc return memory; views of guest RAM are freed'),
    rule('brk', [], 'node', "malloc's main arena grows and shrinks"),
    {
      ...rule(
        'openat',
        [
          {
            arg: 2,
            op: 'eq',
            value: BigInt(fsConstants.O_RDONLY | O_CLOEXEC),
            label: 'flags O_RDONLY|O_CLOEXEC exactly',
          },
        ],
        'node',
        "glibc's malloc reads /proc/sys/vm/overcommit_memory once, lazily, from whichever " +
          'thread first shrinks an arena, and copes with a failed open: it fails (EACCES), ' +
          'nothing is opened',
      ),
      errno: EACCES,
    },
  ];
  for (const [advice, name, why] of [
    [MADV_DONTNEED, 'MADV_DONTNEED', 'V8 and glibc discard freed pages'],
    [MADV_FREE, 'MADV_FREE', 'V8 discards freed pages lazily'],
    [MADV_DONTFORK, 'MADV_DONTFORK', 'V8 marks new heap pages'],
  ] as const) {
    rules.push(rule('madvise', [{ arg: 2, op: 'eq', value: advice, label: name }], 'node', why));
  }
  for (const [command, name] of [
    [FUTEX_WAIT, 'FUTEX_WAIT'],
    [FUTEX_WAKE, 'FUTEX_WAKE'],
    [FUTEX_WAIT_BITSET, 'FUTEX_WAIT_BITSET'],
  ] as const) {
    rules.push(
      rule(
        'futex',
        [
          {
            arg: 1,
            op: 'masked-eq',
            mask: FUTEX_COMMAND_MASK,
            value: command,
            label: `op ${name} (private or not, any clock)`,
          },
        ],
        'node',
        'mutexes, condition variables and semaphores of the runtime threads',
      ),
    );
  }
  return rules;
}

/**
 * System calls that must stay forbidden whatever the policy says, by class:
 * the tests prove each one kills the process.
 */
export const DENIED_SYSCALLS: Readonly<Record<string, readonly string[]>> = {
  'io_uring (operations outside seccomp, CVE-2024-22017)': [
    'io_uring_setup',
    'io_uring_enter',
    'io_uring_register',
  ],
  'program execution': ['execve', 'execveat'],
  'process and thread creation': ['fork', 'vfork', 'clone', 'clone3'],
  sockets: ['socket', 'socketpair', 'connect', 'accept4'],
  'opening files': ['open', 'openat', 'creat', 'openat2', 'open_by_handle_at', 'name_to_handle_at'],
  'file system changes and lookups': [
    'unlinkat',
    'renameat2',
    'mkdirat',
    'linkat',
    'symlinkat',
    'fchmod',
    'chdir',
    'newfstatat',
    'statx',
    'readlinkat',
  ],
  'other processes': ['ptrace', 'process_vm_readv', 'process_vm_writev', 'kill', 'pidfd_open'],
  'kernel interfaces': [
    'bpf',
    'keyctl',
    'add_key',
    'request_key',
    'perf_event_open',
    'userfaultfd',
    'init_module',
    'finit_module',
    'kexec_load',
    'reboot',
  ],
  'mounts and namespaces': ['mount', 'umount2', 'pivot_root', 'chroot', 'unshare', 'setns'],
  'privileges and the sandbox itself': [
    'setuid',
    'setresuid',
    'setgroups',
    'capset',
    'prctl',
    'seccomp',
    'personality',
    'landlock_create_ruleset',
  ],
  'new descriptors': ['dup', 'dup3', 'pipe2', 'eventfd2', 'memfd_create', 'epoll_create1'],
  'memory tricks': ['mremap', 'pkey_mprotect', 'remap_file_pages', 'process_madvise'],
};

/** What the filter does with a call. */
export type SeccompVerdict = 'allow' | 'kill' | { readonly errno: number };

/** The rules' verdict for a call, as the kernel will reach it (for tests and tools). */
export function filterVerdict(
  rules: readonly SeccompRule[],
  syscall: string,
  args: readonly bigint[],
): SeccompVerdict {
  const match = rules.find((r) => r.syscall === syscall && checksHold(r, args));
  if (match === undefined) return 'kill';
  return match.errno === undefined ? 'allow' : { errno: match.errno };
}

/** Whether the filter lets the call reach the kernel. */
export function filterAllows(
  rules: readonly SeccompRule[],
  syscall: string,
  args: readonly bigint[],
): boolean {
  return filterVerdict(rules, syscall, args) === 'allow';
}

function checksHold(r: SeccompRule, args: readonly bigint[]): boolean {
  const u64 = (v: bigint) => BigInt.asUintN(64, v);
  return r.args.every((c) => {
    const a = u64(args[c.arg] ?? 0n);
    const v = u64(c.value);
    switch (c.op) {
      case 'eq':
        return a === v;
      case 'ne':
        return a !== v;
      case 'lt':
        return a < v;
      case 'le':
        return a <= v;
      case 'ge':
        return a >= v;
      case 'gt':
        return a > v;
      case 'masked-eq':
        return (a & u64(c.mask ?? 0n)) === v;
    }
    return false;
  });
}

/** A rule as JSON-ready data, with the checks in words and numbers. */
export function seccompRuleToJson(r: SeccompRule): unknown {
  return {
    syscall: r.syscall,
    args: r.args.map((c) => ({
      arg: c.arg,
      op: c.op,
      value: hex(c.value),
      ...(c.mask !== undefined ? { mask: hex(c.mask) } : {}),
      means: c.label,
    })),
    ...(r.errno !== undefined ? { fails: `errno ${r.errno}` } : {}),
    owner: r.owner,
    why: r.why,
  };
}
