import { HvtError } from './errors.js';
import { HvtRing } from './guest-abi.js';
import type { Warn } from './modules/module.js';

/**
 * Guest memory sizing (docs/guest-abi.md 5.1) and the fixed low-memory addresses of
 * the x86_64 layout (5.2).
 */

/** x86_64 guest pages are 2 MiB past the first 2 MiB: memory comes in those. */
export const LARGE_PAGE_SIZE = 0x200000;
/** Largest guest: every guest address must fit in the 32 bits of an OUT. */
export const MAX_GUEST_MEM = 0x1_0000_0000;
/** sizeof(struct hvt_ring) (10.1). */
export const HVT_RING_SIZE = HvtRing.size;
/** The ring area at the top of memory: the ring rounded up to a guest page. */
export const RING_AREA_SIZE = Math.ceil(HVT_RING_SIZE / LARGE_PAGE_SIZE) * LARGE_PAGE_SIZE;

/** Where things live in low guest memory. */
export const GuestAddress = {
  GDT: 0x1000,
  PML4: 0x2000,
  PDPT: 0x3000,
  /** Four page directories, one per GiB. */
  PD: 0x4000,
  /** The 4 KiB page table of the first 2 MiB. */
  PT0: 0x8000,
  BOOT_INFO: 0x10000,
  /** Right after the 56-byte boot info. */
  MANIFEST: 0x10038,
  /** Lowest address of the kernel image (HVT_GUEST_MIN_BASE). */
  KERNEL_BASE: 0x100000,
} as const;

const roundDown = (n: bigint, to: bigint) => (n / to) * to;

/**
 * The requested size made valid (5.1): rounded down to 2 MiB (at least 2 MiB),
 * with a warning when that changed it; more than 4 GiB is fatal. The
 * requested size is exact (a bigint): where the reference's `<< 20` wraps
 * a huge `--mem` around, we say it is too big.
 */
export function guestMemorySize(requested: bigint, warn: Warn): number {
  const page = BigInt(LARGE_PAGE_SIZE);
  let mem = roundDown(requested, page);
  if (mem === 0n) mem = page;
  if (mem !== requested) warn(`adjusting memory to ${mem} bytes`);
  if (mem > BigInt(MAX_GUEST_MEM)) {
    throw new HvtError(
      `guest memory size ${mem} bytes exceeds the max size ${MAX_GUEST_MEM} bytes`,
    );
  }
  return Number(mem);
}

/** Sizes of guest memory once the options are known. */
export interface MemoryPlan {
  /** Bytes of host memory backing the guest: page tables map all of it. */
  readonly allocated: number;
  /**
   * What the guest is told it has (boot info, RSP, every hypercall range
   * check): `allocated` minus the ring area when there is one.
   */
  readonly visible: number;
  /** GPA of the ring area, 0 when there is none. */
  readonly ringGpa: number;
}

/**
 * The allocation for `mem` guest bytes (5.1): a net device adds the ring area
 * on top (clamped at 4 GiB, so `--mem=4096` leaves the guest 4 GiB - 2 MiB).
 * The area is reserved whenever a net device is attached, so the layout is
 * the reference's, whether or not the net module can then offer the ring.
 */
export function planMemory(mem: number, netAttached: boolean, warn: Warn): MemoryPlan {
  if (!netAttached) return { allocated: mem, visible: mem, ringGpa: 0 };
  let allocated = Math.ceil((mem + RING_AREA_SIZE) / LARGE_PAGE_SIZE) * LARGE_PAGE_SIZE;
  if (allocated > MAX_GUEST_MEM) allocated = MAX_GUEST_MEM;
  if (allocated < 2 * LARGE_PAGE_SIZE) {
    warn('Not enough guest memory for ring allocation');
    return { allocated, visible: allocated, ringGpa: 0 };
  }
  const ringGpa = allocated - RING_AREA_SIZE;
  return { allocated, visible: ringGpa, ringGpa };
}
