import { HvtError } from '@hvtjs/core';
import type { Platform } from '@hvtjs/core/platform';

/**
 * Finds the platform package for this host. Core never imports one; the CLI
 * loads the one that fits at run time, so `--help` and `info` work anywhere
 * and nothing platform-specific is loaded before it is needed.
 */

/** Where hvt.js can run unikernels today. */
export const SUPPORTED = 'x86_64 and aarch64 Linux (KVM), x86_64 FreeBSD (vmm) and OpenBSD (vmm)';

/**
 * Each platform package by host OS, with its loader and the CPUs (Node's
 * names) it runs guests on. The specifiers are literal so that the bundle
 * (scripts/bundle.mjs) makes each package a chunk of its own, loaded by this
 * host only: the others are never read.
 */
const PLATFORMS: Record<
  string,
  { name: string; cpus: readonly string[]; load: () => Promise<unknown> }
> = {
  linux: {
    name: '@hvtjs/linux-kvm',
    cpus: ['x64', 'arm64'],
    load: () => import('@hvtjs/linux-kvm'),
  },
  freebsd: { name: '@hvtjs/freebsd-vmm', cpus: ['x64'], load: () => import('@hvtjs/freebsd-vmm') },
  openbsd: { name: '@hvtjs/openbsd-vmm', cpus: ['x64'], load: () => import('@hvtjs/openbsd-vmm') },
};

/** The platform package's name for this host, or undefined where there is none. */
export function platformPackage(os: string = process.platform): string | undefined {
  return PLATFORMS[os]?.name;
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

/** True when `error` says that `name` itself is not installed (not one of its imports). */
function isMissingPackage(error: unknown, name: string): boolean {
  const e = error as { code?: string; message?: string } | undefined;
  return (
    (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') &&
    typeof e.message === 'string' &&
    e.message.includes(`'${name}'`)
  );
}

/**
 * The platform package of the host `os`/`arch` (default: this one). Each is an
 * optional dependency of the CLI that npm installs only where its os/cpu
 * fields match, so a missing one means an unsupported host or an install
 * without optional dependencies; either way the error says where hvt.js runs.
 */
export async function loadPlatform(
  os: string = process.platform,
  arch: string = process.arch,
): Promise<Platform> {
  const entry = PLATFORMS[os];
  if (entry === undefined || !entry.cpus.includes(arch)) {
    throw new HvtError(`unikernels can be run on ${SUPPORTED} only; this host is ${os} on ${arch}`);
  }
  const { name } = entry;
  let loaded: Record<string, unknown>;
  try {
    loaded = (await entry.load()) as Record<string, unknown>;
  } catch (error) {
    const detail = error instanceof Error ? error.message.split('\n')[0] : String(error);
    const failure = isMissingPackage(error, name)
      ? new HvtError(
          `${name}, the platform package for ${os} on ${arch}, is not installed: npm leaves ` +
            'out an optional dependency whose install failed (its log then says what a build ' +
            'from source needs), and all of them with --omit=optional. ' +
            `hvt.js runs unikernels on ${SUPPORTED}`,
        )
      : new HvtError(`cannot load ${name}, the platform for this host: ${detail}`);
    failure.cause = error;
    throw failure;
  }
  const platform = loaded['default'];
  if (!isPlatform(platform)) throw new HvtError(`${name} does not provide a platform`);
  return platform;
}
