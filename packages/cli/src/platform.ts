import { HvtError, type Platform } from '@hvtjs/core';

/**
 * Finds the platform package for this host. Core never imports one; the CLI
 * loads the one that fits at run time, so `--help` and `info` work anywhere
 * and nothing platform-specific is loaded before it is needed.
 */

/** Where hvt.js can run unikernels today. */
export const SUPPORTED = 'x86_64 Linux (KVM), FreeBSD (vmm) and OpenBSD (vmm)';

const PACKAGES: Record<string, string> = {
  linux: '@hvtjs/linux-kvm',
  freebsd: '@hvtjs/freebsd-vmm',
  openbsd: '@hvtjs/openbsd-vmm',
};

/** The platform package's name for this host, or undefined where there is none. */
export function platformPackage(os: string = process.platform): string | undefined {
  return PACKAGES[os];
}

function isPlatform(value: unknown): value is Platform {
  const p = value as Partial<Platform> | undefined;
  return (
    typeof p === 'object' &&
    p !== null &&
    typeof p.name === 'string' &&
    typeof p.createVm === 'function' &&
    typeof p.openNet === 'function' &&
    typeof p.createPollSet === 'function' &&
    typeof p.walltimeNs === 'function'
  );
}

export async function loadPlatform(): Promise<Platform> {
  const name = platformPackage();
  if (name === undefined || process.arch !== 'x64') {
    throw new HvtError(
      `unikernels can be run on ${SUPPORTED} only; this host is ${process.platform} on ${process.arch}`,
    );
  }
  let loaded: Record<string, unknown>;
  try {
    // A variable specifier: the CLI type-checks and installs without it.
    loaded = (await import(name)) as Record<string, unknown>;
  } catch (error) {
    const detail = error instanceof Error ? error.message.split('\n')[0] : String(error);
    const failure = new HvtError(`cannot load ${name}, the platform for this host: ${detail}`);
    failure.cause = error;
    throw failure;
  }
  const platform = loaded['default'];
  if (!isPlatform(platform)) throw new HvtError(`${name} does not provide a platform`);
  return platform;
}
