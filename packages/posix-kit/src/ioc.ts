/** ioctl direction bits, <sys/ioccom.h> (FreeBSD and OpenBSD alike; hvt/bsd_types.h in C). */
export const IocDir = {
  VOID: 0x20000000,
  OUT: 0x40000000,
  IN: 0x80000000,
  INOUT: 0xc0000000,
} as const;
export type IocDirName = keyof typeof IocDir;

/** Argument sizes are 13 bits wide. */
export const IOCPARM_MAX = 0x1fff;

/** An ioctl command number: direction, argument size, group character, number. */
export function ioc(dir: IocDirName, group: string, nr: number, size: number): number {
  if (group.length !== 1) throw new RangeError(`ioctl group must be one character: ${group}`);
  if (!Number.isInteger(nr) || nr < 0 || nr > 0xff) throw new RangeError(`bad ioctl number ${nr}`);
  if (!Number.isInteger(size) || size < 0 || size > IOCPARM_MAX) {
    throw new RangeError(`ioctl argument size ${size} does not fit 13 bits`);
  }
  return (IocDir[dir] | (size << 16) | (group.charCodeAt(0) << 8) | nr) >>> 0;
}

/** A struct's size and the byte offsets of the fields the tender touches. */
export interface StructLayout {
  readonly size: number;
  readonly fields: Readonly<Record<string, number>>;
}

/** One row of a command table; request 0 where the release lacks the command. */
export interface IoctlEntry {
  readonly name: string;
  readonly request: number;
}

/**
 * A segment's access rights in the VMX layout both vmm(4)s take: type 0-3,
 * S 4, DPL 5-6, P 7, AVL 12, L 13, D/B 14, G 15, unusable 16.
 */
export function segmentAccess(seg: {
  type: number;
  s: number;
  dpl: number;
  present: number;
  avl: number;
  l: number;
  db: number;
  g: number;
  unusable: number;
}): number {
  return (
    ((seg.type & 0xf) |
      ((seg.s & 1) << 4) |
      ((seg.dpl & 3) << 5) |
      ((seg.present & 1) << 7) |
      ((seg.avl & 1) << 12) |
      ((seg.l & 1) << 13) |
      ((seg.db & 1) << 14) |
      ((seg.g & 1) << 15) |
      ((seg.unusable & 1) << 16)) >>>
    0
  );
}
