import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Guests, guestPaths, procStatus, SOLO5, SOLO5_HVT } from './tender-harness.js';

// The gdb module (docs/guest-abi.md 11.5) end to end on real KVM, sandboxed:
// stock gdb against our guest, a raw client sending what gdb never would, and
// the sandbox looked at while a debugger is attached.
//
// In the nested VM (QEMU TCG emulating SVM) a software breakpoint's INT3
// reaches the guest instead of exiting to KVM, and hardware breakpoints do
// not fire: there the breakpoint tests check what is visible (the INT3 at the
// right address, KVM taking the debug registers), and on a KVM that
// intercepts them, that the guest stops.

const MEM = '--mem=32';
const asRoot = process.getuid?.() === 0;
const IN_NESTED_VM = process.env.HVTJS_IN_VM === '1';
const TIMEOUT = 240_000;

let g: Guests;
let scratch: string;
beforeAll(async () => {
  g = await guestPaths();
  scratch = await mkdtemp(join(tmpdir(), 'hvtjs-gdb-'));
  chmodSync(scratch, 0o777);
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

interface Exited {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A tender started with --gdb on a free port. */
interface Debugged {
  readonly child: ChildProcess;
  readonly port: Promise<number>;
  readonly exited: Promise<Exited>;
  stdout(): string;
  stderr(): string;
  waitStdout(pattern: RegExp, ms?: number): Promise<void>;
}

function startDebugged(args: string[], command = [SOLO5_HVT]): Debugged {
  const child = spawn(process.execPath, [...command, MEM, '--gdb', '--gdb-port=0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const watchers: (() => void)[] = [];
  const poke = () => {
    for (const w of watchers.splice(0)) w();
  };
  child.stdout!.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
    poke();
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
    poke();
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT);
  const exited = new Promise<Exited>((resolve) => {
    child.on('close', (status, signal) => {
      clearTimeout(killer);
      poke();
      resolve({ status, signal, stdout, stderr });
    });
  });
  const until = (test: () => boolean, what: string, ms = 120_000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
      const check = () => {
        if (test()) {
          clearTimeout(timer);
          resolve();
        } else if (child.exitCode !== null || child.signalCode !== null) {
          clearTimeout(timer);
          reject(new Error(`tender exited waiting for ${what}:\n${stderr}`));
        } else watchers.push(check);
      };
      check();
    });
  const port = until(() => /target remote localhost:\d+/.test(stderr), 'the port').then(() =>
    Number(/target remote localhost:(\d+)/.exec(stderr)![1]),
  );
  return {
    child,
    port,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    waitStdout: (pattern, ms) => until(() => pattern.test(stdout), String(pattern), ms),
  };
}

/** Stock gdb in batch mode, running `commands` against the tender on `port`. */
function runGdb(
  port: number,
  kernel: string,
  commands: string[],
  onStdout?: (stdout: string, child: ChildProcess) => void,
): Promise<Exited> {
  const args = ['--batch', '-nx', '-ex', 'set remotetimeout 120', '-ex', 'set pagination off'];
  args.push('-ex', `target remote localhost:${port}`);
  for (const c of commands) args.push('-ex', c);
  args.push(kernel);
  const child = spawn('gdb', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
    onStdout?.(stdout, child);
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT);
  return new Promise((resolve) => {
    child.on('close', (status, signal) => {
      clearTimeout(killer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0');
const sum = (data: string) => [...data].reduce((s, c) => (s + c.charCodeAt(0)) & 0xff, 0);
const packet = (data: string) => `$${data}#${hex2(sum(data))}`;

/** A client that speaks the protocol by hand, to send what gdb never would. */
class RawClient {
  private buf = '';
  private waiter: (() => void) | undefined;
  private closed = false;
  ackMode = true;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => {
      this.buf += c;
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => {});
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  write(raw: string | Buffer): void {
    this.socket.write(typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw);
  }

  /** Waits until the input matches `re`; consumes it up to the end of the match. */
  take(re: RegExp, ms = 60_000): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${re} in ${JSON.stringify(this.buf)}`)),
        ms,
      );
      const check = () => {
        const m = re.exec(this.buf);
        if (m) {
          clearTimeout(timer);
          this.waiter = undefined;
          this.buf = this.buf.slice(m.index + m[0].length);
          resolve(m);
        } else if (this.closed) {
          clearTimeout(timer);
          reject(new Error(`connection closed waiting for ${re}`));
        } else this.waiter = check;
      };
      check();
    });
  }

  /** Sends a packet and returns the reply's data (acknowledging it in acknowledgement mode). */
  async command(data: string): Promise<string> {
    this.write(packet(data));
    if (this.ackMode) await this.take(/^\+/);
    const m = await this.take(/^\$([^#]*)#([0-9a-f]{2})/);
    expect(Number.parseInt(m[2]!, 16)).toBe(sum(m[1]!));
    if (this.ackMode) this.write('+');
    return m[1]!;
  }

  end(): void {
    this.socket.destroy();
  }
}

/** A symbol's address in `kernel` (nm). */
function symbol(kernel: string, name: string): Promise<bigint> {
  const r = spawn('nm', [kernel]);
  return new Promise((resolve, reject) => {
    let out = '';
    r.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
    });
    r.on('close', () => {
      const m = new RegExp(`^([0-9a-f]+) \\w ${name}$`, 'm').exec(out);
      if (m) resolve(BigInt(`0x${m[1]}`));
      else reject(new Error(`no symbol ${name} in ${kernel}`));
    });
  });
}

describe('gdb: stock gdb against our guest', () => {
  it('steps from the entry, reads registers and memory, changes a global and a local, is interrupted with Ctrl-C twice, detaches, and the guest runs to its normal exit', async () => {
    const tender = startDebugged([g.gdb!]);
    const port = await tender.port;
    expect(tender.stderr()).toContain('Waiting for a debugger. Connect to it like this:');
    // Ctrl-C (SIGINT to gdb, which sends it on) once the guest runs after
    // each `continue`: the guest announces the first, the second is a while
    // after gdb printed its marker.
    const kicked = new Set<string>();
    const kickAfter = (
      mark: string,
      out: string,
      child: ChildProcess,
      ready: () => Promise<void>,
    ) => {
      if (!out.includes(mark) || kicked.has(mark)) return;
      kicked.add(mark);
      void ready().then(() => setTimeout(() => child.kill('SIGINT'), 4000));
    };
    const session = runGdb(
      port,
      g.gdb!,
      [
        'p/x $pc',
        'stepi',
        'p/x $pc',
        'info registers rdi rsp',
        'p/x gdb_global',
        'set var gdb_global = 0x5a5a',
        'echo MARK-first-continue\\n',
        'continue',
        'p/x gdb_local',
        'set var gdb_local = 0x777',
        'echo MARK-second-continue\\n',
        'continue',
        'set var gdb_spin = 0',
        'p/x gdb_global',
        'detach',
      ],
      (out, child) => {
        kickAfter('MARK-first-continue', out, child, () => tender.waitStdout(/gdb: spinning=1/));
        kickAfter('MARK-second-continue', out, child, async () => {});
      },
    );
    const gdb = await session;
    const done = await tender.exited;
    const out = gdb.stdout;
    const pcs = [...out.matchAll(/^\$\d+ = (0x[0-9a-f]+)$/gm)].map((m) => m[1]);
    // The first stop is the entry point; one instruction later rip has moved.
    expect(pcs[0]).toBe(`0x${(await symbol(g.gdb!, '_start')).toString(16)}`);
    expect(pcs[1]).not.toBe(pcs[0]);
    expect(out).toMatch(/rdi\s+0x10000\s/);
    expect(out).toMatch(/^\$\d+ = 0x1122334455667788$/m);
    expect(out.match(/received signal SIGINT/g)?.length).toBe(2);
    expect(out).toMatch(/^\$\d+ = 0x4242$/m);
    expect(out).toMatch(/^\$\d+ = 0x5a5a$/m);
    expect(out).toContain('detached');
    expect(done.stderr).toMatch(/Connection from debugger at 127\.0\.0\.1/);
    expect(done.stderr).toContain('Debugger detached');
    expect(done.stdout).toContain('gdb: global=0x5a5a local=0x777');
    expect(done.stdout).toMatch(/SUCCESS\n$/);
    expect(done.status).toBe(0);
  });

  it('solo5 run --gdb: a HLT is reported to gdb as an exit (W00), the tender fails as without gdb', async () => {
    const tender = startDebugged([g.hlt!], [SOLO5, 'run']);
    const gdb = await runGdb(await tender.port, g.hlt!, ['continue']);
    const done = await tender.exited;
    expect(gdb.stdout).toMatch(/exited normally/);
    expect(done.stderr).toMatch(/^solo5: KVM: unhandled exit: exit_reason=0x5, rip=0x/m);
    expect(done.status).toBe(1);
  });

  it('with --dumpcore: the guest aborts, the core is dumped, gdb hears the tender end (X09)', async () => {
    const tender = startDebugged([`--dumpcore=${scratch}`, g.abort!]);
    const gdb = await runGdb(await tender.port, g.abort!, ['continue']);
    const done = await tender.exited;
    expect(gdb.stdout).toMatch(/SIGKILL/);
    const core = join(scratch, `core.solo5-hvt.${tender.child.pid}`);
    expect(done.stderr).toContain(`dumpcore: dumping guest core to: ${core}`);
    expect(existsSync(core)).toBe(true);
    expect(done.status).toBe(255);
  });

  it('software breakpoint: the INT3 goes where gdb asks; the guest stops there where KVM intercepts it', async () => {
    const tender = startDebugged([g.gdb!, 'spin=0']);
    const gdb = await runGdb(await tender.port, g.gdb!, ['break gdb_checkpoint', 'continue']);
    const done = await tender.exited;
    const checkpoint = await symbol(g.gdb!, 'gdb_checkpoint');
    if (IN_NESTED_VM) {
      // TCG hands the INT3 to the guest: it traps just after our breakpoint.
      expect(done.stdout).toContain(
        `trap: type=#BP ec=0x0 rip=0x${(checkpoint + 1n).toString(16)}`,
      );
      expect(done.status).toBe(255);
    } else {
      expect(gdb.stdout).toMatch(/Breakpoint 1, .*gdb_checkpoint/);
    }
  });
});

describe('gdb: the protocol from a raw client', () => {
  it('register round trip, hostile packets, breakpoint bookkeeping; a debugger that vanishes ends the tender', async () => {
    const tender = startDebugged([g.gdb!, 'spin=0']);
    const c = await RawClient.connect(await tender.port);
    // Noise before a packet is skipped; '?' at the first stop says signal 0.
    c.write('garbage\x00\xff');
    expect(await c.command('?')).toBe('S00');
    expect(await c.command('qSupported:multiprocess+')).toBe('PacketSize=1000;QStartNoAckMode+');

    // g, G with the same, g: unchanged; then rax changed through G.
    const regs = await c.command('g');
    expect(regs.length).toBe(536 * 2);
    expect(await c.command(`G${regs}`)).toBe('OK');
    expect(await c.command('g')).toBe(regs);
    const changed = `efbeadde00000000${regs.slice(16)}`;
    expect(await c.command(`G${changed}`)).toBe('OK');
    expect(await c.command('g')).toBe(changed);
    expect(await c.command(`G${regs}`)).toBe('OK');
    expect(await c.command(`G${regs.slice(2)}`)).toBe('E01');
    // A selector cannot be changed.
    expect(await c.command(`G${regs.slice(0, 280)}ff${regs.slice(282)}`)).toBe('E01');

    // A bad checksum is refused and reported.
    c.write('$g#00');
    await c.take(/^-/);
    // An oversized packet is refused with an error.
    c.write(packet('m'.repeat(5000)));
    await c.take(/^\+/);
    expect((await c.take(/^\$([^#]*)#../))[1]).toBe('E01');
    c.write('+');

    // Memory: malformed, out of guest RAM, wrapping, too long, wrong lengths.
    for (const bad of [
      'm',
      'mzz,4',
      'm100',
      'm100,',
      'm1ffffffffffffffff,1',
      'mffffffffffffffff,2',
    ]) {
      expect(await c.command(bad)).toBe('E01');
    }
    expect(await c.command('m2000000,1')).toBe('E01');
    expect(await c.command('m1ffffff,1')).toMatch(/^[0-9a-f]{2}$/);
    expect(await c.command('m0,4000')).toBe('E01');
    expect(await c.command('M2000000,1:00')).toBe('E01');
    expect(await c.command('M1000,2:00')).toBe('E01');
    expect(await c.command('M1000,1:zz')).toBe('E01');

    // gdb_global through m and M.
    const global = (await symbol(g.gdb!, 'gdb_global')).toString(16);
    expect(await c.command(`m${global},8`)).toBe('8877665544332211');
    expect(await c.command(`M${global},8:0100000000000000`)).toBe('OK');
    expect(await c.command(`m${global},8`)).toBe('0100000000000000');

    // A software breakpoint writes INT3 into read-only text and takes it back.
    const checkpoint = (await symbol(g.gdb!, 'gdb_checkpoint')).toString(16);
    const original = await c.command(`m${checkpoint},1`);
    expect(original).not.toBe('cc');
    expect(await c.command(`Z0,${checkpoint},1`)).toBe('OK');
    expect(await c.command(`m${checkpoint},1`)).toBe('cc');
    expect(await c.command(`z0,${checkpoint},1`)).toBe('OK');
    expect(await c.command(`m${checkpoint},1`)).toBe(original);
    expect(await c.command(`z0,${checkpoint},1`)).toBe('E01');
    // Hardware: four slots, aligned lengths 1/2/4/8, no fifth.
    expect(await c.command(`Z1,${checkpoint},1`)).toBe('OK');
    expect(await c.command(`Z2,${global},8`)).toBe('OK');
    expect(await c.command(`Z3,${global},4`)).toBe('OK');
    expect(await c.command(`Z4,${global},2`)).toBe('OK');
    expect(await c.command(`Z2,${global},1`)).toBe('E01');
    expect(await c.command('Z2,103001,4')).toBe('E01');
    expect(await c.command('Z9,1000,1')).toBe('E01');
    expect(await c.command(`Z2,${global},3`)).toBe('E01');
    for (const [t, len] of [
      [1, 1],
      [2, 8],
      [3, 4],
      [4, 2],
    ] as const) {
      const addr = t === 1 ? checkpoint : global;
      expect(await c.command(`z${t},${addr},${len}`)).toBe('OK');
    }
    // Unknown commands: the empty reply.
    expect(await c.command('vFrobnicate')).toBe('');
    expect(await c.command('c1000')).toBe('');

    // No-ack mode, then the debugger vanishes while the guest is stopped.
    expect(await c.command('QStartNoAckMode')).toBe('OK');
    c.ackMode = false;
    expect(await c.command('?')).toBe('S00');
    c.end();
    const done = await tender.exited;
    expect(done.stderr).toMatch(/GDB: bad checksum from the debugger/);
    expect(done.stderr).toMatch(/GDB: packet longer than 4096 bytes/);
    expect(done.stderr).toContain(
      'solo5-hvt: GDB: Exiting as we could not receive the next command from the debugger.',
    );
    expect(done.status).toBe(1);
  });

  it('a debugger that vanishes while the guest runs ends the tender as well', async () => {
    const tender = startDebugged([g.gdb!]);
    const c = await RawClient.connect(await tender.port);
    expect(await c.command('?')).toBe('S00');
    c.write(packet('c'));
    await c.take(/^\+/);
    await tender.waitStdout(/gdb: spinning=1/);
    c.end();
    const done = await tender.exited;
    expect(done.stderr).toContain('GDB: Exiting as we could not receive the next command');
    expect(done.status).toBe(1);
  });

  it('is sandboxed while the debugger is attached, and --print-policy lists what gdb keeps', async () => {
    const tender = startDebugged([g.gdb!, 'spin=0']);
    const c = await RawClient.connect(await tender.port);
    expect(await c.command('?')).toBe('S00');
    const status = procStatus(`/proc/${tender.child.pid}/status`);
    expect(status.Seccomp).toBe('2');
    expect(status.NoNewPrivs).toBe('1');
    if (asRoot) expect(status.Uid).toBe('65534\t65534\t65534\t65534');
    expect(await c.command('D')).toBe('OK');
    const done = await tender.exited;
    expect(done.stdout).toMatch(/SUCCESS\n$/);
    expect(done.status).toBe(0);

    const printing = startDebugged(['--print-policy', g.gdb!]);
    const p = await RawClient.connect(await printing.port);
    const printed = await printing.exited;
    p.end();
    const json = JSON.parse(printed.stdout) as {
      policy: {
        fds: { fd: number; kind: string; owner: string; ops: string[]; ioctls?: string[] }[];
      };
      compiled: { seccomp: { allow: { syscall: string; args: { means: string }[] }[] } };
    };
    const socket = json.policy.fds.find((f) => f.kind === 'socket')!;
    expect(socket).toMatchObject({ owner: 'gdb', ops: ['read', 'write', 'poll'] });
    const vcpu = json.policy.fds.find((f) => f.kind === 'vcpu')!;
    for (const name of ['KVM_SET_GUEST_DEBUG', 'KVM_SET_REGS', 'KVM_GET_FPU', 'KVM_SET_FPU']) {
      expect(vcpu.ioctls!.some((i) => i.startsWith(name))).toBe(true);
    }
    const onSocket = json.compiled.seccomp.allow.filter((r) =>
      r.args.some((a) => a.means.startsWith(`fd ${socket.fd} `)),
    );
    expect(onSocket.map((r) => r.syscall).sort()).toEqual(['read', 'write']);
    expect(printed.status).toBe(0);
  });
});

describe('gdb: waiting for a debugger that never comes', () => {
  for (const [signal, n] of [
    ['SIGTERM', 15],
    ['SIGINT', 2],
  ] as const) {
    it(`${signal} ends the wait with "Exiting on signal ${n}"`, async () => {
      const tender = startDebugged([g.hello!]);
      await tender.port;
      tender.child.kill(signal);
      const done = await tender.exited;
      expect(done.stderr).toContain(`solo5-hvt: Exiting on signal ${n}`);
      expect(done.status).toBe(1);
    });
  }
});
