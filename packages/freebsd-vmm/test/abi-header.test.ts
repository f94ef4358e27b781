import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FREEBSD_LINES, freebsdIoctlTable } from '../src/abi.js';
import { renderAbiHeader } from '../src/abi-header.js';

const committed = readFileSync(new URL('../src/native/fb_abi_gen.h', import.meta.url), 'utf8');

describe('src/native/fb_abi_gen.h', () => {
  it('is what src/abi.ts generates (run pnpm build && pnpm gen:abi after changing the tables)', () => {
    expect(committed).toBe(renderAbiHeader());
  });

  it("carries every line's command numbers as the C table the addon reports", () => {
    for (const [i, line] of FREEBSD_LINES.entries()) {
      for (const row of freebsdIoctlTable(line)) {
        const entry = new RegExp(`\\{"${row.name}", \\{([^}]*)\\}\\}`).exec(committed);
        expect(entry, row.name).not.toBeNull();
        const value = entry![1]!.split(', ')[i]!;
        expect(value === '0' ? 0 : Number.parseInt(value, 16)).toBe(row.request);
      }
    }
  });
});
