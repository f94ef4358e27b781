import { GuestAccessError, HvtError } from './errors.js';
import { Prot } from './platform.js';

/** Bytes in one view of guest RAM. V8 cannot give one TypedArray the whole 4 GiB. */
export const CHUNK_SIZE = 2 ** 30;

/** What an access needs from the host mapping: Prot.READ, Prot.WRITE or both. */
export type Access = number;

/** A range whose host mapping is not read-write (the loader protected it). */
export interface GuestRange {
  readonly start: number;
  readonly end: number;
  readonly prot: number;
}

/**
 * Guest RAM as seen by the tender: zero-copy views onto the host mapping, one per
 * GiB. All access goes through these bounds-checked methods; nothing outside
 * [0, size) is ever reachable from here. Addresses are numbers (guest RAM is at
 * most 4 GiB, far below 2^53).
 *
 * The loader makes some of the host mapping read-only or inaccessible (the
 * guest's text and rodata). A host access there would kill the tender with
 * SIGSEGV, so those ranges are recorded (`restrict`) and every accessor refuses
 * them as it refuses addresses outside guest RAM.
 */
export class GuestMemory {
  readonly size: number;
  private readonly views: readonly DataView[];

  constructor(readonly chunks: readonly Uint8Array[]) {
    let size = 0;
    for (const [i, c] of chunks.entries()) {
      if (i < chunks.length - 1 && c.byteLength !== CHUNK_SIZE) {
        throw new HvtError(
          `guest memory view ${i} is ${c.byteLength} bytes, expected ${CHUNK_SIZE}`,
        );
      }
      size += c.byteLength;
    }
    this.size = size;
    this.views = chunks.map((c) => new DataView(c.buffer, c.byteOffset, c.byteLength));
  }

  /** Allocates ordinary (non-mapped) guest memory: for tests and tools. */
  static allocate(size: number): GuestMemory {
    const chunks: Uint8Array[] = [];
    for (let off = 0; off < size; off += CHUNK_SIZE) {
      chunks.push(new Uint8Array(Math.min(CHUNK_SIZE, size - off)));
    }
    return new GuestMemory(chunks);
  }

  /** Ranges that are not read-write on the host, in the order they were recorded. */
  private readonly restricted: GuestRange[] = [];
  /**
   * Every address at or above this is read-write: the loader protects only the
   * kernel image, low in memory, so the hot path pays one comparison.
   */
  private restrictedEnd = 0;

  /**
   * Records that the host mapping of [gpa, gpa+len) now has protections `prot`
   * (Prot bits), as the platform's mprotect applied them.
   */
  restrict(gpa: number, len: number, prot: number): void {
    this.assert(gpa, len);
    if ((prot & (Prot.READ | Prot.WRITE)) === (Prot.READ | Prot.WRITE) || len === 0) return;
    this.restricted.push({ start: gpa, end: gpa + len, prot });
    this.restrictedEnd = Math.max(this.restrictedEnd, gpa + len);
  }

  /** The ranges `restrict` recorded, for a native reader of guest RAM (the fast path). */
  restrictions(): readonly GuestRange[] {
    return this.restricted.map((r) => ({ ...r }));
  }

  /**
   * True when the host mapping allows `access` (Prot.READ and/or Prot.WRITE)
   * on all of [gpa, gpa+len). The range itself must already be inside guest RAM.
   */
  permits(gpa: number, len: number, access: Access): boolean {
    if (gpa >= this.restrictedEnd || len === 0) return true;
    const end = gpa + len;
    for (const r of this.restricted) {
      if (gpa < r.end && end > r.start && (r.prot & access) !== access) return false;
    }
    return true;
  }

  /**
   * The host protection of the byte at `gpa` as restrict() recorded it
   * (Prot.READ | Prot.WRITE where nothing was): what to put back after
   * lifting it for a moment (the gdb module's breakpoints).
   */
  protectionAt(gpa: number): number {
    let prot: number = Prot.READ | Prot.WRITE;
    for (const r of this.restricted) if (gpa >= r.start && gpa < r.end) prot = r.prot;
    return prot;
  }

  /** True when [gpa, gpa+len) lies inside guest memory (inclusive end). */
  contains(gpa: number, len: number): boolean {
    return (
      Number.isInteger(gpa) &&
      Number.isInteger(len) &&
      gpa >= 0 &&
      len >= 0 &&
      gpa + len <= this.size
    );
  }

  private assert(gpa: number, len: number, access: Access = 0): void {
    if (!this.contains(gpa, len) || !this.permits(gpa, len, access)) {
      throw new GuestAccessError(gpa, len, 'guest-memory');
    }
  }

  /**
   * Calls `fn` once per contiguous host piece of [gpa, gpa+len): normally once,
   * twice when the range crosses a GiB boundary. This is how I/O goes straight
   * between a file descriptor and guest RAM without copying.
   */
  forEachPiece(
    gpa: number,
    len: number,
    fn: (view: Uint8Array, offset: number, length: number) => void,
    access: Access = 0,
  ): void {
    this.assert(gpa, len, access);
    let at = gpa;
    let left = len;
    while (left > 0) {
      const index = Math.floor(at / CHUNK_SIZE);
      const offset = at - index * CHUNK_SIZE;
      const view = this.chunks[index]!;
      const n = Math.min(left, view.byteLength - offset);
      fn(view, offset, n);
      at += n;
      left -= n;
    }
  }

  /** The single view and offset holding [gpa, gpa+len), or undefined if it crosses a view. */
  piece(
    gpa: number,
    len: number,
    access: Access = 0,
  ): { view: Uint8Array; offset: number } | undefined {
    this.assert(gpa, len, access);
    const index = Math.floor(gpa / CHUNK_SIZE);
    const offset = gpa - index * CHUNK_SIZE;
    const view = this.chunks[index]!;
    return offset + len <= view.byteLength ? { view, offset } : undefined;
  }

  /** Offset within the view `locate` returned last; a field, so no object per access. */
  private at = 0;
  /**
   * A field that straddles two GiB views (a guest may put a struct anywhere)
   * is read and written through these 8 bytes: `locate` copies it in, and a
   * write is copied back out by `flush`.
   */
  private readonly scratch = new Uint8Array(8);
  private readonly scratchView = new DataView(this.scratch.buffer);

  /** The view holding [gpa, gpa+len) (len at most 8), its offset left in `at`. */
  private locate(gpa: number, len: number, access: Access): DataView {
    this.assert(gpa, len, access);
    const index = gpa < CHUNK_SIZE ? 0 : Math.floor(gpa / CHUNK_SIZE);
    const dv = this.views[index]!;
    const off = gpa - index * CHUNK_SIZE;
    if (off + len > dv.byteLength) return this.straddling(gpa, len);
    this.at = off;
    return dv;
  }

  /** The rare field across a view boundary: its bytes in the scratch view, at 0. */
  private straddling(gpa: number, len: number): DataView {
    let to = 0;
    this.forEachPiece(gpa, len, (view, offset, n) => {
      this.scratch.set(view.subarray(offset, offset + n), to);
      to += n;
    });
    this.at = 0;
    return this.scratchView;
  }

  /** After a write through `dv`: copies a straddling field back to guest memory. */
  private flush(dv: DataView, gpa: number, len: number): void {
    if (dv === this.scratchView) this.write(gpa, this.scratch.subarray(0, len));
  }

  readU8(gpa: number): number {
    return this.locate(gpa, 1, Prot.READ).getUint8(this.at);
  }
  readU16(gpa: number): number {
    return this.locate(gpa, 2, Prot.READ).getUint16(this.at, true);
  }
  readU32(gpa: number): number {
    return this.locate(gpa, 4, Prot.READ).getUint32(this.at, true);
  }
  readI32(gpa: number): number {
    return this.locate(gpa, 4, Prot.READ).getInt32(this.at, true);
  }
  /**
   * A u64 as a number: exact below 2^53, and a value of at least 2^53 otherwise,
   * which is all range checks against sizes below 2^53 need.
   */
  readU64(gpa: number): number {
    const dv = this.locate(gpa, 8, Prot.READ);
    return dv.getUint32(this.at + 4, true) * 2 ** 32 + dv.getUint32(this.at, true);
  }
  readU64Big(gpa: number): bigint {
    return this.locate(gpa, 8, Prot.READ).getBigUint64(this.at, true);
  }
  writeU8(gpa: number, v: number): void {
    this.locate(gpa, 1, Prot.WRITE).setUint8(this.at, v);
  }
  writeU16(gpa: number, v: number): void {
    const dv = this.locate(gpa, 2, Prot.WRITE);
    dv.setUint16(this.at, v, true);
    this.flush(dv, gpa, 2);
  }
  writeU32(gpa: number, v: number): void {
    const dv = this.locate(gpa, 4, Prot.WRITE);
    dv.setUint32(this.at, v >>> 0, true);
    this.flush(dv, gpa, 4);
  }
  writeI32(gpa: number, v: number): void {
    const dv = this.locate(gpa, 4, Prot.WRITE);
    dv.setInt32(this.at, v, true);
    this.flush(dv, gpa, 4);
  }
  /** Writes a non-negative integer below 2^53 as a u64. */
  writeU64(gpa: number, v: number): void {
    const dv = this.locate(gpa, 8, Prot.WRITE);
    dv.setUint32(this.at, v % 2 ** 32, true);
    dv.setUint32(this.at + 4, Math.floor(v / 2 ** 32), true);
    this.flush(dv, gpa, 8);
  }
  writeU64Big(gpa: number, v: bigint): void {
    const dv = this.locate(gpa, 8, Prot.WRITE);
    dv.setBigUint64(this.at, v, true);
    this.flush(dv, gpa, 8);
  }

  /** Copies host bytes into guest memory. */
  write(gpa: number, src: Uint8Array): void {
    let from = 0;
    this.forEachPiece(
      gpa,
      src.byteLength,
      (view, offset, n) => {
        view.set(src.subarray(from, from + n), offset);
        from += n;
      },
      Prot.WRITE,
    );
  }
  /** Copies guest bytes out into a new host buffer (never on a hot path). */
  read(gpa: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    let to = 0;
    this.forEachPiece(
      gpa,
      len,
      (view, offset, n) => {
        out.set(view.subarray(offset, offset + n), to);
        to += n;
      },
      Prot.READ,
    );
    return out;
  }
  fill(gpa: number, len: number, value = 0): void {
    this.forEachPiece(
      gpa,
      len,
      (view, offset, n) => view.fill(value, offset, offset + n),
      Prot.WRITE,
    );
  }
}
