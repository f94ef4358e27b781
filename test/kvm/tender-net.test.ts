import { closeSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostileFatal, memOf } from './hostile-expected.js';
import {
  type Guests,
  guestPaths,
  messages,
  ping,
  runTender,
  Taps,
  type TenderRun,
  tapName,
} from './tender-harness.js';

// End to end on real KVM with tap interfaces: network guests, and the hostile
// guest (whose manifest declares a net device, so it needs a tap too).

const MEM = '--mem=32';
const canTap = Taps.available();
const taps = new Taps();
// A /24 per tap, the second octet derived from our pid so that two test
// processes at once do not route into each other's taps.
const octet = 100 + (process.pid % 100);
const hostIp = (n: number) => `10.${octet}.${n}.1`;
const guestIp = (n: number) => `10.${octet}.${n}.2`;

let g: Guests;
let scratch: string;
let tap0: string;
let tap1: string;
let jumbo: string;
let down: string;

beforeAll(async () => {
  g = await guestPaths();
  scratch = await mkdtemp(join(tmpdir(), 'hvtjs-net-'));
  if (!canTap) return;
  tap0 = taps.add(tapName('a'), hostIp(1));
  tap1 = taps.add(tapName('b'), hostIp(2));
  jumbo = taps.add(tapName('j'), hostIp(3), 9000);
  down = tapName('d');
  taps.add(down, hostIp(4));
  const { spawnSync } = await import('node:child_process');
  spawnSync('ip', ['link', 'set', down, 'down']);
});
afterAll(async () => {
  taps.removeAll();
  await rm(scratch, { recursive: true, force: true });
});

/** Starts `args`, pings once the guest serves, and waits for both. */
async function serveAndPing(
  args: string[],
  pings: { tap: () => string; ip: string; count: number; size?: number }[],
): Promise<{ run: TenderRun; results: Awaited<ReturnType<typeof ping>>[] }> {
  let started: Promise<Awaited<ReturnType<typeof ping>>[]> | undefined;
  const run = await runTender(args, {
    onStdout: (out) => {
      if (started === undefined && out.includes('serving')) {
        started = Promise.all(pings.map((p) => ping(p.tap(), p.ip, p.count, p.size)));
      }
    },
  });
  return { run, results: started ? await started : [] };
}

describe.skipIf(!canTap)('net', () => {
  it('answers ARP and ICMP echo through a tap', async () => {
    const { run, results } = await serveAndPing(
      [MEM, `--net:service0=${tap0}`, g['net']!, `ip=${guestIp(1)}`, 'limit=5'],
      [{ tap: () => tap0, ip: guestIp(1), count: 5 }],
    );
    expect(results[0]).toMatchObject({ transmitted: 5, received: 5 });
    expect(run.stdout).toContain('arp reply');
    expect(run.stdout).toContain('answered 5 echo requests');
    expect(run.stdout).toMatch(/service0: handle=1 mac=([0-9a-f]{2}:){5}[0-9a-f]{2} mtu=1500 /);
    // A random MAC: unicast and locally administered.
    const first = Number.parseInt(/mac=([0-9a-f]{2})/.exec(run.stdout)![1]!, 16);
    expect(first & 3).toBe(2);
    expect(run.status).toBe(0);
  });

  it('takes the MTU from the tap: 9000-byte frames go through', async () => {
    const { run, results } = await serveAndPing(
      [MEM, `--net:service0=${jumbo}`, g['net']!, `ip=${guestIp(3)}`, 'limit=2'],
      [{ tap: () => jumbo, ip: guestIp(3), count: 2, size: 8000 }],
    );
    expect(run.stdout).toContain('mtu=9000');
    expect(results[0]).toMatchObject({ received: 2 });
    expect(run.status).toBe(0);
  });

  it('serves two interfaces at once, with the MAC given for one', async () => {
    const { run, results } = await serveAndPing(
      [
        MEM,
        `--net:service0=${tap0}`,
        '--net-mac:service1=02:00:00:0a:0b:0c',
        `--net:service1=${tap1}`,
        g['net2']!,
        `ip0=${guestIp(1)}`,
        `ip1=${guestIp(2)}`,
        'limit=3',
      ],
      [
        { tap: () => tap0, ip: guestIp(1), count: 3 },
        { tap: () => tap1, ip: guestIp(2), count: 3 },
      ],
    );
    expect(results.map((r) => r.received)).toEqual([3, 3]);
    expect(run.stdout).toContain('service1: handle=2 mac=02:00:00:0a:0b:0c');
    expect(run.status).toBe(0);
  });

  it('works with a tap passed as an open descriptor (@NN), MTU then 1500', async () => {
    // Opened here with the platform package, then inherited as fd 3.
    const kvm = await import('../../packages/linux-kvm/dist/index.js');
    const tap = kvm.openNet(tap0);
    try {
      let started: Promise<Awaited<ReturnType<typeof ping>>> | undefined;
      const run = await runTender(
        [MEM, '--net:service0=@3', g['net']!, `ip=${guestIp(1)}`, 'limit=2'],
        {
          extraFds: [tap.fd],
          onStdout: (out) => {
            if (started === undefined && out.includes('serving')) {
              started = ping(tap0, guestIp(1), 2);
            }
          },
        },
      );
      expect(messages(run)).toEqual([
        'service0: MTU of @3 is unknown, reporting 1500 to the guest',
      ]);
      expect(await started).toMatchObject({ received: 2 });
      expect(run.stdout).toContain('mtu=1500');
      expect(run.status).toBe(0);
    } finally {
      closeSync(tap.fd);
    }
  });

  it('says why an interface cannot be attached', async () => {
    const cases: [string, string][] = [
      ['nosuchtap0', 'No such file or directory'],
      [down, 'Network is down'],
      ['averyveryverylongname', 'File name too long'],
      ['@77', 'Bad file descriptor'],
    ];
    for (const [iface, reason] of cases) {
      // After the option: right after --mem= it would be offered twice (2.2).
      const run = await runTender([`--net:service0=${iface}`, MEM, g['net']!]);
      const shown = iface.slice(0, 19);
      expect(messages(run)).toEqual([
        `Could not attach interface: ${shown}: ${reason}`,
        `Invalid option: \`--net:service0=${iface}'`,
      ]);
      expect(run.status).toBe(1);
    }
  });

  it('reserves the ring area: with --mem=4096 the guest gets 4 GiB - 2 MiB', async () => {
    const disk = join(scratch, 'disk-4g');
    writeFileSync(disk, new Uint8Array(4096));
    const run = await runTender([
      '--mem=4096',
      `--block:storage=${disk}`,
      `--net:service0=${tap0}`,
      g['hostile']!,
      'mode=none',
    ]);
    expect(run.stdout).toContain('mem_size=0xffe00000');
    expect(run.status).toBe(0);
  });
});

describe.skipIf(!canTap)('hostile guest', () => {
  let disk: string;
  beforeAll(() => {
    disk = join(scratch, 'hostile-disk');
    writeFileSync(disk, new Uint8Array(8192));
  });

  const hostile = (mode: string) =>
    runTender([
      MEM,
      `--block:storage=${disk}`,
      `--net:service0=${tap0}`,
      g['hostile']!,
      `mode=${mode}`,
    ]);

  const fatal = hostileFatal('x86_64');

  for (const [mode, expected] of Object.entries(fatal)) {
    it(`${mode}: fatal, exit 1`, async () => {
      const run = await hostile(mode);
      expect(run.stdout).toContain(`hostile: mode=${mode} `);
      expect(run.stdout).not.toContain('UNEXPECTED');
      expect(messages(run)).toEqual([expected(memOf(run), run)]);
      expect(run.status).toBe(1);
    });
  }

  it('a kernel with a read-only segment over the ring area is refused, not a SIGSEGV', async () => {
    // --mem=6 with a net device: 8 MiB allocated, the ring area at 6 MiB. The
    // guest's data segment is moved there and made read-only; the reference
    // loads it and then dies clearing the ring through its read-only pages.
    const elf = new Uint8Array(readFileSync(g['hostile']!));
    const dv = new DataView(elf.buffer);
    const phoff = Number(dv.getBigUint64(32, true));
    const count = dv.getUint16(56, true);
    let patched = -1;
    for (let i = 0; i < count; i++) {
      const at = phoff + i * 56;
      const filesz = dv.getBigUint64(at + 32, true);
      if (dv.getUint32(at, true) === 1 && dv.getUint32(at + 4, true) === 6 && filesz > 0n) {
        dv.setUint32(at + 4, 4);
        dv.setBigUint64(at + 16, 0x600000n, true);
        dv.setBigUint64(at + 24, 0x600000n, true);
        patched = i;
        break;
      }
    }
    expect(patched).toBeGreaterThan(0);
    const kernel = join(scratch, 'ring-overlap.hvt');
    writeFileSync(kernel, elf);
    const run = await runTender([
      '--mem=6',
      `--block:storage=${disk}`,
      `--net:service0=${tap0}`,
      kernel,
    ]);
    expect(messages(run)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^${kernel}: invalid executable: phdr\\[${patched}\\] overlaps the network ring area \\(6291456\\.\\.\\d+ and 6291456\\.\\.8388608\\)$`,
        ),
      ),
    ]);
    expect(run.status).toBe(1);
  });

  const results: Record<string, number[]> = {
    'block-wrong-type': [2, 2],
    'block-reserved': [2],
    'block-handle-range': [2, 2, 2],
    // The reference looks handles up by their low 32 bits: this names `storage`.
    'block-handle-high': [0],
    'block-offset-wrap': [2, 2],
    'block-len-overflow': [2, 2],
    'net-wrong-type': [2, 2],
    'net-handle-range': [2, 2],
  };

  for (const [mode, rets] of Object.entries(results)) {
    it(`${mode}: result codes ${rets.join(', ')}`, async () => {
      const run = await hostile(mode);
      const got = [...run.stdout.matchAll(/: ret=(-?\d+)/g)].map((m) => Number(m[1]));
      expect(got).toEqual(rets);
      expect(run.stdout).toContain('SUCCESS\n');
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
    });
  }
});
