import { describe, expect, it } from 'vitest';
import { ExitKind, type NetRingFailure, NetRingFailureKind } from '../src/entry/platform.js';
import { RING_KICK_PORT, ringFailureError } from '../src/entry/tender.js';
import { GuestAccessError, HvtError } from '../src/index.js';

// What the tender says when the network ring's host thread gives up
// (docs/guest-abi.md 10.3); the thread itself is tested on real KVM (linux-kvm's
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
