import { aarch64CoreRegisters, decodeAarch64TrapFrame } from '../coredump.js';
import { EM_AARCH64 } from '../elf.js';
import { HvtError } from '../errors.js';
import type { GuestMemory } from '../guest-memory.js';
import { HVT_MMIO_BASE, mmioHypercall } from '../hypercalls.js';
import { GuestAddress, LARGE_PAGE_SIZE } from '../memory-layout.js';
import { type Aarch64VcpuState, ExitField, ExitKind, type Vm } from '../platform.js';
import type { GuestArch } from './guest-arch.js';

/**
 * The aarch64 guest at its first instruction (docs/guest-abi.md 5.3, 6.2): EL1h with
 * the MMU and caches on over a 4-level table (4 KiB granule, 40-bit
 * addresses) that maps guest RAM as normal memory and the hypercall window
 * as device memory, interrupts masked, FP/SIMD untrapped.
 */

/** Where the tables live in low guest memory (the boot info is at 0x10000 as on x86_64). */
export const Aarch64Address = {
  /** Level 0: one entry used. */
  PGD: 0x1000,
  /** Level 1: one entry per GiB. */
  PUD: 0x2000,
  /** Level 2: four tables, one per GiB of RAM. */
  PMD: 0x3000,
  /** Level 3: the 4 KiB pages of the first 2 MiB. */
  PTE: 0x7000,
} as const;

/** The hypercall window (7.2) is the first GiB from here; RAM must stay below it. */
export const MMIO_BASE = HVT_MMIO_BASE;
export const MMIO_SIZE = 0x4000_0000;
/** The store that kicks the ring's host thread (HVT_RING_KICK_MMIO_BASE, 10.2). */
export const RING_KICK_MMIO = MMIO_BASE + 0x100;

const PAGE_4K = 0x1000;
const GIB = 0x4000_0000;

/**
 * Descriptor bits (Arm ARM, VMSAv8-64 translation table format). Bit 53 and 54
 * are above 2^32, so descriptors are built as bigints.
 */
export const Desc = {
  /** Levels 0-2: next-level table; level 3: page. */
  TABLE: 0b11n,
  PAGE: 0b11n,
  /** Levels 1-2: block. */
  BLOCK: 0b01n,
  /** AttrIndx[2:0], an index into MAIR_EL1. */
  attr: (index: number) => BigInt(index) << 2n,
  /** AP[2]: read-only. */
  READ_ONLY: 1n << 7n,
  /** SH[1:0] = 0b11: inner shareable. */
  INNER_SHAREABLE: 0b11n << 8n,
  /** Access flag: set, so the first access does not fault. */
  AF: 1n << 10n,
  /** Not executable at EL1 / at EL0. */
  PXN: 1n << 53n,
  UXN: 1n << 54n,
} as const;

/** MAIR_EL1 attribute indices the descriptors use. */
export const MairIndex = { DEVICE_NGNRE: 1, NORMAL: 4 } as const;

/** Normal write-back memory, the attributes every RAM descriptor shares. */
const NORMAL = Desc.attr(MairIndex.NORMAL) | Desc.AF | Desc.INNER_SHAREABLE;
/** RAM the guest may execute at EL1 (never at EL0). */
export const PROT_RAM = NORMAL | Desc.UXN;
/** Boot info, manifest and command line: read-only, never executable. */
export const PROT_BOOT_INFO = NORMAL | Desc.READ_ONLY | Desc.PXN | Desc.UXN;
/** The hypercall window: device nGnRE, never executable. */
export const PROT_DEVICE =
  Desc.attr(MairIndex.DEVICE_NGNRE) | Desc.AF | Desc.INNER_SHAREABLE | Desc.PXN | Desc.UXN;

/** The system registers of 6.2. */
export const CPACR_FPEN = 0b11n << 20n;
/** attr0 nGnRnE, attr1 nGnRE, attr2 GRE, attr3 normal non-cacheable, attr4 normal WB, attr5 normal WT. */
export const MAIR_INIT = 0x0000_bbff_440c_0400n;
/** T0SZ = T1SZ = 24 (40-bit VA), WBWA inner and outer, inner shareable, 4 KiB granules, 16-bit ASID, TBI0, IPS 40 bits. */
export const TCR_INIT = 0x32_b518_3518n;
/** M | C | I: MMU, data cache and instruction cache on. */
export const SCTLR_INIT = 0x1005n;
/** D, A, I, F masked; EL1h. */
export const PSTATE_INIT = 0x3c5n;

/**
 * Writes the translation tables for `memSize` bytes of RAM (5.3): level 0 →
 * level 1 → one level-2 table per GiB of RAM; the first 2 MiB in 4 KiB pages
 * (nothing below 0x10000, the boot-info area read-only and not executable,
 * RAM from 0x100000), the rest in 2 MiB blocks; and the hypercall window as
 * one 1 GiB device block. Everything else reads as not mapped.
 */
export function writePageTables(memory: GuestMemory, memSize: number): void {
  if (memSize > MMIO_BASE) {
    throw new HvtError(
      `guest memory size ${memSize} bytes exceeds the max size ${MMIO_BASE} bytes`,
    );
  }
  const A = Aarch64Address;
  // The tables start zeroed: an entry not written below means "not mapped".
  memory.fill(A.PGD, PAGE_4K);
  memory.fill(A.PUD, PAGE_4K);
  memory.fill(A.PMD, 4 * PAGE_4K);
  memory.fill(A.PTE, PAGE_4K);

  memory.writeU64Big(A.PGD, BigInt(A.PUD) | Desc.TABLE);
  const gibs = Math.ceil(memSize / GIB);
  for (let gib = 0; gib < gibs; gib++) {
    memory.writeU64Big(A.PUD + gib * 8, BigInt(A.PMD + gib * PAGE_4K) | Desc.TABLE);
  }
  memory.writeU64Big(A.PUD + (MMIO_BASE / GIB) * 8, BigInt(MMIO_BASE) | PROT_DEVICE | Desc.BLOCK);
  memory.writeU64Big(A.PMD, BigInt(A.PTE) | Desc.TABLE);

  for (let page = 0; page < LARGE_PAGE_SIZE; page += PAGE_4K) {
    let entry = 0n;
    if (page >= GuestAddress.KERNEL_BASE) entry = BigInt(page) | PROT_RAM | Desc.PAGE;
    else if (page >= GuestAddress.BOOT_INFO) entry = BigInt(page) | PROT_BOOT_INFO | Desc.PAGE;
    memory.writeU64Big(A.PTE + (page / PAGE_4K) * 8, entry);
  }
  // The four level-2 tables are contiguous, so 2 MiB block n is the n-th u64.
  for (let n = 1; n * LARGE_PAGE_SIZE < memSize; n++) {
    memory.writeU64Big(A.PMD + n * 8, BigInt(n * LARGE_PAGE_SIZE) | PROT_RAM | Desc.BLOCK);
  }
}

/**
 * The initial vCPU state (6.2). `visibleSize` is the memory size the guest
 * is told: the stack starts 16 bytes under it, 16-byte aligned as SP must be.
 */
export function initialVcpuState(entry: number, visibleSize: number): Aarch64VcpuState {
  return {
    pc: BigInt(entry),
    sp: BigInt(visibleSize - 16),
    x0: BigInt(GuestAddress.BOOT_INFO),
    pstate: PSTATE_INIT,
    sctlr: SCTLR_INIT,
    tcr: TCR_INIT,
    mair: MAIR_INIT,
    ttbr0: BigInt(Aarch64Address.PGD),
    cpacr: CPACR_FPEN,
  };
}

function needs<T>(method: T | undefined, what: string): T {
  if (method === undefined) throw new HvtError(`this platform cannot ${what}`);
  return method;
}

const registers = (vm: Vm) => needs(vm.getRegistersAarch64, 'read aarch64 registers').call(vm);

/** aarch64 as the tender's data (arch/guest-arch.ts). */
export const AARCH64: GuestArch = {
  name: 'aarch64',
  writeTables: writePageTables,
  initVcpu: (vm: Vm, entry, visibleSize) =>
    needs(vm.initVcpuAarch64, 'run aarch64 guests').call(vm, initialVcpuState(entry, visibleSize))
      .counterHz,
  hypercallExit: ExitKind.MMIO,
  hypercallNumber: (exit) =>
    mmioHypercall(exit[ExitField.ADDRESS]!, exit[ExitField.SIZE]!, exit[ExitField.DIRECTION] === 1),
  ringKick: RING_KICK_MMIO,
  ringKickText: `mmio 0x${RING_KICK_MMIO.toString(16)}`,
  programCounter: (vm: Vm) => `pc=0x${registers(vm).pc.toString(16)}`,
  elfMachine: EM_AARCH64,
  coreRegisters: (vm, guest, cookieGpa) =>
    aarch64CoreRegisters(
      registers(vm),
      cookieGpa !== 0 ? decodeAarch64TrapFrame(guest, cookieGpa) : undefined,
    ),
};
