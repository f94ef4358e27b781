import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { guestArch } from '../arch/index.js';
import { HVT_RING_KICK_PIO_BASE } from '../arch/x86_64.js';
import { GuestAccessError, HvtError, strerror } from '../errors.js';
import { GuestStruct, HvtHcNetRead, HvtHcNetWrite, type StructPointer } from '../guest-abi.js';
import { type GuestIo, ioErrorName, nodeGuestIo } from '../guest-io.js';
import { Hypercall, Solo5Result } from '../hypercalls.js';
import { type ManifestEntry, MftType } from '../manifest.js';
import {
  isNetRingKickError,
  type NetRing,
  type NetRingFailure,
  NetRingFailureKind,
  type PollSet,
  Prot,
} from '../platform.js';
import type { FdRule, SandboxNeeds } from '../sandbox-policy.js';
import type { Module, OptionContext, SetupContext, Warn } from './module.js';
import { scanHexByte, scanWord, splitNamed } from './scan.js';

/** The most `%19s` reads of an interface name (the reference's char iface[20]). */
const IFACE_MAX = 19;

/**
 * MTU reported for a descriptor passed as `@NN`: nothing tells us the MTU of
 * an already-open tap without naming its interface, so we assume Ethernet's.
 */
export const ADOPTED_FD_MTU = 1500;

/** An attached network device: a tap opened at option time, or one passed as `@NN`. */
export interface NetAttachment {
  readonly entry: ManifestEntry;
  /** IFACE as given (`tap0`, `@3`). */
  readonly iface: string;
  readonly fd: number;
  readonly mtu: number;
  /** False for a descriptor handed over (`@NN`) that the platform could not make non-blocking. */
  readonly nonBlocking?: boolean;
  /**
   * A descriptor we did not open, on a platform that cannot make it
   * non-blocking, may block: reads check readiness first (with this
   * one-descriptor wait set) so NET_READ never blocks the vCPU.
   */
  readiness?: PollSet;
  /** Frames NET_WRITE dropped because the device took none (EAGAIN). */
  dropped?: number;
}

const USAGE =
  '--net:NAME=IFACE | @NN (attach tap at IFACE or at fd @NN as network NAME)\n' +
  '  [ --net-mac:NAME=HWADDR ] (set HWADDR for network NAME)';

/** x86_64: the port whose 4-byte OUT kicks the ring's host thread (10.2). */
export const RING_KICK_PORT = HVT_RING_KICK_PIO_BASE;
/** The ring's submission operations (10.1). */
const RING_NET_WRITE = 1;

/**
 * The tender's message for a ring thread failure. A bad buffer is an invalid
 * guest access as for the hypercalls (named after the ring operation), device
 * errors use the reference ring thread's words.
 */
export function ringFailureError(failure: NetRingFailure): HvtError {
  switch (failure.kind) {
    case NetRingFailureKind.DATA_RANGE: {
      const op = failure.operation === RING_NET_WRITE ? 'RING_NET_WRITE' : 'RING_NET_READ';
      return new GuestAccessError(failure.gpa, failure.len, `net.ts:${op}`);
    }
    case NetRingFailureKind.WRITE_ERROR:
      return new HvtError(`Fatal write error on net device: ${strerror(failure.code)}`);
    case NetRingFailureKind.SHORT_WRITE:
      return new HvtError(
        `Fatal write error: wrote only ${failure.done} out of ${failure.len} bytes`,
      );
    case NetRingFailureKind.INDICES:
      return new HvtError(
        `net.ts:RING: Invalid guest ring indices: ent_head=${failure.head}, ent_tail=${failure.tail}`,
      );
    case NetRingFailureKind.KICK_READ:
      return new HvtError(`net.ts:RING: cannot read the kick eventfd: ${strerror(failure.code)}`);
    default:
      return new HvtError('net.ts:RING: the ring thread failed');
  }
}

class AttachError extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

/** `xx:xx:xx:xx:xx:xx` as `%hhx:%hhx:...` reads it (trailing text ignored). */
export function parseMac(text: string): Uint8Array | undefined {
  const mac = new Uint8Array(6);
  let at = 0;
  for (let i = 0; i < 6; i++) {
    if (i > 0) {
      if (text[at] !== ':') return undefined;
      at++;
    }
    const byte = scanHexByte(text.slice(at));
    if (byte === undefined) return undefined;
    mac[i] = byte.value;
    at += byte.length;
  }
  return mac;
}

/** A random unicast, locally administered MAC (11.3). */
export function randomMac(): Uint8Array {
  // Six bytes from /dev/urandom, as the reference takes them: loading
  // node:crypto for them would cost every run a quarter of Node's own start-up
  // in the nested VM. Setup runs before the sandbox, so the open is allowed.
  const mac = new Uint8Array(6);
  const fd = openSync('/dev/urandom', 'r');
  try {
    if (readSync(fd, mac, 0, 6, null) !== 6) throw new HvtError('/dev/urandom: short read');
  } finally {
    closeSync(fd);
  }
  mac[0] = (mac[0]! & ~1) | 2;
  return mac;
}

/**
 * The net module (11.3): `--net:NAME=IFACE|@NN`, `--net-mac:NAME=HWADDR`,
 * NET_WRITE and NET_READ, and the tap descriptors POLL waits on.
 *
 * `@NN` works here, unlike in the reference: NN must be an open descriptor
 * (a tap, or any descriptor that keeps frame boundaries), which we use as it
 * is; its MTU is unknown, so 1500 is reported to the guest, with a warning.
 */
export class NetModule implements Module {
  readonly name = 'net';
  readonly usage = USAGE;
  private devices: (NetAttachment | undefined)[] = [];
  private readonly attached = new Map<string, NetAttachment>();
  /** The ring's host thread, when the ring is offered. */
  private ring: NetRing | undefined;
  /** The kick as the sandbox report names it (GuestArch.ringKickText). */
  private kickText = '';
  /** Descriptor I/O into guest RAM, from setup on. */
  private io: GuestIo | undefined;
  /** The tender's warnx, from setup on (handlers exist only after setup). */
  private warn: Warn = () => undefined;

  handleOption(arg: string, ctx: OptionContext): boolean {
    let which: 'net' | 'mac';
    if (arg.startsWith('--net:')) which = 'net';
    else if (arg.startsWith('--net-mac:')) which = 'mac';
    else return false;
    const named = splitNamed(arg, which === 'net' ? '--net:' : '--net-mac:');
    if (named === undefined) return false;

    let iface: string | undefined;
    let mac: Uint8Array | undefined;
    if (which === 'net') {
      iface = scanWord(named.rest, IFACE_MAX);
      if (iface === undefined) return false;
    } else {
      mac = parseMac(named.rest);
      if (mac === undefined) return false;
    }

    const entry = ctx.manifest.entries.find(
      (e) => e.type === MftType.NET_BASIC && e.name === named.name,
    );
    if (entry === undefined) {
      ctx.warn(`Resource not declared in manifest: '${named.name}'`);
      return false;
    }
    if (mac !== undefined) {
      entry.net.mac.set(mac);
      return true;
    }

    let attachment: NetAttachment;
    try {
      attachment = iface!.startsWith('@')
        ? this.adopt(entry, iface!, ctx)
        : { entry, iface: iface!, ...ctx.platform.openNet(iface!) };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      ctx.warn(`Could not attach interface: ${iface}: ${strerror(code)}`);
      return false;
    }
    this.attach(attachment);
    return true;
  }

  /**
   * Attaches an opened device to its manifest entry (last one wins, as in the
   * reference). The option handler's final step; also how an embedder hands
   * over a device it opened itself.
   */
  attach(device: NetAttachment): void {
    const previous = this.attached.get(device.entry.name);
    if (previous !== undefined && previous !== device) release(previous);
    this.attached.set(device.entry.name, device);
    device.entry.attached = true;
    device.entry.net.mtu = device.mtu;
  }

  /** `@NN`: a descriptor the caller opened for us (a tap, usually). */
  private adopt(entry: ManifestEntry, iface: string, ctx: OptionContext): NetAttachment {
    const m = /^@(\d{1,9})$/.exec(iface);
    if (!m) throw new AttachError('EBADF');
    const fd = Number(m[1]);
    let stat: ReturnType<typeof fstatSync>;
    try {
      stat = fstatSync(fd);
    } catch (error) {
      throw new AttachError((error as NodeJS.ErrnoException).code ?? 'EBADF');
    }
    // Regular files, pipes and directories lose frame boundaries or are not devices.
    if (!stat.isCharacterDevice() && !stat.isSocket()) throw new AttachError('EINVAL');
    // As our own taps: a blocking descriptor could hold the vCPU thread in a
    // write, or the ring thread in a read whose frame the vCPU took first,
    // and then HALT would wait for it forever.
    let nonBlocking = false;
    if (ctx.platform.setNonBlocking !== undefined) {
      try {
        ctx.platform.setNonBlocking(fd);
      } catch (error) {
        throw new AttachError((error as NodeJS.ErrnoException).code ?? 'EINVAL');
      }
      nonBlocking = true;
    }
    ctx.warn(`${entry.name}: MTU of ${iface} is unknown, reporting ${ADOPTED_FD_MTU} to the guest`);
    return { entry, iface, fd, mtu: ADOPTED_FD_MTU, nonBlocking };
  }

  setup(ctx: SetupContext): void {
    if (this.attached.size === 0) return;
    this.warn = ctx.warn;
    this.devices = new Array(ctx.manifest.entries.length).fill(undefined);
    for (const entry of ctx.manifest.entries) {
      const device = this.attached.get(entry.name);
      if (device === undefined || device.entry !== entry) continue;
      if (entry.net.mac.every((b) => b === 0)) entry.net.mac.set(randomMac());
      ctx.waitSet.watch(device.fd, entry.index);
      if (device.nonBlocking === false) device.readiness = ctx.platform.createPollSet([device.fd]);
      this.devices[entry.index] = device;
    }
    const { guest } = ctx;
    this.io = guest.io ?? nodeGuestIo(guest.memory);
    const writeArg = new GuestStruct(guest, HvtHcNetWrite, 'net.ts:NET_WRITE');
    const readArg = new GuestStruct(guest, HvtHcNetRead, 'net.ts:NET_READ');
    // What a native fast path may serve in netWrite's and netRead's place:
    // reads only where no readiness check must come first.
    const devices = this.devices.flatMap((d, handle) => (d ? [{ handle, fd: d.fd }] : []));
    const readable = this.devices.flatMap((d, handle) =>
      d && d.readiness === undefined ? [{ handle, fd: d.fd }] : [],
    );
    ctx.registerHypercall(Hypercall.NET_WRITE, (gpa) => this.netWrite(writeArg.at(gpa)), {
      kind: 'net-write',
      layout: HvtHcNetWrite,
      devices,
    });
    ctx.registerHypercall(Hypercall.NET_READ, (gpa) => this.netRead(readArg.at(gpa)), {
      kind: 'net-read',
      layout: HvtHcNetRead,
      devices: readable,
    });
    this.startRing(ctx);
  }

  /**
   * Ring I/O (10): offered when memory has a ring area and the VM can serve
   * it (Vm.netRing), which makes the kick the guest signals without an exit;
   * otherwise the guest uses the hypercalls, which stay registered either
   * way. The thread stops at HALT, and a failure of it ends the run
   * (IO_THREAD exit, or at HALT if the guest got there first).
   */
  private startRing(ctx: SetupContext): void {
    const { platform, vm } = ctx;
    if (ctx.ringGpa === 0 || vm.netRing === undefined) return;
    this.kickText = guestArch(platform.arch).ringKickText;
    const devices = this.devices.flatMap((d, handle) => (d ? [{ handle, fd: d.fd }] : []));
    try {
      this.ring = vm.netRing.start({ ringGpa: ctx.ringGpa, visibleSize: ctx.guest.size, devices });
    } catch (error) {
      if (!isNetRingKickError(error)) throw error;
      ctx.warn(`${error.kickStep} failed, falling back to hypercalls: ${strerror(error.code)}`);
      return;
    }
    ctx.offerRingIo();
    ctx.registerIoThreadCheck(() => this.ringError());
    ctx.registerHaltHook(() => {
      this.ring?.stop();
      const error = this.ringError();
      if (error !== undefined) throw error;
    });
  }

  /** The ring thread's failure as the tender reports it, if it failed. */
  private ringError(): HvtError | undefined {
    const failure = this.ring?.failure();
    return failure === undefined ? undefined : ringFailureError(failure);
  }

  /** The device behind a handle; the reference truncates the u64 handle to 32 bits. */
  private device(handle: number): NetAttachment | undefined {
    return handle < this.devices.length ? this.devices[handle] : undefined;
  }

  /** NET_WRITE (8.6) on the struct `s` points at: one write of the whole frame. */
  private netWrite(s: StructPointer<typeof HvtHcNetWrite>): void {
    const f = HvtHcNetWrite.fields;
    const device = this.device(s.u32(f.handle));
    if (device === undefined) {
      s.setI32(f.ret, Solo5Result.EINVAL);
      return;
    }
    const data = s.buffer(f.data, f.len, Prot.READ);
    const len = s.bufferLen;
    const wrote = this.io!.write(device.fd, data, len);
    if (wrote < 0) {
      const code = ioErrorName(this.io!, wrote);
      // Only a descriptor handed over can say EAGAIN (a tap drops frames
      // itself when its queue is full): drop the frame as a tap would.
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
        this.dropFrame(device);
        s.setI32(f.ret, Solo5Result.OK);
        return;
      }
      throw new HvtError(`Fatal error when writing: ${strerror(code)}`, 1, false);
    }
    if (wrote !== len) {
      throw new HvtError(`Fatal error: wrote only ${wrote} out of ${len} bytes`, 1, false);
    }
    s.setI32(f.ret, Solo5Result.OK);
  }

  /** Counts a frame the device did not take; says so once per device. */
  private dropFrame(device: NetAttachment): void {
    device.dropped = (device.dropped ?? 0) + 1;
    if (device.dropped === 1) {
      this.warn(
        `net '${device.entry.name}': ${device.iface} takes no more frames for now; dropping them as a full tap queue does`,
      );
    }
  }

  /** NET_READ (8.7) on the struct `s` points at: one non-blocking read of a frame. */
  private netRead(s: StructPointer<typeof HvtHcNetRead>): void {
    const f = HvtHcNetRead.fields;
    const device = this.device(s.u32(f.handle));
    if (device === undefined) {
      s.setI32(f.ret, Solo5Result.EINVAL);
      return;
    }
    const data = s.buffer(f.data, f.len, Prot.WRITE);
    if (device.readiness !== undefined && device.readiness.wait(0) === 0) {
      s.setI32(f.ret, Solo5Result.AGAIN);
      return;
    }
    const got = this.io!.read(device.fd, data, s.bufferLen);
    if (got < 0) {
      const code = ioErrorName(this.io!, got);
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
        s.setI32(f.ret, Solo5Result.AGAIN);
        return;
      }
      throw new HvtError(`Fatal error when reading: ${strerror(code)}`, 1, false);
    }
    if (got === 0) {
      s.setI32(f.ret, Solo5Result.AGAIN);
      return;
    }
    s.setU64(f.len, got);
    s.setI32(f.ret, Solo5Result.OK);
  }

  /** The attached devices, in manifest order. */
  attachedDevices(): NetAttachment[] {
    return [...this.attached.values()].sort((a, b) => a.entry.index - b.entry.index);
  }

  /**
   * Taps: read and written by NET_* and by the ring thread, polled by POLL.
   * With the ring: its thread and its kick (read by the thread; written by
   * the tender once, to stop the thread at HALT, and on the BSDs by the run
   * loop at each kick).
   */
  sandboxNeeds(): SandboxNeeds {
    const fds: FdRule[] = this.attachedDevices().map((d) => ({
      fd: d.fd,
      kind: 'tap',
      owner: 'net',
      what: `net '${d.entry.name}': ${d.iface}`,
      ops: ['read', 'write', 'poll'],
    }));
    if (this.ring === undefined) return { fds };
    const kick = `net ring kick (${this.kickText})`;
    for (const k of this.ring.kick) {
      fds.push({
        fd: k.fd,
        kind: k.kind,
        owner: 'net',
        what: k.end === undefined ? kick : `${kick}, ${k.end}`,
        ops: k.ops,
      });
    }
    return { fds, threads: ['net-ring-io'] };
  }

  close(): void {
    // The thread uses the devices until it is joined; stop() closes the kick.
    this.ring?.stop();
    this.ring = undefined;
    for (const device of this.attached.values()) release(device);
    this.attached.clear();
    this.devices = [];
  }
}

function release(device: NetAttachment): void {
  device.readiness?.close();
  // A descriptor passed as @NN is ours to use, not to close.
  if (device.iface.startsWith('@')) return;
  try {
    closeSync(device.fd);
  } catch {
    // Already closed: nothing left to release.
  }
}
