import {
  elfView,
  hostMachine,
  INV_EXE,
  PREAD_FAILED,
  PT_NOTE,
  preadInFull,
  readElf,
  U64_MAX,
} from './elf.js';
import { Abi1Info, Elf64Nhdr, getField } from './elf-layout.js';
import { AbiError, ElfError, ManifestError } from './errors.js';
import { type Manifest, parseManifest } from './manifest.js';

/**
 * The two Solo5 ELF notes (docs/guest-abi.md 4.1-4.3): ABI1 says which target and ABI
 * version the unikernel was built for, MFT1 carries its manifest. Reading a note
 * is separate from requiring hvt, so tools can describe unikernels of any target.
 */

export interface NoteKind {
  readonly label: string;
  readonly type: number;
  /** Alignment of the descriptor inside the note: 4 adds no padding, 8 adds 4 bytes. */
  readonly align: number;
  /** Smallest descriptor content accepted, after the padding. */
  readonly minSize: number;
  /** Largest n_descsz accepted. */
  readonly maxSize: number;
}

/** "ABI1" read little-endian. The reference reads two u32s without a size check; we need 8 bytes. */
export const ABI1_NOTE: NoteKind = {
  label: 'ABI1',
  type: 0x31494241,
  align: 4,
  minSize: 8,
  maxSize: 32,
};

/** "MFT1" read little-endian; at most 64 entries: 4 + 8 + 64 x 104 bytes. */
export const MFT1_NOTE: NoteKind = {
  label: 'MFT1',
  type: 0x3154464d,
  align: 8,
  minSize: 1,
  maxSize: 6668,
};

/** Size of an Elf64_Nhdr. */
const NHDR_SIZE = Elf64Nhdr.size;
/** Nhdr plus the name "Solo5\0" padded to 8 bytes. */
const SOLO5_NHDR_SIZE = 20;
const SOLO5_NAME = [0x53, 0x6f, 0x6c, 0x6f, 0x35, 0x00]; // "Solo5\0"

/**
 * Finds the Solo5 note of `kind` and returns a copy of its descriptor content
 * (after the alignment padding), or undefined if no PT_NOTE holds one. Only the
 * first note of each PT_NOTE segment is looked at: Solo5's linker script gives
 * each note a segment of its own. Malformed sizes are fatal, with the reference's
 * messages, including its literal "INV_EXE" in one of them.
 */
export function findSolo5Note(
  bytes: Uint8Array,
  file: string,
  kind: NoteKind,
  machine: number = hostMachine(),
): Uint8Array | undefined {
  const { phdrs } = readElf(bytes, file, 'note', machine);
  const dv = elfView(bytes);
  for (const ph of phdrs) {
    if (ph.type !== PT_NOTE) continue;
    const i = ph.index;
    if (ph.filesz < BigInt(NHDR_SIZE)) {
      // Even an empty PT_NOTE is rejected, not skipped.
      throw new ElfError(
        file,
        `${INV_EXE}: phdr[${i}].p_filesz note does not fall within valid size (${ph.filesz} < ${NHDR_SIZE})`,
      );
    }
    if (ph.filesz < BigInt(SOLO5_NHDR_SIZE)) continue;
    const got = preadInFull(bytes, ph.offset, SOLO5_NHDR_SIZE);
    if (got < 0) throw new ElfError(file, `phdr[${i}] pread_in_full returned ${PREAD_FAILED}`);
    if (got !== SOLO5_NHDR_SIZE) {
      throw new ElfError(
        file,
        `phdr[${i}] bytes read mismatches note size (${got} != ${SOLO5_NHDR_SIZE})`,
      );
    }
    const at = Number(ph.offset);
    const n = Elf64Nhdr.fields;
    const namesz = getField(dv, at, n.n_namesz);
    const descsz = getField(dv, at, n.n_descsz);
    const type = getField(dv, at, n.n_type);
    if (namesz !== SOLO5_NAME.length) continue;
    if (SOLO5_NAME.some((b, k) => bytes[at + NHDR_SIZE + k] !== b)) continue;
    if (type !== kind.type) continue;
    if (descsz < 1 || descsz > kind.maxSize) {
      throw new ElfError(
        file,
        `${INV_EXE}: phdr[${i}] note does not fall within valid size (${descsz} < 1 || ${descsz} > ${kind.maxSize})`,
      );
    }
    if (ph.filesz < BigInt(SOLO5_NHDR_SIZE + descsz)) {
      throw new ElfError(
        file,
        `${INV_EXE}: phdr[${i}] note does not fall within valid size (${ph.filesz} < ${SOLO5_NHDR_SIZE + descsz})`,
      );
    }
    return readDescriptor(bytes, file, kind, i, ph.offset, descsz);
  }
  return undefined;
}

function readDescriptor(
  bytes: Uint8Array,
  file: string,
  kind: NoteKind,
  i: number,
  noteOffset: bigint,
  descsz: number,
): Uint8Array {
  const offset = Math.ceil(SOLO5_NHDR_SIZE / kind.align) * kind.align;
  const padding = offset - SOLO5_NHDR_SIZE;
  // size_t arithmetic in the reference: a descriptor smaller than the padding
  // wraps around to a huge size, which the message then prints.
  const size = BigInt.asUintN(64, BigInt(descsz - padding));
  if (size < BigInt(kind.minSize) || size > BigInt(descsz)) {
    throw new ElfError(
      file,
      `INV_EXE: phdr[${i}] note does not fall within valid size (${size} <= 0 || ${size} > ${descsz})`,
    );
  }
  const count = Number(size);
  const at = (noteOffset + BigInt(offset)) & U64_MAX;
  const got = preadInFull(bytes, at, count);
  if (got < 0) {
    throw new ElfError(file, `phdr[${i}] pread_in_full for note_data returned ${PREAD_FAILED} < 0`);
  }
  if (got !== count) {
    throw new ElfError(file, `phdr[${i}] bytes read mismatches note size (${got} != ${count})`);
  }
  // A copy, not a view: a Buffer's slice() would share the file's memory.
  return new Uint8Array(bytes.subarray(Number(at), Number(at) + count));
}

export const AbiTarget = {
  HVT: 1,
  SPT: 2,
  VIRTIO: 3,
  MUEN: 4,
  GENODE: 5,
  XEN: 6,
} as const;

/** The ABI version this tender implements (HVT_ABI_VERSION). */
export const HVT_ABI_VERSION = 2;

/** A target's name as Solo5's tools spell it (hvt, spt, ...). */
export function abiTargetName(target: number): string {
  const names = ['hvt', 'spt', 'virtio', 'muen', 'genode', 'xen'];
  return names[target - 1] ?? `unknown(${target})`;
}

export interface Solo5Abi {
  readonly target: number;
  readonly version: number;
}

/** Reads the ABI1 note of any target; a missing note is the reference's error. */
export function readAbiNote(
  bytes: Uint8Array,
  file: string,
  machine: number = hostMachine(),
): Solo5Abi {
  const descriptor = findSolo5Note(bytes, file, ABI1_NOTE, machine);
  if (!descriptor) throw new AbiError(file, 'No Solo5 ABI information found in executable');
  const dv = elfView(descriptor);
  return {
    target: getField(dv, 0, Abi1Info.fields.target),
    version: getField(dv, 0, Abi1Info.fields.version),
  };
}

/** Refuses an executable that is not for solo5-hvt ABI version 2 (section 1, step 3). */
export function requireHvtAbi(abi: Solo5Abi, file: string): void {
  if (abi.target !== AbiTarget.HVT) {
    throw new AbiError(file, 'Executable is not for the solo5-hvt target');
  }
  if (abi.version !== HVT_ABI_VERSION) {
    throw new AbiError(file, `Executable requests unsupported ABI version ${abi.version}`);
  }
}

/** Reads and validates the MFT1 note. */
export function readManifestNote(
  bytes: Uint8Array,
  file: string,
  machine: number = hostMachine(),
): Manifest {
  const descriptor = findSolo5Note(bytes, file, MFT1_NOTE, machine);
  if (!descriptor) throw new ManifestError(file, 'No Solo5 manifest found in executable');
  return parseManifest(descriptor, file);
}
