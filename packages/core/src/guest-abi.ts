import { GuestAccessError } from './errors.js';
import type { GuestIo } from './guest-io.js';
import type { GuestMemory } from './guest-memory.js';
import { Prot } from './platform.js';

/**
 * The guest ABI's structs, declared once as data (docs/guest-abi.md 8, 9, 10):
 * each field's offset, size and what the tender does with it. Handlers read and
 * write guest structs only through `GuestStruct`, a checked pointer (the
 * reference's HVT_CHECKED_GPA_P): one range check per struct, from the
 * declaration, then allocation-free field access. No field offset is written
 * anywhere else; the gcc layout test compares every declaration here with the
 * C header our guests are built with.
 */

/** What the tender does with a field: reads it (IN), writes it (OUT), or both. */
export const IN = Prot.READ;
export const OUT = Prot.WRITE;
export const INOUT = Prot.READ | Prot.WRITE;

/** One field of struct `S`; the type parameter keeps fields of one struct off another. */
export interface Field<S extends string = string> {
  readonly struct: S;
  readonly name: string;
  readonly offset: number;
  /** Bytes of one element. */
  readonly size: number;
  /** Elements, for an array field (the ring's entries); 1 otherwise. */
  readonly count: number;
  readonly dir: number;
}

/** A struct: its C name, its size and its fields by name. */
export interface StructLayout<S extends string, F extends string> {
  readonly name: S;
  readonly size: number;
  readonly fields: { readonly [K in F]: Field<S> };
  /** What the tender does with the struct as a whole: the union of its fields' `dir`. */
  readonly access: number;
}

function struct<S extends string, F extends string>(
  name: S,
  size: number,
  fields: {
    readonly [K in F]: readonly [offset: number, size: number, dir: number, count?: number];
  },
): StructLayout<S, F> {
  const out = {} as { [K in F]: Field<S> };
  let access = 0;
  for (const key of Object.keys(fields) as F[]) {
    const [offset, fieldSize, dir, count = 1] = fields[key];
    if (offset + fieldSize * count > size)
      throw new Error(`${name}.${key} lies outside the struct`);
    out[key] = { struct: name, name: key, offset, size: fieldSize, count, dir };
    access |= dir;
  }
  return { name, size, fields: out, access };
}

/** Fields of `size` bytes each, one after another from offset 0, all used for `dir`. */
function consecutive<const F extends string>(
  names: readonly F[],
  size: number,
  dir: number,
): { readonly [K in F]: readonly [offset: number, size: number, dir: number] } {
  const fields = {} as { [K in F]: readonly [number, number, number] };
  for (const [i, name] of names.entries()) fields[name] = [i * size, size, dir];
  return fields;
}

// --- hypercall argument structs (8.1-8.8) ---

export const HvtHcWalltime = struct('hvt_hc_walltime', 8, { nsecs: [0, 8, OUT] });

export const HvtHcPuts = struct('hvt_hc_puts', 16, { data: [0, 8, IN], len: [8, 8, IN] });

export const HvtHcPoll = struct('hvt_hc_poll', 24, {
  timeout_nsecs: [0, 8, IN],
  ready_set: [8, 8, OUT],
  ret: [16, 4, OUT],
});

/** BLOCK_WRITE and BLOCK_READ share this layout (struct hvt_hc_block_write / _read). */
export const HvtHcBlockIo = struct('hvt_hc_block_io', 40, {
  handle: [0, 8, IN],
  offset: [8, 8, IN],
  data: [16, 8, IN],
  len: [24, 8, IN],
  ret: [32, 4, OUT],
});

export const HvtHcNetWrite = struct('hvt_hc_net_write', 32, {
  handle: [0, 8, IN],
  data: [8, 8, IN],
  len: [16, 8, IN],
  ret: [24, 4, OUT],
});

export const HvtHcNetRead = struct('hvt_hc_net_read', 32, {
  handle: [0, 8, IN],
  data: [8, 8, IN],
  len: [16, 8, INOUT],
  ret: [24, 4, OUT],
});

export const HvtHcHalt = struct('hvt_hc_halt', 16, { cookie: [0, 8, IN], exit_status: [8, 4, IN] });

/**
 * The x86_64 trap frame the bindings pass as the HALT cookie when they die of
 * a trap (8.8), Solo5's `struct trap_regs`: dumpcore records its registers.
 */
export const TrapRegs = struct(
  'trap_regs',
  56,
  consecutive(['cr2', 'ec', 'rip', 'cs', 'rflags', 'rsp', 'ss'], 8, IN),
);

/**
 * The aarch64 counterpart our test runtime passes (Solo5 defines none): the
 * fault address and syndrome, the faulting pc (ELR), SPSR and sp.
 */
export const TrapRegsAarch64 = struct(
  'trap_regs_aarch64',
  40,
  consecutive(['far', 'esr', 'elr', 'spsr', 'sp'], 8, IN),
);

// --- boot info (9) ---

export const HvtBootInfo = struct('hvt_boot_info', 56, {
  mem_size: [0, 8, OUT],
  kernel_end: [8, 8, OUT],
  cpu_cycle_freq: [16, 8, OUT],
  cmdline: [24, 8, OUT],
  mft: [32, 8, OUT],
  host_features: [40, 4, OUT],
  guest_features: [44, 4, OUT],
  net_ring: [48, 8, OUT],
});

// --- the network ring (10.1); served by the platform's native I/O thread ---

export const HvtRingEntry = struct('hvt_ring_entry', 32, {
  operation: [0, 4, IN],
  handle: [4, 4, IN],
  data: [8, 8, IN],
  len: [16, 4, IN],
  id: [20, 4, IN],
  reserved: [24, 8, IN],
});

export const HvtRingCommit = struct('hvt_ring_commit', 16, {
  id: [0, 4, OUT],
  ret: [4, 4, OUT],
  len: [8, 4, OUT],
  reserved: [12, 4, OUT],
});

/** Entries in each of the ring's two arrays. */
export const HVT_RING_ENTRIES = 1024;

/** struct hvt_ring: the guest's indices in cache line 0, the host's in line 1, then the arrays. */
export const HvtRing = struct(
  'hvt_ring',
  128 + HVT_RING_ENTRIES * (HvtRingEntry.size + HvtRingCommit.size),
  {
    ent_tail: [0, 4, IN],
    com_head: [4, 4, IN],
    ent_head: [64, 4, OUT],
    com_tail: [68, 4, OUT],
    needs_kick: [72, 4, INOUT],
    entries: [128, HvtRingEntry.size, IN, HVT_RING_ENTRIES],
    commits: [
      128 + HVT_RING_ENTRIES * HvtRingEntry.size,
      HvtRingCommit.size,
      OUT,
      HVT_RING_ENTRIES,
    ],
  },
);

/** Every struct above, for layout tests and generated headers. */
export const GUEST_STRUCTS = [
  HvtHcWalltime,
  HvtHcPuts,
  HvtHcPoll,
  HvtHcBlockIo,
  HvtHcNetWrite,
  HvtHcNetRead,
  HvtHcHalt,
  TrapRegs,
  TrapRegsAarch64,
  HvtBootInfo,
  HvtRingEntry,
  HvtRingCommit,
  HvtRing,
] as const;

/** The guest RAM a hypercall may touch: `size` is the guest-visible size (7.3). */
export interface GuestRam {
  readonly memory: GuestMemory;
  readonly size: number;
  /** Descriptor I/O into this RAM (the platform's `Vm.io`); Node's fs when absent. */
  readonly io?: GuestIo;
}

/**
 * 7.3: a range is valid when it starts and ends below the guest-visible size,
 * strictly at the top as the reference's check. Numbers that stand for u64
 * values of 2^53 or more are inexact, but then far above any guest size, so
 * the verdict is still exact.
 */
export function guestRangeValid(ram: GuestRam, gpa: number, len: number): boolean {
  return gpa < ram.size && gpa + len < ram.size;
}

/**
 * 7.3, and what the host mapping allows: `access` is what the tender will do
 * to the range (Prot.READ to take a buffer's bytes, Prot.WRITE to fill it). A
 * range in the guest's own read-only (or, for reads, no-access) pages is as
 * invalid as one outside its memory: the reference dies there by SIGSEGV, we
 * end with the same message as for any other invalid guest access.
 */
export function guestRangeUsable(ram: GuestRam, gpa: number, len: number, access: number): boolean {
  return guestRangeValid(ram, gpa, len) && ram.memory.permits(gpa, len, access);
}

/** The checked pointer type for a layout: `StructPointer<typeof HvtHcPuts>`. */
export type StructPointer<L> = L extends StructLayout<infer S, infer F> ? GuestStruct<S, F> : never;

/**
 * A checked pointer to a struct `S` in guest RAM. `at(gpa)` validates the
 * whole struct once, for what its fields are used for, and fails with the
 * reference's message; the accessors then read and write its fields. One
 * instance per handler, reused for every exit: nothing is allocated.
 */
export class GuestStruct<S extends string, F extends string> {
  private base = 0;
  /** The length of the last buffer `buffer()` validated. */
  bufferLen = 0;

  constructor(
    private readonly ram: GuestRam,
    readonly layout: StructLayout<S, F>,
    /** Names the handler in messages: `<where>: Invalid guest access: ...`. */
    readonly where: string,
  ) {}

  /** Points at the struct at `gpa`, or throws the reference's invalid guest access. */
  at(gpa: number): this {
    const { size, access } = this.layout;
    if (!guestRangeUsable(this.ram, gpa, size, access)) {
      throw new GuestAccessError(gpa, size, this.where);
    }
    this.base = gpa;
    return this;
  }

  u32(f: Field<S>): number {
    return this.ram.memory.readU32(this.base + f.offset);
  }
  i32(f: Field<S>): number {
    return this.ram.memory.readI32(this.base + f.offset);
  }
  /** A u64 as a number: exact below 2^53, at least 2^53 otherwise (see GuestMemory.readU64). */
  u64(f: Field<S>): number {
    return this.ram.memory.readU64(this.base + f.offset);
  }
  u64Big(f: Field<S>): bigint {
    return this.ram.memory.readU64Big(this.base + f.offset);
  }
  setU32(f: Field<S>, v: number): void {
    this.ram.memory.writeU32(this.base + f.offset, v);
  }
  setI32(f: Field<S>, v: number): void {
    this.ram.memory.writeI32(this.base + f.offset, v);
  }
  setU64(f: Field<S>, v: number): void {
    this.ram.memory.writeU64(this.base + f.offset, v);
  }
  setU64Big(f: Field<S>, v: bigint): void {
    this.ram.memory.writeU64Big(this.base + f.offset, v);
  }
  /** A u64 from its two u32 halves: for bit sets, which a number cannot hold exactly. */
  setU64Halves(f: Field<S>, low: number, high: number): void {
    this.ram.memory.writeU32(this.base + f.offset, low);
    this.ram.memory.writeU32(this.base + f.offset + 4, high);
  }

  /**
   * The guest buffer of the fixed length `len` at the pointer field `ptr`
   * (the HALT cookie), for `access`; returns its GPA or throws as `buffer`.
   */
  bufferOf(ptr: Field<S>, len: number, access: number): number {
    const gpa = this.u64(ptr);
    if (!guestRangeUsable(this.ram, gpa, len, access)) {
      throw new GuestAccessError(this.u64Big(ptr), len, this.where);
    }
    return gpa;
  }

  /**
   * The guest buffer named by the pointer field `ptr` and the length field
   * `len`, for `access` (what the tender does to its bytes): returns its GPA
   * and leaves its length in `bufferLen`, or throws the reference's invalid
   * guest access with both fields' exact u64 values.
   */
  buffer(ptr: Field<S>, len: Field<S>, access: number): number {
    const gpa = this.u64(ptr);
    const n = this.u64(len);
    if (!guestRangeUsable(this.ram, gpa, n, access)) {
      throw new GuestAccessError(this.u64Big(ptr), this.u64Big(len), this.where);
    }
    this.bufferLen = n;
    return gpa;
  }
}
