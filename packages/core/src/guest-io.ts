import { readSync, writeSync, writevSync } from 'node:fs';
import { getSystemErrorName } from 'node:util';
import { CHUNK_SIZE, type GuestMemory } from './guest-memory.js';

/**
 * I/O between a host descriptor and guest RAM, for the hypercall handlers:
 * straight to and from the guest's pages, no copy, nothing allocated.
 */

/**
 * One system call between descriptor `fd` and guest-physical [gpa, gpa+len),
 * a range the caller has validated against the guest ABI. Each returns the
 * bytes transferred, or minus the host's errno (EINTR is retried). A platform
 * offers this natively (`Vm.io`); `nodeGuestIo` is the portable fallback.
 */
export interface GuestIo {
  pread(fd: number, gpa: number, len: number, position: number): number;
  pwrite(fd: number, gpa: number, len: number, position: number): number;
  read(fd: number, gpa: number, len: number): number;
  write(fd: number, gpa: number, len: number): number;
  /** The name ("EAGAIN") of a host errno number that these returned negated. */
  errnoName(errno: number): string;
}

/** The errno name of a failed GuestIo call's negative result. */
export function ioErrorName(io: GuestIo, result: number): string {
  return io.errnoName(-result);
}

/** Bytes a frame read may bounce through when it straddles two views (no frame is near this). */
const MAX_BOUNCE = 1 << 20;

/**
 * GuestIo through Node's fs on the GiB views of `memory`: one system call per
 * view a range touches (a range straddling a view boundary is rare), a frame
 * written as one writev(2) of its pieces. Node's errors become -errno.
 */
export function nodeGuestIo(memory: GuestMemory): GuestIo {
  const views = memory.chunks;
  /** The view holding `gpa` and the offset in it, in `view` and the result. */
  let view: Uint8Array = new Uint8Array(0);
  const locate = (gpa: number): number => {
    const index = Math.floor(gpa / CHUNK_SIZE);
    view = views[index] ?? new Uint8Array(0);
    return gpa - index * CHUNK_SIZE;
  };
  const failed = (error: unknown): number => {
    const errno = (error as NodeJS.ErrnoException).errno;
    return typeof errno === 'number' && errno < 0 ? errno : -22;
  };
  /** pread/pwrite piece by piece; stops at the first short or failed call. */
  const positioned = (write: boolean, fd: number, gpa: number, len: number, position: number) => {
    let done = 0;
    while (done < len) {
      const offset = locate(gpa + done);
      const n = Math.min(len - done, view.byteLength - offset);
      if (n <= 0) return done > 0 ? done : -14;
      let got: number;
      try {
        got = write
          ? writeSync(fd, view, offset, n, position + done)
          : readSync(fd, view, offset, n, position + done);
      } catch (error) {
        return done > 0 ? done : failed(error);
      }
      done += got;
      if (got < n) break;
    }
    return done;
  };
  return {
    pread: (fd, gpa, len, position) => positioned(false, fd, gpa, len, position),
    pwrite: (fd, gpa, len, position) => positioned(true, fd, gpa, len, position),
    read(fd, gpa, len) {
      const offset = locate(gpa);
      try {
        if (offset + len <= view.byteLength) return readSync(fd, view, offset, len, null);
        // A frame read that straddles two views: through a bounded bounce buffer.
        const bounce = new Uint8Array(Math.min(len, MAX_BOUNCE));
        const n = readSync(fd, bounce, 0, bounce.byteLength, null);
        memory.write(gpa, bounce.subarray(0, n));
        return n;
      } catch (error) {
        return failed(error);
      }
    },
    write(fd, gpa, len) {
      const offset = locate(gpa);
      try {
        if (offset + len <= view.byteLength) return writeSync(fd, view, offset, len, null);
        // One frame must be one write: the pieces go as one writev(2), uncopied.
        const pieces: Uint8Array[] = [];
        memory.forEachPiece(gpa, len, (v, at, n) => pieces.push(v.subarray(at, at + n)));
        return writevSync(fd, pieces);
      } catch (error) {
        return failed(error);
      }
    },
    errnoName: (errno) => getSystemErrorName(-errno),
  };
}

/** Made when first needed: a V8 startup snapshot is built without SharedArrayBuffer. */
let retryWait: Int32Array | undefined;

/**
 * Writes all of [gpa, gpa+len) to `fd` at its current position, waiting out
 * EAGAIN (a console some other process made non-blocking): the console's
 * PUTS path. Returns the bytes written, or the first failure's negative errno.
 */
export function writeAllWaiting(io: GuestIo, fd: number, gpa: number, len: number): number {
  let done = 0;
  while (done < len) {
    const n = io.write(fd, gpa + done, len - done);
    if (n < 0) {
      if (io.errnoName(-n) !== 'EAGAIN') return n;
      retryWait ??= new Int32Array(new SharedArrayBuffer(4));
      Atomics.wait(retryWait, 0, 0, 1);
      continue;
    }
    done += n;
  }
  return done;
}

/**
 * pread/pwrite of all of [gpa, gpa+len) at `position`: the block path. Returns
 * the bytes transferred (short at the end of the file), or the first call's
 * negative errno if nothing was transferred by it.
 */
export function transferAll(
  io: GuestIo,
  write: boolean,
  fd: number,
  gpa: number,
  len: number,
  position: number,
): number {
  let done = 0;
  while (done < len) {
    const n = write
      ? io.pwrite(fd, gpa + done, len - done, position + done)
      : io.pread(fd, gpa + done, len - done, position + done);
    if (n < 0) return n;
    if (n === 0) break;
    done += n;
  }
  return done;
}
