import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Manifest } from '../src/entry/kernel.js';
import {
  ADOPTED_FD_MTU,
  createModules,
  DumpcoreModule,
  type GuestRam,
  Hypercall,
  NetModule,
  parseMac,
  randomMac,
  Solo5Result,
} from '../src/entry/tender.js';
import { GuestAccessError, HvtError } from '../src/index.js';
import {
  BLOCK,
  guestRam,
  M,
  manifestOf,
  NET,
  optionContext,
  scratchPerTest,
  setUp,
  thrown,
  warnings,
} from './tender-helpers.js';

const scratch = scratchPerTest();
let net: NetModule;
const opened: number[] = [];
beforeEach(() => {
  net = new NetModule();
});
afterEach(() => {
  net.close();
  for (const fd of opened.splice(0)) closeSync(fd);
});

/** disk (1, block), service (2), admin (3). */
const devices = () =>
  manifestOf([
    { name: 'disk', type: BLOCK },
    { name: 'service', type: NET },
    { name: 'admin', type: NET },
  ]);

function option(manifest: Manifest, arg: string) {
  const printed = warnings();
  const accepted = net.handleOption(arg, optionContext(manifest, printed.warn));
  return { accepted, warnings: printed.list };
}

function open(path: string, flags: string): number {
  const fd = openSync(path, flags);
  opened.push(fd);
  return fd;
}

describe('MAC addresses', () => {
  it('parses xx:xx:xx:xx:xx:xx as %hhx does, trailing text ignored', () => {
    expect(parseMac('02:00:5e:10:00:01')).toEqual(Uint8Array.of(2, 0, 0x5e, 0x10, 0, 1));
    expect(parseMac('2:0:A:b:C:d')).toEqual(Uint8Array.of(2, 0, 10, 11, 12, 13));
    expect(parseMac('02:00:5e:10:00:01 and more')).toEqual(Uint8Array.of(2, 0, 0x5e, 0x10, 0, 1));
    expect(parseMac('0x02:00:00:00:00:ff')).toEqual(Uint8Array.of(2, 0, 0, 0, 0, 255));
    for (const bad of [
      '',
      '02:00:5e:10:00',
      '02-00-5e-10-00-01',
      'zz:00:00:00:00:00',
      '02::00:00:00:00',
    ]) {
      expect(parseMac(bad)).toBeUndefined();
    }
  });

  it('makes random MACs unicast and locally administered', () => {
    for (let i = 0; i < 64; i++) {
      const mac = randomMac();
      expect(mac.byteLength).toBe(6);
      expect(mac[0]! & 1).toBe(0);
      expect(mac[0]! & 2).toBe(2);
    }
  });
});

describe('--net:NAME=IFACE and --net-mac:NAME=HWADDR', () => {
  it('sets the MAC of a declared NET_BASIC device', () => {
    const m = devices();
    expect(option(m, '--net-mac:service=02:00:00:00:00:07')).toEqual({
      accepted: true,
      warnings: [],
    });
    expect(m.findByName('service')!.net.mac).toEqual(Uint8Array.of(2, 0, 0, 0, 0, 7));
    expect(m.findByName('service')!.attached).toBe(false);
  });

  it('refuses undeclared names with a warning, malformed arguments silently', () => {
    const m = devices();
    for (const arg of ['--net:nope=tap0', '--net:disk=tap0', '--net-mac:disk=02:00:00:00:00:01']) {
      const name = arg.slice(arg.indexOf(':') + 1, arg.indexOf('='));
      expect(option(m, arg)).toEqual({
        accepted: false,
        warnings: [`Resource not declared in manifest: '${name}'`],
      });
    }
    for (const arg of ['--net:service=', '--net-mac:service=02:00', '--net:=tap0', '--network']) {
      expect(option(m, arg)).toEqual({ accepted: false, warnings: [] });
    }
  });

  it('adopts an open character device or socket passed as @NN, with MTU 1500', () => {
    const m = devices();
    const fd = open('/dev/null', 'r+');
    const result = option(m, `--net:service=@${fd}`);
    expect(result).toEqual({
      accepted: true,
      warnings: [`service: MTU of @${fd} is unknown, reporting ${ADOPTED_FD_MTU} to the guest`],
    });
    const service = m.findByName('service')!;
    expect(service.attached).toBe(true);
    expect(service.net.mtu).toBe(1500);
    expect(net.attachedDevices().map((d) => [d.iface, d.fd])).toEqual([[`@${fd}`, fd]]);
    // The descriptor was passed to us: close() leaves it open.
    net.close();
    closeSync(openSync(`/proc/self/fd/${fd}`, 'r'));
  });

  it('warns `Could not attach interface` for an @NN that is not a usable descriptor', () => {
    const m = devices();
    const file = join(scratch.dir, 'regular');
    writeFileSync(file, 'x');
    const regular = open(file, 'r');
    const dir = join(scratch.dir, 'dir');
    mkdirSync(dir);
    const directory = open(dir, 'r');
    for (const [iface, reason] of [
      ['@99999', 'Bad file descriptor'],
      ['@x', 'Bad file descriptor'],
      ['@', 'Bad file descriptor'],
      ['@-1', 'Bad file descriptor'],
      [`@${regular}`, 'Invalid argument'],
      [`@${directory}`, 'Invalid argument'],
    ]) {
      expect(option(m, `--net:service=${iface}`)).toEqual({
        accepted: false,
        warnings: [`Could not attach interface: ${iface}: ${reason}`],
      });
    }
    expect(m.findByName('service')!.attached).toBe(false);
  });

  it('truncates IFACE to 19 characters as %19s does', () => {
    const m = devices();
    const result = option(m, '--net:service=@12345678901234567890123');
    expect(result.warnings).toEqual([
      'Could not attach interface: @123456789012345678: Bad file descriptor',
    ]);
  });
});

describe('net setup and NET_WRITE / NET_READ (8.6, 8.7)', () => {
  const STRUCT = 0x20000;
  const BUF = 0x30000;
  let ram: GuestRam;
  let frames: string;
  let dispatch: (nr: number, gpa: number) => void;
  let manifest: Manifest;
  let waitFds: number[];
  let waitIndexes: number[];

  /**
   * service is a regular file standing in for a tap (writes append frames,
   * reads return what is left); admin reads an empty file.
   */
  beforeEach(() => {
    manifest = devices();
    frames = join(scratch.dir, 'frames');
    writeFileSync(frames, 'incoming-frame');
    const empty = join(scratch.dir, 'empty');
    writeFileSync(empty, '');
    const entries = manifest.entries;
    // Attached descriptors are the module's: close() closes them.
    net.attach({ entry: entries[2]!, iface: 'file', fd: openSync(frames, 'r+'), mtu: 9000 });
    net.attach({ entry: entries[3]!, iface: 'empty', fd: openSync(empty, 'r'), mtu: 1500 });
    option(manifest, '--net-mac:admin=02:aa:bb:cc:dd:ee');
    ram = guestRam(M);
    const done = setUp([net], manifest, ram);
    dispatch = (nr, gpa) => done.hypercalls.dispatch(nr, gpa);
    waitFds = done.waitSet.fds;
    waitIndexes = done.waitSet.indexes;
  });

  function call(
    nr: number,
    handle: bigint | number,
    len: bigint | number,
    data: bigint | number = BUF,
  ) {
    const mem = ram.memory;
    mem.writeU64Big(STRUCT, BigInt(handle));
    mem.writeU64Big(STRUCT + 8, BigInt(data));
    mem.writeU64Big(STRUCT + 16, BigInt(len));
    mem.writeI32(STRUCT + 24, -99);
    dispatch(nr, STRUCT);
    return { ret: mem.readI32(STRUCT + 24), len: mem.readU64(STRUCT + 16) };
  }

  it('fills in MTU and MAC (random when none given) and registers the fds for POLL', () => {
    const service = manifest.findByName('service')!;
    const admin = manifest.findByName('admin')!;
    expect(service.net.mtu).toBe(9000);
    expect(service.net.mac[0]! & 3).toBe(2);
    expect(service.net.mac.some((b, i) => i > 0 && b !== 0) || service.net.mac[0] !== 0).toBe(true);
    expect(admin.net.mac).toEqual(Uint8Array.of(2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee));
    expect(waitIndexes).toEqual([2, 3]);
    expect(waitFds).toHaveLength(2);
    expect(net.sandboxNeeds().fds?.map((f) => [f.kind, f.ops])).toEqual([
      ['tap', ['read', 'write', 'poll']],
      ['tap', ['read', 'write', 'poll']],
    ]);
  });

  it('writes one frame with one write', () => {
    ram.memory.write(BUF, new TextEncoder().encode('outgoing'));
    expect(call(Hypercall.NET_WRITE, 2, 8).ret).toBe(Solo5Result.OK);
    expect(readFileSync(frames, 'utf8')).toBe('outgoing-frame');
  });

  it('reads at most len bytes and reports the size; nothing to read is AGAIN', () => {
    expect(call(Hypercall.NET_READ, 2, 8)).toEqual({ ret: Solo5Result.OK, len: 8 });
    expect(new TextDecoder().decode(ram.memory.read(BUF, 8))).toBe('incoming');
    expect(call(Hypercall.NET_READ, 2, 1514)).toEqual({ ret: Solo5Result.OK, len: 6 });
    expect(call(Hypercall.NET_READ, 2, 1514)).toEqual({ ret: Solo5Result.AGAIN, len: 1514 });
    expect(call(Hypercall.NET_READ, 3, 1514)).toEqual({ ret: Solo5Result.AGAIN, len: 1514 });
  });

  it('returns EINVAL for handles that are not net devices (low 32 bits used)', () => {
    for (const handle of [0, 1, 4, 64, 0xffffffff, 0x1_0000_0001n]) {
      expect(call(Hypercall.NET_WRITE, handle, 8).ret).toBe(Solo5Result.EINVAL);
      expect(call(Hypercall.NET_READ, handle, 8).ret).toBe(Solo5Result.EINVAL);
    }
    expect(call(Hypercall.NET_READ, 0x1_0000_0002n, 4).ret).toBe(Solo5Result.OK);
  });

  it('is fatal when the frame buffer or the struct is not inside guest memory', () => {
    for (const [nr, where] of [
      [Hypercall.NET_WRITE, 'net.ts:NET_WRITE'],
      [Hypercall.NET_READ, 'net.ts:NET_READ'],
    ] as const) {
      for (const [data, len] of [
        [M - 1514, 1514],
        [M, 0],
        [0x1000, 2n ** 64n - 1n],
      ] as const) {
        const error = thrown(() => call(nr, 2, len, data));
        expect(error).toBeInstanceOf(GuestAccessError);
        expect(error.message).toBe(
          `${where}: Invalid guest access: gpa=0x${data.toString(16)}, sz=${len}`,
        );
      }
      expect(thrown(() => dispatch(nr, M - 32)).message).toBe(
        `${where}: Invalid guest access: gpa=0x${(M - 32).toString(16)}, sz=32`,
      );
    }
  });

  it('is fatal, without the prog prefix, when the device refuses a write', () => {
    // admin's descriptor is read-only: write(2) fails with EBADF.
    const error = thrown(() => call(Hypercall.NET_WRITE, 3, 4));
    expect(error).toBeInstanceOf(HvtError);
    expect(error.message).toBe('Fatal error when writing: Bad file descriptor');
    expect((error as HvtError).prefixed).toBe(false);
  });
});

describe('dumpcore options and setup checks (11.4)', () => {
  it('takes --dumpcore=DIR and declares the directory for the sandbox after setup', () => {
    const dumpcore = new DumpcoreModule();
    expect(dumpcore.handleOption('--dumpcore=/somewhere')).toBe(true);
    expect(dumpcore.handleOption('--dumpcore')).toBe(false);
    expect(dumpcore.handleOption('--dump=x')).toBe(false);
  });

  it('fails setup with `dumpcore: cannot open dir` for a missing directory or a file', () => {
    const file = join(scratch.dir, 'file');
    writeFileSync(file, '');
    for (const dir of [join(scratch.dir, 'missing'), file, '']) {
      const dumpcore = new DumpcoreModule();
      dumpcore.handleOption(`--dumpcore=${dir}`);
      const error = thrown(() => setUp([dumpcore], devices(), guestRam(M)));
      expect(error).toBeInstanceOf(HvtError);
      expect(error.message).toBe('dumpcore: cannot open dir');
    }
  });

  it('does nothing without --dumpcore', () => {
    const dumpcore = new DumpcoreModule();
    setUp([dumpcore], devices(), guestRam(M));
    expect(dumpcore.sandboxNeeds()).toEqual({});
  });

  it('lists the modules in link order', () => {
    expect(createModules().map((m) => m.name)).toEqual(['core', 'block', 'net', 'gdb', 'dumpcore']);
  });
});
