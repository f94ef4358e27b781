import type { SandboxPolicy } from '@hvtjs/core/platform';

/**
 * The Landlock half of the Linux sandbox: a ruleset that handles every file
 * system right the kernel's Landlock ABI knows (and, from ABI 4, TCP, from ABI
 * 6, abstract UNIX sockets and signals) and grants none. Nothing is opened
 * after the drop (dumpcore's file is created before it; files open then keep
 * working, since Landlock checks paths when they are opened), so this is a
 * second layer under the seccomp filter, which already forbids opening files.
 *
 * landlock_restrict_self() confines only the thread that calls it (and the
 * threads it starts later, which no one does after the drop): the thread that
 * drops privileges and then runs the vCPU. The runtime's other threads were
 * started before; only seccomp, which is synchronised to every thread,
 * confines them.
 */

/** Which threads the ruleset confines, for --print-policy and the drop's report. */
export const LANDLOCK_THREADS =
  'only the thread that drops privileges and runs the vCPU (landlock_restrict_self ' +
  'confines its caller; the threads started earlier, libuv pool, V8 workers, the net ' +
  "ring thread, are outside it and confined by seccomp's filter alone)";

const FS = {
  EXECUTE: 1n << 0n,
  WRITE_FILE: 1n << 1n,
  READ_FILE: 1n << 2n,
  READ_DIR: 1n << 3n,
  REMOVE_DIR: 1n << 4n,
  REMOVE_FILE: 1n << 5n,
  MAKE_CHAR: 1n << 6n,
  MAKE_DIR: 1n << 7n,
  MAKE_REG: 1n << 8n,
  MAKE_SOCK: 1n << 9n,
  MAKE_FIFO: 1n << 10n,
  MAKE_BLOCK: 1n << 11n,
  MAKE_SYM: 1n << 12n,
  REFER: 1n << 13n,
  TRUNCATE: 1n << 14n,
  IOCTL_DEV: 1n << 15n,
} as const;

/** The file system rights each ABI version added. */
function fsRights(abi: number): bigint {
  let rights = (1n << 13n) - 1n;
  if (abi >= 2) rights |= FS.REFER;
  if (abi >= 3) rights |= FS.TRUNCATE;
  if (abi >= 5) rights |= FS.IOCTL_DEV;
  return rights;
}

/** A grant of rights beneath a directory (none in this tender's plans). */
export interface LandlockRule {
  readonly fd: number;
  readonly access: bigint;
  readonly what: string;
}

export interface LandlockPlan {
  readonly abi: number;
  readonly handledFs: bigint;
  readonly handledNet: bigint;
  readonly scoped: bigint;
  /** How much of struct landlock_ruleset_attr this ABI knows. */
  readonly attrSize: 8 | 16 | 24;
  readonly rules: readonly LandlockRule[];
}

/** Why there is no Landlock, from landlock_create_ruleset's errno. */
export function landlockUnavailable(errno: number): string {
  switch (errno) {
    case 38:
      return 'the kernel has no Landlock (ENOSYS)';
    case 95:
      return 'Landlock is disabled on this kernel (EOPNOTSUPP: add landlock to the lsm= boot parameter)';
    default:
      return `Landlock is unavailable (errno ${errno})`;
  }
}

/**
 * The ruleset for `policy` on a kernel with Landlock ABI `abi` (1 or more):
 * every right handled, none granted. A policy that asks to create files after
 * the drop is refused (the seccomp compiler refuses it too).
 */
export function compileLandlock(policy: SandboxPolicy, abi: number): LandlockPlan {
  const handledFs = fsRights(abi);
  const creating = policy.fds.find((f) => f.ops.includes('create'));
  if (creating !== undefined) {
    throw new Error(
      `sandbox policy: fd ${creating.fd} (${creating.what}) asks to create files after the drop, ` +
        'which this platform never allows',
    );
  }
  const rules: LandlockRule[] = [];
  return {
    abi,
    handledFs,
    handledNet: abi >= 4 ? 0b11n : 0n,
    scoped: abi >= 6 ? 0b11n : 0n,
    attrSize: abi >= 6 ? 24 : abi >= 4 ? 16 : 8,
    rules,
  };
}

const RIGHT_NAMES = Object.entries(FS) as [string, bigint][];

/** The names of the rights in `mask`. */
export function landlockRightNames(mask: bigint): string[] {
  return RIGHT_NAMES.filter(([, bit]) => (mask & bit) !== 0n).map(([name]) => name);
}
