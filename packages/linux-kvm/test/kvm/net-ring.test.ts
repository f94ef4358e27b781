import { execFileSync } from 'node:child_process';
import { closeSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { ExitKind, type NetRing, NetRingFailureKind } from '@hvtjs/core/platform';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type LinuxKvmVm, linuxKvmPlatform, openNet } from '../../src/index.js';
import { bootGuest } from '../fixtures/long-mode.mjs';

// The ring's I/O thread (posix-kit's hvt/net_ring.h, with Linux's eventfd kick
// from src/net-ring.ts) on a real VM and a real tap.
// The tests play the guest from JavaScript (the ring lies in guest RAM) and,
// where the point is the vCPU, with a few hand-assembled instructions.

const MiB = 1024 * 1024;
const MEM = 4 * MiB;
/** The layout the tender uses: the top 2 MiB are the ring area. */
const RING = 2 * MiB;
const VISIBLE = RING;
const NET_HANDLE = 1;
const TAP = 'hvtjs-ring0';
const FRAME_GPA = 0x180000;
const KICK_PORT = 0x600;

// struct hvt_ring (docs/guest-abi.md 10.1)
const ENT_TAIL = 0;
const COM_HEAD = 4;
const ENT_HEAD = 64;
const COM_TAIL = 68;
const NEEDS_KICK = 72;
const ENTRIES = 128;
const COMMITS = 32896;
const OP_WRITE = 1;
const OP_READ = 2;

const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const movEax = (v: number) => [0xb8, ...le32(v)];
const movDx = (port: number) => [0x66, 0xba, port & 0xff, port >>> 8];
const movEaxFromAbs = (addr: number) => [0x8b, 0x04, 0x25, ...le32(addr)];
const OUT_DX_EAX = 0xef;
const JMP_SELF = [0xeb, 0xfe];
const HLT = 0xf4;
/** Kicks the ring, waits until ent_head is 1, then exits on an OUT to 0x501. */
const KICK_THEN_WAIT = [
  ...movEax(0),
  ...movDx(KICK_PORT),
  OUT_DX_EAX,
  ...movEaxFromAbs(RING + ENT_HEAD), // 7 bytes
  0x83,
  0xf8,
  0x01, // cmp eax, 1
  0x75,
  0xf4, // jne back to the load (-12)
  ...movDx(0x501),
  OUT_DX_EAX,
  HLT,
];
/** Kicks the ring, then spins for ever: only a signal gets the vCPU back. */
const KICK_THEN_SPIN = [...movEax(0), ...movDx(KICK_PORT), OUT_DX_EAX, ...JMP_SELF];

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function tapCounter(name: 'rx_packets' | 'rx_bytes'): number {
  return Number(readFileSync(`/sys/class/net/${TAP}/statistics/${name}`, 'utf8'));
}

function threadNames(): string[] {
  return readdirSync('/proc/self/task').map((t) =>
    readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim(),
  );
}

/** An Ethernet broadcast frame with a local experimental EtherType, sent from the host side. */
function sendFrameFromHost(marker: string): void {
  const script = [
    'import socket, sys',
    's = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)',
    's.bind((sys.argv[1], 0))',
    "s.send(b'\\xff' * 6 + b'\\x02\\x00\\x00\\x00\\x00\\x01' + b'\\x88\\xb5' + sys.argv[2].encode().ljust(46, b'\\0'))",
  ].join('\n');
  execFileSync('python3', ['-c', script, TAP, marker]);
}

interface Setup {
  vm: LinuxKvmVm;
  ring: NetRing;
  kickFd: number;
  tapFd: number;
}
let live: Setup | undefined;

function start(code: number[] = [HLT]): Setup {
  const { vm } = bootGuest(linuxKvmPlatform, MEM, code);
  const tapFd = openNet(TAP).fd;
  const ring = vm.netRing.start({
    ringGpa: RING,
    visibleSize: VISIBLE,
    devices: [{ handle: NET_HANDLE, fd: tapFd }],
  });
  // The capability's kick: one eventfd, which the thread reads and KVM signals.
  expect(ring.kick).toEqual([{ fd: expect.any(Number), kind: 'eventfd', ops: ['read', 'write'] }]);
  live = { vm, ring, kickFd: ring.kick[0]!.fd, tapFd };
  return live;
}

function stop(s: Setup): void {
  s.ring.stop();
  closeSync(s.tapFd);
  s.vm.destroy();
  live = undefined;
}

function entry(vm: LinuxKvmVm, index: number, op: number, data: number, len: number, id = index) {
  const at = RING + ENTRIES + (index % 1024) * 32;
  vm.memory.writeU32(at, op);
  vm.memory.writeU32(at + 4, NET_HANDLE);
  vm.memory.writeU64(at + 8, data);
  vm.memory.writeU32(at + 16, len);
  vm.memory.writeU32(at + 20, id);
}

function kick(fd: number): void {
  const one = Buffer.alloc(8);
  one.writeBigUInt64LE(1n);
  writeSync(fd, one);
}

/** Waits (up to 5 s) until the u32 at gpa is `want`. */
function waitFor(vm: LinuxKvmVm, gpa: number, want: number): boolean {
  for (let i = 0; i < 500; i++) {
    if (vm.memory.readU32(gpa) === want) return true;
    sleep(10);
  }
  return false;
}

function waitForFailure(ring: NetRing) {
  for (let i = 0; i < 500 && ring.failure() === undefined; i++) sleep(10);
  return ring.failure();
}

const canRun = process.getuid?.() === 0;

describe.skipIf(!canRun)('network ring thread', () => {
  beforeAll(() => {
    try {
      ip('link', 'delete', TAP);
    } catch {
      // not there
    }
    ip('tuntap', 'add', 'mode', 'tap', 'name', TAP);
    ip('link', 'set', TAP, 'up');
  });
  afterAll(() => {
    ip('link', 'delete', TAP);
  });
  afterEach(() => {
    if (live) stop(live);
  });

  it('runs as one named thread from start to stop', () => {
    const before = threadNames();
    const s = start();
    expect(threadNames().length).toBe(before.length + 1);
    expect(threadNames().filter((n) => n === 'net-ring-io')).toHaveLength(
      before.filter((n) => n === 'net-ring-io').length + 1,
    );
    stop(s);
    expect(threadNames().length).toBe(before.length);
    // Stopping twice is harmless.
    s.ring.stop();
  });

  it('sleeps until the guest kicks, then sends the frame without an exit', () => {
    const s = start(KICK_THEN_WAIT);
    const frame = Buffer.alloc(60);
    frame.fill(0xff, 0, 6);
    frame.set([0x02, 0, 0, 0, 0, 0x02, 0x88, 0xb5], 6);
    frame.write('hvtjs-ring-write', 14);
    s.vm.memory.write(FRAME_GPA, frame);
    // Past its spin, the thread has asked for a kick and sleeps.
    expect(waitFor(s.vm, RING + NEEDS_KICK, 1)).toBe(true);
    const packets = tapCounter('rx_packets');
    entry(s.vm, 0, OP_WRITE, FRAME_GPA, 60);
    s.vm.memory.writeU32(RING + ENT_TAIL, 1);
    sleep(100);
    expect(s.vm.memory.readU32(RING + ENT_HEAD)).toBe(0);
    // The guest's OUT to 0x600 reaches the thread in the kernel: the next exit
    // is the guest's own OUT to 0x501, once it saw ent_head move.
    expect(s.vm.run()).toBe(ExitKind.IO);
    expect(s.vm.exit[1]).toBe(0x501);
    expect(s.vm.memory.readU32(RING + ENT_HEAD)).toBe(1);
    expect(tapCounter('rx_packets')).toBe(packets + 1);
    // Writes get no completion.
    expect(s.vm.memory.readU32(RING + COM_TAIL)).toBe(0);
  });

  it('reads a frame into guest memory and completes the entry', () => {
    const s = start();
    sendFrameFromHost('hvtjs-ring-read');
    let found = false;
    // The kernel may queue frames of its own (IPv6 router solicitations) first.
    for (let i = 0; i < 16 && !found; i++) {
      s.vm.memory.fill(FRAME_GPA, 2048);
      entry(s.vm, i, OP_READ, FRAME_GPA, 2048, 1000 + i);
      s.vm.memory.writeU32(RING + ENT_TAIL, i + 1);
      kick(s.kickFd);
      expect(waitFor(s.vm, RING + COM_TAIL, i + 1)).toBe(true);
      const commit = RING + COMMITS + i * 16;
      s.vm.memory.writeU32(RING + COM_HEAD, i + 1);
      expect(s.vm.memory.readU32(commit)).toBe(1000 + i);
      const ret = s.vm.memory.readI32(commit + 4);
      const len = s.vm.memory.readU32(commit + 8);
      if (ret === 1) {
        expect(len).toBe(0);
        sleep(20);
        continue;
      }
      expect(ret).toBe(0);
      const got = Buffer.from(s.vm.memory.read(FRAME_GPA, len));
      if (got.readUInt16BE(12) === 0x88b5) {
        expect(len).toBe(60);
        expect(got.subarray(14, 29).toString()).toBe('hvtjs-ring-read');
        found = true;
      }
    }
    expect(found).toBe(true);
  });

  it('stops the guest when an entry points outside guest memory', () => {
    const s = start(KICK_THEN_SPIN);
    // Ends exactly at the top of visible memory: the strict rule of 7.3 refuses it.
    entry(s.vm, 0, OP_WRITE, VISIBLE - 60, 60);
    s.vm.memory.writeU32(RING + ENT_TAIL, 1);
    // The guest spins inside KVM_RUN: only the thread's signal brings it back.
    expect(s.vm.run()).toBe(ExitKind.IO_THREAD);
    expect(s.ring.failure()).toEqual({
      kind: NetRingFailureKind.DATA_RANGE,
      operation: OP_WRITE,
      handle: NET_HANDLE,
      gpa: BigInt(VISIBLE - 60),
      len: 60,
      code: undefined,
      done: 0,
      head: 0,
      tail: 1,
    });
    expect(s.vm.memory.readU32(RING + ENT_HEAD)).toBe(0);
    // Once stopped, the failure no longer stops other runs.
    stop(s);
    const next = start([...movDx(0x501), OUT_DX_EAX, HLT]);
    expect(next.vm.run()).toBe(ExitKind.IO);
  });

  it('takes an index more than a ring ahead for garbage, not work', () => {
    const s = start();
    s.vm.memory.writeU32(RING + ENT_TAIL, 1025);
    kick(s.kickFd);
    expect(waitForFailure(s.ring)).toMatchObject({
      kind: NetRingFailureKind.INDICES,
      head: 0,
      tail: 1025,
    });
    expect(s.vm.run()).toBe(ExitKind.IO_THREAD);
  });

  it('reports a device that refuses a frame', () => {
    const s = start();
    entry(s.vm, 0, OP_WRITE, FRAME_GPA, 0);
    s.vm.memory.writeU32(RING + ENT_TAIL, 1);
    kick(s.kickFd);
    expect(waitForFailure(s.ring)).toMatchObject({
      kind: NetRingFailureKind.WRITE_ERROR,
      code: 'EINVAL',
      len: 0,
    });
  });

  it('never reads back what it owns: a guest rewriting ent_head changes nothing', () => {
    const s = start();
    s.vm.memory.writeU32(RING + ENT_HEAD, 999);
    entry(s.vm, 0, 77, FRAME_GPA, 60);
    s.vm.memory.writeU32(RING + ENT_TAIL, 1);
    kick(s.kickFd);
    expect(waitFor(s.vm, RING + ENT_HEAD, 1)).toBe(true);
    expect(s.ring.failure()).toBeUndefined();
  });

  it('refuses a ring that is not above the visible memory, leaving no kick behind', () => {
    for (const [ringGpa, visibleSize] of [
      [RING, RING + 4096],
      [MEM - 4096, RING],
    ] as const) {
      const { vm } = bootGuest(linuxKvmPlatform, MEM, [HLT]);
      const fds = readdirSync('/proc/self/fd').length;
      try {
        expect(() => vm.netRing.start({ ringGpa, visibleSize, devices: [] })).toThrow(RangeError);
        expect(readdirSync('/proc/self/fd').length).toBe(fds);
      } finally {
        vm.destroy();
      }
    }
  });

  it('closes its kick at stop()', () => {
    const s = start();
    const kick = s.kickFd;
    expect(readdirSync('/proc/self/fd')).toContain(String(kick));
    stop(s);
    expect(readdirSync('/proc/self/fd')).not.toContain(String(kick));
  });
});
