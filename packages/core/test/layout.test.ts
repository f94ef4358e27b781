import { describe, expect, it } from 'vitest';
import { MftType } from '../src/entry/kernel.js';
import { GuestMemory, initialVcpuState, writePageTablesAndGdt } from '../src/entry/platform.js';
import {
  BOOT_INFO_SIZE,
  GuestAddress,
  guestMemorySize,
  planMemory,
  writeBootInfo,
} from '../src/entry/tender.js';
import { HvtError } from '../src/index.js';
import { manifestOf, thrown, warnings } from './tender-helpers.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

describe('memory sizing (5.1)', () => {
  it('keeps a multiple of 2 MiB without a word', () => {
    const printed = warnings();
    expect(guestMemorySize(512n * BigInt(MiB), printed.warn)).toBe(512 * MiB);
    expect(guestMemorySize(2n * BigInt(MiB), printed.warn)).toBe(2 * MiB);
    expect(guestMemorySize(4096n * BigInt(MiB), printed.warn)).toBe(4 * GiB);
    expect(printed.list).toEqual([]);
  });

  it('rounds down to 2 MiB (at least 2 MiB) and says so', () => {
    const printed = warnings();
    expect(guestMemorySize(3n * BigInt(MiB), printed.warn)).toBe(2 * MiB);
    expect(guestMemorySize(1n * BigInt(MiB), printed.warn)).toBe(2 * MiB);
    // 4097 MiB rounds down to exactly 4 GiB, which is allowed.
    expect(guestMemorySize(4097n * BigInt(MiB), printed.warn)).toBe(4 * GiB);
    expect(printed.list).toEqual([
      'adjusting memory to 2097152 bytes',
      'adjusting memory to 2097152 bytes',
      'adjusting memory to 4294967296 bytes',
    ]);
  });

  it('refuses more than 4 GiB', () => {
    const printed = warnings();
    const error = thrown(() => guestMemorySize(4098n * BigInt(MiB), printed.warn));
    expect(error).toBeInstanceOf(HvtError);
    expect(error.message).toBe(
      'guest memory size 4297064448 bytes exceeds the max size 4294967296 bytes',
    );
    // Exact even where the reference's shift would have wrapped around.
    expect(thrown(() => guestMemorySize(2n ** 64n, printed.warn)).message).toBe(
      'guest memory size 18446744073709551616 bytes exceeds the max size 4294967296 bytes',
    );
  });

  it('adds the 2 MiB ring area on top when a net device is attached', () => {
    const printed = warnings();
    expect(planMemory(512 * MiB, false, printed.warn)).toEqual({
      allocated: 512 * MiB,
      visible: 512 * MiB,
      ringGpa: 0,
    });
    expect(planMemory(512 * MiB, true, printed.warn)).toEqual({
      allocated: 514 * MiB,
      visible: 512 * MiB,
      ringGpa: 512 * MiB,
    });
    expect(planMemory(2 * MiB, true, printed.warn)).toEqual({
      allocated: 4 * MiB,
      visible: 2 * MiB,
      ringGpa: 2 * MiB,
    });
    // Clamped at 4 GiB: the guest gets 4 GiB - 2 MiB.
    expect(planMemory(4 * GiB, true, printed.warn)).toEqual({
      allocated: 4 * GiB,
      visible: 0xffe00000,
      ringGpa: 0xffe00000,
    });
    expect(printed.list).toEqual([]);
  });
});

describe('x86_64 page tables and GDT (5.2)', () => {
  const u64 = (m: GuestMemory, gpa: number) => m.readU64Big(gpa);

  it('writes the GDT at 0x1000', () => {
    const m = GuestMemory.allocate(4 * MiB);
    writePageTablesAndGdt(m, m.size);
    expect(u64(m, 0x1000)).toBe(0n);
    expect(u64(m, 0x1008)).toBe(0x00af99000000ffffn);
    expect(u64(m, 0x1010)).toBe(0x00cf93000000ffffn);
    expect(u64(m, 0x1018)).toBe(0n);
  });

  it('points PML4[0] at the PDPT and all four PDPT entries at the directories', () => {
    const m = GuestMemory.allocate(4 * MiB);
    writePageTablesAndGdt(m, m.size);
    expect(u64(m, 0x2000)).toBe(0x3003n);
    expect(u64(m, 0x2008)).toBe(0n);
    expect([0, 1, 2, 3].map((i) => u64(m, 0x3000 + i * 8))).toEqual([
      0x4003n,
      0x5003n,
      0x6003n,
      0x7003n,
    ]);
    expect(u64(m, 0x3020)).toBe(0n);
    expect(u64(m, 0x4000)).toBe(0x8003n);
  });

  it('maps the first 2 MiB in 4 KiB pages: none below 64 KiB, read-only to 1 MiB', () => {
    const m = GuestMemory.allocate(4 * MiB);
    writePageTablesAndGdt(m, m.size);
    const pte = (page: number) => u64(m, 0x8000 + (page / 0x1000) * 8);
    expect(pte(0)).toBe(0n);
    expect(pte(0x1000)).toBe(0n);
    expect(pte(0xf000)).toBe(0n);
    expect(pte(0x10000)).toBe(0x10001n);
    expect(pte(0xff000)).toBe(0xff001n);
    expect(pte(0x100000)).toBe(0x100003n);
    expect(pte(0x1ff000)).toBe(0x1ff003n);
  });

  it('maps the rest in 2 MiB pages up to the allocated size, across directories', () => {
    const m = GuestMemory.allocate(8 * MiB);
    writePageTablesAndGdt(m, m.size);
    expect(u64(m, 0x4008)).toBe(0x200083n);
    expect(u64(m, 0x4010)).toBe(0x400083n);
    expect(u64(m, 0x4018)).toBe(0x600083n);
    expect(u64(m, 0x4020)).toBe(0n);
    // Page tables for a 4 GiB guest only need the low 64 KiB written: the
    // mapping is a function of the size, so check it on small memory by size.
    const big = GuestMemory.allocate(1 * MiB);
    writePageTablesAndGdt(big, 4 * GiB);
    expect(u64(big, 0x4000 + 511 * 8)).toBe(BigInt(511 * 2 * MiB) | 0x83n);
    expect(u64(big, 0x5000)).toBe(BigInt(GiB) | 0x83n);
    expect(u64(big, 0x7000 + 511 * 8)).toBe(BigInt(4 * GiB - 2 * MiB) | 0x83n);
    // The other directories stay empty for a small guest.
    const small = GuestMemory.allocate(1 * MiB);
    writePageTablesAndGdt(small, 2 * MiB);
    expect(u64(small, 0x4008)).toBe(0n);
    expect(u64(small, 0x5000)).toBe(0n);
  });

  it('zeroes the table pages it owns', () => {
    const m = GuestMemory.allocate(4 * MiB);
    m.fill(0x2000, 0x7000, 0xaa);
    writePageTablesAndGdt(m, m.size);
    expect(u64(m, 0x2ff8)).toBe(0n);
    expect(u64(m, 0x5000)).toBe(0n);
    expect(u64(m, 0x4ff8)).toBe(0n);
  });
});

describe('initial vCPU state (6.1)', () => {
  it('starts in long mode at e_entry with the stack under the visible top', () => {
    const s = initialVcpuState(0x100123, 512 * MiB);
    expect(s.rip).toBe(0x100123);
    expect(s.rsp).toBe(512 * MiB - 8);
    expect(s.rdi).toBe(0x10000);
    expect(s.rflags).toBe(2);
    expect([s.cr0, s.cr3, s.cr4, s.efer]).toEqual([0x80010021, 0x2000, 0x620, 0x500]);
    expect(s.gdt).toEqual({ base: 0x1000, limit: 23 });
    expect(s.idt).toEqual({ base: 0, limit: 0 });
  });

  it('has flat code, data, TR and LDT segments as the reference sets them', () => {
    const s = initialVcpuState(0x100000, 4 * MiB);
    expect(s.cs).toEqual({
      base: 0,
      limit: 0xffffffff,
      selector: 0x08,
      type: 9,
      present: 1,
      dpl: 0,
      db: 0,
      s: 1,
      l: 1,
      g: 1,
      avl: 0,
      unusable: 0,
    });
    for (const seg of [s.ss, s.ds, s.es, s.fs, s.gs]) {
      expect(seg).toEqual({
        base: 0,
        limit: 0xffffffff,
        selector: 0x10,
        type: 3,
        present: 1,
        dpl: 0,
        db: 1,
        s: 1,
        l: 0,
        g: 1,
        avl: 0,
        unusable: 0,
      });
    }
    expect(s.tr).toMatchObject({ selector: 0, base: 0, limit: 0, type: 11, present: 1, s: 0 });
    expect(s.ldt).toMatchObject({ selector: 0, unusable: 1 });
  });
});

describe('boot info (9)', () => {
  it('writes the 56-byte struct, the manifest copy at 0x10038 and the command line after it', () => {
    const m = GuestMemory.allocate(4 * MiB);
    m.fill(0x10000, 0x10000, 0xee); // nothing may be left over from before
    const manifest = manifestOf([{ name: 'disk', type: MftType.BLOCK_BASIC }]);
    manifest.entries[1]!.attached = true;
    manifest.entries[1]!.block.capacity = 4096;
    manifest.entries[1]!.block.blockSize = 512;
    const encoded = manifest.encode();
    const cmdline = new TextEncoder().encode('hello world');
    const at = writeBootInfo(m, {
      memSize: 0x1fe00000,
      kernelEnd: 0x123000,
      cpuCycleFreq: 2_400_000_000,
      manifest: encoded,
      cmdline,
    });
    expect(BOOT_INFO_SIZE).toBe(56);
    expect(GuestAddress.MANIFEST).toBe(0x10000 + 56);
    expect(at).toBe(0x10038 + 8 + 2 * 104);
    expect(m.readU64(0x10000)).toBe(0x1fe00000);
    expect(m.readU64(0x10008)).toBe(0x123000);
    expect(m.readU64(0x10010)).toBe(2_400_000_000);
    expect(m.readU64(0x10018)).toBe(at);
    expect(m.readU64(0x10020)).toBe(0x10038);
    expect(m.readU32(0x10028)).toBe(0); // host_features
    expect(m.readU32(0x1002c)).toBe(0); // guest_features
    expect(m.readU64(0x10030)).toBe(0); // net_ring
    expect(m.read(0x10038, encoded.byteLength)).toEqual(encoded);
    expect(m.read(at, cmdline.byteLength + 1)).toEqual(new Uint8Array([...cmdline, 0]));
    // The whole 8 KiB command-line area reads as zero past the string.
    expect(m.read(at + cmdline.byteLength, 8192 - cmdline.byteLength).every((b) => b === 0)).toBe(
      true,
    );
  });

  it('writes an empty command line as a lone NUL', () => {
    const m = GuestMemory.allocate(1 * MiB);
    m.fill(0x10000, 0x10000, 0xee);
    const manifest = manifestOf([]).encode();
    const at = writeBootInfo(m, {
      memSize: MiB,
      kernelEnd: 0,
      cpuCycleFreq: 1,
      manifest,
      cmdline: new Uint8Array(0),
    });
    expect(at).toBe(0x10038 + 112);
    expect(m.readU8(at)).toBe(0);
  });
});
