import { mergeSandboxNeeds, type SandboxPolicy } from '@hvtjs/core/platform';
import { describe, expect, it } from 'vitest';
import { native } from '../src/native.js';
import { resolveIdentity } from '../src/sandbox/apply.js';
import { compileLandlock, LANDLOCK_THREADS } from '../src/sandbox/landlock.js';
import { compileSandbox, type HostFacts, planToJson } from '../src/sandbox/plan.js';
import { jitEnabled, runtimeNeeds } from '../src/sandbox/runtime.js';
import {
  compileSeccomp,
  DENIED_SYSCALLS,
  filterVerdict,
  type SeccompRule,
} from '../src/sandbox/seccomp.js';

// The policy compiler on its own: what each declaration turns into. The
// kernel's side of the same rules is tested in sandbox.test.ts.

const KVM_RUN = 0xae80;
const KVM_GET_REGS = 0x8090ae81;

/** dumpcore's share: the core file created before the drop, and the remover's channel. */
const CORE_FILE_SIZE = 4096 + (32 << 20);
const DUMPCORE_FDS = [
  {
    fd: 14,
    kind: 'file' as const,
    owner: 'dumpcore',
    what: 'core file',
    ops: ['pwrite' as const, 'truncate' as const],
    size: CORE_FILE_SIZE,
  },
  { fd: 15, kind: 'channel' as const, owner: 'dumpcore', what: 'keep', ops: ['write' as const] },
];

function policy(
  extra: { dumpcore?: boolean; create?: boolean; ring?: boolean } = {},
): SandboxPolicy {
  return mergeSandboxNeeds([
    {
      fds: [
        { fd: 1, kind: 'stdio', owner: 'core', what: 'console', ops: ['write'] },
        { fd: 2, kind: 'stdio', owner: 'tender', what: 'stderr', ops: ['write'] },
        {
          fd: 10,
          kind: 'vcpu',
          owner: 'platform',
          what: 'vCPU 0',
          ops: ['ioctl'],
          ioctls: [
            { name: 'KVM_RUN', request: KVM_RUN },
            { name: 'KVM_GET_REGS', request: KVM_GET_REGS },
          ],
        },
        { fd: 11, kind: 'vm', owner: 'platform', what: 'VM', ops: [] },
        { fd: 12, kind: 'tap', owner: 'net', what: 'tap', ops: ['read', 'write', 'poll'] },
        {
          fd: 13,
          kind: 'block',
          owner: 'block',
          what: 'disk',
          ops: ['pread', 'pwrite'],
          size: 4096,
        },
        { fd: 5, kind: 'eventpoll', owner: 'node', what: 'loop', ops: ['poll'] },
        { fd: 6, kind: 'eventfd', owner: 'node', what: 'wake-up', ops: ['read', 'write'] },
        ...(extra.dumpcore ? DUMPCORE_FDS : []),
        ...(extra.create
          ? [
              {
                fd: 16,
                kind: 'directory' as const,
                owner: 'dumpcore',
                what: 'dir',
                ops: ['create' as const],
              },
            ]
          : []),
      ],
      clocks: ['realtime', 'monotonic'],
      threads: extra.ring ? ['net-ring-io'] : [],
    },
  ]);
}

const host = { pid: 4242, jit: true, ioThreadSignal: 38 };
const verdict = (rules: readonly SeccompRule[], syscall: string, args: (number | bigint)[]) =>
  filterVerdict(rules, syscall, args.map(BigInt));

describe('seccomp rules from a policy', () => {
  const rules = compileSeccomp(policy(), host);

  it('ioctl: only the listed requests, only on the vCPU fd', () => {
    expect(verdict(rules, 'ioctl', [10, KVM_RUN])).toBe('allow');
    expect(verdict(rules, 'ioctl', [10, KVM_GET_REGS])).toBe('allow');
    expect(verdict(rules, 'ioctl', [10, 0xae41])).toBe('kill'); // KVM_CREATE_VCPU
    expect(verdict(rules, 'ioctl', [11, KVM_RUN])).toBe('kill');
    expect(verdict(rules, 'ioctl', [12, 0x400454ca])).toBe('kill'); // TUNSETIFF on the tap
  });

  it('read and write only where declared; pread/pwrite only on the block fd, below its size', () => {
    expect(verdict(rules, 'write', [1])).toBe('allow');
    expect(verdict(rules, 'write', [10])).toBe('kill');
    expect(verdict(rules, 'read', [1])).toBe('kill');
    expect(verdict(rules, 'read', [12])).toBe('allow');
    expect(verdict(rules, 'read', [6])).toBe('allow');
    expect(verdict(rules, 'pread64', [13, 0, 512, 4095])).toBe('allow');
    expect(verdict(rules, 'pread64', [13, 0, 512, 4096])).toBe('kill');
    expect(verdict(rules, 'pwrite64', [12, 0, 512, 0])).toBe('kill');
    // Negative offsets are huge unsigned numbers to seccomp.
    expect(verdict(rules, 'pwrite64', [13, 0, 512, -1n])).toBe('kill');
  });

  it('waits: ppoll over at most the pollable fds, epoll only on the runtime loops', () => {
    expect(verdict(rules, 'ppoll', [0, 1])).toBe('allow');
    expect(verdict(rules, 'ppoll', [0, 2])).toBe('kill');
    expect(verdict(rules, 'epoll_pwait', [5])).toBe('allow');
    expect(verdict(rules, 'epoll_pwait', [12])).toBe('kill');
    expect(verdict(rules, 'epoll_ctl', [5])).toBe('kill');
  });

  it('clocks: only those the policy reads', () => {
    expect(verdict(rules, 'clock_gettime', [0])).toBe('allow');
    expect(verdict(rules, 'clock_gettime', [1])).toBe('allow');
    expect(verdict(rules, 'clock_gettime', [2])).toBe('kill'); // CLOCK_PROCESS_CPUTIME_ID
  });

  it('memory: mmap anonymous and never executable; mprotect executable only with the JIT', () => {
    const PROT_RW = 3;
    const PROT_RWX = 7;
    const MAP_PRIVATE_ANON = 0x22;
    expect(verdict(rules, 'mmap', [0, 4096, PROT_RW, MAP_PRIVATE_ANON])).toBe('allow');
    expect(verdict(rules, 'mmap', [0, 4096, PROT_RWX, MAP_PRIVATE_ANON])).toBe('kill');
    expect(verdict(rules, 'mmap', [0, 4096, 1, 0x02 /* MAP_PRIVATE, a file */])).toBe('kill');
    expect(verdict(rules, 'mprotect', [0, 4096, PROT_RWX])).toBe('allow');
    const jitless = compileSeccomp(policy(), { ...host, jit: false });
    expect(verdict(jitless, 'mprotect', [0, 4096, PROT_RW])).toBe('allow');
    expect(verdict(jitless, 'mprotect', [0, 4096, 5])).toBe('kill');
  });

  it('signals: forwarded only within this process, only SIGINT and SIGTERM', () => {
    expect(verdict(rules, 'tgkill', [4242, 1, 2])).toBe('allow');
    expect(verdict(rules, 'tgkill', [4242, 1, 15])).toBe('allow');
    expect(verdict(rules, 'tgkill', [4242, 1, 9])).toBe('kill');
    expect(verdict(rules, 'tgkill', [1, 1, 2])).toBe('kill');
  });

  it('files: no allowed open without dumpcore; the runtime read-only open fails with EACCES', () => {
    const O_CLOEXEC = 0o2000000;
    expect(verdict(rules, 'openat', [-100, 0, O_CLOEXEC])).toEqual({ errno: 13 });
    expect(verdict(rules, 'openat', [-100, 0, 0o1 | 0o100 | 0o200])).toBe('kill');
    expect(rules.some((r) => r.syscall === 'mincore' || r.syscall === 'ftruncate')).toBe(false);
  });

  it('with dumpcore: no open at all (only the EACCES rule); pwrite and ftruncate on the core file only, within its size', () => {
    const dump = compileSeccomp(policy({ dumpcore: true }), host);
    const O_CLOEXEC = 0o2000000;
    const opening = ['open', 'openat', 'openat2', 'creat', 'open_by_handle_at'];
    const opens = dump.filter((r) => opening.includes(r.syscall));
    expect(opens).toHaveLength(1);
    expect(opens[0]).toMatchObject({ syscall: 'openat', errno: 13 });
    expect(opens[0]!.args).toEqual([
      expect.objectContaining({ arg: 2, op: 'eq', value: BigInt(O_CLOEXEC) }),
    ]);
    for (const flags of [
      0o1 | 0o100 | 0o200 | O_CLOEXEC, // O_WRONLY|O_CREAT|O_EXCL: what dumpcore used to create with
      0o1 | 0o100 | 0o200,
      0o1 | O_CLOEXEC,
      0o2 | O_CLOEXEC,
      0o100 | O_CLOEXEC,
      0,
    ]) {
      expect(verdict(dump, 'openat', [-100, 0, flags, 0o600]), `flags 0o${flags.toString(8)}`).toBe(
        'kill',
      );
      expect(verdict(dump, 'openat', [14, 0, flags, 0o600])).toBe('kill');
    }
    expect(verdict(dump, 'openat', [-100, 0, O_CLOEXEC])).toEqual({ errno: 13 });
    for (const name of ['open', 'creat', 'openat2']) {
      expect(verdict(dump, name, [0, 0o1 | 0o100 | 0o200, 0o600])).toBe('kill');
    }

    expect(verdict(dump, 'pwrite64', [14, 0, 4096, 0])).toBe('allow');
    expect(verdict(dump, 'pwrite64', [14, 0, 4096, CORE_FILE_SIZE - 1])).toBe('allow');
    expect(verdict(dump, 'pwrite64', [14, 0, 4096, CORE_FILE_SIZE])).toBe('kill');
    expect(verdict(dump, 'ftruncate', [14, CORE_FILE_SIZE])).toBe('allow');
    expect(verdict(dump, 'ftruncate', [14, CORE_FILE_SIZE + 1])).toBe('kill');
    for (const fd of [0, 3, 13, 15]) {
      expect(verdict(dump, 'pwrite64', [fd, 0, 1, 0]), `pwrite64 on fd ${fd}`).toBe(
        fd === 13 ? 'allow' : 'kill',
      );
      expect(verdict(dump, 'ftruncate', [fd, 0]), `ftruncate on fd ${fd}`).toBe('kill');
    }
    expect(dump.filter((r) => r.syscall === 'ftruncate')).toHaveLength(1);
    // The channel to the remover: write, nothing else.
    expect(verdict(dump, 'write', [15])).toBe('allow');
    expect(verdict(dump, 'read', [15])).toBe('kill');
    expect(verdict(dump, 'write', [14])).toBe('kill');
    expect(verdict(dump, 'mincore', [0, 4096, 0])).toBe('allow');
    // No file system changes either.
    for (const name of ['unlinkat', 'renameat2', 'linkat', 'mkdirat']) {
      expect(verdict(dump, name, [14, 0, 0])).toBe('kill');
    }
  });

  it('refuses a policy that would create files after the drop', () => {
    expect(() => compileSeccomp(policy({ create: true }), host)).toThrow(
      /fd 16 \(dir\) asks to create files after the drop/,
    );
    expect(() => compileLandlock(policy({ create: true }), 3)).toThrow(/create files/);
  });

  it('threads: none may end, unless the network ring thread runs (it polls, signals, ends)', () => {
    expect(verdict(rules, 'exit', [0])).toBe('kill');
    expect(verdict(rules, 'poll', [0, 1, 0])).toBe('kill');
    const ring = compileSeccomp(policy({ ring: true }), host);
    expect(verdict(ring, 'exit', [0])).toBe('allow');
    expect(verdict(ring, 'poll', [0, 2, -1])).toBe('allow');
    expect(verdict(ring, 'poll', [0, 3, -1])).toBe('kill');
    expect(verdict(ring, 'tgkill', [4242, 7, 38])).toBe('allow');
  });

  it('denies every call of the always-denied classes, whatever the policy', () => {
    const full = compileSeccomp(policy({ dumpcore: true, ring: true }), host);
    for (const names of Object.values(DENIED_SYSCALLS)) {
      for (const name of names) {
        expect(full.some((r) => r.syscall === name && r.args.length === 0)).toBe(false);
        expect(verdict(full, name, [0, 0, 0, 0, 0, 0])).toBe('kill');
      }
    }
  });
});

describe('the whole plan', () => {
  const facts: HostFacts = {
    pid: 4242,
    ioThreadSignal: 38,
    jit: false,
    landlockAbi: 3,
    openFds: [0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 200],
    identity: { action: 'keep', reason: 'test' },
  };

  it('keeps the policy fds, closes the rest, limits fd numbers, forbids processes and cores', () => {
    const plan = compileSandbox(policy({ dumpcore: true }), facts);
    expect(plan.keepFds).toEqual([1, 2, 5, 6, 10, 11, 12, 13, 14, 15]);
    expect(plan.closeFds).toEqual([0, 3, 4, 7, 200]);
    // Nothing is opened after the drop: no number above the kept ones.
    expect(plan.rlimits).toEqual({ NOFILE: 16, NPROC: 0, CORE: 0 });
  });

  it('refuses, as a plan, a policy that creates files after the drop', () => {
    expect(() =>
      compileSandbox(policy({ create: true }), { ...facts, openFds: [...facts.openFds, 16] }),
    ).toThrow(/asks to create files after the drop/);
  });

  it('can be told to leave Landlock out (tests only), and says so', () => {
    const plan = compileSandbox(policy({ dumpcore: true }), {
      ...facts,
      landlockDisabled: 'turned off by HVTJS_TEST_NO_LANDLOCK=1 (tests only)',
    });
    expect(plan.landlock).toEqual({
      unavailable: 'turned off by HVTJS_TEST_NO_LANDLOCK=1 (tests only)',
    });
  });

  it('--print-policy says which threads Landlock confines, and shows the core file and channel rules', () => {
    const printed = planToJson(compileSandbox(policy({ dumpcore: true }), facts)) as {
      landlock: { appliesTo: string; grants: unknown[] };
      seccomp: { allow: { syscall: string; args: { means: string }[] }[] };
    };
    expect(printed.landlock.appliesTo).toBe(LANDLOCK_THREADS);
    expect(printed.landlock.appliesTo).toMatch(
      /^only the thread that drops privileges and runs the vCPU/,
    );
    expect(printed.landlock.grants).toEqual([]);
    const on = (syscall: string) =>
      printed.seccomp.allow
        .filter((r) => r.syscall === syscall)
        .map((r) => r.args.map((a) => a.means));
    expect(on('ftruncate')).toEqual([['fd 14 (core file)', `length <= ${CORE_FILE_SIZE}`]]);
    expect(on('pwrite64')).toContainEqual(['fd 14 (core file)', `offset < ${CORE_FILE_SIZE}`]);
    expect(on('write')).toContainEqual(['fd 15 (keep)']);
  });

  it('refuses a policy that names an fd that is not open', () => {
    expect(() => compileSandbox(policy(), { ...facts, openFds: [1, 2, 5, 6] })).toThrow(
      /fds that are not open: 10 \(vCPU 0\)/,
    );
  });

  it('has no rule for a call the architecture lacks', () => {
    const plan = compileSandbox(policy(), { ...facts, hasSyscall: (n) => n !== 'epoll_wait' });
    expect(plan.seccomp.some((r) => r.syscall === 'epoll_wait')).toBe(false);
    expect(plan.seccomp.some((r) => r.syscall === 'epoll_pwait')).toBe(true);
  });

  it('says why Landlock is missing instead of failing', () => {
    expect(compileSandbox(policy(), { ...facts, landlockAbi: -38 }).landlock).toEqual({
      unavailable: 'the kernel has no Landlock (ENOSYS)',
    });
    expect(compileSandbox(policy(), { ...facts, landlockAbi: -95 }).landlock).toMatchObject({
      unavailable: expect.stringContaining('EOPNOTSUPP'),
    });
  });
});

describe('Landlock rulesets', () => {
  it('handle every right the ABI knows and grant nothing, dumpcore or not', () => {
    const v1 = compileLandlock(policy({ dumpcore: true }), 1);
    expect(v1.handledFs).toBe((1n << 13n) - 1n);
    expect(v1.attrSize).toBe(8);
    expect(v1.rules).toEqual([]);
    const v3 = compileLandlock(policy({ dumpcore: true }), 3);
    expect(v3.handledFs & (1n << 14n)).toBe(1n << 14n); // TRUNCATE handled
    expect(v3.rules).toEqual([]);
    const v4 = compileLandlock(policy(), 4);
    expect([v4.handledNet, v4.attrSize]).toEqual([3n, 16]);
    const v6 = compileLandlock(policy(), 6);
    expect([v6.scoped, v6.attrSize, v6.rules]).toEqual([3n, 24, []]);
  });
});

describe('whom the process becomes', () => {
  it('keeps the ids when not root, and as PID 1 of a container', () => {
    expect(resolveIdentity({}, { euid: 1000, pid: 50, ppid: 1 })).toMatchObject({ action: 'keep' });
    expect(resolveIdentity({}, { euid: 0, pid: 1, ppid: 0 })).toEqual({
      action: 'keep',
      reason: 'PID 1 of a container: keeps the container root',
    });
  });

  it('drops root to nobody and nogroup by default, or to --user/--group', () => {
    const nobody = native.lookupUser('nobody');
    const nogroup = native.lookupGroup('nogroup');
    const root = { euid: 0, pid: 50, ppid: 1 };
    if (nobody !== null && nogroup !== null) {
      expect(resolveIdentity({}, root)).toEqual({
        action: 'drop',
        uid: nobody.uid,
        gid: nogroup,
        user: 'nobody',
        group: 'nogroup',
      });
    }
    expect(resolveIdentity({ user: '4000', group: '4001' }, root)).toMatchObject({
      action: 'drop',
      uid: 4000,
      gid: 4001,
    });
    expect(() => resolveIdentity({ user: 'root' }, root)).toThrow(/unprivileged/);
    expect(() => resolveIdentity({ user: 'no-such-user-here' }, root)).toThrow(/no such user/);
    expect(() => resolveIdentity({ user: '4000', group: 'no-such-group-here' }, root)).toThrow(
      /no such group/,
    );
  });
});

describe('the runtime', () => {
  it('claims event loops and their wake-up eventfds, not the tender’s fds', () => {
    const needs = runtimeNeeds(new Set([9]), [
      { fd: 3, target: 'anon_inode:[eventpoll]', watches: [4, 8] },
      { fd: 4, target: 'pipe:[1]' },
      { fd: 8, target: 'anon_inode:[eventfd]' },
      { fd: 9, target: 'anon_inode:[eventfd]' },
      { fd: 10, target: 'anon_inode:[eventfd]' },
    ]);
    expect(needs.fds?.map((f) => [f.fd, f.kind, f.ops])).toEqual([
      [3, 'eventpoll', ['poll']],
      [8, 'eventfd', ['read', 'write']],
      [10, 'eventfd', ['read', 'write']],
    ]);
  });

  it('knows --jitless from the command line and NODE_OPTIONS, the last word winning', () => {
    expect(jitEnabled([], '')).toBe(true);
    expect(jitEnabled(['--jitless'], '')).toBe(false);
    expect(jitEnabled([], '--max-old-space-size=100 --jitless')).toBe(false);
    expect(jitEnabled(['--no-jitless'], '--jitless')).toBe(true);
  });
});
