import { readSync, writeSync, writevSync } from 'node:fs';
import { GuestAccessError, HvtError } from './errors.js';
import { type Access, CHUNK_SIZE, type GuestMemory } from './guest-memory.js';
import type { GuestRam, HaltHook, HypercallHandler } from './modules/module.js';
import { Prot } from './platform.js';

/** Hypercall numbers (hvt-abi.md 7.1). */
export const Hypercall = {
  WALLTIME: 1,
  PUTS: 2,
  POLL: 3,
  BLOCK_WRITE: 4,
  BLOCK_READ: 5,
  NET_WRITE: 6,
  NET_READ: 7,
  HALT: 8,
} as const;
/** First invalid number. */
export const HYPERCALL_MAX = 9;

/** x86_64: a hypercall is an OUT to port HVT_PIO_BASE + nr (7.2). */
export const HVT_PIO_BASE = 0x500;

/** solo5_result_t, as the guest reads it (7.4). */
export const Solo5Result = { OK: 0, AGAIN: 1, EINVAL: 2, EUNSPEC: 3 } as const;

/** Bytes that must be valid behind a HALT cookie (8.8). */
export const HALT_COOKIE_MAX = 512;

/** Sizes of the argument structs (section 8). */
export const HypercallStructSize = {
  WALLTIME: 8,
  PUTS: 16,
  POLL: 24,
  BLOCK_IO: 40,
  NET_IO: 32,
  HALT: 16,
} as const;

/** u64 arithmetic limits the handlers check against. */
export const SSIZE_MAX = 2 ** 63 - 1;

/**
 * The guest range check of 7.3, strict at the top as the reference's: a range
 * ending exactly at the guest-visible size is refused. Numbers that stand for
 * u64 values of 2^53 or more are inexact, but then far above any guest size,
 * so the verdict is still exact; `rangeError` re-reads them for the message.
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
export function guestRangeUsable(ram: GuestRam, gpa: number, len: number, access: Access): boolean {
  return guestRangeValid(ram, gpa, len) && ram.memory.permits(gpa, len, access);
}

/**
 * Fails as the reference does when a struct's own range is outside the guest.
 * `access`: Prot.READ for a struct with only inputs, Prot.WRITE for one with
 * only outputs, both (the default) for one with both.
 */
export function checkStruct(
  ram: GuestRam,
  gpa: number,
  size: number,
  where: string,
  access: Access = Prot.READ | Prot.WRITE,
): void {
  if (!guestRangeUsable(ram, gpa, size, access)) throw new GuestAccessError(gpa, size, where);
}

/**
 * The error for a guest pointer and length read from the u64 fields at
 * `gpaField` and `lenField`, with their exact values in the message (a hostile
 * length such as 2^64-1 does not survive the trip through a number).
 */
export function rangeError(
  memory: GuestMemory,
  gpaField: number,
  lenField: number,
  where: string,
): GuestAccessError {
  return new GuestAccessError(memory.readU64Big(gpaField), memory.readU64Big(lenField), where);
}

/**
 * The view and offset holding [gpa, gpa+len) when one view holds all of it,
 * else -1; sets `hostView`. Avoids an object per call on the hot path.
 */
let hostView: Uint8Array = new Uint8Array(0);
function locate(memory: GuestMemory, gpa: number, len: number): number {
  const index = Math.floor(gpa / CHUNK_SIZE);
  const offset = gpa - index * CHUNK_SIZE;
  const view = memory.chunks[index];
  if (view === undefined || offset + len > view.byteLength) return -1;
  hostView = view;
  return offset;
}

const retryWait = new Int32Array(new SharedArrayBuffer(4));

/**
 * write(2) of guest bytes to `fd` at `position` (null: the current position),
 * straight from guest RAM. One call per host view, so a range that crosses a
 * GiB view boundary becomes two calls. `retryAgain`: wait out EAGAIN (a console
 * some other process made non-blocking) instead of failing. Returns bytes written.
 */
export function writeFromGuest(
  fd: number,
  memory: GuestMemory,
  gpa: number,
  len: number,
  position: number | null,
  retryAgain = false,
): number {
  let done = 0;
  while (done < len) {
    const at = gpa + done;
    const offset = locate(memory, at, 0);
    if (offset < 0) break;
    const n = Math.min(len - done, hostView.byteLength - offset);
    let wrote: number;
    try {
      wrote = writeSync(fd, hostView, offset, n, position === null ? null : position + done);
    } catch (error) {
      if (retryAgain && (error as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(retryWait, 0, 0, 1);
        continue;
      }
      throw error;
    }
    done += wrote;
    if (wrote < n && !retryAgain) break;
  }
  return done;
}

/** read(2)/pread(2) into guest RAM, the mirror of writeFromGuest (no EAGAIN retry). */
export function readIntoGuest(
  fd: number,
  memory: GuestMemory,
  gpa: number,
  len: number,
  position: number | null,
): number {
  let done = 0;
  while (done < len) {
    const at = gpa + done;
    const offset = locate(memory, at, 0);
    if (offset < 0) break;
    const n = Math.min(len - done, hostView.byteLength - offset);
    const got = readSync(fd, hostView, offset, n, position === null ? null : position + done);
    done += got;
    if (got < n) break;
  }
  return done;
}

/**
 * One write(2) of a whole frame from guest RAM: a frame must reach a tap in one
 * call, so the rare frame that crosses a GiB view goes as one writev(2) of its
 * two pieces. Nothing is copied: a hostile length costs the host no memory
 * (the device refuses a frame it cannot take, and that error is reported).
 */
export function writeFrameFromGuest(
  fd: number,
  memory: GuestMemory,
  gpa: number,
  len: number,
): number {
  const offset = locate(memory, gpa, len);
  if (offset >= 0) return writeSync(fd, hostView, offset, len);
  const pieces: Uint8Array[] = [];
  memory.forEachPiece(gpa, len, (view, at, n) => pieces.push(view.subarray(at, at + n)));
  return writevSync(fd, pieces);
}

const MAX_BOUNCE = 1 << 20;

/** One read(2) of at most `len` bytes into guest RAM (a frame, from a tap). */
export function readFrameIntoGuest(
  fd: number,
  memory: GuestMemory,
  gpa: number,
  len: number,
): number {
  const offset = locate(memory, gpa, len);
  if (offset >= 0) return readSync(fd, hostView, offset, len, null);
  // No frame is near this big; a hostile length must not make us allocate GiBs.
  const bounce = new Uint8Array(Math.min(len, MAX_BOUNCE));
  const n = readSync(fd, bounce, 0, bounce.byteLength, null);
  memory.write(gpa, bounce.subarray(0, n));
  return n;
}

/**
 * The hypercall table and the HALT path (7.2, 8.8). Handlers are registered
 * by module setups; HALT is the run loop's own.
 */
export class Hypercalls {
  private readonly handlers: (HypercallHandler | undefined)[] = new Array(HYPERCALL_MAX).fill(
    undefined,
  );
  private readonly haltHooks: HaltHook[] = [];

  constructor(private readonly ram: GuestRam) {}

  register(nr: number, handler: HypercallHandler): void {
    if (nr <= 0 || nr >= HYPERCALL_MAX || nr === Hypercall.HALT) {
      throw new Error(`hypercall ${nr} cannot have a handler`);
    }
    if (this.handlers[nr] !== undefined) throw new Error(`hypercall ${nr} registered twice`);
    this.handlers[nr] = handler;
  }

  registerHaltHook(hook: HaltHook): void {
    this.haltHooks.push(hook);
  }

  isRegistered(nr: number): boolean {
    return this.handlers[nr] !== undefined;
  }

  /**
   * Serves the hypercall behind a port I/O exit; true when the guest halted
   * (its status is then in `haltStatus`).
   */
  dispatchPort(port: number, size: number, isOut: boolean, value: number): boolean {
    if (!isOut || size !== 4 || port < HVT_PIO_BASE || port >= HVT_PIO_BASE + HYPERCALL_MAX) {
      throw new HvtError(`Invalid guest port access: port=0x${port.toString(16)}`);
    }
    return this.dispatch(port - HVT_PIO_BASE, value);
  }

  /** Exit status of the last HALT (valid once dispatch returned true). */
  haltStatus = 0;

  /** Runs hypercall `nr` with its argument at `gpa`; true when the guest halted. */
  dispatch(nr: number, gpa: number): boolean {
    if (nr === Hypercall.HALT) {
      this.halt(gpa);
      return true;
    }
    const handler = this.handlers[nr];
    if (handler === undefined) throw new HvtError(`Invalid guest hypercall: num=${nr}`);
    handler(gpa);
    return false;
  }

  private halt(gpa: number): void {
    const { memory } = this.ram;
    checkStruct(this.ram, gpa, HypercallStructSize.HALT, 'hypercalls.ts:HALT', Prot.READ);
    const cookie = memory.readU64(gpa);
    const status = memory.readI32(gpa + 8);
    if (cookie !== 0 && !guestRangeUsable(this.ram, cookie, HALT_COOKIE_MAX, Prot.READ)) {
      throw new GuestAccessError(memory.readU64Big(gpa), HALT_COOKIE_MAX, 'hypercalls.ts:HALT');
    }
    for (const hook of this.haltHooks) hook(status, cookie);
    this.haltStatus = status;
  }
}
