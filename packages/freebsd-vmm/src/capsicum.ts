import type { FdRule, IoctlRule, SandboxPolicy } from '@hvtjs/core/platform';
import { ioc } from './abi.js';

/**
 * The sandbox policy compiled to Capsicum (docs/architecture.md section 4): per descriptor,
 * the rights for cap_rights_limit, the exact ioctl numbers for cap_ioctls_limit
 * and the fcntl commands for cap_fcntls_limit. The native code only applies this
 * table; it decides nothing.
 */

/** CAPRIGHT(idx, bit) of <sys/capsicum.h>: bits 57+idx say which word a right lives in. */
export function capright(index: 0 | 1, bit: bigint): bigint {
  return (1n << BigInt(57 + index)) | bit;
}

/** The rights this translation uses, as <sys/capsicum.h> defines them. */
export const CapRight = {
  READ: capright(0, 0x1n),
  WRITE: capright(0, 0x2n),
  SEEK_TELL: capright(0, 0x4n),
  SEEK: capright(0, 0xcn),
  PREAD: capright(0, 0xdn),
  PWRITE: capright(0, 0xen),
  MMAP: capright(0, 0x10n),
  MMAP_RW: capright(0, 0x1fn),
  CREATE: capright(0, 0x40n),
  FSYNC: capright(0, 0x100n),
  FTRUNCATE: capright(0, 0x200n),
  LOOKUP: capright(0, 0x400n),
  FCNTL: capright(0, 0x8000n),
  FSTAT: capright(0, 0x80000n),
  EVENT: capright(1, 0x20n),
  IOCTL: capright(1, 0x80n),
} as const;
export type CapRightName = keyof typeof CapRight;

/** cap_fcntls_limit bits: 1 << F_GETFL (3). */
export const CapFcntl = { GETFL: 1 << 3, SETFL: 1 << 4 } as const;
export type CapFcntlName = keyof typeof CapFcntl;

/**
 * The two words of a version-0 cap_rights_t holding `rights` (CAP_NONE plus
 * each right OR-ed into the word its index bits name).
 */
export function rightsWords(rights: readonly CapRightName[]): readonly [bigint, bigint] {
  let word0 = capright(0, 0n);
  let word1 = capright(1, 0n);
  for (const name of rights) {
    const right = CapRight[name];
    const index = Number((right >> 57n) & 0x1fn);
    if (index === 1) word0 |= right;
    else if (index === 2) word1 |= right;
    else throw new Error(`malformed right ${name}`);
  }
  return [word0, word1];
}

/**
 * What Node's own stdio streams do on fds 0-2 at run time (libuv on FreeBSD):
 * fstat and isatty when a stream is created, FIONBIO to make it non-blocking,
 * kqueue readiness when a write would block. The same set FreeBSD's
 * caph_limit_stdio() grants, plus FIONBIO.
 */
export const STDIO_IOCTLS: readonly IoctlRule[] = [
  { name: 'TIOCGETA', request: ioc('OUT', 't', 19, 44) },
  { name: 'TIOCGWINSZ', request: ioc('OUT', 't', 104, 8) },
  { name: 'FIODTYPE', request: ioc('OUT', 'f', 122, 4) },
  { name: 'FIONBIO', request: ioc('IN', 'f', 126, 4) },
];

/** One descriptor's Capsicum limits. */
export interface CapsicumFdRights {
  readonly fd: number;
  readonly what: string;
  readonly owner: string;
  readonly rights: readonly CapRightName[];
  /** The cap_rights_t words for cap_rights_limit. */
  readonly words: readonly [bigint, bigint];
  /** For cap_ioctls_limit; absent when the fd has no CAP_IOCTL. */
  readonly ioctls?: readonly IoctlRule[];
  /** For cap_fcntls_limit; absent when the fd has no CAP_FCNTL. */
  readonly fcntls?: readonly CapFcntlName[];
  /** Standard streams the runtime may have closed: EBADF there is not an error. */
  readonly mayBeClosed?: boolean;
}

const RIGHT_ORDER = Object.keys(CapRight) as CapRightName[];

function rightsForOps(rule: FdRule): Set<CapRightName> {
  const rights = new Set<CapRightName>();
  for (const op of rule.ops) {
    switch (op) {
      case 'read':
        rights.add('READ');
        break;
      case 'write':
        rights.add('WRITE');
        break;
      case 'pread':
        // Capsicum cannot bound the offset: the byte range stays the caller's check.
        rights.add('PREAD');
        break;
      case 'pwrite':
        rights.add('PWRITE');
        break;
      case 'truncate':
        // Capsicum cannot bound the length: the size stays the writer's own.
        rights.add('FTRUNCATE');
        break;
      case 'poll':
        rights.add('EVENT');
        break;
      case 'ioctl':
        rights.add('IOCTL');
        break;
      case 'create':
        // Only without a file remover (this platform has none yet): dumpcore
        // then creates its file at dump time, openat(dirfd, name, O_CREAT |
        // O_EXCL | O_WRONLY), and the new fd inherits these rights, so writing
        // it needs WRITE and SEEK here.
        rights.add('CREATE');
        rights.add('LOOKUP');
        rights.add('WRITE');
        rights.add('SEEK');
        break;
    }
  }
  return rights;
}

const STANDARD_STREAMS: readonly { fd: number; what: string; op: 'read' | 'write' }[] = [
  { fd: 0, what: 'standard input', op: 'read' },
  { fd: 1, what: 'standard output', op: 'write' },
  { fd: 2, what: 'standard error', op: 'write' },
];

/**
 * Compiles a policy to per-descriptor Capsicum limits. Standard streams not in
 * the policy are limited too (to what Node's stream code needs), so that no
 * inherited descriptor keeps every right. Throws for a rule that Capsicum
 * cannot express exactly: `ioctl` without its list of requests.
 */
export function capsicumRightsFor(policy: SandboxPolicy): CapsicumFdRights[] {
  const rules: FdRule[] = [...policy.fds];
  for (const stream of STANDARD_STREAMS) {
    if (!rules.some((r) => r.fd === stream.fd)) {
      rules.push({
        fd: stream.fd,
        kind: 'stdio',
        owner: 'runtime',
        what: stream.what,
        ops: [stream.op],
      });
    }
  }
  rules.sort((a, b) => a.fd - b.fd);

  return rules.map((rule): CapsicumFdRights => {
    const rights = rightsForOps(rule);
    let ioctls: IoctlRule[] | undefined;
    let fcntls: CapFcntlName[] | undefined;
    if (rights.has('IOCTL')) {
      if (rule.ioctls === undefined || rule.ioctls.length === 0) {
        throw new Error(`sandbox policy: fd ${rule.fd} (${rule.what}) allows ioctl without a list`);
      }
      ioctls = [...rule.ioctls];
    }
    const stdio = rule.kind === 'stdio';
    if (stdio) {
      for (const r of ['EVENT', 'FSTAT', 'FCNTL', 'IOCTL', 'SEEK'] as const) rights.add(r);
      ioctls = [...(ioctls ?? []), ...STDIO_IOCTLS].filter(
        (r, i, all) => all.findIndex((o) => o.request === r.request) === i,
      );
      fcntls = ['GETFL'];
    }
    const ordered = RIGHT_ORDER.filter((r) => rights.has(r));
    return {
      fd: rule.fd,
      what: rule.what,
      owner: rule.owner,
      rights: ordered,
      words: rightsWords(ordered),
      ...(ioctls !== undefined ? { ioctls } : {}),
      ...(fcntls !== undefined ? { fcntls } : {}),
      ...(stdio && rule.fd <= 2 ? { mayBeClosed: true } : {}),
    };
  });
}

/** Human-readable lines for `--print-policy`. */
export function describeCapsicum(table: readonly CapsicumFdRights[]): string[] {
  const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;
  const lines = ['Capsicum: cap_rights_limit on each descriptor, then cap_enter()'];
  for (const entry of table) {
    lines.push(
      `  fd ${entry.fd} (${entry.what}; ${entry.owner}): ${entry.rights.map((r) => `CAP_${r}`).join(' | ')}`,
    );
    if (entry.ioctls !== undefined) {
      lines.push(
        `    ioctls: ${entry.ioctls.map((r) => `${r.name} ${hex(r.request)}`).join(', ')}`,
      );
    }
    if (entry.fcntls !== undefined) {
      lines.push(`    fcntls: ${entry.fcntls.map((f) => `F_${f}`).join(', ')}`);
    }
  }
  lines.push('  every other descriptor keeps its rights; no path can be opened');
  return lines;
}
