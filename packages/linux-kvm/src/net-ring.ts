import { HvtError } from '@hvtjs/core';
import type { NetRing, NetRingConfig } from '@hvtjs/core/platform';
import { isNativeError, type NativeGuestMapping, type NativeNetRing, native } from './native.js';

/** Manifest indices are below 64 (MFT_MAX_ENTRIES): the thread's device table. */
const MAX_HANDLES = 64;

/**
 * Starts the network ring's I/O thread (src/native/netring.cc) over guest RAM
 * `mapping`. The thread holds its own reference to the mapping, so the range
 * stays mapped until it is joined even if the VM is destroyed first.
 */
export function startNetRing(mapping: NativeGuestMapping, config: NetRingConfig): NetRing {
  const fds = new Int32Array(MAX_HANDLES).fill(-1);
  for (const { handle, fd } of config.devices) {
    if (!Number.isInteger(handle) || handle < 0 || handle >= MAX_HANDLES) {
      throw new RangeError(`bad device handle ${handle}`);
    }
    if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`bad device fd ${fd}`);
    fds[handle] = fd;
  }
  let thread: NativeNetRing;
  try {
    thread = new native.NetRing(mapping, config.ringGpa, config.visibleSize, config.kickFd, fds);
  } catch (e) {
    if (!isNativeError(e)) throw e;
    const error = new HvtError(`cannot start the network ring thread: ${e.syscall}: ${e.message}`);
    error.cause = e;
    throw error;
  }
  return {
    stop: () => thread.stop(),
    failure: () => thread.failure(),
  };
}

/** The signal a failing I/O thread sends the vCPU thread (tgkill within this process). */
export const IO_THREAD_SIGNAL: number = native.ioThreadSignal;
