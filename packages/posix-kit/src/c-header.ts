import type { StructLayout } from './ioc.js';

/**
 * Helpers for the C headers a package generates from its TypeScript ABI
 * tables, so that every size, offset and command number is written once (in
 * src/abi.ts) and the C side is checked against it when it compiles.
 */

/** A 32-bit unsigned C literal: 0xc0907601u. */
export function cHex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}u`;
}

/** Where a TypeScript layout lives in C: the struct, and each field's member path. */
export interface CStruct {
  /** e.g. 'struct fb_vm_run_14' */
  readonly type: string;
  readonly layout: StructLayout;
  /** TypeScript field name -> C member path ('u.mtu'); a field not named here keeps its name. */
  readonly members?: Readonly<Record<string, string>>;
  /** Fields with no C member (documented in TS only). */
  readonly skip?: readonly string[];
}

/**
 * static_asserts that each C struct has the TypeScript size and offsets; the
 * same struct may appear more than once (one per release) and must then have
 * the same layout each time.
 */
export function layoutAsserts(structs: readonly CStruct[]): string[] {
  const seen = new Map<string, string>();
  const out: string[] = [];
  for (const s of structs) {
    const key = JSON.stringify(s.layout);
    const before = seen.get(s.type);
    if (before !== undefined) {
      if (before !== key) throw new Error(`${s.type} has two layouts in the TypeScript tables`);
      continue;
    }
    seen.set(s.type, key);
    out.push(`HVT_STATIC_ASSERT(sizeof(${s.type}) == ${s.layout.size}, "${s.type} size");`);
    for (const [field, offset] of Object.entries(s.layout.fields)) {
      if (s.skip?.includes(field)) continue;
      const member = s.members?.[field] ?? field;
      out.push(
        `HVT_STATIC_ASSERT(HVT_OFFSETOF(${s.type}, ${member}) == ${offset}, "${s.type} ${field}");`,
      );
    }
  }
  return out;
}

/** The whole generated header: banner, guard, body. */
export function generatedHeader(guard: string, source: string, body: readonly string[]): string {
  return [
    `/* Generated from ${source} by scripts/gen-abi.mjs: do not edit. */`,
    '/* test/abi-header.test.ts fails when this file is not what the tables give. */',
    `#ifndef ${guard}`,
    `#define ${guard}`,
    '',
    ...body,
    '',
    '#endif',
    '',
  ].join('\n');
}
