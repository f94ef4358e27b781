import { readSync, writeSync, writevSync } from 'node:fs';
import { CHUNK_SIZE, type GuestMemory } from './guest-memory.js';

/**
 * I/O straight between a host descriptor and guest RAM, for the hypercall
 * handlers: no copy, one system call per host view a range touches. Callers
 * have validated the range (GuestStruct.buffer).
 */

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
