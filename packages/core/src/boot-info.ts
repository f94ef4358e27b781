import { GuestStruct, HvtBootInfo } from './guest-abi.js';
import type { GuestMemory } from './guest-memory.js';
import { GuestAddress } from './memory-layout.js';
import { CMDLINE_SIZE } from './options.js';

/**
 * struct hvt_boot_info (docs/guest-abi.md 9) at 0x10000, followed by the manifest
 * copy and the command line, in the read-only part of low memory.
 */

export const BOOT_INFO_SIZE = HvtBootInfo.size;

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
  // Boot info lies below the guest's own image: all of low memory is the tender's.
  const f = HvtBootInfo.fields;
  const s = new GuestStruct({ memory, size: memory.size }, HvtBootInfo, 'boot-info.ts').at(base);
  s.setU64(f.mem_size, info.memSize);
  s.setU64(f.kernel_end, info.kernelEnd);
  s.setU64(f.cpu_cycle_freq, info.cpuCycleFreq);
  s.setU64(f.cmdline, cmdline);
  s.setU64(f.mft, mft);
  s.setU32(f.host_features, info.hostFeatures ?? 0);
  s.setU32(f.guest_features, 0);
  s.setU64(f.net_ring, info.netRing ?? 0);
  memory.write(mft, info.manifest);
  // The whole 8192-byte area, so the NUL and what follows read as zero.
  memory.fill(cmdline, CMDLINE_SIZE);
  memory.write(cmdline, info.cmdline);
  return cmdline;
}
