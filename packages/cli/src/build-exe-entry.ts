import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { HvtError } from '@hvtjs/core';
import { EM_X86_64, PF_R, PF_X, PHDR_SIZE, PT_LOAD } from '@hvtjs/core/kernel';

/** What the executable carries besides its snapshot (build-exe.ts, exe.ts). */
export const EXE_ASSETS = {
  /** The platform package's N-API addon, as installed. */
  addon: 'addon.node',
} as const;

/** The memory file the entry code makes for the addon (its `memfd_name`). */
export const ADDON_MEMFD_NAME = 'hvtjs-addon';

/**
 * The executable's own entry code (exe-entry/entry-x86_64.S, assembled with
 * `gcc -c` and `objcopy -O binary -j .text`; test/build-exe.test.ts does it
 * again and compares), so that making the executable needs no compiler.
 * Its last 8 bytes are the distance to the original entry point.
 */
export const ENTRY_X86_64 = Buffer.from(
  'SYnUSIPsIEiNBaQAAABIiQQkSMdEJAgEAAAESI0FEAEAAEiJRCQQSMdEJBgAAAAAuA0AAAC/HwAAAEiJ5jHSQboIAAAADwVIg8QguLMBAAAx/zH2DwVIg/jqdA1Ig/jadAe/swEAAOtMuDgAAAC/AAABADH2MdJFMdJFMcAPBUiD+Op0B784AAAA6ym4PwEAAEiNPaEAAAC+AQAAAA8FTIniSI0FV////0gDBTgBAAD/4It+GEGJ/UiB7AABAABIiedIjTV8AAAAuUQAAADzpEyNhCQAAQAARInoQbkKAAAAMdJB9/GAwjBJ/8hBiBCFwHXuSI2MJAABAABMKcFMicbzpEiNNX8AAAC5XQAAAPOkSIn6SCniuAEAAAC/AgAAAEiJ5g8FuOcAAAC/AQAAAA8FuA8AAAAPBWh2dGpzLWFkZG9uAHNvbG81LWh2dDogYSBzZWNjb21wIGZpbHRlciBzZXQgYmVmb3JlIHN0YXJ0LXVwIGZvcmJpZHMgc3lzdGVtIGNhbGwgLCB3aGljaCB0aGlzIGV4ZWN1dGFibGUgbmVlZHMgdG8gc3RhcnQgKDU2IGFuZCA0MzUgbWFrZSB0aHJlYWRzKTogcnVuIGl0IHdpdGhvdXQgdGhhdCBmaWx0ZXIKZpAAAAAAAAAAAA==',
  'base64',
);

/** The program header table's own entry (core's elf.ts has the rest). */
const PT_PHDR = 6;
const PAGE = 0x1000n;

const alignUp = (n: bigint, to: bigint) => (n + to - 1n) & ~(to - 1n);

function readAt(fd: number, length: number, position: number | bigint): Buffer {
  const bytes = Buffer.alloc(length);
  if (readSync(fd, bytes, 0, length, position) !== length) {
    throw new HvtError('build-exe: the node binary is truncated');
  }
  return bytes;
}

/**
 * Makes `code` the entry point of the x86_64 ELF executable `file`: it is
 * appended in a new read-and-execute PT_LOAD segment, described by a new
 * program header in the unused room after the last one (postject leaves the
 * table, moved, with room to spare; the table must lie inside a loaded
 * segment so that the dynamic linker sees the same one as the kernel), and
 * ends by jumping to the old entry point through its last 8 bytes.
 */
export function prependEntry(file: string, code: Buffer = ENTRY_X86_64): void {
  const fd = openSync(file, 'r+');
  try {
    const eh = readAt(fd, 64, 0);
    if (eh.readUInt32BE(0) !== 0x7f454c46 || eh[4] !== 2 || eh[5] !== 1) {
      throw new HvtError('build-exe: the node binary is not a 64-bit little-endian ELF file');
    }
    if (eh.readUInt16LE(18) !== EM_X86_64) {
      throw new HvtError('build-exe: the node binary is not for x86_64');
    }
    const entry = eh.readBigUInt64LE(24);
    const phoff = eh.readBigUInt64LE(32);
    const phnum = eh.readUInt16LE(56);
    if (eh.readUInt16LE(54) !== PHDR_SIZE)
      throw new HvtError('build-exe: unexpected program header size');
    const table = readAt(fd, (phnum + 1) * PHDR_SIZE, phoff);
    let phdrRoom = 0n;
    let end = 0n;
    let tableLoaded = false;
    for (let i = 0; i < phnum; i++) {
      const h = table.subarray(i * PHDR_SIZE);
      const type = h.readUInt32LE(0);
      if (type === PT_PHDR) phdrRoom = h.readBigUInt64LE(32);
      if (type === PT_LOAD) {
        const top = h.readBigUInt64LE(16) + h.readBigUInt64LE(40);
        if (top > end) end = top;
        const from = h.readBigUInt64LE(8);
        if (phoff >= from && phoff + phdrRoom <= from + h.readBigUInt64LE(32)) tableLoaded = true;
      }
    }
    const room = BigInt((phnum + 1) * PHDR_SIZE);
    if (!tableLoaded || phdrRoom < room || table.subarray(phnum * PHDR_SIZE).some((b) => b !== 0)) {
      throw new HvtError('build-exe: no room for one more program header in the node binary');
    }
    const offset = alignUp(BigInt(fstatSync(fd).size), PAGE);
    const vaddr = alignUp(end, PAGE);
    const body = Buffer.from(code);
    body.writeBigInt64LE(entry - vaddr, body.byteLength - 8);
    writeSync(fd, body, 0, body.byteLength, Number(offset));
    const h = Buffer.alloc(PHDR_SIZE);
    h.writeUInt32LE(PT_LOAD, 0);
    h.writeUInt32LE(PF_R | PF_X, 4);
    h.writeBigUInt64LE(offset, 8);
    h.writeBigUInt64LE(vaddr, 16);
    h.writeBigUInt64LE(vaddr, 24);
    h.writeBigUInt64LE(BigInt(body.byteLength), 32);
    h.writeBigUInt64LE(BigInt(body.byteLength), 40);
    h.writeBigUInt64LE(PAGE, 48);
    writeSync(fd, h, 0, PHDR_SIZE, Number(phoff) + phnum * PHDR_SIZE);
    const header = Buffer.alloc(10);
    header.writeBigUInt64LE(vaddr, 0);
    writeSync(fd, header, 0, 8, 24);
    header.writeUInt16LE(phnum + 1, 0);
    writeSync(fd, header, 0, 2, 56);
  } finally {
    closeSync(fd);
  }
}
