import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clangxx, compile, kitInclude } from '../src/toolchain.js';

// The network ring's engine (include/hvt/net_ring.h), shared by every
// platform, built here into a small program (test/native/net_ring_test.cc)
// and run against real parts: guest RAM is a shared mapping, devices are
// datagram socketpairs, the kick is the BSDs' pipe (run-loop byte) or Linux's
// eventfd. Each scenario is one run of the program, which checks itself.

const source = fileURLToPath(new URL('native/net_ring_test.cc', import.meta.url));
let dir = '';
let program = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hvtjs-ring-'));
  program = join(dir, 'net_ring_test');
  compile(clangxx(), [
    '-std=c++17',
    '-O1',
    '-Wall',
    '-Wextra',
    '-Werror',
    '-pthread',
    kitInclude,
    source,
    '-o',
    program,
  ]);
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(scenario: string, kick: string): string {
  const r = spawnSync(program, [scenario, kick], { encoding: 'utf8', timeout: 30_000 });
  return `${r.stdout}${r.stderr}${r.status === 0 ? '' : `exit ${r.status ?? r.signal}`}`.trim();
}

const SCENARIOS: readonly [string, string][] = [
  [
    'frames',
    'writes a frame to the device, reads one into guest RAM with its completion; AGAIN, EINVAL, unknown operations and bad handles as 10.3 says',
  ],
  ['kick-wakes', 'sleeps once past its spin and serves a published entry only when kicked'],
  ['stop-sleeping', 'stops while asleep on the kick: woken and joined at once'],
  [
    'stop-flushes',
    'at HALT still sends the writes published before it, in order; serves no read; reports nothing',
  ],
  ['stop-blocked', 'stops while waiting for a full blocking device to take a frame'],
  ['data-at-top', 'fails on a buffer that ends at the top of visible memory'],
  ['data-huge-len', 'fails on a length of 4 GiB - 1'],
  ['data-wrapped', 'fails on a data address that wraps around 2^64'],
  ['data-in-ring', 'fails on a buffer inside the ring itself'],
  ['indices-ahead', 'fails on an ent_tail more than a ring ahead'],
  ['indices-behind', 'fails on an ent_tail behind ent_head'],
  ['write-error', 'fails on a device write error, with its errno'],
  ['short-write', 'fails on a short write, with the bytes written'],
  ['kick-eof', 'fails when the kick pipe has no writer left (end of file)'],
  [
    'layout',
    'refuses a ring that is not above visible memory, not aligned or not inside the mapping',
  ],
];

for (const kick of ['pipe', 'eventfd'] as const) {
  describe(`the ring engine with a${kick === 'pipe' ? ' pipe (BSD)' : 'n eventfd (Linux)'} kick`, () => {
    for (const [scenario, what] of SCENARIOS) {
      // An eventfd has no end of file.
      it.skipIf(kick === 'eventfd' && scenario === 'kick-eof')(
        what,
        () => {
          expect(run(scenario, kick)).toBe('ok');
        },
        40_000,
      );
    }
  });
}
