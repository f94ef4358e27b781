import { HvtError } from './errors.js';
import {
  type GuestRam,
  GuestStruct,
  type HvtHcBlockIo,
  HvtHcHalt,
  type HvtHcNetRead,
  type HvtHcNetWrite,
  type HvtHcPuts,
  type HvtHcWalltime,
  type StructPointer,
} from './guest-abi.js';
import type { GuestRange } from './guest-memory.js';
import { Prot } from './platform.js';

/** Hypercall numbers (docs/guest-abi.md 7.1). */
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
/** aarch64: a hypercall is a store to HVT_MMIO_BASE + (nr << 3) (7.2). */
export const HVT_MMIO_BASE = 0x1_0000_0000;

/**
 * The hypercall number of a port I/O exit (x86_64, 7.2): only a 4-byte OUT to
 * a hypercall port is one; anything else is fatal with the reference's message.
 */
export function portHypercall(port: number, size: number, isOut: boolean): number {
  if (!isOut || size !== 4 || port < HVT_PIO_BASE || port >= HVT_PIO_BASE + HYPERCALL_MAX) {
    throw new HvtError(`Invalid guest port access: port=0x${port.toString(16)}`);
  }
  return port - HVT_PIO_BASE;
}

/**
 * The hypercall number of an MMIO exit (aarch64, 7.2): only a 4-byte write
 * inside the hypercall window is one. The reference checks the access first,
 * then the address; the number is the offset over 8, so a store between two
 * slots is the lower slot's number.
 */
export function mmioHypercall(address: number, size: number, isWrite: boolean): number {
  const hex = `0x${address.toString(16)}`;
  if (!isWrite || size !== 4)
    throw new HvtError(`Invalid guest mmio access: mmio=${hex} len=${size}`);
  if (address < HVT_MMIO_BASE || address >= HVT_MMIO_BASE + HYPERCALL_MAX * 8) {
    throw new HvtError(`Invalid guest mmio access: mmio=${hex}`);
  }
  return Math.floor((address - HVT_MMIO_BASE) / 8);
}

/** solo5_result_t, as the guest reads it (7.4). */
export const Solo5Result = { OK: 0, AGAIN: 1, EINVAL: 2, EUNSPEC: 3 } as const;

/** Bytes that must be valid behind a HALT cookie (8.8). */
export const HALT_COOKIE_MAX = 512;

/** u64 arithmetic limits the handlers check against. */
export const SSIZE_MAX = 2 ** 63 - 1;

/** Serves one hypercall; `gpa` is the guest-physical address of its argument struct. */
export type HypercallHandler = (gpa: number) => void;

/** A device a native fast path may do I/O on: the guest's handle (manifest index) and the fd. */
export interface FastPathDevice {
  readonly handle: number;
  readonly fd: number;
}

/**
 * What a platform's native fast path may serve of one hypercall in core's
 * place (docs/architecture.md 3.2): data, given by the module that registers
 * the handler, with the struct layout the handler itself uses. The native
 * side serves an exit only when it is sure of the outcome; anything else it
 * hands to the handler untouched, which stays the one definition of every
 * error and message.
 */
export type FastPathCall =
  | { readonly kind: 'walltime'; readonly layout: typeof HvtHcWalltime }
  /** PUTS: all of the buffer to `fd`, waiting out EAGAIN (writeAllWaiting). */
  | { readonly kind: 'puts'; readonly layout: typeof HvtHcPuts; readonly fd: number }
  /** BLOCK_READ or BLOCK_WRITE on devices of `capacity` bytes (transferAll). */
  | {
      readonly kind: 'block-read' | 'block-write';
      readonly layout: typeof HvtHcBlockIo;
      readonly devices: readonly (FastPathDevice & { readonly capacity: number })[];
    }
  /** One write of the frame. */
  | {
      readonly kind: 'net-write';
      readonly layout: typeof HvtHcNetWrite;
      readonly devices: readonly FastPathDevice[];
    }
  /** One non-blocking read of a frame. */
  | {
      readonly kind: 'net-read';
      readonly layout: typeof HvtHcNetRead;
      readonly devices: readonly FastPathDevice[];
    };

/** What `Vm.armFastPath` gets: the guest's memory rules and the calls it may serve. */
export interface FastPathPlan {
  /** A hypercall is a 4-byte OUT to this port plus its number (7.2). */
  readonly portBase: number;
  /** The guest-visible size: every struct and buffer must lie below it (7.3). */
  readonly visibleSize: number;
  /** Ranges of guest RAM that the host maps other than read-write (GuestMemory.permits). */
  readonly restricted: readonly GuestRange[];
  /** By hypercall number; undefined where every exit goes to the handler. */
  readonly calls: readonly (FastPathCall | undefined)[];
}

/**
 * Runs when the guest halts, before the tender exits with `status`. `cookieGpa`
 * is 0 when the guest passed none, else a validated GPA with 512 bytes behind it.
 */
export type HaltHook = (status: number, cookieGpa: number) => void;

/**
 * The hypercall table and the HALT path (7.2, 8.8). Handlers are registered
 * by module setups; HALT is the run loop's own.
 */
export class Hypercalls {
  private readonly handlers: (HypercallHandler | undefined)[] = new Array(HYPERCALL_MAX).fill(
    undefined,
  );
  private readonly fastPaths: (FastPathCall | undefined)[] = new Array(HYPERCALL_MAX).fill(
    undefined,
  );
  private readonly haltHooks: HaltHook[] = [];

  private readonly haltArg: StructPointer<typeof HvtHcHalt>;

  constructor(private readonly ram: GuestRam) {
    this.haltArg = new GuestStruct(ram, HvtHcHalt, 'hypercalls.ts:HALT');
  }

  /**
   * `fast`, when given, is what a platform's native fast path may serve of
   * this hypercall without calling `handler` (docs/architecture.md 3.2).
   */
  register(nr: number, handler: HypercallHandler, fast?: FastPathCall): void {
    if (nr <= 0 || nr >= HYPERCALL_MAX || nr === Hypercall.HALT) {
      throw new Error(`hypercall ${nr} cannot have a handler`);
    }
    if (this.handlers[nr] !== undefined) throw new Error(`hypercall ${nr} registered twice`);
    this.handlers[nr] = handler;
    this.fastPaths[nr] = fast;
  }

  /** The fast path's plan for the handlers registered so far, over this table's guest RAM. */
  fastPathPlan(): FastPathPlan {
    return {
      portBase: HVT_PIO_BASE,
      visibleSize: this.ram.size,
      restricted: this.ram.memory.restrictions(),
      calls: [...this.fastPaths],
    };
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
    return this.dispatch(portHypercall(port, size, isOut), value);
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
    const s = this.haltArg.at(gpa);
    const status = s.i32(HvtHcHalt.fields.exit_status);
    // The cookie is validated as a buffer of HALT_COOKIE_MAX bytes behind it.
    const cookie = s.u64(HvtHcHalt.fields.cookie) === 0 ? 0 : this.cookie(s);
    for (const hook of this.haltHooks) hook(status, cookie);
    this.haltStatus = status;
  }

  private cookie(s: StructPointer<typeof HvtHcHalt>): number {
    return s.bufferOf(HvtHcHalt.fields.cookie, HALT_COOKIE_MAX, Prot.READ);
  }
}
