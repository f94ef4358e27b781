import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FloodTarget, flood, verifier } from './flood.js';
import {
  type Guests,
  guestPaths,
  HOST_IS_PVM,
  runTender,
  Taps,
  type TenderRun,
  tapName,
} from './tender-harness.js';

// Readiness: how soon after it is started the tender serves its tap. Solo5's
// own network tests start the tender, sleep one second, then start a ping
// flood and expect the guest to see every request. A tap that nobody has open
// yet drops what the host sends into it, so a tender still starting at that
// second loses the first requests of the flood, and a guest that waits for
// all of them never ends. Here: the same one-second gap, then a verified
// flood that must be answered in full.

const canTap = Taps.available();
const taps = new Taps();
const octet = 100 + ((process.pid + 61) % 100);
const hostIp = `10.${octet}.11.1`;
const guestIp = `10.${octet}.11.2`;
/**
 * In the nested VM (QEMU emulating every instruction) Node alone takes
 * 0.4-1.1 s to start, so the tap may open after the one-second mark; the
 * flood still starts at that mark and must lose nothing, but only a native
 * KVM host is held to having the tap open by then.
 */
const IN_NESTED_VM = process.env['HVTJS_IN_VM'] !== undefined;
/** The gap Solo5's tests leave between starting the tender and the flood. */
const FLOOD_AFTER_MS = 1000;
/** Requests in the flood; HVTJS_READINESS_FLOOD changes it for a quick look. */
const FLOOD = Number(process.env['HVTJS_READINESS_FLOOD'] ?? 1000);
const PATTERN = '5aa5f00f3cc36996feedface76543210';
const PAYLOAD = 120;
/** The flood's target, once beforeAll made the tap. */
const target = (): FloodTarget => ({ tap, guestIp, pattern: PATTERN, payload: PAYLOAD });
/** Allowance per flood packet, as in ring.test.ts: the nested VM emulates everything. */
const PACKET_MS = process.env['HVTJS_IN_VM'] ? 100 : HOST_IS_PVM ? 15 : 20;
const DEADLINE_S = Math.ceil((FLOOD * PACKET_MS) / 1000) + 30;

let g: Guests;
let tap: string;

beforeAll(async () => {
  g = await guestPaths();
  if (canTap) {
    tap = taps.add(tapName('s'), hostIp);
    // A slow guest's backlog waits in the tap's queue instead of being dropped there.
    spawnSync('ip', ['link', 'set', tap, 'txqueuelen', '20000']);
  }
});
afterAll(() => taps.removeAll());

/**
 * When the tender opened the tap, in ms after `since`, as `stop()` returns it:
 * a tap's carrier is up while a process has it open. Polled every 20 ms (more often steals the emulated CPUs from the tender it times); undefined if never.
 */
function watchCarrier(name: string, since: number): { stop: () => number | undefined } {
  let openedAt: number | undefined;
  const timer = setInterval(() => {
    if (openedAt !== undefined) return;
    try {
      if (readFileSync(`/sys/class/net/${name}/carrier`, 'utf8').trim() === '1') {
        openedAt = Date.now() - since;
      }
    } catch {
      // EINVAL while the device is down: not open yet.
    }
  }, 20);
  return {
    stop: () => {
      clearInterval(timer);
      return openedAt;
    },
  };
}

describe.skipIf(!canTap)('readiness', () => {
  it(
    `answers every request of a ${FLOOD}-ping flood started ${FLOOD_AFTER_MS} ms after the tender`,
    async () => {
      // A warm page cache, as when Solo5's tests run one after another: one run
      // of the same tender and guest first (its flood is a single ping).
      const warm = await runTender(
        ['--mem=32', `--net:service0=${tap}`, g['ringecho']!, `ip=${guestIp}`, 'limit=1'],
        {
          onStdout: (out) => {
            if (out.includes('serving'))
              spawn('ping', ['-n', '-c', '3', '-i', '0.5', '-I', tap, guestIp]);
          },
        },
      );
      expect(warm.status, warm.stderr).toBe(0);

      const check = verifier(target(), FLOOD, DEADLINE_S + 30);
      await check.ready;
      let tender: ChildProcess | undefined;
      const started = Date.now();
      const carrier = watchCarrier(tap, started);
      const running: Promise<TenderRun> = runTender(
        ['--mem=32', `--net:service0=${tap}`, g['ringecho']!, `ip=${guestIp}`, 'quiet=1'].concat([
          `limit=${FLOOD}`,
        ]),
        {
          timeoutMs: (DEADLINE_S + 60) * 1000,
          onStdout: (_out, child) => {
            tender = child;
          },
        },
      );
      await new Promise((resolve) => setTimeout(resolve, FLOOD_AFTER_MS - (Date.now() - started)));
      const floodStartMs = Date.now() - started;
      const result = await flood(target(), FLOOD, DEADLINE_S);
      // A guest that missed requests waits for them forever: end it once the
      // flood is over and it has had time to answer the last one.
      const stopper = setTimeout(() => tender?.kill('SIGTERM'), 30_000);
      const run = await running;
      clearTimeout(stopper);
      const tapOpenedMs = carrier.stop();
      check.stop();
      const verified = await check.result;
      console.log(
        `tap opened ${tapOpenedMs ?? 'never'} ms after the spawn; flood started at ` +
          `${floodStartMs} ms; ${result.received}/${result.transmitted} replies (${result.loss} loss); ` +
          `verifier: ${JSON.stringify(verified)}; tender exit ${run.status ?? run.signal} after ${run.ms} ms`,
      );
      // The flood never starts early; a late start (a loaded machine delays the
      // timer) would make the test easier, so natively the tap must also have
      // been open when it began, as it must be at one second for Solo5's
      // tests, and in the nested VM the flood must have started near the mark.
      expect(floodStartMs).toBeGreaterThanOrEqual(FLOOD_AFTER_MS);
      expect(tapOpenedMs).toBeDefined();
      if (IN_NESTED_VM) expect(floodStartMs).toBeLessThan(FLOOD_AFTER_MS + 500);
      else expect(tapOpenedMs!).toBeLessThanOrEqual(floodStartMs);
      expect(result).toMatchObject({ transmitted: FLOOD, received: FLOOD, loss: '0%' });
      // ping -f does not compare reply data: the verifier did, reply by reply.
      expect(verified).toMatchObject({
        requests: FLOOD,
        replies: FLOOD,
        intact: FLOOD,
        corrupt: 0,
        unmatched: 0,
      });
      expect(run.stdout).toContain(`answered ${FLOOD} echo requests`);
      expect(run.signal).toBeNull();
      expect(run.status).toBe(0);
    },
    (DEADLINE_S + 180) * 1000,
  );
});
