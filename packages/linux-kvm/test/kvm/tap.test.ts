import { execFileSync } from 'node:child_process';
import { closeSync, readSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPollSet, isNativeError, openNet } from '../../src/index.js';

// Names of our own, so that other suites' taps are never touched.
const UP = 'hvtjs-lk0';
const DOWN = 'hvtjs-lk1';

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
function deleteTap(name: string): void {
  try {
    ip('link', 'delete', name);
  } catch {
    // not there: nothing to delete
  }
}

/** An Ethernet broadcast frame with a local experimental EtherType, sent from the host side. */
function sendFrameFromHost(ifname: string, marker: string): void {
  const script = [
    'import socket, sys',
    's = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)',
    's.bind((sys.argv[1], 0))',
    "s.send(b'\\xff' * 6 + b'\\x02\\x00\\x00\\x00\\x00\\x01' + b'\\x88\\xb5' + sys.argv[2].encode().ljust(46, b'\\0'))",
  ].join('\n');
  execFileSync('python3', ['-c', script, ifname, marker]);
}

function readFrames(fd: number): Buffer[] {
  const frames: Buffer[] = [];
  for (;;) {
    const buf = Buffer.alloc(65536);
    try {
      const n = readSync(fd, buf);
      frames.push(buf.subarray(0, n));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return frames;
      throw e;
    }
  }
}

function openError(name: string): unknown {
  try {
    closeSync(openNet(name).fd);
  } catch (e) {
    return e;
  }
  throw new Error(`openNet(${name}) succeeded`);
}

describe('tap attach', () => {
  beforeAll(() => {
    deleteTap(UP);
    deleteTap(DOWN);
    ip('tuntap', 'add', 'mode', 'tap', 'name', UP);
    ip('link', 'set', UP, 'up');
    ip('tuntap', 'add', 'mode', 'tap', 'name', DOWN);
  });
  afterAll(() => {
    deleteTap(UP);
    deleteTap(DOWN);
  });

  it('opens an up tap and reads its MTU', () => {
    ip('link', 'set', UP, 'mtu', '1500');
    const net = openNet(UP);
    try {
      expect(net.fd).toBeGreaterThan(2);
      expect(net.mtu).toBe(1500);
    } finally {
      closeSync(net.fd);
    }
  });

  it('reads a jumbo MTU', () => {
    ip('link', 'set', UP, 'mtu', '9000');
    const net = openNet(UP);
    try {
      expect(net.mtu).toBe(9000);
    } finally {
      closeSync(net.fd);
      ip('link', 'set', UP, 'mtu', '1500');
    }
  });

  it('refuses a tap that is down with ENETDOWN', () => {
    const e = openError(DOWN);
    expect(isNativeError(e)).toBe(true);
    expect(e).toMatchObject({ code: 'ENETDOWN', message: 'Network is down' });
  });

  it('refuses missing and over-long names', () => {
    expect(openError('hvtjs-lk9')).toMatchObject({ code: 'ENOENT' });
    expect(openError('hvtjs-lk0-toolong')).toMatchObject({ code: 'ENAMETOOLONG' });
  });

  it('is busy while another fd is attached', () => {
    const net = openNet(UP);
    try {
      expect(openError(UP)).toMatchObject({
        code: 'EBUSY',
        syscall: 'ioctl',
        request: 'TUNSETIFF',
      });
    } finally {
      closeSync(net.fd);
    }
  });

  it('gives a non-blocking fd that polls readable when a frame arrives', () => {
    const net = openNet(UP);
    const set = createPollSet([net.fd]);
    try {
      // Attaching raised the carrier: the kernel may send frames of its own.
      readFrames(net.fd);
      sendFrameFromHost(UP, 'hvtjs-poll-test');
      expect(set.wait(2_000_000_000)).toBe(1);
      const ours = readFrames(net.fd).filter(
        (f) =>
          f.readUInt16BE(12) === 0x88b5 && f.subarray(14).toString().startsWith('hvtjs-poll-test'),
      );
      expect(ours).toHaveLength(1);
    } finally {
      set.close();
      closeSync(net.fd);
    }
  });
});
