import { ManifestError } from './errors.js';

/**
 * The Solo5 application manifest (docs/guest-abi.md 4.4, 4.5): the devices a unikernel
 * declares, which the tender attaches and then hands to the guest as a binary
 * copy in low memory. The layout is the C `struct mft` of Solo5's mft_abi.h, so
 * offsets here are ABI, not choices.
 */

export const MFT_VERSION = 1;
export const MFT_MAX_ENTRIES = 64;
/** Bytes of a name including its NUL: at most 67 characters. */
export const MFT_NAME_SIZE = 68;
export const MFT_HEADER_SIZE = 8;
export const MFT_ENTRY_SIZE = 104;

/** Offsets within `struct mft`'s header, before the entries. */
export const MftHeaderOffset = {
  VERSION: 0,
  ENTRIES: 4,
} as const;

/** Offsets within one `struct mft_entry`. */
export const MftEntryOffset = {
  NAME: 0,
  TYPE: 68,
  /** union u: device properties the tender fills in. */
  BLOCK_CAPACITY: 72,
  BLOCK_SIZE: 80,
  NET_MAC: 72,
  NET_MTU: 78,
  /** union b: the tender's private backing (the reference keeps the host fd here). */
  PRIVATE: 88,
  PRIVATE_SIZE: 8,
  ATTACHED: 96,
} as const;

export const MftType = {
  BLOCK_BASIC: 1,
  NET_BASIC: 2,
  /** First of the types that are not devices; entry 0 always has it. */
  RESERVED_FIRST: 0x40000000,
} as const;

/** A type's name as the reference prints it (section 11.6). */
export function mftTypeName(type: number): string {
  switch (type) {
    case MftType.BLOCK_BASIC:
      return 'BLOCK_BASIC';
    case MftType.NET_BASIC:
      return 'NET_BASIC';
    case MftType.RESERVED_FIRST:
      return 'RESERVED_FIRST';
    default:
      return '<undefined type>';
  }
}

export interface BlockBasic {
  /** Size of the backing store in bytes. */
  capacity: number;
  blockSize: number;
}

export interface NetBasic {
  mac: Uint8Array;
  mtu: number;
}

/** JSON form, as `solo5-elftool query-manifest` prints it. */
export interface ManifestJson {
  type: 'solo5.manifest';
  version: number;
  devices: { name: string; type: string }[];
}

const utf8 = new TextDecoder('utf-8');

export class ManifestEntry {
  /** The device handle the guest uses in hypercalls. */
  readonly index: number;
  /** The name up to its NUL; names are alphanumeric by convention only. */
  readonly name: string;
  /** The 68 raw name bytes, so a lookup can compare bytes as strcmp does. */
  readonly nameBytes: Uint8Array;
  readonly type: number;
  attached = false;
  readonly block: BlockBasic;
  readonly net: NetBasic;

  constructor(index: number, bytes: Uint8Array) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.index = index;
    this.nameBytes = new Uint8Array(
      bytes.subarray(MftEntryOffset.NAME, MftEntryOffset.NAME + MFT_NAME_SIZE),
    );
    const nul = this.nameBytes.indexOf(0);
    this.name = utf8.decode(this.nameBytes.subarray(0, nul < 0 ? MFT_NAME_SIZE : nul));
    this.type = dv.getUint32(MftEntryOffset.TYPE, true);
    // Both views of union u are read, as C would see them; only the one that
    // matches the type is written back (see Manifest.encode).
    this.block = {
      capacity: Number(dv.getBigUint64(MftEntryOffset.BLOCK_CAPACITY, true)),
      blockSize: dv.getUint16(MftEntryOffset.BLOCK_SIZE, true),
    };
    this.net = {
      mac: new Uint8Array(bytes.subarray(MftEntryOffset.NET_MAC, MftEntryOffset.NET_MAC + 6)),
      mtu: dv.getUint16(MftEntryOffset.NET_MTU, true),
    };
  }

  typeName(): string {
    return mftTypeName(this.type);
  }

  /** True for entries that declare a device (type below RESERVED_FIRST). */
  isDevice(): boolean {
    return this.type < MftType.RESERVED_FIRST;
  }
}

export class Manifest {
  readonly version: number;
  readonly entries: readonly ManifestEntry[];
  /** The descriptor as found in the ELF; encode() starts from it. */
  private readonly original: Uint8Array;

  /** Use parseManifest(): it validates first. */
  constructor(descriptor: Uint8Array) {
    // Copies (a Buffer's slice() would be a view of the caller's bytes).
    this.original = new Uint8Array(descriptor);
    const dv = new DataView(
      this.original.buffer,
      this.original.byteOffset,
      this.original.byteLength,
    );
    this.version = dv.getUint32(MftHeaderOffset.VERSION, true);
    const count = dv.getUint32(MftHeaderOffset.ENTRIES, true);
    const entries: ManifestEntry[] = [];
    for (let i = 0; i < count; i++) {
      const at = MFT_HEADER_SIZE + i * MFT_ENTRY_SIZE;
      entries.push(new ManifestEntry(i, this.original.subarray(at, at + MFT_ENTRY_SIZE)));
    }
    this.entries = entries;
  }

  /** Size of the binary manifest (and of its copy in guest memory). */
  get byteLength(): number {
    return this.original.byteLength;
  }

  /** The declared devices: every entry but the reserved entry 0. */
  devices(): ManifestEntry[] {
    return this.entries.slice(1);
  }

  /** The entry called `name` (compared up to the NUL, as strcmp does), if any. */
  findByName(name: string): ManifestEntry | undefined {
    return this.entries.find((e) => e.name === name);
  }

  /**
   * The binary copy handed to the guest (4.6), byte for byte what the reference
   * writes: the descriptor as read from the ELF, with each entry's `attached`
   * flag and the properties of its type updated. One deliberate difference: the
   * reference also leaves the host fd of each attached device in the private
   * union `b`, leaking host descriptor numbers to the guest; we write 0 there.
   * Guests never read `b`.
   */
  encode(): Uint8Array {
    const out = new Uint8Array(this.original);
    const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
    for (const entry of this.entries) {
      const at = MFT_HEADER_SIZE + entry.index * MFT_ENTRY_SIZE;
      if (entry.type === MftType.BLOCK_BASIC) {
        dv.setBigUint64(
          at + MftEntryOffset.BLOCK_CAPACITY,
          BigInt.asUintN(64, BigInt(Math.trunc(entry.block.capacity))),
          true,
        );
        dv.setUint16(at + MftEntryOffset.BLOCK_SIZE, entry.block.blockSize, true);
      } else if (entry.type === MftType.NET_BASIC) {
        out.set(entry.net.mac.subarray(0, 6), at + MftEntryOffset.NET_MAC);
        dv.setUint16(at + MftEntryOffset.NET_MTU, entry.net.mtu, true);
      }
      out.fill(
        0,
        at + MftEntryOffset.PRIVATE,
        at + MftEntryOffset.PRIVATE + MftEntryOffset.PRIVATE_SIZE,
      );
      out[at + MftEntryOffset.ATTACHED] = entry.attached ? 1 : 0;
    }
    return out;
  }

  toJSON(): ManifestJson {
    return {
      type: 'solo5.manifest',
      version: this.version,
      devices: this.devices().map((e) => ({ name: e.name, type: e.typeName() })),
    };
  }
}

/**
 * Why `descriptor` is not a valid manifest (the rules of mft_validate, 4.5, in
 * its order), or undefined when it is.
 */
export function manifestProblem(descriptor: Uint8Array): string | undefined {
  const size = descriptor.byteLength;
  if (size < MFT_HEADER_SIZE) return `size ${size} < ${MFT_HEADER_SIZE}`;
  const dv = new DataView(descriptor.buffer, descriptor.byteOffset, size);
  const version = dv.getUint32(MftHeaderOffset.VERSION, true);
  if (version !== MFT_VERSION) return `version ${version} != ${MFT_VERSION}`;
  const entries = dv.getUint32(MftHeaderOffset.ENTRIES, true);
  if (entries > MFT_MAX_ENTRIES) return `entries ${entries} > ${MFT_MAX_ENTRIES}`;
  const expected = MFT_HEADER_SIZE + entries * MFT_ENTRY_SIZE;
  if (size !== expected) return `size ${size} != ${expected} for ${entries} entries`;
  if (entries < 1) return 'no entries';
  if (dv.getUint32(MFT_HEADER_SIZE + MftEntryOffset.TYPE, true) !== MftType.RESERVED_FIRST) {
    return 'entry 0 is not of type RESERVED_FIRST';
  }
  if (descriptor[MFT_HEADER_SIZE + MftEntryOffset.NAME] !== 0) return 'entry 0 has a name';
  for (let i = 0; i < entries; i++) {
    const at = MFT_HEADER_SIZE + i * MFT_ENTRY_SIZE;
    if (descriptor[at + MFT_NAME_SIZE - 1] !== 0) return `entry ${i} name is not terminated`;
    if (descriptor[at + MftEntryOffset.ATTACHED] !== 0) return `entry ${i} is already attached`;
  }
  return undefined;
}

/** Validates an MFT1 descriptor and models it; `file` is for the message. */
export function parseManifest(descriptor: Uint8Array, file: string): Manifest {
  const problem = manifestProblem(descriptor);
  if (problem !== undefined) throw new ManifestError(file, 'Solo5 manifest is invalid', problem);
  return new Manifest(descriptor);
}
