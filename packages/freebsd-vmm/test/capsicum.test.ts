import { mergeSandboxNeeds, type SandboxPolicy } from '@hvtjs/core/platform';
import {
  blockNeeds,
  CONSOLE_NEEDS,
  DUMPCORE_DIR_NEEDS,
  PRECREATED_CORE_NEEDS,
  TAP_NEEDS,
} from '@hvtjs/posix-kit/test-needs';
import { describe, expect, it } from 'vitest';
import {
  CapRight,
  capright,
  capsicumRightsFor,
  describeCapsicum,
  rightsWords,
  STDIO_IOCTLS,
} from '../src/capsicum.js';
import { describeSandbox } from '../src/sandbox.js';
import { vmSandboxNeeds } from '../src/vm.js';

// A tender with one block device, one tap and dumpcore, on FreeBSD 14 and 15.
function policyFor(line: 13 | 14 | 15, ctlFd = -1): SandboxPolicy {
  return mergeSandboxNeeds([
    { ...CONSOLE_NEEDS, clocks: ['realtime'] },
    blockNeeds(1 << 20),
    TAP_NEEDS,
    DUMPCORE_DIR_NEEDS,
    vmSandboxNeeds({ name: 'solo5-42', line, vmFd: 30, destroyerFd: 31, ctlFd }),
  ]);
}

const byFd = (policy: SandboxPolicy, fd: number) => {
  const entry = capsicumRightsFor(policy).find((e) => e.fd === fd);
  if (entry === undefined) throw new Error(`no entry for fd ${fd}`);
  return entry;
};

describe('rights words', () => {
  it('build a version-0 cap_rights_t: CAP_NONE plus each right in its own word', () => {
    expect(rightsWords([])).toEqual([0x0200000000000000n, 0x0400000000000000n]);
    // docs/bsd-vmm.md 1.6: what Solo5 gives the VM fd.
    expect(rightsWords(['MMAP_RW', 'IOCTL'])).toEqual([0x020000000000001fn, 0x0400000000000080n]);
  });

  it('are the document values', () => {
    expect(CapRight.READ).toBe(0x0200000000000001n);
    expect(CapRight.WRITE).toBe(0x0200000000000002n);
    expect(CapRight.SEEK).toBe(0x020000000000000cn);
    expect(CapRight.MMAP_RW).toBe(0x020000000000001fn);
    expect(CapRight.FSTAT).toBe(0x0200000000080000n);
    expect(CapRight.FSYNC).toBe(0x0200000000000100n);
    expect(CapRight.EVENT).toBe(0x0400000000000020n);
    expect(CapRight.IOCTL).toBe(0x0400000000000080n);
    expect(CapRight.PREAD).toBe(CapRight.SEEK | CapRight.READ);
    expect(CapRight.PWRITE).toBe(CapRight.SEEK | CapRight.WRITE);
    expect(capright(1, 0n)).toBe(0x0400000000000000n);
  });
});

describe('policy to Capsicum', () => {
  it('limits the VM fd to CAP_IOCTL and exactly the numbers this release line issues', () => {
    const vm14 = byFd(policyFor(14), 30);
    expect(vm14.rights).toEqual(['IOCTL']);
    expect(vm14.words).toEqual([0x0200000000000000n, 0x0400000000000080n]);
    expect(vm14.ioctls?.map((r) => [r.name, r.request])).toEqual([
      ['VM_RUN', 0x80207601],
      ['VM_GET_REGISTER', 0xc0107615],
      ['VM_GET_SEGMENT_DESCRIPTOR', 0xc0187617],
    ]);
    // 13.x issues the older VM_RUN number, so that is the one allowed.
    expect(byFd(policyFor(13), 30).ioctls?.[0]).toEqual({ name: 'VM_RUN', request: 0xc0907601 });
    // Nothing the run loop does not use: no mmap, read or write on the VM fd.
    expect(vm14.rights).not.toContain('MMAP_RW');
    expect(vm14.fcntls).toBeUndefined();
  });

  it('on 15 keeps /dev/vmmctl for VMMCTL_VM_DESTROY only', () => {
    const ctl = byFd(policyFor(15, 32), 32);
    expect(ctl.rights).toEqual(['IOCTL']);
    expect(ctl.ioctls).toEqual([{ name: 'VMMCTL_VM_DESTROY', request: 0xc1285601 }]);
  });

  it('gives block fds pread/pwrite, taps read/write/event, the destroyer channel read/write', () => {
    const block = byFd(policyFor(14), 20);
    expect(block.rights).toEqual(['PREAD', 'PWRITE']);
    expect(block.words).toEqual([0x020000000000000fn, 0x0400000000000000n]);
    expect(block.ioctls).toBeUndefined();

    const tap = byFd(policyFor(14), 21);
    expect(tap.rights).toEqual(['READ', 'WRITE', 'EVENT']);
    expect(tap.words).toEqual([0x0200000000000003n, 0x0400000000000020n]);

    expect(byFd(policyFor(14), 31).rights).toEqual(['READ', 'WRITE']);
  });

  it("gives the ring's kick pipe READ and EVENT on the read end, WRITE on the write end", () => {
    const kick = (fd: number, end: string, ops: ('read' | 'write' | 'poll')[]) => ({
      fd,
      kind: 'pipe' as const,
      owner: 'net',
      what: `net ring kick (port 0x600), ${end}`,
      ops,
    });
    const policy = mergeSandboxNeeds([
      { fds: [kick(40, 'read end', ['read', 'poll']), kick(41, 'write end', ['write'])] },
      { threads: ['net-ring-io'] },
    ]);
    const table = capsicumRightsFor(policy);
    expect(table.find((e) => e.fd === 40)!.rights).toEqual(['READ', 'EVENT']);
    expect(table.find((e) => e.fd === 41)!.rights).toEqual(['WRITE']);
  });

  it('gives a core file created before the drop PWRITE and FTRUNCATE only, its channel WRITE only', () => {
    const policy = mergeSandboxNeeds([PRECREATED_CORE_NEEDS]);
    const file = byFd(policy, 23);
    expect(file.rights).toEqual(['PWRITE', 'FTRUNCATE']);
    // CAP_PWRITE is CAP_SEEK | CAP_WRITE; CAP_FTRUNCATE is bit 0x200 of word 0.
    expect(file.words).toEqual([0x020000000000020en, 0x0400000000000000n]);
    expect(file.rights).not.toContain('CREATE');
    expect(file.rights).not.toContain('LOOKUP');
    expect(byFd(policy, 24).rights).toEqual(['WRITE']);
  });

  it('lets dumpcore create files below its directory and nothing else there', () => {
    const dir = byFd(policyFor(14), 22);
    expect(dir.rights).toEqual(['WRITE', 'SEEK', 'CREATE', 'LOOKUP']);
    expect(dir.rights).not.toContain('READ');
  });

  it("limits all three standard streams to what Node's stream code needs", () => {
    const policy = policyFor(14);
    const stdout = byFd(policy, 1);
    expect(stdout.owner).toBe('core');
    expect(stdout.rights).toEqual(['WRITE', 'SEEK', 'FCNTL', 'FSTAT', 'EVENT', 'IOCTL']);
    expect(stdout.ioctls?.map((r) => r.request)).toEqual([
      0x402c7413, 0x40087468, 0x4004667a, 0x8004667e,
    ]);
    expect(stdout.fcntls).toEqual(['GETFL']);
    expect(stdout.mayBeClosed).toBe(true);

    const stdin = byFd(policy, 0);
    expect(stdin.owner).toBe('runtime');
    expect(stdin.rights).toContain('READ');
    expect(stdin.rights).not.toContain('WRITE');
    const stderr = byFd(policy, 2);
    expect(stderr.rights).toContain('WRITE');
    expect(stderr.rights).not.toContain('READ');
    expect(STDIO_IOCTLS.map((r) => r.name)).toEqual([
      'TIOCGETA',
      'TIOCGWINSZ',
      'FIODTYPE',
      'FIONBIO',
    ]);
  });

  it('covers every fd of the policy, in fd order, and no other', () => {
    const fds = capsicumRightsFor(policyFor(15, 32)).map((e) => e.fd);
    expect(fds).toEqual([0, 1, 2, 20, 21, 22, 30, 31, 32]);
  });

  it('refuses an ioctl operation without its list of requests', () => {
    const policy = mergeSandboxNeeds([
      { fds: [{ fd: 9, kind: 'vm', owner: 'platform', what: 'vm', ops: ['ioctl'] }] },
    ]);
    expect(() => capsicumRightsFor(policy)).toThrow(/ioctl without a list/);
  });

  it('prints the rights and the ioctl numbers for --print-policy', () => {
    const text = describeCapsicum(capsicumRightsFor(policyFor(14))).join('\n');
    expect(text).toContain('fd 30 (VM /dev/vmm/solo5-42; platform): CAP_IOCTL');
    expect(text).toContain('VM_RUN 0x80207601');
    expect(text).toContain("fd 20 (block 'storage': disk.img; block): CAP_PREAD | CAP_PWRITE");
  });

  it('describes the sandbox as JSON-ready data, and refuses an identity change it would not make', () => {
    const data = describeSandbox(policyFor(14)) as {
      mechanism: string;
      fds: { fd: number; ioctls?: string[] }[];
    };
    expect(data.mechanism).toBe('capsicum');
    expect(data.fds.find((f) => f.fd === 30)?.ioctls).toEqual([
      'VM_RUN (0x80207601)',
      'VM_GET_REGISTER (0xc0107615)',
      'VM_GET_SEGMENT_DESCRIPTOR (0xc0187617)',
    ]);
    expect(JSON.parse(JSON.stringify(data))).toEqual(data);
    expect(() => describeSandbox(policyFor(14), { user: 'nobody' })).toThrow(
      /not part of the FreeBSD sandbox/,
    );
  });
});
