// The unikernel the hypercall fuzz loads: one of our real guest ELFs (built by
// gcc, with its X-only text and R rodata that the loader maps read-only on the
// host, and its RW data), changed in two places:
//   - its bss segment gets no permissions and a page of file contents, so
//     the loader maps it PROT_NONE, and grows to 64 KiB so that structs and
//     buffers can land inside it;
//   - its manifest note is replaced by one that declares the devices the fuzz
//     attaches (two block devices, two network devices), appended to the file.
import { readFileSync } from 'node:fs';
import {
  EM_X86_64,
  MFT_ENTRY_SIZE,
  MFT_HEADER_SIZE,
  MftType,
  PT_LOAD,
  readElf,
} from '@hvtjs/core/kernel';

const PT_NOTE = 4;
const PHDR_SIZE = 56;
const P_FLAGS = 4;
const P_OFFSET = 8;
const P_FILESZ = 32;
const P_MEMSZ = 40;
const MFT1_TYPE = 0x3154464d;
const SOLO5_NAME = 'Solo5\0';
/** Note header (12) plus "Solo5\0" padded to 8, then 4 bytes so the descriptor is 8-aligned. */
const NOTE_DESC_OFFSET = 24;
const NO_ACCESS_SIZE = 0x10000;
const PAGE = 0x1000;

/** Devices of the fuzz kernel, in manifest order (entry 0 is the reserved one). */
export const FUZZ_DEVICES = [
  { name: 'small', type: MftType.BLOCK_BASIC },
  { name: 'sparse', type: MftType.BLOCK_BASIC },
  { name: 'net0', type: MftType.NET_BASIC },
  { name: 'net1', type: MftType.NET_BASIC },
];

function manifestDescriptor() {
  const entries = [{ name: '', type: MftType.RESERVED_FIRST }, ...FUZZ_DEVICES];
  const desc = new Uint8Array(MFT_HEADER_SIZE + entries.length * MFT_ENTRY_SIZE);
  const dv = new DataView(desc.buffer);
  dv.setUint32(0, 1, true);
  dv.setUint32(4, entries.length, true);
  entries.forEach((e, i) => {
    const at = MFT_HEADER_SIZE + i * MFT_ENTRY_SIZE;
    desc.set(new TextEncoder().encode(e.name), at);
    dv.setUint32(at + 68, e.type, true);
  });
  return desc;
}

/** The fuzz kernel's bytes, made from the guest ELF at `path`. */
export function fuzzKernel(path) {
  const original = new Uint8Array(readFileSync(path));
  const elf = readElf(original, path, 'note', EM_X86_64);
  const desc = manifestDescriptor();
  const noteAt = Math.ceil(original.length / 8) * 8;
  const note = new Uint8Array(NOTE_DESC_OFFSET + desc.length);
  const nv = new DataView(note.buffer);
  nv.setUint32(0, SOLO5_NAME.length, true);
  nv.setUint32(4, desc.length + 4, true);
  nv.setUint32(8, MFT1_TYPE, true);
  note.set(new TextEncoder().encode(SOLO5_NAME), 12);
  note.set(desc, NOTE_DESC_OFFSET);
  const bytes = new Uint8Array(noteAt + note.length);
  bytes.set(original);
  bytes.set(note, noteAt);
  const dv = new DataView(bytes.buffer);
  const phoff = Number(elf.header.phoff);
  const loads = elf.phdrs.filter((p) => p.type === PT_LOAD);
  const bss = loads.at(-1);
  if (bss === undefined || bss.filesz !== 0n) throw new Error(`${path}: no bss segment last`);
  const bssAt = phoff + bss.index * PHDR_SIZE;
  // The loader protects only segments with file contents: give it a page of
  // the file (the text's first, at an offset congruent to the address).
  dv.setUint32(bssAt + P_FLAGS, 0, true);
  dv.setBigUint64(bssAt + P_OFFSET, BigInt(PAGE), true);
  dv.setBigUint64(bssAt + P_FILESZ, BigInt(PAGE), true);
  if (bss.memsz < BigInt(NO_ACCESS_SIZE)) {
    dv.setBigUint64(bssAt + P_MEMSZ, BigInt(NO_ACCESS_SIZE), true);
  }
  let repointed = false;
  for (const p of elf.phdrs) {
    if (p.type !== PT_NOTE) continue;
    const at = Number(p.offset);
    if (original[at + 8] !== 0x4d || dv.getUint32(at + 8, true) !== MFT1_TYPE) continue;
    const ph = phoff + p.index * PHDR_SIZE;
    dv.setBigUint64(ph + P_OFFSET, BigInt(noteAt), true);
    dv.setBigUint64(ph + P_FILESZ, BigInt(note.length), true);
    repointed = true;
  }
  if (!repointed) throw new Error(`${path}: no MFT1 note`);
  return bytes;
}
