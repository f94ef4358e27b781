import { closeSync } from 'node:fs';
import { HvtError } from '@hvtjs/core';
import type {
  NetRing,
  NetRingConfig,
  NetRingFailure,
  NetRingKickError,
  NetRingKickFd,
  NetRingSupport,
} from '@hvtjs/core/platform';
import { RING_KICK_PORT } from '@hvtjs/core/tender';
import { isNativeError } from './native-error.js';

/**
 * The TypeScript side of the network ring's thread (include/hvt/net_ring.h,
 * net_ring_addon.h), for every platform: the device table, the thread's
 * errors, and a NetRing that owns its kick. How the kick is made and reaches
 * the thread is the platform's (`RingKick`).
 */

/** Manifest indices are below 64 (MFT_MAX_ENTRIES): the thread's device table. */
export const RING_MAX_HANDLES = 64;

/** The addon's ring object (hvt::NetRingObject). */
export interface NativeNetRing {
  /** Stops and joins the thread; idempotent. */
  stop(): void;
  failure(): NetRingFailure | undefined;
}

/** `new NetRing(owner, ringGpa, visibleSize, kickFd, wakeFd, fds)`: `owner` holds guest RAM. */
export type NativeNetRingClass<Owner> = new (
  owner: Owner,
  ringGpa: number,
  visibleSize: number,
  kickFd: number,
  wakeFd: number,
  fds: Int32Array,
) => NativeNetRing;

/** A kick a platform made and registered on RING_KICK_PORT. */
export interface RingKick {
  /** Its descriptors, for the sandbox policy. */
  readonly fds: readonly NetRingKickFd[];
  /** What the thread reads to sleep until a kick. */
  readonly readFd: number;
  /** What wakes the thread (to stop it). */
  readonly wakeFd: number;
  /** Unregisters and closes it; idempotent, never throws. */
  close(): void;
}

/** Closes `fd`, ignoring errors: nothing is left to release when it fails. */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed.
  }
}

/**
 * A RingKick over descriptors the platform opened: close() runs `unregister`
 * (where the run loop must stop writing to them) and then closes each once.
 */
export function ownedKick(
  fds: readonly NetRingKickFd[],
  readFd: number,
  wakeFd: number,
  unregister: () => void = () => undefined,
): RingKick {
  let open = true;
  return {
    fds,
    readFd,
    wakeFd,
    close() {
      if (!open) return;
      open = false;
      try {
        unregister();
      } finally {
        for (const f of fds) closeQuietly(f.fd);
      }
    },
  };
}

/**
 * The warning case of NetRingSupport.start: making the kick failed at `step`
 * (`eventfd()`, `KVM_IOEVENTFD`, `pipe()`); `cause` carries the errno name.
 */
export function kickError(step: string, cause: unknown): NetRingKickError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const error = new Error(`${step} failed`, { cause }) as Error & {
    kickStep: string;
    code?: string;
  };
  error.kickStep = step;
  if (code !== undefined) error.code = code;
  return error;
}

/** The thread's device table: fds[handle], -1 where there is none. */
export function ringDeviceTable(config: NetRingConfig): Int32Array {
  const fds = new Int32Array(RING_MAX_HANDLES).fill(-1);
  for (const { handle, fd } of config.devices) {
    if (!Number.isInteger(handle) || handle < 0 || handle >= RING_MAX_HANDLES) {
      throw new RangeError(`bad device handle ${handle}`);
    }
    if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`bad device fd ${fd}`);
    fds[handle] = fd;
  }
  return fds;
}

/**
 * Starts the ring's thread over the guest RAM `owner` holds, waiting on
 * `kick`; the NetRing returned owns the kick and closes it on stop(). Call it
 * on the thread that runs the vCPU. When the thread cannot start, the kick is
 * closed again and the error is fatal (`cannot start the network ring
 * thread: …`).
 */
export function startRingThread<Owner>(
  NetRingClass: NativeNetRingClass<Owner>,
  owner: Owner,
  config: NetRingConfig,
  kick: RingKick,
): NetRing {
  let thread: NativeNetRing;
  try {
    thread = new NetRingClass(
      owner,
      config.ringGpa,
      config.visibleSize,
      kick.readFd,
      kick.wakeFd,
      ringDeviceTable(config),
    );
  } catch (e) {
    kick.close();
    if (!isNativeError(e)) throw e;
    const error = new HvtError(`cannot start the network ring thread: ${e.syscall}: ${e.message}`);
    error.cause = e;
    throw error;
  }
  return {
    kick: kick.fds,
    stop: () => {
      thread.stop();
      kick.close();
    },
    failure: () => thread.failure(),
  };
}

/** What a kit addon exports for the ring (hvt/posix_addon.h, ExportNetRing). */
export interface RingAddon<Vm> {
  NetRing: NativeNetRingClass<Vm>;
  /** [readFd, writeFd]: close-on-exec, the write end non-blocking. */
  kickPipe(): [number, number];
}

/** A kit addon's VM object: addKick(port, fd) has the run loop write `fd` at that port's exit. */
export interface KickableVm {
  addKick(port: number, fd: number): void;
}

/**
 * Ring I/O (docs/guest-abi.md 10) with the BSDs' kick, as the reference has
 * it there: a pipe whose write end the run loop writes a byte to at the kick
 * port's exit before it resumes the guest, without returning to JavaScript;
 * the thread sleeps reading the read end. stop() undoes the kick and closes
 * the pipe.
 */
export function pipeNetRing<Vm extends KickableVm>(
  addon: () => RingAddon<Vm>,
  vm: Vm,
): NetRingSupport {
  return {
    start(config) {
      let readFd: number;
      let writeFd: number;
      try {
        [readFd, writeFd] = addon().kickPipe();
      } catch (e) {
        throw kickError('pipe()', e);
      }
      const kick = ownedKick(
        [
          { fd: readFd, kind: 'pipe', ops: ['read', 'poll'], end: 'read end' },
          { fd: writeFd, kind: 'pipe', ops: ['write'], end: 'write end' },
        ],
        readFd,
        writeFd,
        () => {
          try {
            vm.addKick(RING_KICK_PORT, -1);
          } catch {
            // The VM is gone, and its kicks with it.
          }
        },
      );
      try {
        vm.addKick(RING_KICK_PORT, writeFd);
      } catch (e) {
        kick.close();
        throw kickError('addKick', e);
      }
      return startRingThread(addon().NetRing, vm, config, kick);
    },
  };
}
