import { closeSync, readSync, writeSync } from 'node:fs';
import { HvtError } from '../errors.js';
import { GUEST_PAGE_SIZE } from '../loader.js';
import {
  ExitKind,
  type Platform,
  type PollSet,
  Prot,
  type TcpConnection,
  type Vm,
  type VmDebug,
} from '../platform.js';
import type { SandboxNeeds } from '../sandbox-policy.js';
import {
  GDB_LOST,
  type GdbLink,
  GdbSession,
  GdbSignal,
  type GdbTarget,
  type Resume,
} from './gdb-protocol.js';
import type { Module, SetupContext } from './module.js';
import { ipFamily, scanDecimal } from './scan.js';

/** The reference's default port. */
export const GDB_DEFAULT_PORT = 1234;
/**
 * hvt.js listens on the loopback address unless told otherwise: the
 * reference listens on every address, which hands the guest to anyone who
 * can reach the port.
 */
export const GDB_DEFAULT_ADDRESS = '127.0.0.1';

/**
 * The gdb module (docs/guest-abi.md 11.5): a GDB remote-serial-protocol
 * server for one debugger, on Linux KVM x86_64, with the sandbox on.
 *
 * Setup (before the sandbox) listens, waits for the debugger and accepts it,
 * then arms the vCPU to stop on the debugger's input. The first stop is the
 * guest's first instruction, served once the sandbox is on; after that the
 * run loop hands this module every exit it might own: the debugger's
 * breakpoints and steps (SIGTRAP), its Ctrl-C (SIGINT), entry failures and
 * internal errors (SIGSEGV). The protocol itself is gdb-protocol.ts.
 */
export class GdbModule implements Module {
  readonly name = 'gdb';
  readonly usage =
    '--gdb (optional flag for running in a gdb debug session)\n' +
    '  [ --gdb-port=1234 ] (port to use) \n' +
    `  [ --gdb-listen=${GDB_DEFAULT_ADDRESS} ] (address to listen on; others expose the guest)`;
  private enabled = false;
  private port = GDB_DEFAULT_PORT;
  private address = GDB_DEFAULT_ADDRESS;
  private connection: TcpConnection | undefined;
  private session: GdbSession | undefined;
  private debug: VmDebug | undefined;
  /** The vCPU's debug ioctls, from setup on. */
  private debugNeeds: SandboxNeeds | undefined;

  /** A debugger steps the guest and stops it anywhere: no hypercall is served natively. */
  get seesEveryExit(): boolean {
    return this.enabled;
  }

  handleOption(arg: string): boolean {
    if (arg === '--gdb') {
      this.enabled = true;
      return true;
    }
    if (arg.startsWith('--gdb-port=')) {
      const port = scanDecimal(arg.slice('--gdb-port='.length));
      if (port === undefined || port < 0n || port > 65535n) {
        throw new HvtError('Malformed argument to --gdb-port');
      }
      this.port = Number(port);
      return true;
    }
    if (arg.startsWith('--gdb-listen=')) {
      const address = arg.slice('--gdb-listen='.length);
      if (ipFamily(address) === 0) throw new HvtError('Malformed argument to --gdb-listen');
      this.address = address;
      return true;
    }
    return false;
  }

  setup(ctx: SetupContext): void {
    if (!this.enabled) return;
    const { platform, vm, warn } = ctx;
    const debug = vm.debug;
    if (
      platform.arch !== 'x86_64' ||
      debug === undefined ||
      platform.listenTcp === undefined ||
      platform.acceptTcp === undefined
    ) {
      throw new HvtError('GDB support not implemented on this backend/architecture');
    }
    if (!isLoopback(this.address)) {
      warn(
        `WARNING: --gdb-listen=${this.address}: whoever can reach port ${this.port} there ` +
          'controls the guest and reads its memory',
      );
    }
    let listener: ReturnType<NonNullable<Platform['listenTcp']>>;
    try {
      listener = platform.listenTcp(this.address, this.port);
    } catch (error) {
      throw new HvtError(`${syscallOf(error)} failed: ${(error as Error).message}`);
    }
    warn('Waiting for a debugger. Connect to it like this:');
    warn(`\tgdb --ex="target remote ${connectHost(this.address)}:${listener.port}" KERNEL`);
    const connection = platform.acceptTcp(listener);
    if (connection === undefined) {
      throw new HvtError(`Exiting on signal ${platform.pendingSignal()}`);
    }
    this.connection = connection;
    warn(`Connection from debugger at ${connection.peer}`);
    debug.interruptOn(connection.fd);
    this.debug = debug;
    this.debugNeeds = debug.sandboxNeeds();

    const link = socketLink(connection.fd, platform.createPollSet([connection.fd]), platform);
    this.session = new GdbSession(link, guestTarget(vm, debug), warn);
    ctx.registerRunStart(() => this.stop(GdbSignal.NONE, false));
    ctx.registerExitHandler((kind) => this.handleExit(kind, debug));
  }

  /** An exit the run loop offers: true when this module served it and the guest runs on. */
  private handleExit(kind: ExitKind, debug: VmDebug): boolean {
    const session = this.session;
    if (session === undefined) return false;
    switch (kind) {
      case ExitKind.DEBUG:
        return this.stop(GdbSignal.TRAP);
      case ExitKind.DEBUG_INPUT: {
        const input = session.input();
        if (input === 'gone') throw new HvtError(GDB_LOST);
        return input === 'interrupt' ? this.stop(GdbSignal.INT) : true;
      }
      case ExitKind.FAIL_ENTRY:
      case ExitKind.INTERNAL_ERROR:
        return this.stop(GdbSignal.SEGV);
      default:
        // The reference's W00; the tender then fails as it would without gdb.
        if (debug.halted(kind)) session.notify('W00');
        return false;
    }
  }

  /** Serves a stop; after a detach the guest runs on without the debugger. */
  private stop(signal: number, announce = true): true {
    const resume: Resume = this.session!.stopped(signal, announce);
    if (resume === 'detach') this.disconnect();
    return true;
  }

  private disconnect(): void {
    this.session = undefined;
    this.debug?.interruptOff();
    if (this.connection !== undefined) closeQuietly(this.connection.fd);
    this.connection = undefined;
  }

  sandboxNeeds(): SandboxNeeds {
    const connection = this.connection;
    if (connection === undefined) return {};
    return {
      fds: [
        {
          fd: connection.fd,
          kind: 'socket',
          owner: 'gdb',
          what: `debugger connection from ${connection.peer}`,
          ops: ['read', 'write', 'poll'],
        },
        ...(this.debugNeeds?.fds ?? []),
      ],
    };
  }

  /** Called by the tender on every way out: the debugger hears `X09` (the reference's atexit). */
  close(): void {
    this.session?.farewell();
    this.disconnect();
  }
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.');
}

/** What to put after `target remote` (the reference always says localhost). */
function connectHost(address: string): string {
  if (address === '0.0.0.0' || address === '::' || isLoopback(address)) return 'localhost';
  return ipFamily(address) === 6 ? `[${address}]` : address;
}

function syscallOf(error: unknown): string {
  const syscall = (error as { syscall?: unknown }).syscall;
  return typeof syscall === 'string' ? syscall : 'listen';
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Closed already.
  }
}

/**
 * The connection as the session reads and writes it: a wait for input that
 * SIGINT and SIGTERM end (then `Exiting on signal`), and plain read and
 * write (the socket is non-blocking: a debugger that stops reading its
 * replies is an error, never a hang).
 */
function socketLink(fd: number, wait: PollSet, platform: Platform): GdbLink {
  const buffer = Buffer.alloc(4096);
  return {
    receive(): Uint8Array | undefined {
      for (;;) {
        const signal = platform.pendingSignal();
        if (signal !== 0) throw new HvtError(`Exiting on signal ${signal}`);
        if (wait.wait(-1) === 0) continue;
        let n: number;
        try {
          n = readSync(fd, buffer, 0, buffer.length, null);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'EAGAIN' || code === 'EINTR') continue;
          if (code === 'ECONNRESET') return undefined;
          throw new HvtError(`GDB: cannot read from the debugger: ${(error as Error).message}`);
        }
        return n === 0 ? undefined : buffer.slice(0, n);
      }
    },
    send(bytes: Uint8Array): void {
      let done = 0;
      while (done < bytes.length) {
        try {
          done += writeSync(fd, bytes, done, bytes.length - done);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'EINTR') continue;
          if (code === 'EAGAIN') throw new HvtError('GDB: the debugger does not read our replies');
          throw new HvtError(`GDB: cannot write to the debugger: ${(error as Error).message}`);
        }
      }
    },
  };
}

/**
 * The stopped guest as the session sees it. Addresses are guest-physical
 * (the guest maps itself one to one) and must lie inside guest RAM. Pages the
 * loader made read-only on the host (text, rodata) are made writable for the
 * one write a breakpoint or `M` needs, then protected again: the guest never
 * runs with them writable.
 */
function guestTarget(vm: Vm, debug: VmDebug): GdbTarget {
  const memory = vm.memory;
  const inside = (addr: bigint, len: number): boolean =>
    addr >= 0n && addr + BigInt(len) <= BigInt(memory.size);
  /** Runs `fn` with [gpa, gpa+len) allowing `access` on the host, as it was before afterwards. */
  const withAccess = (gpa: number, len: number, access: number, fn: () => void): void => {
    const lifted: { page: number; prot: number }[] = [];
    const first = gpa - (gpa % GUEST_PAGE_SIZE);
    for (let page = first; page < gpa + len; page += GUEST_PAGE_SIZE) {
      const prot = memory.protectionAt(page);
      if ((prot & access) === access) continue;
      vm.protect(page, GUEST_PAGE_SIZE, prot | access);
      lifted.push({ page, prot });
    }
    try {
      fn();
    } finally {
      for (const { page, prot } of lifted) vm.protect(page, GUEST_PAGE_SIZE, prot);
    }
  };
  return {
    readMemory(addr, len) {
      if (!inside(addr, len)) return undefined;
      const out = new Uint8Array(len);
      let to = 0;
      withAccess(Number(addr), len, Prot.READ, () =>
        memory.forEachPiece(Number(addr), len, (view, offset, n) => {
          out.set(view.subarray(offset, offset + n), to);
          to += n;
        }),
      );
      return out;
    },
    writeMemory(addr, bytes) {
      if (!inside(addr, bytes.length)) return false;
      let from = 0;
      withAccess(Number(addr), bytes.length, Prot.READ | Prot.WRITE, () =>
        memory.forEachPiece(Number(addr), bytes.length, (view, offset, n) => {
          view.set(bytes.subarray(from, from + n), offset);
          from += n;
        }),
      );
      return true;
    },
    getState: () => debug.getState(),
    setState(state) {
      try {
        debug.setState(state);
        return true;
      } catch {
        return false;
      }
    },
    setGuestDebug: (request) => debug.setGuestDebug(request),
  };
}
