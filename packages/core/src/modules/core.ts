import { HvtError } from '../errors.js';
import {
  checkStruct,
  guestRangeUsable,
  Hypercall,
  HypercallStructSize,
  rangeError,
  writeFromGuest,
} from '../hypercalls.js';
import { type Platform, type PollSet, Prot } from '../platform.js';
import type { SandboxNeeds } from '../sandbox-policy.js';
import type { GuestRam, Module, SetupContext, WaitRegistry } from './module.js';

/** The console: PUTS bytes go to the tender's stdout (8.2). */
export const CONSOLE_FD = 1;

/**
 * The descriptors POLL waits on (8.3), each tagged with its manifest index.
 * Modules add theirs during setup; the tender opens the wait set once every
 * setup ran, before the sandbox forbids creating one.
 */
export class WaitSet implements WaitRegistry {
  readonly fds: number[] = [];
  readonly indexes: number[] = [];
  private pollSet: PollSet | undefined;
  /** Result of the last wait, as two u32 halves of ready_set and a count. */
  readyLow = 0;
  readyHigh = 0;
  readyCount = 0;

  watch(fd: number, index: number): void {
    this.fds.push(fd);
    this.indexes.push(index);
  }

  open(platform: Platform): void {
    try {
      this.pollSet = platform.createPollSet(this.fds);
    } catch (error) {
      if (error instanceof HvtError) throw error;
      const detail = error instanceof Error ? error.message : String(error);
      const failure = new HvtError(`Cannot wait on ${this.fds.length} network devices: ${detail}`);
      failure.cause = error;
      throw failure;
    }
  }

  /** Blocks until a watched descriptor is readable or `timeoutNs` passed. */
  wait(timeoutNs: number): void {
    if (this.pollSet === undefined) throw new Error('wait set used before it was opened');
    const ready = this.pollSet.wait(timeoutNs);
    let low = 0;
    let high = 0;
    let count = 0;
    // Bit i of `ready` is fds[i]; the guest wants bit <manifest index> (< 64).
    for (let i = 0; i < this.fds.length; i++) {
      if (Math.floor(ready / 2 ** i) % 2 === 0) continue;
      const index = this.indexes[i]!;
      if (index < 32) low |= 1 << index;
      else high |= 1 << (index - 32);
      count++;
    }
    this.readyLow = low >>> 0;
    this.readyHigh = high >>> 0;
    this.readyCount = count;
  }

  close(): void {
    this.pollSet?.close();
    this.pollSet = undefined;
  }
}

/**
 * The core module (11.1): WALLTIME, PUTS and POLL, always registered. It has
 * no options of its own; `--mem` belongs to the command line itself.
 */
export function createCoreModule(waitSet: WaitSet): Module {
  return {
    name: 'core',
    setup(ctx: SetupContext): void {
      const { guest, platform } = ctx;
      const clock = () => platform.walltimeNs();
      ctx.registerHypercall(Hypercall.WALLTIME, (gpa) => walltimeHypercall(guest, clock, gpa));
      ctx.registerHypercall(Hypercall.PUTS, (gpa) => putsHypercall(guest, gpa));
      ctx.registerHypercall(Hypercall.POLL, (gpa) => pollHypercall(guest, waitSet, gpa));
    },
    sandboxNeeds(): SandboxNeeds {
      return {
        fds: [
          { fd: CONSOLE_FD, kind: 'stdio', owner: 'core', what: 'console (PUTS)', ops: ['write'] },
        ],
        clocks: ['realtime'],
      };
    },
    close(): void {
      waitSet.close();
    },
  };
}

/** struct hvt_hc_walltime { u64 nsecs out } (8.1); `clock` is CLOCK_REALTIME in ns. */
export function walltimeHypercall(guest: GuestRam, clock: () => bigint, gpa: number): void {
  checkStruct(guest, gpa, HypercallStructSize.WALLTIME, 'core.ts:WALLTIME', Prot.WRITE);
  guest.memory.writeU64Big(gpa, clock());
}

/** struct hvt_hc_puts { u64 data; u64 len } (8.2): the bytes, as they are, to stdout. */
export function putsHypercall(guest: GuestRam, gpa: number): void {
  checkStruct(guest, gpa, HypercallStructSize.PUTS, 'core.ts:PUTS', Prot.READ);
  const { memory } = guest;
  const data = memory.readU64(gpa);
  const len = memory.readU64(gpa + 8);
  if (!guestRangeUsable(guest, data, len, Prot.READ)) {
    throw rangeError(memory, gpa, gpa + 8, 'core.ts:PUTS');
  }
  // The reference ignores the result of its write; so do we, but a full or
  // non-blocking pipe must not lose console output.
  try {
    writeFromGuest(CONSOLE_FD, memory, data, len, null, true);
  } catch {
    // stdout gone (EPIPE): the guest keeps running, as under the reference.
  }
}

/** struct hvt_hc_poll { u64 timeout_nsecs; u64 ready_set out; i32 ret out } (8.3). */
export function pollHypercall(guest: GuestRam, waitSet: WaitSet, gpa: number): void {
  checkStruct(guest, gpa, HypercallStructSize.POLL, 'core.ts:POLL');
  const { memory } = guest;
  waitSet.wait(memory.readU64(gpa));
  memory.writeU32(gpa + 8, waitSet.readyLow);
  memory.writeU32(gpa + 12, waitSet.readyHigh);
  memory.writeI32(gpa + 16, waitSet.readyCount);
}
