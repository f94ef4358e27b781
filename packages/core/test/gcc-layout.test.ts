import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ELF_FILE_STRUCTS,
  EM_X86_64,
  type FileField,
  loadElf,
  MftType,
  parseManifest,
  readAbiNote,
  readManifestNote,
} from '../src/entry/kernel.js';
import { GuestMemory } from '../src/entry/platform.js';
import { type Field, GUEST_STRUCTS } from '../src/entry/tender.js';

/**
 * The manifest and ABI notes as a C compiler lays them out: structs written
 * from the ABI tables (docs/guest-abi.md 4.2-4.4), initialised the way solo5-elftool's
 * generated C does, compiled and linked by the system gcc. If our offsets and
 * padding disagree with C's, this is where it shows.
 */

const source = `
#include <stddef.h>
#include <stdint.h>

struct mft_entry {
  char name[68];
  uint32_t type;
  union {
    struct { uint64_t capacity; uint16_t block_size; } block_basic;
    struct { uint8_t mac[6]; uint16_t mtu; } net_basic;
  } u;
  union { int hostfd; uint64_t reserved; } b;
  _Bool attached;
};

struct mft { uint32_t version; uint32_t entries; struct mft_entry e[]; };

_Static_assert(sizeof(struct mft_entry) == 104, "entry size");
_Static_assert(offsetof(struct mft_entry, type) == 68, "type");
_Static_assert(offsetof(struct mft_entry, u.block_basic.capacity) == 72, "capacity");
_Static_assert(offsetof(struct mft_entry, u.block_basic.block_size) == 80, "block_size");
_Static_assert(offsetof(struct mft_entry, u.net_basic.mac) == 72, "mac");
_Static_assert(offsetof(struct mft_entry, u.net_basic.mtu) == 78, "mtu");
_Static_assert(offsetof(struct mft_entry, b) == 88, "b");
_Static_assert(offsetof(struct mft_entry, attached) == 96, "attached");
_Static_assert(sizeof(struct mft) == 8, "header");

struct nhdr { uint32_t n_namesz, n_descsz, n_type; };

#define ENTRIES 4
struct mft1_note {
  struct nhdr h;
  char name[8];
  /* An 8-aligned struct after a 20-byte header: the compiler inserts the 4 bytes of padding. */
  struct { uint32_t version; uint32_t entries; struct mft_entry e[ENTRIES]; } m;
};
_Static_assert(offsetof(struct mft1_note, m) == 24, "MFT1 padding");

const struct mft1_note mft1 __attribute__((section(".note.solo5.manifest"), aligned(8), used)) = {
  .h = { .n_namesz = 6,
         .n_descsz = sizeof(struct mft1_note) - offsetof(struct mft1_note, name) - 8,
         .n_type = 0x3154464d },
  .name = "Solo5",
  .m = { .version = 1, .entries = ENTRIES,
         .e = { { .name = "", .type = 0x40000000 },
                { .name = "storage", .type = 1 },
                { .name = "service0", .type = 2 },
                { .name = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcde", .type = 1 } } },
};

struct abi1_note {
  struct nhdr h;
  char name[8];
  struct { uint32_t target, version, reserved0, reserved1; } d;
};
_Static_assert(offsetof(struct abi1_note, d) == 20, "ABI1 has no padding");

const struct abi1_note abi1 __attribute__((section(".note.solo5.abi"), aligned(4), used)) = {
  .h = { .n_namesz = 6, .n_descsz = sizeof(abi1.d), .n_type = 0x31494241 },
  .name = "Solo5",
  .d = { .target = 1, .version = 2 },
};

const char greeting[] = "hello from rodata";
uint64_t counter = 0x1122334455667788ULL;
char scratch[8192];

void _start(void) { for (;;) __asm__ volatile("hlt"); }
`;

const script = `
ENTRY(_start)
PHDRS {
  text PT_LOAD FLAGS(1);
  rodata PT_LOAD FLAGS(4);
  data PT_LOAD FLAGS(6);
  bss PT_LOAD FLAGS(6);
  abi PT_NOTE;
  mft PT_NOTE;
}
SECTIONS {
  . = 0x100000;
  .text : { *(.text .text.*) } :text
  . = ALIGN(0x1000);
  .rodata : { *(.rodata .rodata.*) } :rodata
  /* gcc marks the note sections allocatable, so they live in rodata too. */
  .note.solo5.abi : { KEEP(*(.note.solo5.abi)) } :rodata :abi
  .note.solo5.manifest : { KEEP(*(.note.solo5.manifest)) } :rodata :mft
  . = ALIGN(0x1000);
  .data : { *(.data .data.*) } :data
  . = ALIGN(0x1000);
  .bss (NOLOAD) : { *(.bss .bss.*) *(COMMON) } :bss
  . = ALIGN(0x1000);
  /DISCARD/ : { *(.note.gnu.*) *(.note.GNU-stack) *(.eh_frame*) *(.comment) }
}
`;

const hasGcc = process.arch === 'x64' && spawnSync('gcc', ['--version']).status === 0;

describe.skipIf(!hasGcc)('notes and segments of a gcc-built executable', () => {
  let dir = '';
  let elf: Uint8Array = new Uint8Array();

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hvtjs-gcc-'));
    writeFileSync(join(dir, 'k.c'), source);
    writeFileSync(join(dir, 'k.lds'), script);
    execFileSync(
      'gcc',
      [
        '-ffreestanding',
        '-fno-pic',
        '-no-pie',
        '-nostdlib',
        '-static',
        '-O1',
        '-Wl,--build-id=none',
        '-Wl,-z,noexecstack',
        '-T',
        join(dir, 'k.lds'),
        '-o',
        join(dir, 'k.hvt'),
        join(dir, 'k.c'),
      ],
      { stdio: 'pipe' },
    );
    elf = readFileSync(join(dir, 'k.hvt'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the ABI1 note', () => {
    expect(readAbiNote(elf, 'k.hvt', EM_X86_64)).toEqual({ target: 1, version: 2 });
  });

  it('reads the manifest exactly as the C structs lay it out', () => {
    const m = readManifestNote(elf, 'k.hvt', EM_X86_64);
    expect(m.byteLength).toBe(8 + 4 * 104);
    expect(m.entries.map((e) => [e.name, e.type])).toEqual([
      ['', MftType.RESERVED_FIRST],
      ['storage', MftType.BLOCK_BASIC],
      ['service0', MftType.NET_BASIC],
      ['abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcde', 1],
    ]);
    // What we encode for the guest parses back the same, in the same bytes.
    const copy = m.encode();
    expect(parseManifest(copy, 'copy').entries.map((e) => e.name)).toEqual(
      m.entries.map((e) => e.name),
    );
  });

  it('loads the PT_LOAD segments and skips the bss', () => {
    const memory = GuestMemory.allocate(8 * 1024 * 1024);
    const loaded = loadElf(elf, 'k.hvt', memory, { machine: EM_X86_64 });
    expect(loaded.entry).toBeGreaterThanOrEqual(0x100000);
    expect(loaded.segments.map((s) => s.flags)).toEqual([1, 4, 6]);
    const rodata = loaded.segments[1]!;
    const text = new TextDecoder().decode(memory.read(rodata.vaddr, rodata.filesz));
    expect(text).toContain('hello from rodata');
    const data = loaded.segments[2]!;
    expect(memory.readU64Big(data.vaddr)).toBe(0x1122334455667788n);
    expect(loaded.kernelEnd).toBe(data.end);
  });
});

/**
 * Every struct core declares in guest-abi.ts against the C header our guest
 * programs are built with (test/guests/runtime/hvt_abi.h, written from the
 * ABI on its own): gcc must agree on each struct's size and each field's
 * offset and size, or the file does not compile.
 */
describe.skipIf(!hasGcc)('guest ABI structs as gcc lays them out', () => {
  const header = fileURLToPath(new URL('../../../test/guests/runtime/hvt_abi.h', import.meta.url));
  // hvt_abi.h includes the architecture's hvt_arch.h (the hypercall transport).
  const archDir = fileURLToPath(new URL('../../../test/guests/runtime/x86_64', import.meta.url));

  function asserts(): string {
    const lines: string[] = [];
    for (const s of GUEST_STRUCTS) {
      lines.push(`_Static_assert(sizeof(struct ${s.name}) == ${s.size}, "${s.name} size");`);
      for (const f of Object.values<Field>(s.fields)) {
        const member = `((struct ${s.name} *)0)->${f.name}`;
        lines.push(
          `_Static_assert(offsetof(struct ${s.name}, ${f.name}) == ${f.offset}, "${s.name}.${f.name} offset");`,
          `_Static_assert(sizeof(${member}) == ${f.size * f.count}, "${s.name}.${f.name} size");`,
        );
      }
    }
    return lines.join('\n');
  }

  it('agree on every struct, field offset and field size', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvtjs-abi-'));
    try {
      const source = `#include <stddef.h>\n#include <stdint.h>\n#include "${header}"\n${asserts()}\n`;
      writeFileSync(join(dir, 'abi.c'), source);
      const run = spawnSync(
        'gcc',
        ['-std=c11', '-fsyntax-only', '-I', archDir, join(dir, 'abi.c')],
        {
          encoding: 'utf8',
        },
      );
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('would notice a wrong offset (the check is live)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvtjs-abi-'));
    try {
      const wrong = asserts().replace(
        'offsetof(struct hvt_hc_poll, ret) == 16',
        'offsetof(struct hvt_hc_poll, ret) == 20',
      );
      writeFileSync(
        join(dir, 'abi.c'),
        `#include <stddef.h>\n#include <stdint.h>\n#include "${header}"\n${wrong}\n`,
      );
      const run = spawnSync(
        'gcc',
        ['-std=c11', '-fsyntax-only', '-I', archDir, join(dir, 'abi.c')],
        {
          encoding: 'utf8',
        },
      );
      expect(run.status).not.toBe(0);
      expect(run.stderr).toContain('hvt_hc_poll.ret offset');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * The ELF structs core reads and writes (elf-layout.ts) against the system's
 * own <elf.h> and <sys/procfs.h>: the same sizes, offsets and widths, or the
 * file does not compile. e_ident's bytes are checked against their EI_*
 * indices.
 */
describe.skipIf(!hasGcc)('ELF file structs as the system headers lay them out', () => {
  function asserts(): string {
    const lines: string[] = [];
    for (const s of ELF_FILE_STRUCTS) {
      lines.push(`_Static_assert(sizeof(${s.name}) == ${s.size}, "${s.name} size");`);
      for (const [name, f] of Object.entries<FileField>(s.fields)) {
        if (name.startsWith('ei_')) {
          const index = name.slice(3).toUpperCase();
          lines.push(`_Static_assert(EI_${index} == ${f.offset}, "${s.name}.${name} offset");`);
          continue;
        }
        lines.push(
          `_Static_assert(offsetof(${s.name}, ${name}) == ${f.offset}, "${s.name}.${name} offset");`,
          `_Static_assert(sizeof(((${s.name} *)0)->${name}) == ${f.size * f.count}, "${s.name}.${name} size");`,
        );
      }
    }
    return lines.join('\n');
  }

  const compile = (body: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'hvtjs-elf-'));
    try {
      const source = `#include <stddef.h>\n#include <elf.h>\n#include <sys/procfs.h>\n${body}\n`;
      writeFileSync(join(dir, 'elf.c'), source);
      return spawnSync('gcc', ['-std=gnu11', '-fsyntax-only', join(dir, 'elf.c')], {
        encoding: 'utf8',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('agree on every struct, field offset and field size', () => {
    const run = compile(asserts());
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('would notice a wrong offset (the check is live)', () => {
    const wrong = asserts().replace(
      'offsetof(struct elf_prstatus, pr_reg) == 112',
      'offsetof(struct elf_prstatus, pr_reg) == 120',
    );
    const run = compile(wrong);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('struct elf_prstatus.pr_reg offset');
  });
});
