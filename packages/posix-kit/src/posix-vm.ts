import { CHUNK_SIZE, type ExitKind, GuestMemory, type NetRingSupport } from '@hvtjs/core/platform';
import { checkRange, mprotectOrThrow } from './memory.js';
import { pipeNetRing, type RingAddon } from './net-ring.js';

/** The part of an addon's VM object that hvt::VmBase (hvt/posix_addon.h) provides. */
export interface NativeVmBase {
  readonly fd: number;
  chunks(chunkSize: number): ArrayBuffer[];
  protect(offset: number, len: number, prot: number): void;
  bindExit(exit: Float64Array): void;
  /** The run ioctl until an exit for the tender; returns an ExitKind. */
  run(): number;
  /** A 4-byte OUT to `port` writes a byte to `fd` in the run loop; -1 undoes it. */
  addKick(port: number, fd: number): void;
  destroy(): void;
}

/**
 * What a platform's Vm shares over a kit addon's VM object: guest RAM as
 * external views in CHUNK_SIZE pieces, the exit array the addon writes,
 * protect(), run(), ring I/O with a pipe kick and an idempotent destroy(). A
 * subclass adds the vCPU and sandbox parts and says how a failed call reads
 * (`vmmError`).
 */
export abstract class PosixVm<N extends NativeVmBase> {
  readonly memory: GuestMemory;
  readonly exit: Float64Array;
  /**
   * Ring I/O (docs/guest-abi.md 10): the run loop turns the guest's kick into
   * a byte on a pipe the ring thread sleeps on (pipeNetRing).
   */
  readonly netRing: NetRingSupport;
  private destroyed = false;

  protected constructor(
    readonly name: string,
    protected readonly vm: N,
    exitFields: number,
    addon: () => RingAddon<N>,
  ) {
    this.netRing = pipeNetRing(addon, vm);
    this.exit = new Float64Array(exitFields);
    vm.bindExit(this.exit);
    const chunks = vm.chunks(CHUNK_SIZE).map((buffer) => new Uint8Array(buffer));
    this.memory = new GuestMemory(chunks);
  }

  /** The tender's error for a failed addon call (anything else passes through). */
  protected abstract vmmError(e: unknown): unknown;

  /** True where the host mapping's protection cannot change (protect() is then a no-op). */
  protected fixedProtection(): boolean {
    return false;
  }

  protect(gpa: number, len: number, prot: number): void {
    checkRange('protect', gpa, len, this.memory.size);
    if (len === 0 || this.fixedProtection()) return;
    mprotectOrThrow(() => this.vm.protect(gpa, len, prot));
  }

  run(): ExitKind {
    try {
      return this.vm.run() as ExitKind;
    } catch (e) {
      throw this.vmmError(e);
    }
  }

  /** Ends the VM now (idempotent); the memory views stay readable. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    try {
      this.vm.destroy();
    } catch (e) {
      throw this.vmmError(e);
    }
  }
}
