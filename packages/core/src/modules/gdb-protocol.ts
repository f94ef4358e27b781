import { HvtError } from '../errors.js';
import type { GuestDebugRequest, X86DebugState, X86FpuState } from '../platform.js';
import type { Warn } from './module.js';

/**
 * The GDB remote serial protocol as the gdb module serves it
 * (docs/guest-abi.md 11.5): packet framing, the commands, the amd64 register
 * layout, breakpoints and the debug registers. Pure: the module hands it a
 * link to the debugger and a target (the stopped vCPU and guest RAM).
 */

/** The longest packet payload accepted (advertised as PacketSize). */
export const GDB_PACKET_SIZE = 4096;
/** The most guest memory one `m` or `M` moves: its hex fills a whole packet. */
export const GDB_MAX_TRANSFER = GDB_PACKET_SIZE / 2 - 32;

/** Signal numbers in stop replies (GDB's own numbering, the same as Linux's for these). */
export const GdbSignal = { NONE: 0, INT: 2, TRAP: 5, KILL: 9, SEGV: 11 } as const;

/** The reply for an error; gdb does not read the number. */
export const GDB_ERROR = 'E01';
/** The fatal message when the debugger is gone while the guest is stopped (the reference's words). */
export const GDB_LOST = 'GDB: Exiting as we could not receive the next command from the debugger.';

/** The connection to the debugger, as the session uses it. */
export interface GdbLink {
  /** Waits for input: the bytes, or undefined once the debugger has closed the connection. */
  receive(): Uint8Array | undefined;
  send(bytes: Uint8Array): void;
}

/** What the session acts on while the guest is stopped. */
export interface GdbTarget {
  /** Guest memory at [addr, addr+len), or undefined when that is not all inside guest RAM. */
  readMemory(addr: bigint, len: number): Uint8Array | undefined;
  /** False when [addr, addr+bytes.length) is not all inside guest RAM. */
  writeMemory(addr: bigint, bytes: Uint8Array): boolean;
  getState(): X86DebugState;
  /** False when the vCPU refuses the state. */
  setState(state: X86DebugState): boolean;
  setGuestDebug(request: GuestDebugRequest): void;
}

/** How the guest goes on after a stop. */
export type Resume = 'continue' | 'step' | 'detach';

const HEX = '0123456789abcdef';

export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += HEX[b >> 4]! + HEX[b & 15]!;
  return s;
}

/** Strict: an even number of hex digits, else undefined. */
export function fromHex(text: string): Uint8Array | undefined {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return undefined;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A hex number of 1 to 16 digits (a 64-bit value), else undefined. */
export function parseHexNumber(text: string): bigint | undefined {
  return /^[0-9a-fA-F]{1,16}$/.test(text) ? BigInt(`0x${text}`) : undefined;
}

export function checksum(data: string): number {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum = (sum + data.charCodeAt(i)) & 0xff;
  return sum;
}

/** `$data#cs`, as bytes (the data is ASCII). */
export function encodePacket(data: string): Uint8Array {
  return Buffer.from(`$${data}#${HEX[checksum(data) >> 4]}${HEX[checksum(data) & 15]}`, 'latin1');
}

/** What the byte stream from the debugger holds, in order. */
export type GdbEvent =
  | { readonly kind: 'packet'; readonly data: string }
  | { readonly kind: 'bad-checksum'; readonly computed: number; readonly sent: string }
  | { readonly kind: 'oversized' }
  | { readonly kind: 'ack' }
  | { readonly kind: 'nak' }
  | { readonly kind: 'interrupt' };

/**
 * Splits the debugger's bytes into packets and the single-byte messages
 * between them. Bytes outside a packet other than `+`, `-` and Ctrl-C are
 * skipped; a `$` inside a packet starts it again; a packet longer than
 * GDB_PACKET_SIZE is dropped (and reported), so memory stays bounded.
 */
export class PacketReader {
  private state: 'idle' | 'data' | 'sum1' | 'sum2' = 'idle';
  private data: number[] = [];
  private oversized = false;
  private sum = '';

  feed(bytes: Uint8Array): GdbEvent[] {
    const events: GdbEvent[] = [];
    for (const b of bytes) {
      switch (this.state) {
        case 'idle':
          if (b === 0x24) this.start();
          else if (b === 0x2b) events.push({ kind: 'ack' });
          else if (b === 0x2d) events.push({ kind: 'nak' });
          else if (b === 0x03) events.push({ kind: 'interrupt' });
          break;
        case 'data':
          if (b === 0x24) this.start();
          else if (b === 0x23) this.state = 'sum1';
          else if (this.data.length < GDB_PACKET_SIZE) this.data.push(b);
          else this.oversized = true;
          break;
        case 'sum1':
          this.sum = String.fromCharCode(b);
          this.state = 'sum2';
          break;
        case 'sum2': {
          this.sum += String.fromCharCode(b);
          this.state = 'idle';
          const data = String.fromCharCode(...this.data);
          this.data = [];
          if (this.oversized) {
            events.push({ kind: 'oversized' });
            break;
          }
          const computed = checksum(data);
          if (/^[0-9a-fA-F]{2}$/.test(this.sum) && Number.parseInt(this.sum, 16) === computed) {
            events.push({ kind: 'packet', data });
          } else {
            events.push({ kind: 'bad-checksum', computed, sent: this.sum });
          }
          break;
        }
      }
    }
    return events;
  }

  private start(): void {
    this.state = 'data';
    this.data = [];
    this.oversized = false;
  }
}

// The amd64 register layout of a `g` packet, in GDB's order: 16 general
// registers and rip (8 bytes each), eflags and 6 selectors (4 each), st0-st7
// (10 each), the 8 x87 control registers (4 each), xmm0-xmm15 (16 each), mxcsr.
const GPR_ORDER = [
  'rax',
  'rbx',
  'rcx',
  'rdx',
  'rsi',
  'rdi',
  'rbp',
  'rsp',
  'r8',
  'r9',
  'r10',
  'r11',
  'r12',
  'r13',
  'r14',
  'r15',
  'rip',
] as const;
const SELECTORS = ['cs', 'ss', 'ds', 'es', 'fs', 'gs'] as const;
const OFF_EFLAGS = 17 * 8;
const OFF_SELECTORS = OFF_EFLAGS + 4;
const OFF_ST = OFF_SELECTORS + 6 * 4;
const OFF_X87 = OFF_ST + 8 * 10;
const OFF_XMM = OFF_X87 + 8 * 4;
const OFF_MXCSR = OFF_XMM + 16 * 16;
/** Bytes in a `g` reply. */
export const GDB_REGISTERS_SIZE = OFF_MXCSR + 4;

/**
 * The full x87 tag word (2 bits per physical register, as FSAVE stores it and
 * GDB expects) from FXSAVE's abridged one (1 bit: valid or empty) and the
 * registers' contents: 0 valid, 1 zero, 2 special, 3 empty.
 */
export function fullTagWord(ftw: number, fsw: number, st: Uint8Array): number {
  const top = (fsw >> 11) & 7;
  let tag = 0;
  for (let phys = 0; phys < 8; phys++) {
    let bits = 3;
    if (ftw & (1 << phys)) {
      const r = st.subarray(((phys - top + 8) % 8) * 16);
      const exponent = ((r[9]! & 0x7f) << 8) | r[8]!;
      const integer = (r[7]! & 0x80) !== 0;
      const fractionZero = r.subarray(0, 8).every((b, i) => (i === 7 ? (b & 0x7f) === 0 : b === 0));
      if (exponent === 0x7fff) bits = 2;
      else if (exponent === 0) bits = !integer && fractionZero ? 1 : 2;
      else bits = integer ? 0 : 2;
    }
    tag |= bits << (2 * phys);
  }
  return tag;
}

/** FXSAVE's abridged tag from a full one: a register is valid unless tagged empty (3). */
export function abridgedTagWord(full: number): number {
  let ftw = 0;
  for (let phys = 0; phys < 8; phys++) if (((full >> (2 * phys)) & 3) !== 3) ftw |= 1 << phys;
  return ftw;
}

export function encodeRegisters(state: X86DebugState): Uint8Array {
  const out = new Uint8Array(GDB_REGISTERS_SIZE);
  const dv = new DataView(out.buffer);
  for (const [i, r] of GPR_ORDER.entries())
    dv.setBigUint64(i * 8, BigInt.asUintN(64, state.regs[r]), true);
  dv.setUint32(OFF_EFLAGS, Number(BigInt.asUintN(32, state.regs.rflags)), true);
  for (const [i, s] of SELECTORS.entries())
    dv.setUint32(OFF_SELECTORS + 4 * i, state.selectors[s], true);
  const f = state.fpu;
  for (let i = 0; i < 8; i++) out.set(f.st.subarray(i * 16, i * 16 + 10), OFF_ST + 10 * i);
  const x87 = [
    f.fcw,
    f.fsw,
    fullTagWord(f.ftw, f.fsw, f.st),
    Number(f.fip >> 32n) >>> 0,
    Number(f.fip & 0xffff_ffffn),
    Number(f.fdp >> 32n) >>> 0,
    Number(f.fdp & 0xffff_ffffn),
    f.fop,
  ];
  for (const [i, v] of x87.entries()) dv.setUint32(OFF_X87 + 4 * i, v, true);
  out.set(f.xmm.subarray(0, 256), OFF_XMM);
  dv.setUint32(OFF_MXCSR, f.mxcsr, true);
  return out;
}

/**
 * The state a `G` packet asks for, on top of `current`; undefined when it is
 * not a whole register set or changes a selector (loading segments is not
 * supported).
 */
export function decodeRegisters(
  bytes: Uint8Array,
  current: X86DebugState,
): X86DebugState | undefined {
  if (bytes.length !== GDB_REGISTERS_SIZE) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (off: number) => dv.getUint32(off, true);
  if (SELECTORS.some((s, i) => u32(OFF_SELECTORS + 4 * i) !== current.selectors[s])) {
    return undefined;
  }
  const regs = { ...current.regs };
  GPR_ORDER.forEach((r, i) => {
    regs[r] = dv.getBigUint64(i * 8, true);
  });
  regs.rflags = (current.regs.rflags & ~0xffff_ffffn) | BigInt(u32(OFF_EFLAGS));
  const st = new Uint8Array(128);
  for (let i = 0; i < 8; i++) st.set(bytes.subarray(OFF_ST + 10 * i, OFF_ST + 10 * i + 10), i * 16);
  const x87 = (i: number) => u32(OFF_X87 + 4 * i);
  const fpu: X86FpuState = {
    st,
    fcw: x87(0) & 0xffff,
    fsw: x87(1) & 0xffff,
    ftw: abridgedTagWord(x87(2)),
    fip: (BigInt(x87(3)) << 32n) | BigInt(x87(4)),
    fdp: (BigInt(x87(5)) << 32n) | BigInt(x87(6)),
    fop: x87(7) & 0x7ff,
    xmm: bytes.slice(OFF_XMM, OFF_XMM + 256),
    mxcsr: u32(OFF_MXCSR),
  };
  return { regs, selectors: current.selectors, fpu };
}

/** Z/z types: 0 software breakpoint; 1-4 hardware breakpoint, write, read and access watchpoints. */
export const BreakpointType = { SOFTWARE: 0, HARDWARE: 1, WRITE: 2, READ: 3, ACCESS: 4 } as const;

interface HardwareBreakpoint {
  readonly type: number;
  readonly addr: bigint;
  readonly len: number;
}

/** DR7's R/W field per type: 00 execute, 01 write, 11 read or write (x86 has no read-only). */
const DR7_RW: Readonly<Record<number, bigint>> = { 1: 0n, 2: 1n, 3: 3n, 4: 3n };
/** DR7's LEN field per length. */
const DR7_LEN: Readonly<Record<number, bigint>> = { 1: 0n, 2: 1n, 4: 3n, 8: 2n };
/** x86 has four address registers, DR0-DR3. */
export const MAX_HARDWARE_BREAKPOINTS = 4;

/**
 * DR0-DR3 and DR7 for up to four hardware breakpoints: per slot n the global
 * enable bit G<n> (bit 2n+1), R/W at bit 16+4n, LEN at bit 18+4n; plus GE
 * (bit 9) and bit 10, which is always set.
 */
export function debugRegisters(bps: readonly HardwareBreakpoint[]): {
  dr: bigint[];
  dr7: bigint;
} {
  const dr = [0n, 0n, 0n, 0n];
  let dr7 = (1n << 10n) | (1n << 9n);
  bps.forEach((bp, n) => {
    dr[n] = bp.addr;
    const slot = BigInt(n);
    dr7 |= 1n << (2n * slot + 1n);
    dr7 |= DR7_RW[bp.type]! << (16n + 4n * slot);
    dr7 |= DR7_LEN[bp.len]! << (18n + 4n * slot);
  });
  return { dr, dr7 };
}

/** Whether a hardware breakpoint of `type` can watch `len` bytes at `addr` (x86's rules). */
export function hardwareBreakpointFits(type: number, addr: bigint, len: number): boolean {
  if (type === BreakpointType.HARDWARE) return len === 1;
  return DR7_LEN[len] !== undefined && addr % BigInt(len) === 0n;
}

const INT3 = 0xcc;

/**
 * One debugging session over one connection: serves the debugger while the
 * guest is stopped, in the reference's command set, and keeps the breakpoints.
 */
export class GdbSession {
  private readonly reader = new PacketReader();
  private readonly events: GdbEvent[] = [];
  private ackMode = true;
  private signal: number = GdbSignal.NONE;
  /** Software breakpoints: the byte each INT3 replaced, by address. */
  private readonly software = new Map<bigint, number>();
  private readonly hardware: HardwareBreakpoint[] = [];
  private stepping = false;

  constructor(
    private readonly link: GdbLink,
    private readonly target: GdbTarget,
    private readonly warn: Warn,
  ) {}

  /**
   * The guest stopped with `signal`: tells the debugger (unless `announce` is
   * false: at the first stop it asks with `?`), then serves it until it lets
   * the guest go on. Throws HvtError when the debugger is gone.
   */
  stopped(signal: number, announce = true): Resume {
    this.signal = signal;
    if (announce) this.sendPacket(this.stopReply());
    for (;;) {
      const packet = this.nextPacket();
      const resume = packet === undefined ? this.reply(GDB_ERROR) : this.command(packet);
      if (resume !== undefined) return resume;
    }
  }

  /**
   * While the guest runs, the debugger sent something: 'interrupt' for its
   * Ctrl-C, 'gone' when it closed the connection, else 'nothing'.
   */
  input(): 'interrupt' | 'gone' | 'nothing' {
    const bytes = this.link.receive();
    if (bytes === undefined) return 'gone';
    // gdb sends nothing else while the guest runs: the rest is dropped, so
    // that a client flooding packets cannot make the tender hold them.
    const events = this.reader.feed(bytes);
    return events.some((e) => e.kind === 'interrupt') ? 'interrupt' : 'nothing';
  }

  /** Sends `text` as a packet and waits for its acknowledgement (in acknowledgement mode). */
  notify(text: string): void {
    this.sendPacket(text);
  }

  /** The tender ends: `X09`, without waiting for anything; errors are ignored. */
  farewell(): void {
    try {
      this.link.send(encodePacket(`X${hex2(GdbSignal.KILL)}`));
    } catch {
      // Best effort: the debugger may be gone already.
    }
  }

  /** Puts back every byte a breakpoint replaced and stops trapping (detach). */
  clear(): void {
    for (const [addr, saved] of this.software) this.target.writeMemory(addr, Uint8Array.of(saved));
    this.software.clear();
    this.hardware.length = 0;
    this.stepping = false;
    this.target.setGuestDebug(this.debugRequest());
  }

  private stopReply(): string {
    return `S${hex2(this.signal)}`;
  }

  /** One command; a Resume when the guest is to run again. */
  private command(packet: string): Resume | undefined {
    const args = packet.slice(1);
    switch (packet[0]) {
      case '?':
        return this.reply(this.stopReply());
      case 'g':
        return this.reply(toHex(encodeRegisters(this.target.getState())));
      case 'G': {
        const bytes = fromHex(args);
        const state = bytes && decodeRegisters(bytes, this.target.getState());
        return this.reply(state !== undefined && this.target.setState(state) ? 'OK' : GDB_ERROR);
      }
      case 'm': {
        const range = parseRange(args);
        const bytes = range && this.target.readMemory(range.addr, range.len);
        return this.reply(bytes ? toHex(bytes) : GDB_ERROR);
      }
      case 'M': {
        const colon = args.indexOf(':');
        const range = colon < 0 ? undefined : parseRange(args.slice(0, colon));
        const bytes = range && fromHex(args.slice(colon + 1));
        const ok =
          range !== undefined &&
          bytes !== undefined &&
          bytes.length === range.len &&
          this.writeAroundBreakpoints(range.addr, bytes);
        return this.reply(ok ? 'OK' : GDB_ERROR);
      }
      case 'c':
      case 's':
        // Resuming at another address is not supported: gdb then writes rip itself.
        if (args !== '') return this.reply('');
        this.stepping = packet[0] === 's';
        this.target.setGuestDebug(this.debugRequest());
        return this.stepping ? 'step' : 'continue';
      case 'Z':
      case 'z':
        return this.reply(this.breakpoint(packet[0] === 'Z', args) ? 'OK' : GDB_ERROR);
      case 'k':
        this.warn('Debugger asked us to quit');
        return this.reply('OK');
      case 'D':
        this.warn('Debugger detached');
        this.reply('OK');
        this.clear();
        return 'detach';
      case 'q':
        if (packet.startsWith('qSupported')) {
          return this.reply(`PacketSize=${GDB_PACKET_SIZE.toString(16)};QStartNoAckMode+`);
        }
        return this.reply('');
      case 'Q':
        if (packet === 'QStartNoAckMode') {
          this.reply('OK');
          this.ackMode = false;
          return undefined;
        }
        return this.reply('');
      default:
        return this.reply('');
    }
  }

  private reply(text: string): undefined {
    this.sendPacket(text);
    return undefined;
  }

  /** Z/z: `type,addr,kind`. */
  private breakpoint(insert: boolean, args: string): boolean {
    const parts = args.split(',');
    if (parts.length !== 3) return false;
    const type = parseHexNumber(parts[0]!);
    const addr = parseHexNumber(parts[1]!);
    const len = parseHexNumber(parts[2]!);
    if (type === undefined || addr === undefined || len === undefined || len > 8n) return false;
    // The whole range must be guest RAM.
    if (this.target.readMemory(addr, Number(len)) === undefined) return false;
    if (type === BigInt(BreakpointType.SOFTWARE)) {
      return len === 1n && (insert ? this.insertSoftware(addr) : this.removeSoftware(addr));
    }
    if (type > 4n || !hardwareBreakpointFits(Number(type), addr, Number(len))) return false;
    const index = this.hardware.findIndex(
      (b) => b.type === Number(type) && b.addr === addr && b.len === Number(len),
    );
    if (insert) {
      if (index >= 0) return true;
      if (this.hardware.length === MAX_HARDWARE_BREAKPOINTS) return false;
      this.hardware.push({ type: Number(type), addr, len: Number(len) });
    } else {
      if (index < 0) return false;
      this.hardware.splice(index, 1);
    }
    this.target.setGuestDebug(this.debugRequest());
    return true;
  }

  private insertSoftware(addr: bigint): boolean {
    if (this.software.has(addr)) return true;
    const saved = this.target.readMemory(addr, 1)![0]!;
    if (!this.target.writeMemory(addr, Uint8Array.of(INT3))) return false;
    this.software.set(addr, saved);
    this.target.setGuestDebug(this.debugRequest());
    return true;
  }

  private removeSoftware(addr: bigint): boolean {
    const saved = this.software.get(addr);
    if (saved === undefined) return false;
    this.software.delete(addr);
    this.target.writeMemory(addr, Uint8Array.of(saved));
    this.target.setGuestDebug(this.debugRequest());
    return true;
  }

  /** An M over an inserted INT3 replaces the saved byte, so that removing it keeps the write. */
  private writeAroundBreakpoints(addr: bigint, bytes: Uint8Array): boolean {
    if (!this.target.writeMemory(addr, bytes)) return false;
    for (const at of this.software.keys()) {
      const i = at - addr;
      if (i < 0n || i >= BigInt(bytes.length)) continue;
      this.software.set(at, bytes[Number(i)]!);
      this.target.writeMemory(at, Uint8Array.of(INT3));
    }
    return true;
  }

  private debugRequest(): GuestDebugRequest {
    return {
      singleStep: this.stepping,
      softwareBreakpoints: this.software.size > 0,
      ...(this.hardware.length > 0 ? { hardware: debugRegisters(this.hardware) } : {}),
    };
  }

  /** The next well-formed packet (acknowledged); undefined for one that was too long. */
  private nextPacket(): string | undefined {
    for (;;) {
      const event = this.nextEvent();
      switch (event.kind) {
        case 'packet':
          if (this.ackMode) this.link.send(ACK);
          return event.data;
        case 'bad-checksum':
          this.warn(
            `GDB: bad checksum from the debugger (computed 0x${hex2(event.computed)}, ` +
              `sent ${JSON.stringify(event.sent)}), packet ignored`,
          );
          if (this.ackMode) this.link.send(NAK);
          break;
        case 'oversized':
          this.warn(`GDB: packet longer than ${GDB_PACKET_SIZE} bytes from the debugger, refused`);
          if (this.ackMode) this.link.send(ACK);
          return undefined;
        default:
          // Acknowledgements of nothing, and Ctrl-C while stopped already.
          break;
      }
    }
  }

  private sendPacket(text: string): void {
    const packet = encodePacket(text);
    this.link.send(packet);
    while (this.ackMode) {
      const event = this.nextEvent();
      if (event.kind === 'nak') {
        this.link.send(packet);
        continue;
      }
      if (event.kind === 'ack') return;
      if (event.kind === 'interrupt') continue;
      // A packet instead of the acknowledgement: take it as one, and keep the packet.
      this.events.unshift(event);
      return;
    }
  }

  private nextEvent(): GdbEvent {
    for (;;) {
      const event = this.events.shift();
      if (event !== undefined) return event;
      const bytes = this.link.receive();
      if (bytes === undefined) throw new HvtError(GDB_LOST);
      this.events.push(...this.reader.feed(bytes));
    }
  }
}

const ACK = Uint8Array.of(0x2b);
const NAK = Uint8Array.of(0x2d);

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** `addr,len` of m and M: a 64-bit address and a length of at most GDB_MAX_TRANSFER. */
function parseRange(text: string): { addr: bigint; len: number } | undefined {
  const comma = text.indexOf(',');
  if (comma < 0) return undefined;
  const addr = parseHexNumber(text.slice(0, comma));
  const len = parseHexNumber(text.slice(comma + 1));
  if (addr === undefined || len === undefined || len > BigInt(GDB_MAX_TRANSFER)) return undefined;
  return { addr, len: Number(len) };
}
