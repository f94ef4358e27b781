import type { GuestMemory } from './guest-memory.js';
import { GuestAddress } from './memory-layout.js';
import { CMDLINE_SIZE } from './options.js';

/**
 * struct hvt_boot_info (hvt-abi.md 9) at 0x10000, followed by the manifest
 * copy and the command line, in the read-only part of low memory.
 */

export const BOOT_INFO_SIZE = 56;

/** Field offsets in struct hvt_boot_info. */
export const BootInfoOffset = {
  MEM_SIZE: 0,
  KERNEL_END: 8,
  CPU_CYCLE_FREQ: 16,
  CMDLINE: 24,
  MFT: 32,
  HOST_FEATURES: 40,
  GUEST_FEATURES: 44,
  NET_RING: 48,
} as const;

/** host_features bit: the network ring at net_ring may be used. */
export const HVT_FEATURE_RING_IO = 1;

export interface BootInfo {
  /** Guest-visible memory size (below the ring area). */
  readonly memSize: number;
  readonly kernelEnd: number;
  readonly cpuCycleFreq: number;
  /** The manifest as the guest gets it (Manifest.encode()). */
  readonly manifest: Uint8Array;
  /** The guest command line, without its NUL (at most 8191 bytes). */
  readonly cmdline: Uint8Array;
  readonly hostFeatures?: number;
  readonly netRing?: number;
}

/** Writes boot info, manifest copy and command line; returns the command line's GPA. */
export function writeBootInfo(memory: GuestMemory, info: BootInfo): number {
  if (info.cmdline.byteLength > CMDLINE_SIZE - 1) {
    throw new RangeError(`command line of ${info.cmdline.byteLength} bytes`);
  }
  const base = GuestAddress.BOOT_INFO;
  const mft = GuestAddress.MANIFEST;
  const cmdline = mft + info.manifest.byteLength;
  memory.writeU64(base + BootInfoOffset.MEM_SIZE, info.memSize);
  memory.writeU64(base + BootInfoOffset.KERNEL_END, info.kernelEnd);
  memory.writeU64(base + BootInfoOffset.CPU_CYCLE_FREQ, info.cpuCycleFreq);
  memory.writeU64(base + BootInfoOffset.CMDLINE, cmdline);
  memory.writeU64(base + BootInfoOffset.MFT, mft);
  memory.writeU32(base + BootInfoOffset.HOST_FEATURES, info.hostFeatures ?? 0);
  memory.writeU32(base + BootInfoOffset.GUEST_FEATURES, 0);
  memory.writeU64(base + BootInfoOffset.NET_RING, info.netRing ?? 0);
  memory.write(mft, info.manifest);
  // The whole 8192-byte area, so the NUL and what follows read as zero.
  memory.fill(cmdline, CMDLINE_SIZE);
  memory.write(cmdline, info.cmdline);
  return cmdline;
}
