import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OPENBSD_RELEASES, openbsdIoctlTable } from '../src/abi.js';
import { renderAbiHeader } from '../src/abi-header.js';

const committed = readFileSync(new URL('../src/native/ob_abi_gen.h', import.meta.url), 'utf8');

describe('src/native/ob_abi_gen.h', () => {
  it('is what src/abi.ts generates (run pnpm build && pnpm gen:abi after changing the tables)', () => {
    expect(committed).toBe(renderAbiHeader());
  });

  it('carries each release row with its facts and command numbers', () => {
    for (const abi of OPENBSD_RELEASES) {
      const row = new RegExp(
        `\\{"${abi.release.replace('.', '\\.')}", (\\d+), (\\d+), (\\d+), ([01]), ([01]), ([01]),\\s*\\{([^}]*)\\}\\}`,
      ).exec(committed);
      expect(row, abi.release).not.toBeNull();
      expect(row!.slice(1, 7).map(Number)).toEqual([
        abi.osrev,
        abi.createLayout,
        abi.runLayout,
        Number(abi.newSegmentOrder),
        Number(abi.userlandRipAdvance),
        Number(abi.kernelMemory),
      ]);
      const requests = row![7]!.split(', ').map((v) => (v === '0' ? 0 : Number.parseInt(v, 16)));
      expect(requests).toEqual(openbsdIoctlTable(abi).map((e) => e.request));
    }
  });
});
