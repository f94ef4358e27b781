import { closeSync, openSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ExitKind,
  type NetRing,
  type NetRingConfig,
  type NetRingFailure,
  NetRingFailureKind,
  type NetRingKickFd,
} from '../src/entry/platform.js';
import { Hypercall, NetModule, RING_KICK_PORT, ringFailureError } from '../src/entry/tender.js';
import { GuestAccessError, HvtError } from '../src/index.js';
import { guestRam, manifestOf, NET, setUp } from './tender-helpers.js';

// When the net module offers the ring and what the tender says when the
// network ring's host thread gives up (docs/guest-abi.md 10.3); the thread
// itself is tested in posix-kit (the engine) and on real KVM (linux-kvm's
// test/kvm/net-ring.test.ts and test/kvm/ring.test.ts).

const failure = (f: Partial<NetRingFailure>): NetRingFailure => ({
  kind: NetRingFailureKind.DATA_RANGE,
  operation: 1,
  handle: 1,
  gpa: 0n,
  len: 0,
  done: 0,
  head: 0,
  tail: 0,
  ...f,
});

describe('ring thread failures', () => {
  it('reports a bad buffer as an invalid guest access, named after the ring operation', () => {
    const write = ringFailureError(failure({ gpa: 0xfffffffffffff000n, len: 0x2000 }));
    expect(write).toBeInstanceOf(GuestAccessError);
    expect(write.message).toBe(
      'net.ts:RING_NET_WRITE: Invalid guest access: gpa=0xfffffffffffff000, sz=8192',
    );
    const read = ringFailureError(failure({ operation: 2, gpa: 0x2000000n, len: 2048 }));
    expect(read.message).toBe('net.ts:RING_NET_READ: Invalid guest access: gpa=0x2000000, sz=2048');
  });

  it("uses the reference ring thread's words for device errors", () => {
    expect(
      ringFailureError(failure({ kind: NetRingFailureKind.WRITE_ERROR, code: 'EINVAL' })).message,
    ).toBe('Fatal write error on net device: Invalid argument');
    expect(
      ringFailureError(failure({ kind: NetRingFailureKind.SHORT_WRITE, done: 10, len: 60 }))
        .message,
    ).toBe('Fatal write error: wrote only 10 out of 60 bytes');
  });

  it('names runaway indices and a broken kick', () => {
    expect(
      ringFailureError(failure({ kind: NetRingFailureKind.INDICES, head: 3, tail: 5000 })).message,
    ).toBe('net.ts:RING: Invalid guest ring indices: ent_head=3, ent_tail=5000');
    expect(
      ringFailureError(failure({ kind: NetRingFailureKind.KICK_READ, code: 'EBADF' })).message,
    ).toBe('net.ts:RING: cannot read the kick eventfd: Bad file descriptor');
  });

  it('is an ordinary tender error: prefixed, exit status 1', () => {
    for (const kind of Object.values(NetRingFailureKind)) {
      const error = ringFailureError(failure({ kind, code: 'EIO' }));
      expect(error).toBeInstanceOf(HvtError);
      expect(error.exitStatus).toBe(1);
      expect(error.prefixed).toBe(true);
    }
  });

  it('uses the ABI numbers', () => {
    expect(RING_KICK_PORT).toBe(0x600);
    expect(ExitKind.IO_THREAD).toBe(8);
  });
});

/** A VM's ring capability as a platform offers it, recording what core asks. */
class RingSupport {
  readonly configs: NetRingConfig[] = [];
  stops = 0;
  failed: NetRingFailure | undefined;
  constructor(
    private readonly kick: readonly NetRingKickFd[],
    private readonly refuse?: Error,
  ) {}
  start(config: NetRingConfig): NetRing {
    if (this.refuse !== undefined) throw this.refuse;
    this.configs.push(config);
    return {
      kick: this.kick,
      stop: () => {
        this.stops++;
      },
      failure: () => this.failed,
    };
  }
}

const kickError = (kickStep: string, code: string) =>
  Object.assign(new Error(`${kickStep} failed`), { kickStep, code });

describe('the net module and the ring (10)', () => {
  const MiB = 2 ** 20;
  const RING = 2 * MiB;
  const EVENTFD: NetRingKickFd[] = [{ fd: 40, kind: 'eventfd', ops: ['read', 'write'] }];
  let net: NetModule;
  let fd: number;

  /** One net device, `service` (manifest index 1), on /dev/null; guest RAM with a ring area. */
  function setUpRing(vm: { netRing?: RingSupport }) {
    const manifest = manifestOf([{ name: 'service', type: NET }]);
    net = new NetModule();
    fd = openSync('/dev/null', 'r+');
    net.attach({ entry: manifest.entries[1]!, iface: 'null', fd, mtu: 1500 });
    return setUp([net], manifest, guestRam(RING + MiB, RING), { ringGpa: RING, vm });
  }
  afterEach(() => {
    net.close();
    try {
      closeSync(fd);
    } catch {
      // The module closed it.
    }
  });

  it('starts the thread over the ring area and the NET_BASIC devices, and offers the ring', () => {
    const ring = new RingSupport(EVENTFD);
    const done = setUpRing({ netRing: ring });
    expect(ring.configs).toEqual([
      { ringGpa: RING, visibleSize: RING, devices: [{ handle: 1, fd }] },
    ]);
    expect(done.offered.ringIo).toBe(true);
    expect(done.warnings).toEqual([]);
    // The sandbox keeps the thread and its kick, as the platform made it.
    const needs = net.sandboxNeeds();
    expect(needs.threads).toEqual(['net-ring-io']);
    expect(needs.fds?.at(-1)).toEqual({
      fd: 40,
      kind: 'eventfd',
      owner: 'net',
      what: 'net ring kick (port 0x600)',
      ops: ['read', 'write'],
    });
  });

  it('names the ends of a two-descriptor kick (the BSD pipe) in the policy', () => {
    setUpRing({
      netRing: new RingSupport([
        { fd: 41, kind: 'pipe', ops: ['read', 'poll'], end: 'read end' },
        { fd: 42, kind: 'pipe', ops: ['write'], end: 'write end' },
      ]),
    });
    expect(net.sandboxNeeds().fds?.slice(-2)).toEqual([
      {
        fd: 41,
        kind: 'pipe',
        owner: 'net',
        what: 'net ring kick (port 0x600), read end',
        ops: ['read', 'poll'],
      },
      {
        fd: 42,
        kind: 'pipe',
        owner: 'net',
        what: 'net ring kick (port 0x600), write end',
        ops: ['write'],
      },
    ]);
  });

  it('offers no ring without the capability or without a ring area', () => {
    const done = setUpRing({});
    expect(done.offered.ringIo).toBe(false);
    expect(done.warnings).toEqual([]);
    expect(net.sandboxNeeds().threads).toBeUndefined();
    net.close();
    const ring = new RingSupport(EVENTFD);
    const manifest = manifestOf([{ name: 'service', type: NET }]);
    net = new NetModule();
    fd = openSync('/dev/null', 'r+');
    net.attach({ entry: manifest.entries[1]!, iface: 'null', fd, mtu: 1500 });
    setUp([net], manifest, guestRam(RING), { ringGpa: 0, vm: { netRing: ring } });
    expect(ring.configs).toEqual([]);
  });

  it('warns and falls back to the hypercalls when the kick cannot be made', () => {
    for (const [step, code, message] of [
      ['eventfd()', 'EMFILE', 'eventfd() failed, falling back to hypercalls: Too many open files'],
      ['KVM_IOEVENTFD', 'EEXIST', 'KVM_IOEVENTFD failed, falling back to hypercalls: File exists'],
      [
        'pipe()',
        'ENFILE',
        'pipe() failed, falling back to hypercalls: Too many open files in system',
      ],
    ] as const) {
      const done = setUpRing({ netRing: new RingSupport(EVENTFD, kickError(step, code)) });
      expect(done.warnings).toEqual([message]);
      expect(done.offered.ringIo).toBe(false);
      expect(net.sandboxNeeds().threads).toBeUndefined();
      net.close();
    }
  });

  it('lets any other failure to start end the run', () => {
    const fatal = new HvtError('cannot start the network ring thread: pthread_create: x');
    expect(() => setUpRing({ netRing: new RingSupport(EVENTFD, fatal) })).toThrow(fatal);
  });

  it('stops the thread at HALT and reports its failure then; close() stops it too', () => {
    const ring = new RingSupport(EVENTFD);
    const done = setUpRing({ netRing: ring });
    expect(done.offered.ioThreadChecks[0]!()).toBeUndefined();
    ring.failed = failure({ kind: NetRingFailureKind.INDICES, head: 0, tail: 2000 });
    expect(done.offered.ioThreadChecks[0]!()).toBeInstanceOf(HvtError);
    expect(() => done.hypercalls.dispatch(Hypercall.HALT, 0x20000)).toThrow(
      'net.ts:RING: Invalid guest ring indices: ent_head=0, ent_tail=2000',
    );
    expect(ring.stops).toBe(1);
    net.close();
    expect(ring.stops).toBe(2);
  });
});
