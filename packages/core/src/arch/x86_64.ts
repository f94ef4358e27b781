import { decodeTrapFrame, x86CoreRegisters } from '../coredump.js';
import { EM_X86_64 } from '../elf.js';
import type { GuestMemory } from '../guest-memory.js';
import { portHypercall } from '../hypercalls.js';
import { GuestAddress, LARGE_PAGE_SIZE } from '../memory-layout.js';
import { ExitField, ExitKind, type X86Segment, type X86VcpuState } from '../platform.js';
import type { GuestArch } from './guest-arch.js';

/**
 * The x86_64 guest at its first instruction (docs/guest-abi.md 5.2, 6.1): long mode,
 * paging on with an identity map of all guest memory, flat segments from a
 * three-entry GDT. Every x86 backend starts guests exactly like this.
 */

/** Page-table entry bits. */
export const PageFlag = { PRESENT: 1 << 0, WRITABLE: 1 << 1, PAGE_SIZE: 1 << 7 } as const;

/** Raw GDT descriptors: null, 64-bit code (selector 0x08), data (selector 0x10). */
export const GDT_ENTRIES = [0n, 0x00af99000000ffffn, 0x00cf93000000ffffn] as const;
export const GDT_LIMIT = GDT_ENTRIES.length * 8 - 1;
export const SELECTOR_CODE = 0x08;
export const SELECTOR_DATA = 0x10;

export const CR0_INIT = 0x80010021; // PE | NE | WP | PG
export const CR4_INIT = 0x620; // PAE | OSFXSR | OSXMMEXCPT
export const EFER_INIT = 0x500; // LME | LMA
export const RFLAGS_INIT = 0x2;

/** The port whose 4-byte OUT kicks the ring's host thread (HVT_RING_KICK_PIO_BASE, 10.2). */
export const HVT_RING_KICK_PIO_BASE = 0x600;

const PAGE_4K = 0x1000;
const ENTRIES_PER_TABLE = 512;

/**
 * Writes the GDT and the page tables into guest memory. The tables map
 * [0, memSize) one to one: the first 2 MiB in 4 KiB pages (nothing below
 * 0x10000, read-only up to 1 MiB for boot info and manifest, writable above),
 * the rest in 2 MiB pages; all four PDPT entries exist even for small guests.
 */
export function writePageTablesAndGdt(memory: GuestMemory, memSize: number): void {
  for (const [i, descriptor] of GDT_ENTRIES.entries()) {
    memory.writeU64Big(GuestAddress.GDT + i * 8, descriptor);
  }

  const rw = PageFlag.PRESENT | PageFlag.WRITABLE;
  // The tables start zeroed: an entry not written below means "not present".
  memory.fill(GuestAddress.PML4, PAGE_4K);
  memory.fill(GuestAddress.PDPT, PAGE_4K);

  memory.writeU64(GuestAddress.PML4, GuestAddress.PDPT | rw);
  for (let gib = 0; gib < 4; gib++) {
    memory.writeU64(GuestAddress.PDPT + gib * 8, (GuestAddress.PD + gib * PAGE_4K) | rw);
  }
  // The first 2 MiB in 4 KiB pages and the rest in 2 MiB pages, each table
  // made here and written with one copy (entry by entry took tens of ms of
  // start-up in an emulated VM).
  const pt = new DataView(new ArrayBuffer(PAGE_4K));
  for (let page = 0; page < LARGE_PAGE_SIZE; page += PAGE_4K) {
    let entry = 0;
    if (page >= GuestAddress.KERNEL_BASE) entry = page | rw;
    // Boot info, manifest and command line: present but read-only (CR0.WP binds ring 0).
    else if (page >= GuestAddress.BOOT_INFO) entry = page | PageFlag.PRESENT;
    pt.setUint32((page / PAGE_4K) * 8, entry, true);
  }
  memory.write(GuestAddress.PT0, new Uint8Array(pt.buffer));

  // PD entries are 8 bytes and the four directories are contiguous, so the
  // entry for 2 MiB page n is simply the n-th u64 from the first directory;
  // entry 0 points at the 4 KiB table. Every entry is below 4 GiB: its high
  // half stays zero.
  const pd = new DataView(new ArrayBuffer(4 * PAGE_4K));
  pd.setUint32(0, GuestAddress.PT0 | rw, true);
  for (let n = 1; n * LARGE_PAGE_SIZE < memSize; n++) {
    if (n >= 4 * ENTRIES_PER_TABLE) break;
    pd.setUint32(n * 8, n * LARGE_PAGE_SIZE + (rw | PageFlag.PAGE_SIZE), true);
  }
  memory.write(GuestAddress.PD, new Uint8Array(pd.buffer));
}

function flatSegment(selector: number, type: number, code: boolean): X86Segment {
  return {
    base: 0,
    limit: 0xffffffff,
    selector,
    type,
    present: 1,
    dpl: 0,
    db: code ? 0 : 1,
    s: 1,
    l: code ? 1 : 0,
    g: 1,
    avl: 0,
    unusable: 0,
  };
}

/**
 * The initial vCPU state (6.1). `visibleSize` is the guest's memory size as it
 * is told it (below the ring area): the stack starts 8 bytes under it, so
 * RSP + 8 is 16-byte aligned as at a function entry.
 */
export function initialVcpuState(entry: number, visibleSize: number): X86VcpuState {
  const data = flatSegment(SELECTOR_DATA, 3, false);
  return {
    rip: entry,
    rsp: visibleSize - 8,
    rdi: GuestAddress.BOOT_INFO,
    rflags: RFLAGS_INIT,
    cr0: CR0_INIT,
    cr3: GuestAddress.PML4,
    cr4: CR4_INIT,
    efer: EFER_INIT,
    cs: flatSegment(SELECTOR_CODE, 9, true),
    ss: data,
    ds: { ...data },
    es: { ...data },
    fs: { ...data },
    gs: { ...data },
    tr: {
      base: 0,
      limit: 0,
      selector: 0,
      type: 11,
      present: 1,
      dpl: 0,
      db: 0,
      s: 0,
      l: 0,
      g: 0,
      avl: 0,
      unusable: 0,
    },
    ldt: {
      base: 0,
      limit: 0,
      selector: 0,
      type: 0,
      present: 0,
      dpl: 0,
      db: 0,
      s: 0,
      l: 0,
      g: 0,
      avl: 0,
      unusable: 1,
    },
    gdt: { base: GuestAddress.GDT, limit: GDT_LIMIT },
    idt: { base: 0, limit: 0 },
  };
}

/** x86_64 as the tender's data (arch/guest-arch.ts). */
export const X86_64: GuestArch = {
  name: 'x86_64',
  writeTables: writePageTablesAndGdt,
  initVcpu: (vm, entry, visibleSize) => vm.initVcpuX86(initialVcpuState(entry, visibleSize)).tscHz,
  hypercallExit: ExitKind.IO,
  hypercallNumber: (exit) =>
    portHypercall(exit[ExitField.PORT]!, exit[ExitField.SIZE]!, exit[ExitField.DIRECTION] === 1),
  ringKick: HVT_RING_KICK_PIO_BASE,
  ringKickText: `port 0x${HVT_RING_KICK_PIO_BASE.toString(16)}`,
  programCounter: (vm) => `rip=0x${vm.getRegistersX86().rip.toString(16)}`,
  elfMachine: EM_X86_64,
  coreRegisters: (vm, guest, cookieGpa) =>
    x86CoreRegisters(
      vm.getRegistersX86(),
      cookieGpa !== 0 ? decodeTrapFrame(guest, cookieGpa) : undefined,
    ),
};
