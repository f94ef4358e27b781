import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FloodResult, type FloodTarget, flood, verifier } from './flood.js';
import {
  type Guests,
  guestPaths,
  HOST_IS_PVM,
  messages,
  ping,
  runTender,
  Taps,
  type TenderRun,
  tapName,
} from './tender-harness.js';

// Ring I/O for networking (docs/guest-abi.md 10) end to end: real KVM, real taps,
// real frames. The ring's host thread must move frames without corrupting
// them, and a guest that writes garbage into the ring must end in a clean
// message and exit status 1, or carry on, never in a crash or a hang.

/**
 * HVTJS_UNSAFE_NO_SANDBOX=1 runs the tender without its sandbox, to tell a
 * ring problem from a sandbox one; the suite itself runs sandboxed.
 */
const BASE = [
  ...(process.env['HVTJS_UNSAFE_NO_SANDBOX'] ? ['--unsafe-no-sandbox'] : []),
  '--mem=32',
];
const canTap = Taps.available();
const taps = new Taps();
const octet = 100 + ((process.pid + 37) % 100);
const hostIp = `10.${octet}.9.1`;
const guestIp = `10.${octet}.9.2`;
/** The flood the issue asks for; HVTJS_RING_FLOOD lowers it for a quick look. */
const FLOOD = Number(process.env['HVTJS_RING_FLOOD'] ?? 10_000);
const PATTERN = 'a55a0ff0c33c9669deadbeef01234567';
const PAYLOAD = 120;
/** The flood's target, once beforeAll made the tap. */
const target = (): FloodTarget => ({ tap, guestIp, pattern: PATTERN, payload: PAYLOAD });
/**
 * Allowance per flood packet: PVM emulates every guest instruction (~5 ms a
 * packet measured); the nested VM emulates the whole machine (~20 ms). A
 * hang still fails, only later.
 */
const PACKET_MS = process.env['HVTJS_IN_VM'] ? 100 : HOST_IS_PVM ? 15 : 20;
const FLOOD_DEADLINE_S = Math.ceil((FLOOD * PACKET_MS) / 1000) + 30;

let g: Guests;
let scratch: string;
let disk: string;
let tap: string;

beforeAll(async () => {
  g = await guestPaths();
  scratch = await mkdtemp(join(tmpdir(), 'hvtjs-ring-'));
  disk = join(scratch, 'disk');
  writeFileSync(disk, new Uint8Array(8192));
  if (canTap) {
    tap = taps.add(tapName('r'), hostIp);
    // Should the flood get ahead of a slow guest after all, the requests
    // wait in the tap's queue instead of being dropped from it.
    spawnSync('ip', ['link', 'set', tap, 'txqueuelen', '20000']);
  }
});
afterAll(async () => {
  taps.removeAll();
  await rm(scratch, { recursive: true, force: true });
});

/** The tender's messages, without the warnings --unsafe-no-sandbox adds. */
function said(run: TenderRun): string[] {
  return messages(run).filter(
    (m) => BASE[0] !== '--unsafe-no-sandbox' || !m.startsWith('WARNING: '),
  );
}

/** host_features and net_ring as the runtime's banner prints them. */
function bootInfo(run: TenderRun): { features: number; ring: number; mem: number } {
  const m = /mem_size=0x([0-9a-f]+) .*host_features=0x([0-9a-f]+) net_ring=0x([0-9a-f]+)/.exec(
    run.stdout,
  );
  if (!m) throw new Error(`no boot info in:\n${run.stdout}`);
  return {
    mem: Number.parseInt(m[1]!, 16),
    features: Number.parseInt(m[2]!, 16),
    ring: Number.parseInt(m[3]!, 16),
  };
}

/** A run that ended by itself: an exit status, no signal (no crash, no kill by the harness). */
function expectExited(run: TenderRun): void {
  expect(run.signal).toBeNull();
  expect(run.status).not.toBeNull();
}

describe('ring offer', () => {
  it('is not made without a net device', async () => {
    const run = await runTender([...BASE, g['hello']!]);
    expect(bootInfo(run)).toMatchObject({ features: 0, ring: 0, mem: 32 << 20 });
    expect(run.status).toBe(0);
  });

  it.skipIf(!canTap)(
    'is made with a net device: the ring lies right above guest memory',
    async () => {
      const run = await runTender([
        ...BASE,
        `--block:storage=${disk}`,
        `--net:service0=${tap}`,
        g['hostile']!,
        'mode=none',
      ]);
      // --mem=32 plus the 2 MiB ring area: the guest still sees 32 MiB.
      expect(bootInfo(run)).toEqual({ features: 1, ring: 32 << 20, mem: 32 << 20 });
      expect(run.status).toBe(0);
    },
  );
});

describe.skipIf(!canTap)('ring I/O', () => {
  /** Starts `args` and runs `traffic` once the guest serves. */
  async function serve<T>(
    args: string[],
    traffic: () => Promise<T>,
    timeoutMs = 60_000,
  ): Promise<{ run: TenderRun; result: T | undefined }> {
    let started: Promise<T> | undefined;
    const run = await runTender(args, {
      timeoutMs,
      onStdout: (out) => {
        if (started === undefined && out.includes('serving')) started = traffic();
      },
    });
    return { run, result: started ? await started : undefined };
  }

  // The same flood through the ring and, for guests that do not use it,
  // through the NET_READ/NET_WRITE hypercalls.
  it.each(['ring', 'hypercall'] as const)(
    `ringecho answers a flood of ${FLOOD} pings with a payload pattern through the %s path, none corrupted`,
    async (path) => {
      const deadlineS = FLOOD_DEADLINE_S;
      // One ping first, so that the flood does not lose its first packet to ARP.
      const replies = FLOOD + 1;
      const check = verifier(target(), replies, deadlineS + 30);
      await check.ready;
      const started = Date.now();
      const { run, result } = await serve(
        [
          ...BASE,
          `--net:service0=${tap}`,
          g['ringecho']!,
          `ip=${guestIp}`,
          'quiet=1',
          `limit=${replies}`,
          `path=${path}`,
        ],
        async () =>
          [await flood(target(), 1, 10), await flood(target(), FLOOD, deadlineS)] as const,
        (deadlineS + 60) * 1000,
      );
      check.stop();
      const verified = await check.result;
      const seconds = (Date.now() - started) / 1000;
      console.log(
        `${path} flood: ${result?.[1].received}/${FLOOD} replies in ${seconds.toFixed(1)} s; ` +
          `verifier: ${JSON.stringify(verified)}`,
      );
      expectExited(run);
      expect(run.stdout).toContain(
        path === 'ring'
          ? 'ringecho: using the ring at 0x2000000'
          : 'ringecho: using hypercalls (ring offered)',
      );
      expect(run.stdout).toContain(`answered ${replies} echo requests`);
      expect(result?.[0]).toMatchObject({ received: 1 });
      expect(result?.[1]).toMatchObject({ transmitted: FLOOD, received: FLOOD, loss: '0%' });
      // ping -f does not compare reply data: the verifier did, reply by reply.
      expect(verified).toMatchObject({ replies, intact: replies, corrupt: 0, unmatched: 0 });
      expect(run.status).toBe(0);
    },
    (FLOOD_DEADLINE_S + 120) * 1000,
  );

  it('keeps serving guests that use hypercalls while the ring is offered', async () => {
    for (const guest of [[g['net']!], [g['ringecho']!, 'path=hypercall']]) {
      const { run, result } = await serve(
        [...BASE, `--net:service0=${tap}`, ...guest, `ip=${guestIp}`, 'limit=3'],
        () => ping(tap, guestIp, 3),
      );
      expect(result).toMatchObject({ transmitted: 3, received: 3 });
      expect(bootInfo(run)).toMatchObject({ features: 1, ring: 32 << 20 });
      if (guest.includes('path=hypercall')) {
        expect(run.stdout).toContain('ringecho: using hypercalls (ring offered)');
      }
      expect(run.stdout).toContain('answered 3 echo requests');
      expect(run.status).toBe(0);
    }
  });

  it('ends with "Exiting on signal 15" on SIGTERM during ring traffic, no thread left', async () => {
    let traffic: Promise<FloodResult> | undefined;
    const stopFlood = new AbortController();
    const run = await runTender(
      [...BASE, `--net:service0=${tap}`, g['ringecho']!, `ip=${guestIp}`, 'quiet=1'],
      {
        onStdout: (out, child) => {
          if (traffic !== undefined || !out.includes('serving')) return;
          traffic = flood(target(), 100_000, 60, stopFlood.signal);
          // Mid-flood: the ring thread and the guest are both busy.
          setTimeout(() => child.kill('SIGTERM'), 2000);
        },
      },
    );
    stopFlood.abort();
    const result = await traffic;
    expectExited(run);
    expect(result!.received).toBeGreaterThan(0);
    expect(said(run)).toEqual(['Exiting on signal 15']);
    expect(run.status).toBe(1);
    // A thread left hanging would have kept the process alive: runTender's
    // 60 s SIGKILL would show as a signal, and the flood would not end early.
    expect(run.ms).toBeLessThan(30_000);
  });
});

describe.skipIf(!canTap)('hostile ring guest', () => {
  const hostile = (mode: string) =>
    runTender([
      ...BASE,
      `--block:storage=${disk}`,
      `--net:service0=${tap}`,
      g['ringhostile']!,
      `mode=${mode}`,
    ]);
  const hex = (n: number) => `0x${n.toString(16)}`;
  const addresses = (run: TenderRun) => {
    const m = /ring=0x([0-9a-f]+) mem_size=0x([0-9a-f]+) frame=0x([0-9a-f]+)/.exec(run.stdout)!;
    return {
      ring: Number.parseInt(m[1]!, 16),
      mem: Number.parseInt(m[2]!, 16),
      frame: Number.parseInt(m[3]!, 16),
    };
  };
  type Where = ReturnType<typeof addresses>;
  const access = (op: 'WRITE' | 'READ', gpa: string, sz: number) =>
    `net.ts:RING_NET_${op}: Invalid guest access: gpa=${gpa}, sz=${sz}`;
  const indices = (tail: number) =>
    `net.ts:RING: Invalid guest ring indices: ent_head=0, ent_tail=${tail}`;

  // The thread stops the guest; the tender says why and exits with 1.
  const fatal: Record<string, (w: Where) => string> = {
    'tail-far': () => indices(5000),
    'tail-behind': () => indices(0xffffffff),
    'tail-1025': () => indices(1025),
    'write-outside': (w) => access('WRITE', hex(w.mem + 0x1000), 60),
    'write-ring': (w) => access('WRITE', hex(w.ring), 60),
    'write-top': (w) => access('WRITE', hex(w.mem - 60), 60),
    'write-wrap': () => access('WRITE', '0xfffffffffffff000', 0x2000),
    'write-len-max': (w) => access('WRITE', hex(w.frame), 0xffffffff),
    'write-len0': () => 'Fatal write error on net device: Invalid argument',
    'read-outside': (w) => access('READ', hex(w.mem + 0x1000), 2048),
    'read-ring': (w) => access('READ', hex(w.ring), 2048),
    'read-top': (w) => access('READ', hex(w.mem - 2048), 2048),
    'read-wrap': () => access('READ', '0xfffffffffffff000', 0x2000),
    'read-len-max': (w) => access('READ', hex(w.frame), 0xffffffff),
  };
  for (const [mode, expected] of Object.entries(fatal)) {
    it(`${mode}: the tender stops it cleanly, exit 1`, async () => {
      const run = await hostile(mode);
      expectExited(run);
      expect(run.stdout).toContain(`ringhostile: mode=${mode} `);
      expect(run.stdout).not.toContain('UNEXPECTED');
      expect(said(run)).toEqual([expected(addresses(run))]);
      expect(run.status).toBe(1);
    });
  }

  // The host skips, completes with an error, or ignores: the guest carries on.
  const survives: Record<string, RegExp[]> = {
    'bad-handles': [
      /writes with bad handles: skipped, com_tail=0/,
      ...['0x0', '0x1', '0x3f', '0x40', '0xffffffff'].map(
        (h) => new RegExp(`read handle=${h}: ret=2 len=0`),
      ),
    ],
    'unknown-op': [/unknown operations: consumed, com_tail=0/],
    'read-len0': [/read len=0: ret=1 len=0/],
    'write-64k': [/write len=70000: consumed/],
    'com-head': [
      /com_head=0xdeadbeef: completion in slot 0 ret=2/,
      /com_head=7: completion in slot 1 ret=2/,
    ],
    'host-fields': [/after tampering: ent_head=1 com_tail=1/],
    'tail-1024': [/1024 zeroed entries: consumed, com_tail=0/],
    'kick-storm': [/read after the kicks: ret=2 len=0/],
  };
  for (const [mode, lines] of Object.entries(survives)) {
    it(`${mode}: the guest carries on`, async () => {
      const run = await hostile(mode);
      expectExited(run);
      for (const line of lines) expect(run.stdout).toMatch(line);
      expect(run.stdout).toContain('SUCCESS\n');
      expect(said(run)).toEqual([]);
      expect(run.status).toBe(0);
    });
  }

  it('flip: an entry changed while the host reads it is acted on as one reading', async () => {
    // Which reading the host gets is a race; both outcomes are right. What
    // must never happen is a check of one length and a write of another
    // ("Bad address" from a write past guest RAM) or a crash.
    const run = await hostile('flip');
    expectExited(run);
    if (run.status === 0) {
      expect(run.stdout).toContain('flipped entries: all sent');
    } else {
      expect(said(run)).toEqual([access('WRITE', hex(addresses(run).frame), 0xffffffff)]);
      expect(run.status).toBe(1);
    }
  });
});
