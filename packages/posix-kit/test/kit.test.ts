import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  addonFile,
  cHex,
  checkMemSize,
  checkRange,
  chooseRelease,
  defaultVmName,
  ioc,
  isNativeError,
  layoutAsserts,
  lazyAddon,
  MAX_POLL_FDS,
  mprotectOrThrow,
  PAGE_SIZE,
  posixHost,
  residentPages,
  segmentAccess,
  vmFdRules,
} from '../src/index.js';
import { ioProgram, SPIN_PROGRAM } from '../src/test-guest.js';

describe('guest ranges', () => {
  it('accept page-aligned ranges inside memory and name what is wrong otherwise', () => {
    expect(() => checkRange('protect', 0, 8192, 8192)).not.toThrow();
    expect(() => checkRange('protect', PAGE_SIZE, 0, 8192)).not.toThrow();
    expect(() => checkRange('protect', 1, 1, 8192)).toThrow('protect: gpa 0x1 is not page-aligned');
    expect(() => checkRange('x', 4096, 4097, 8192)).toThrow('x: [0x1000, +4097) lies outside');
    expect(() => checkRange('x', -4096, 1, 8192)).toThrow(RangeError);
    expect(() => checkRange('x', 0, 0.5, 8192)).toThrow('non-negative integers');
  });

  it('take guest memory sizes in whole pages only', () => {
    expect(() => checkMemSize(2 * PAGE_SIZE)).not.toThrow();
    for (const bad of [0, -4096, 4095, 1.5, Number.NaN]) {
      expect(() => checkMemSize(bad)).toThrow(
        `guest memory size ${bad} is not a positive multiple`,
      );
    }
  });

  it("report resident pages over the addon's mincore, undefined where the host cannot tell", () => {
    const calls: [number, number][] = [];
    const resident = (gpa: number, len: number) => {
      calls.push([gpa, len]);
      return Uint8Array.of(1, 0);
    };
    expect(residentPages(4096, 8192, 16384, resident)).toEqual(Uint8Array.of(1, 0));
    expect(calls).toEqual([[4096, 8192]]);
    expect(() => residentPages(4096, 16384, 16384, resident)).toThrow('residentPages: [0x1000');
    expect(calls).toHaveLength(1);
    const failed = Object.assign(new Error('Invalid argument'), {
      code: 'EINVAL',
      errno: 22,
      syscall: 'mincore',
    });
    expect(
      residentPages(0, 4096, 16384, () => {
        throw failed;
      }),
    ).toBeUndefined();
    expect(() =>
      residentPages(0, 4096, 16384, () => {
        throw new TypeError('a bug');
      }),
    ).toThrow('a bug');
  });

  it('name VMs after the process, numbering later ones', () => {
    expect(defaultVmName()).toBe(`solo5-${process.pid}`);
    expect(defaultVmName()).toBe(`solo5-${process.pid}-2`);
  });

  it("turn the addon's failed mprotect into the reference's message, and nothing else", () => {
    const eacces = Object.assign(new Error('Permission denied'), {
      code: 'EACCES',
      errno: 13,
      syscall: 'mprotect',
    });
    expect(isNativeError(eacces)).toBe(true);
    expect(() =>
      mprotectOrThrow(() => {
        throw eacces;
      }),
    ).toThrow('mprotect failed: Permission denied');
    expect(() =>
      mprotectOrThrow(() => {
        throw new RangeError('prot has unknown bits');
      }),
    ).toThrow(RangeError);
  });
});

describe('release ranges', () => {
  const known = [{ v: 704 }, { v: 706 }, { v: 709 }];
  const pick = (version: number) => chooseRelease(known, (k) => k.v, version, 710);
  it('give each known layout from its release to the next one, the newest to all later ones', () => {
    expect(pick(703)).toBeUndefined();
    expect(pick(704)).toEqual({ abi: known[0], untested: false });
    expect(pick(705)).toEqual({ abi: known[0], untested: false });
    expect(pick(708)).toEqual({ abi: known[1], untested: false });
    expect(pick(709)).toEqual({ abi: known[2], untested: false });
    expect(pick(710)).toEqual({ abi: known[2], untested: true });
    expect(pick(1200)).toEqual({ abi: known[2], untested: true });
    expect(pick(Number.NaN)).toBeUndefined();
  });
});

describe('ioctl encoding and VMX access rights', () => {
  it('encode as <sys/ioccom.h> does', () => {
    // FreeBSD 14's VM_RUN and OpenBSD's VMM_IOC_TERM, as their headers give them.
    expect(ioc('IN', 'v', 1, 32)).toBe(0x80207601);
    expect(ioc('IN', 'V', 4, 4)).toBe(0x80045604);
    expect(ioc('VOID', 'v', 5, 0)).toBe(0x20007605);
    expect(() => ioc('IN', 'vv', 1, 4)).toThrow('one character');
    expect(() => ioc('IN', 'v', 1, 0x2000)).toThrow('does not fit 13 bits');
  });

  it('pack a 64-bit code segment as VMX wants it', () => {
    const seg = { type: 0xb, s: 1, dpl: 0, present: 1, avl: 0, l: 1, db: 0, g: 1, unusable: 0 };
    expect(segmentAccess(seg)).toBe(0xa09b);
    expect(segmentAccess({ ...seg, unusable: 1 })).toBe(0x1a09b);
  });
});

/** Runs `fn` with these environment variables set, then restores them. */
function withEnv(vars: Record<string, string>, fn: () => void): void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('the host functions', () => {
  const host = posixHost(() => {
    throw new Error('the addon must not be loaded for a rejected argument');
  });
  it('check poll sets and tap names before touching the addon', () => {
    const many = Array.from({ length: MAX_POLL_FDS + 1 }, (_, i) => i);
    expect(() => host.createPollSet(many)).toThrow(`at most ${MAX_POLL_FDS} fds per poll set`);
    expect(() => host.createPollSet([3, -1])).toThrow('bad fd -1');
    expect(() => host.createPollSet([1.5])).toThrow('bad fd 1.5');
    const set = host.createPollSet([3]);
    expect(() => set.wait(Number.NaN)).toThrow('timeoutNs must be a number');
    set.close();
    expect(() => set.wait(0)).toThrow('poll set is closed');
    expect(() => host.openNet(7 as unknown as string)).toThrow('ifname must be a string');
  });

  it('load no addon on another system, and say which system it needs', () => {
    const load = lazyAddon({
      platform: process.platform === 'aix' ? 'sunos' : 'aix',
      packageName: '@hvtjs/example',
      system: 'AIX',
      target: 'example',
      from: import.meta.url,
    });
    expect(load).toThrow(`@hvtjs/example runs on AIX only (this is ${process.platform})`);
  });

  it('find the addon where node-gyp-build put it: a source build first, else the prebuild', () => {
    const root = mkdtempSync(join(tmpdir(), 'hvtjs-addon-'));
    try {
      const spec = {
        platform: process.platform,
        packageName: '@hvtjs/example',
        system: 'here',
        target: 'hvt_example',
        from: pathToFileURL(join(root, 'dist', 'native.js')).href,
      };
      const prebuild = join(
        root,
        'prebuilds',
        `${process.platform}-${process.arch}`,
        '@hvtjs+example.glibc.node',
      );
      expect(addonFile(spec, root)).toBe(prebuild);
      const release = join(root, 'build', 'Release', 'hvt_example.node');
      // On musl a glibc prebuild is never taken: only a source build fits.
      withEnv({ LIBC: 'musl' }, () => expect(addonFile(spec, root)).toBe(release));
      withEnv({ LIBC: 'musl', PREBUILDS_ONLY: '1' }, () =>
        expect(addonFile(spec, root)).toBeUndefined(),
      );
      // Neither is there: one line that says what is missing and what to do.
      expect(lazyAddon(spec)).toThrow(
        `@hvtjs/example: no addon for ${process.platform}-${process.arch} (neither ` +
          `build/Release/hvt_example.node nor a glibc prebuild; tried ${prebuild}): ` +
          'reinstall the package',
      );
      mkdirSync(join(root, 'build', 'Release'), { recursive: true });
      writeFileSync(release, '');
      expect(addonFile(spec, root)).toBe(release);
      // node-gyp-build's PREBUILDS_ONLY passes over a source build (another CPU's, say).
      withEnv({ PREBUILDS_ONLY: '1' }, () => expect(addonFile(spec, root)).toBe(prebuild));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('give a VM its device and helper-channel rules', () => {
    const rules = vmFdRules({
      fd: 5,
      what: 'VM x',
      ioctls: ['RUN', 'TERM'],
      request: (name) => (name === 'RUN' ? 1 : 2),
      helperFd: 6,
      helper: 'helper',
    });
    expect(rules[0]!.ioctls).toEqual([
      { name: 'RUN', request: 1 },
      { name: 'TERM', request: 2 },
    ]);
    expect(rules.map((r) => [r.fd, r.kind, r.ops])).toEqual([
      [5, 'vm', ['ioctl']],
      [6, 'hypervisor', ['read', 'write']],
    ]);
  });
});

describe('generated C headers', () => {
  it('assert each struct once, and refuse two layouts for one struct', () => {
    const layout = { size: 16, fields: { a: 0, mtu: 8 } };
    const lines = layoutAsserts([
      { type: 'struct s', layout, members: { mtu: 'u.mtu' } },
      { type: 'struct s', layout },
    ]);
    expect(lines).toEqual([
      'HVT_STATIC_ASSERT(sizeof(struct s) == 16, "struct s size");',
      'HVT_STATIC_ASSERT(HVT_OFFSETOF(struct s, a) == 0, "struct s a");',
      'HVT_STATIC_ASSERT(HVT_OFFSETOF(struct s, u.mtu) == 8, "struct s mtu");',
    ]);
    expect(() =>
      layoutAsserts([
        { type: 'struct s', layout },
        { type: 'struct s', layout: { size: 24, fields: {} } },
      ]),
    ).toThrow('struct s has two layouts');
    expect(cHex(0x80207601)).toBe('0x80207601u');
    expect(cHex(5)).toBe('0x00000005u');
  });
});

describe('the test guest', () => {
  it('kicks the given port between its two OUTs, and spins with jmp $', () => {
    const plain = ioProgram();
    const kicked = ioProgram(0x600);
    expect(kicked.length - plain.length).toBe(6);
    expect(Buffer.from(kicked).toString('hex')).toContain('ba00060000ef');
    expect(Buffer.from(plain).toString('hex')).not.toContain('ba00060000');
    expect(SPIN_PROGRAM).toEqual([0xeb, 0xfe]);
  });
});
