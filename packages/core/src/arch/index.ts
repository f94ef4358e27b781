import type { Arch } from '../platform.js';
import { AARCH64 } from './aarch64.js';
import type { GuestArch } from './guest-arch.js';
import { X86_64 } from './x86_64.js';

export type { GuestArch } from './guest-arch.js';

/** The guest architecture a platform of architecture `arch` runs. */
export function guestArch(arch: Arch): GuestArch {
  return arch === 'aarch64' ? AARCH64 : X86_64;
}
