import { mergeSandboxNeeds, type SandboxPolicy } from '@hvtjs/core/platform';
import * as needs from '@hvtjs/posix-kit/test-needs';
import { describe, expect, it } from 'vitest';
import { openbsdRelease } from '../src/abi.js';
import { describePledge, nodeIsJitless, pledgePlanFor, pledgePromisesFor } from '../src/pledge.js';
import { describeSandbox } from '../src/sandbox.js';
import { vmSandboxNeeds } from '../src/vm.js';

const vm = vmSandboxNeeds({
  name: 'solo5-42',
  abi: openbsdRelease('7.8')!,
  vmFd: 30,
  terminatorFd: 31,
});
const console_ = needs.CONSOLE_NEEDS;
const block = needs.blockNeeds(512);
const tap = needs.TAP_NEEDS;
const dumpcore = needs.DUMPCORE_DIR_NEEDS;
const policy = (...parts: Parameters<typeof mergeSandboxNeeds>[0]): SandboxPolicy =>
  mergeSandboxNeeds(parts);

describe('policy to pledge promises', () => {
  it('is the reference line "stdio vmm" plus prot_exec for V8\'s JIT', () => {
    expect(pledgePromisesFor(policy(console_, vm), { jitless: false })).toBe('stdio vmm prot_exec');
    expect(pledgePromisesFor(policy(console_, vm), { jitless: true })).toBe('stdio vmm');
  });

  it('needs nothing more for block devices and taps: pread/pwrite/read/write/poll are stdio', () => {
    expect(pledgePromisesFor(policy(console_, block, tap, vm), { jitless: true })).toBe(
      'stdio vmm',
    );
  });

  it("needs nothing more for the ring: its thread's read/write/poll on the kick pipe are stdio", () => {
    const kick = {
      fds: [
        { fd: 40, kind: 'pipe', owner: 'net', what: 'kick, read end', ops: ['read', 'poll'] },
        { fd: 41, kind: 'pipe', owner: 'net', what: 'kick, write end', ops: ['write'] },
      ],
      threads: ['net-ring-io'],
    } as const;
    expect(pledgePromisesFor(policy(console_, tap, kick, vm), { jitless: true })).toBe('stdio vmm');
  });

  it('needs no path promise for a core file created before the drop: pwrite and ftruncate are stdio', () => {
    expect(
      pledgePromisesFor(policy(console_, needs.PRECREATED_CORE_NEEDS, vm), { jitless: true }),
    ).toBe('stdio vmm');
  });

  it('adds wpath and cpath only when dumpcore creates files', () => {
    expect(pledgePromisesFor(policy(console_, dumpcore, vm), { jitless: true })).toBe(
      'stdio vmm wpath cpath',
    );
  });

  it('never grants proc, exec, inet, rpath, unix or id changes', () => {
    const all = pledgePromisesFor(policy(console_, block, tap, dumpcore, vm), {
      jitless: false,
    }).split(' ');
    for (const forbidden of [
      'proc',
      'exec',
      'inet',
      'rpath',
      'unix',
      'id',
      'dns',
      'getpw',
      'sendfd',
      'recvfd',
    ]) {
      expect(all).not.toContain(forbidden);
    }
  });

  it('allows terminal ioctls on stdio with tty, and refuses other ioctls pledge cannot narrow', () => {
    const ttyPolicy = policy({
      fds: [
        {
          fd: 1,
          kind: 'stdio',
          owner: 'core',
          what: 'console',
          ops: ['write', 'ioctl'],
          ioctls: [{ name: 'TIOCGWINSZ', request: 0x40087468 }],
        },
      ],
    });
    expect(pledgePromisesFor(ttyPolicy, { jitless: true })).toBe('stdio tty');
    const blockIoctl = policy({
      fds: [
        {
          fd: 9,
          kind: 'block',
          owner: 'block',
          what: 'disk',
          ops: ['ioctl'],
          ioctls: [{ name: 'DIOCGDINFO', request: 1 }],
        },
      ],
    });
    expect(() => pledgePromisesFor(blockIoctl, { jitless: true })).toThrow(
      /pledge cannot allow ioctls/,
    );
  });

  it('says why each promise is there', () => {
    const plan = pledgePlanFor(policy(console_, vm), { jitless: false });
    expect(plan.reasons.map((r) => r.promise)).toEqual(['stdio', 'vmm', 'prot_exec']);
    expect(plan.reasons[1]!.why).toContain('VMM_IOC_RUN, VMM_IOC_READREGS, VMM_IOC_TERM');
    const lines = describePledge(plan, { name: '_vmd', dir: '/var/empty' });
    expect(lines[0]).toBe('chroot to /var/empty, then setgroups/setresgid/setresuid to _vmd');
    expect(lines[1]).toBe('pledge("stdio vmm prot_exec", NULL)');
  });
});

describe('describeSandbox', () => {
  it('shows the chroot, the user and the pledge line as JSON-ready data, applying nothing', () => {
    const data = describeSandbox(policy(console_, vm)) as Record<string, unknown>;
    expect(data).toMatchObject({ mechanism: 'pledge', chroot: 'home of _vmd', user: '_vmd' });
    expect(data.pledge).toBe(nodeIsJitless() ? 'stdio vmm' : 'stdio vmm prot_exec');
    expect(JSON.parse(JSON.stringify(data))).toEqual(data);
    expect(describeSandbox(policy(console_, vm), { user: 'nobody', group: '32767' })).toMatchObject(
      {
        user: 'nobody',
        group: '32767',
      },
    );
  });
});

describe('--jitless detection', () => {
  it('reads the command line and NODE_OPTIONS', () => {
    expect(nodeIsJitless(['--jitless'], undefined)).toBe(true);
    expect(nodeIsJitless([], '--max-old-space-size=64 --jitless')).toBe(true);
    expect(nodeIsJitless(['--jitlessness'], '--no-jitless-x')).toBe(false);
    expect(nodeIsJitless([], undefined)).toBe(false);
  });
});
