import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { HvtError, strerror } from '../errors.js';
import { GuestStruct, HvtHcBlockIo, type StructPointer } from '../guest-abi.js';
import { type GuestIo, ioErrorName, nodeGuestIo, transferAll } from '../guest-io.js';
import { Hypercall, Solo5Result, SSIZE_MAX } from '../hypercalls.js';
import { type ManifestEntry, MftType } from '../manifest.js';
import { Prot } from '../platform.js';
import type { SandboxNeeds } from '../sandbox-policy.js';
import type { Module, OptionContext, SetupContext } from './module.js';

type BlockArg = StructPointer<typeof HvtHcBlockIo>;

import { scanDecimal, scanWord, splitNamed } from './scan.js';

/** PATH_MAX: the most `%4096s` reads of a block path. */
const PATH_MAX = 4096;
export const DEFAULT_SECTOR_SIZE = 512;
/** The largest backing store served: every byte offset in it is an exact number. */
export const MAX_CAPACITY = Number.MAX_SAFE_INTEGER;

/** An attached block device: a backing file opened read-write at option time. */
export interface BlockDevice {
  readonly entry: ManifestEntry;
  readonly path: string;
  readonly fd: number;
  /** Bytes; fixed at option time, as the reference's lseek. */
  readonly capacity: number;
  sectorSize: number;
}

const USAGE =
  '--block:NAME=PATH (attach block device/file at PATH as block storage NAME)\n' +
  '  [ --block-sector-size:NAME=SECTORSIZE ] (set sector size for block device NAME; ' +
  'must be a power of two greater than or equal 512)';

/**
 * The size of what `fd` holds, as lseek(fd, 0, SEEK_END) reports it. Node has
 * no lseek: a regular file has its size in fstat; a block device's size is
 * found by probing with one-byte preads (end of device reads 0 bytes).
 */
export function backingCapacity(fd: number): number {
  const stat = fstatSync(fd);
  if (!stat.isBlockDevice()) return stat.isFile() ? stat.size : 0;
  const probe = new Uint8Array(1);
  const hasByte = (at: number) => readSync(fd, probe, 0, 1, at) === 1;
  if (!hasByte(0)) return 0;
  let low = 1; // known readable: [0, low)
  let high = 2;
  while (high < 2 ** 53 && hasByte(high - 1)) {
    low = high;
    high *= 2;
  }
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (hasByte(mid - 1)) low = mid;
    else high = mid;
  }
  return low;
}

/**
 * The block module (11.2): `--block:NAME=PATH`, `--block-sector-size:NAME=N`,
 * BLOCK_WRITE and BLOCK_READ with positioned I/O straight between the backing
 * file and guest RAM.
 */
export class BlockModule implements Module {
  readonly name = 'block';
  readonly usage = USAGE;
  /** By manifest index (the guest's handle); undefined for other entries. */
  private devices: (BlockDevice | undefined)[] = [];
  /** Attached devices by name, in the order they were given. */
  private readonly attached = new Map<string, BlockDevice>();
  private readonly sectorSizes = new Map<string, number>();
  /** Descriptor I/O into guest RAM, from setup on. */
  private io: GuestIo | undefined;

  handleOption(arg: string, ctx: OptionContext): boolean {
    let which: 'device' | 'sector-size';
    let named: { name: string; rest: string } | undefined;
    if (arg.startsWith('--block:')) {
      which = 'device';
      named = splitNamed(arg, '--block:');
    } else if (arg.startsWith('--block-sector-size:')) {
      which = 'sector-size';
      named = splitNamed(arg, '--block-sector-size:');
    } else {
      return false;
    }
    if (named === undefined) return false;

    let path: string | undefined;
    let sectorSize = 0;
    if (which === 'device') {
      path = scanWord(named.rest, PATH_MAX);
      if (path === undefined) return false;
    } else {
      const value = scanDecimal(named.rest);
      if (value === undefined) return false;
      // The reference stores the value in a u16, so 66048 wraps to 512 there;
      // we refuse anything a u16 cannot hold instead of wrapping it.
      if (value < 512n || value > 0xffffn || (value & (value - 1n)) !== 0n) {
        ctx.warn('Block size must be a multiple of 2 greater than or equal 512');
        return false;
      }
      sectorSize = Number(value);
    }

    const entry = ctx.manifest.entries.find(
      (e) => e.type === MftType.BLOCK_BASIC && e.name === named.name,
    );
    if (entry === undefined) {
      ctx.warn(`Resource not declared in manifest: '${named.name}'`);
      return false;
    }

    if (path === undefined) {
      this.sectorSizes.set(entry.name, sectorSize);
      return true;
    }
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR);
    } catch (error) {
      throw new HvtError(
        `Could not open block device: ${path}: ${strerror((error as NodeJS.ErrnoException).code)}`,
      );
    }
    let capacity: number;
    try {
      capacity = backingCapacity(fd);
    } catch {
      closeSync(fd);
      throw new HvtError(`${path}: Could not determine capacity`);
    }
    // Offsets are numbers from here to the pread/pwrite: exact only below 2^53.
    // A larger disk (8 PiB) would have its offsets rounded, so it is refused.
    if (capacity > MAX_CAPACITY) {
      const exact = fstatSync(fd, { bigint: true }).size;
      closeSync(fd);
      throw new HvtError(
        `${path}: Backing storage of ${exact > 0n ? exact : capacity} bytes is larger than ` +
          `the ${MAX_CAPACITY} bytes this tender can address exactly`,
      );
    }
    // Last one wins, as in the reference (which also leaks the earlier fd).
    const previous = this.attached.get(entry.name);
    if (previous !== undefined) closeSync(previous.fd);
    this.attached.set(entry.name, { entry, path, fd, capacity, sectorSize: DEFAULT_SECTOR_SIZE });
    entry.attached = true;
    entry.block.capacity = capacity;
    return true;
  }

  setup(ctx: SetupContext): void {
    if (this.attached.size === 0) return;
    this.devices = new Array(ctx.manifest.entries.length).fill(undefined);
    for (const entry of ctx.manifest.entries) {
      const device = this.attached.get(entry.name);
      if (device === undefined || device.entry !== entry) continue;
      const sectorSize = this.sectorSizes.get(entry.name) ?? DEFAULT_SECTOR_SIZE;
      if (device.capacity % sectorSize !== 0) {
        throw new HvtError(
          `${entry.name}: Backing storage size must be block aligned (${sectorSize} bytes)`,
        );
      }
      if (device.capacity < sectorSize) {
        throw new HvtError(
          `${entry.name}: Backing storage must be at least 1 block (${sectorSize} bytes) in size`,
        );
      }
      device.sectorSize = sectorSize;
      entry.block.blockSize = sectorSize;
      this.devices[entry.index] = device;
    }
    const { guest } = ctx;
    this.io = guest.io ?? nodeGuestIo(guest.memory);
    const writeArg = new GuestStruct(guest, HvtHcBlockIo, 'block.ts:BLOCK_WRITE');
    const readArg = new GuestStruct(guest, HvtHcBlockIo, 'block.ts:BLOCK_READ');
    // What a native fast path may serve in blockIo's place: the same devices.
    const devices = this.devices.flatMap((d, handle) =>
      d ? [{ handle, fd: d.fd, capacity: d.capacity }] : [],
    );
    ctx.registerHypercall(Hypercall.BLOCK_WRITE, (gpa) => this.blockIo(writeArg.at(gpa), true), {
      kind: 'block-write',
      layout: HvtHcBlockIo,
      devices,
    });
    ctx.registerHypercall(Hypercall.BLOCK_READ, (gpa) => this.blockIo(readArg.at(gpa), false), {
      kind: 'block-read',
      layout: HvtHcBlockIo,
      devices,
    });
  }

  /**
   * BLOCK_WRITE and BLOCK_READ (8.4, 8.5) on the struct `s` points at. Any
   * length and offset inside the device are served: sector rules are the
   * guest bindings' business.
   */
  private blockIo(s: BlockArg, write: boolean): void {
    const f = HvtHcBlockIo.fields;
    // The reference looks the handle up as a 32-bit index: the high half is ignored.
    const handle = s.u32(f.handle);
    const device = handle < this.devices.length ? this.devices[handle] : undefined;
    const offset = s.u64(f.offset);
    const len = s.u64(f.len);
    if (
      device === undefined ||
      len > SSIZE_MAX ||
      offset >= device.capacity ||
      len > device.capacity - offset
    ) {
      s.setI32(f.ret, Solo5Result.EINVAL);
      return;
    }
    // BLOCK_READ fills the buffer, BLOCK_WRITE takes its bytes.
    const data = s.buffer(f.data, f.len, write ? Prot.READ : Prot.WRITE);
    const done = transferAll(this.io!, write, device.fd, data, len, offset);
    if (done < 0) {
      const reason = strerror(ioErrorName(this.io!, done));
      throw new HvtError(`Fatal error when ${write ? 'writing' : 'reading'}: ${reason}`, 1, false);
    }
    if (done !== len) {
      throw new HvtError(
        `Fatal error: ${write ? 'wrote' : 'read'} only ${done} out of ${len} bytes`,
        1,
        false,
      );
    }
    s.setI32(f.ret, Solo5Result.OK);
  }

  /** The attached devices in manifest order (after setup) or in option order (before). */
  attachedDevices(): BlockDevice[] {
    return [...this.attached.values()].sort((a, b) => a.entry.index - b.entry.index);
  }

  sandboxNeeds(): SandboxNeeds {
    return {
      fds: this.attachedDevices().map((d) => ({
        fd: d.fd,
        kind: 'block',
        owner: 'block',
        what: `block '${d.entry.name}': ${d.path}`,
        ops: ['pread', 'pwrite'],
        size: d.capacity,
      })),
    };
  }

  close(): void {
    for (const device of this.attached.values()) {
      try {
        closeSync(device.fd);
      } catch {
        // Already closed: nothing left to release.
      }
    }
    this.attached.clear();
    this.devices = [];
  }
}
