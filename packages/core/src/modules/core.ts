import { HvtError } from '../errors.js';
import { GuestStruct, HvtHcPoll, HvtHcPuts, HvtHcWalltime } from '../guest-abi.js';
import { nodeGuestIo, writeAllWaiting } from '../guest-io.js';
import { Hypercall, type HypercallHandler } from '../hypercalls.js';
import { type Platform, type PollSet, Prot, type RealtimeClock } from '../platform.js';
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
      const clock = platform.realtimeClock?.() ?? bigintClock(() => platform.walltimeNs());
      ctx.registerHypercall(Hypercall.WALLTIME, walltimeHypercall(guest, clock), {
        kind: 'walltime',
        layout: HvtHcWalltime,
      });
      ctx.registerHypercall(Hypercall.PUTS, putsHypercall(guest), {
        kind: 'puts',
        layout: HvtHcPuts,
        fd: CONSOLE_FD,
      });
      ctx.registerHypercall(Hypercall.POLL, pollHypercall(guest, waitSet));
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

/** A RealtimeClock over a bigint clock (platforms without an allocation-free one). */
export function bigintClock(ns: () => bigint): RealtimeClock {
  const halves = new Uint32Array(2);
  return {
    halves,
    read() {
      const now = ns();
      halves[0] = Number(now & 0xffffffffn);
      halves[1] = Number(now >> 32n);
    },
  };
}

/** WALLTIME (8.1): CLOCK_REALTIME in ns into `nsecs`. */
export function walltimeHypercall(guest: GuestRam, clock: RealtimeClock): HypercallHandler {
  const arg = new GuestStruct(guest, HvtHcWalltime, 'core.ts:WALLTIME');
  const { nsecs } = HvtHcWalltime.fields;
  const { halves } = clock;
  return (gpa) => {
    arg.at(gpa);
    clock.read();
    arg.setU64Halves(nsecs, halves[0]!, halves[1]!);
  };
}

/** PUTS (8.2): the bytes at (data, len), as they are, to stdout. */
export function putsHypercall(guest: GuestRam): HypercallHandler {
  const arg = new GuestStruct(guest, HvtHcPuts, 'core.ts:PUTS');
  const io = guest.io ?? nodeGuestIo(guest.memory);
  const { data, len } = HvtHcPuts.fields;
  return (gpa) => {
    const at = arg.at(gpa).buffer(data, len, Prot.READ);
    // The reference ignores the result of its write; so do we (stdout gone,
    // EPIPE: the guest keeps running), but a full or non-blocking pipe must
    // not lose console output.
    writeAllWaiting(io, CONSOLE_FD, at, arg.bufferLen);
  };
}

/** POLL (8.3): waits up to `timeout_nsecs`, then `ready_set` and `ret` (the count). */
export function pollHypercall(guest: GuestRam, waitSet: WaitSet): HypercallHandler {
  const arg = new GuestStruct(guest, HvtHcPoll, 'core.ts:POLL');
  const { timeout_nsecs, ready_set, ret } = HvtHcPoll.fields;
  return (gpa) => {
    arg.at(gpa);
    waitSet.wait(arg.u64(timeout_nsecs));
    arg.setU64Halves(ready_set, waitSet.readyLow, waitSet.readyHigh);
    arg.setI32(ret, waitSet.readyCount);
  };
}
