import { spawnSync } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ExitField, ExitKind } from '@hvtjs/core/platform';
import { describe, expect, it } from 'vitest';
import {
  createEventFd,
  createPollSet,
  isNativeError,
  linuxKvmPlatform,
  openNet,
  walltimeNs,
} from '../src/index.js';
import { native } from '../src/native.js';
import { signalChild } from './fixtures/signal-child.js';

function signalEventFd(fd: number): void {
  const one = Buffer.alloc(8);
  one.writeBigUInt64LE(1n);
  writeSync(fd, one);
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('did not throw');
}

describe('the addon agrees with the platform contract', () => {
  it('has the same exit kinds and exit fields as core', () => {
    expect(native.exitKind).toEqual({ ...ExitKind });
    expect(native.exitField).toEqual({ ...ExitField });
  });

  it('names itself and its architecture', () => {
    expect(linuxKvmPlatform.name).toBe('linux-kvm');
    expect(linuxKvmPlatform.arch).toBe(process.arch === 'arm64' ? 'aarch64' : 'x86_64');
  });
});

describe('walltimeNs', () => {
  it('is CLOCK_REALTIME in nanoseconds', () => {
    const before = BigInt(Date.now()) * 1_000_000n;
    const now = walltimeNs();
    const after = BigInt(Date.now() + 1) * 1_000_000n;
    expect(typeof now).toBe('bigint');
    expect(now >= before && now <= after).toBe(true);
  });
});

describe('poll sets', () => {
  it('time out after at least the timeout with nothing ready', () => {
    const fd = createEventFd();
    const set = createPollSet([fd]);
    try {
      const started = process.hrtime.bigint();
      expect(set.wait(50_000_000)).toBe(0);
      const waitedNs = Number(process.hrtime.bigint() - started);
      expect(waitedNs).toBeGreaterThanOrEqual(50_000_000);
      expect(waitedNs).toBeLessThan(2_000_000_000);
    } finally {
      set.close();
      closeSync(fd);
    }
  });

  it('return at once for a zero timeout', () => {
    const fd = createEventFd();
    const set = createPollSet([fd]);
    try {
      const started = process.hrtime.bigint();
      for (let i = 0; i < 100; i++) expect(set.wait(0)).toBe(0);
      expect(Number(process.hrtime.bigint() - started)).toBeLessThan(50_000_000);
    } finally {
      closeSync(fd);
    }
  });

  it('report readable fds by their index', () => {
    const fds = [createEventFd(), createEventFd(), createEventFd()];
    const set = createPollSet(fds);
    try {
      signalEventFd(fds[1]!);
      expect(set.wait(1_000_000_000)).toBe(0b010);
      signalEventFd(fds[2]!);
      expect(set.wait(-1)).toBe(0b110);
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  });

  it('fail with EBADF on a closed fd instead of reporting it ready', () => {
    const fd = createEventFd();
    closeSync(fd);
    const e = thrown(() => createPollSet([fd]).wait(0));
    expect(isNativeError(e) && e.code).toBe('EBADF');
  });

  it('validate their arguments', () => {
    expect(() => createPollSet(Array.from({ length: 54 }, () => 0))).toThrow(RangeError);
    expect(() => createPollSet([-1])).toThrow(RangeError);
    expect(() => createPollSet([1.5])).toThrow(RangeError);
    const set = createPollSet([]);
    expect(() => set.wait(Number.NaN)).toThrow(RangeError);
    set.close();
    expect(() => set.wait(0)).toThrow(/closed/);
  });
});

describe('termination signals', () => {
  it('end a poll wait early with SIGTERM pending', async () => {
    const { report, code } = await signalChild('poll', 'SIGTERM');
    expect(code).toBe(0);
    expect(report).toMatchObject({ ready: 0, pending: 15 });
  });

  it('end a poll wait early with SIGINT pending', async () => {
    const { report, code } = await signalChild('poll', 'SIGINT');
    expect(code).toBe(0);
    expect(report).toMatchObject({ ready: 0, pending: 2 });
  });

  it('are not pending in a process that caught none', () => {
    expect(native.pendingSignal()).toBe(0);
  });
});

describe('openNet errors that need no tap', () => {
  it('refuses names of 16 or more bytes with ENAMETOOLONG', () => {
    const e = thrown(() => openNet('abcdefghijklmnop'));
    expect(isNativeError(e)).toBe(true);
    expect(e).toMatchObject({ code: 'ENAMETOOLONG', message: 'File name too long' });
  });

  it('reports a missing interface as ENOENT', () => {
    const e = thrown(() => openNet('hvtjs-missing'));
    expect(e).toMatchObject({ code: 'ENOENT', errno: 2, message: 'No such file or directory' });
  });

  it('wants a string', () => {
    expect(() => openNet(3 as unknown as string)).toThrow(TypeError);
  });
});

describe('a descriptor handed over as @NN', () => {
  // A datagram socket pair made by python (Node cannot make one): one end is
  // handed to the child as @NN, the other stays open and is never read.
  const script = [
    'import os, socket, sys',
    'a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)',
    'a.setblocking(True)',
    'os.set_inheritable(a.fileno(), True)',
    'os.set_inheritable(b.fileno(), True)',
    'os.execv(sys.argv[1], [sys.argv[1], sys.argv[2], str(a.fileno())])',
  ].join('\n');

  it('is made non-blocking, so a full peer drops frames instead of holding the vCPU thread', () => {
    const child = fileURLToPath(new URL('./fixtures/adopted-net-child.mjs', import.meta.url));
    const run = spawnSync('python3', ['-c', script, process.execPath, child], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.error).toBeUndefined();
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const out = JSON.parse(run.stdout) as {
      nonBlocking: boolean;
      results: number[];
      readResult: number;
      warnings: string[];
    };
    expect(out.nonBlocking).toBe(true);
    // Every NET_WRITE succeeds (those the full socket would not take are dropped).
    expect(out.results).toEqual(new Array(200).fill(0));
    expect(out.readResult).toBe(1);
    expect(out.warnings).toHaveLength(2);
    expect(out.warnings[1]).toMatch(/^net 'service': @\d+ takes no more frames for now/);
  });
});
