import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `solo5 info`, run as a user runs it: the built CLI in a child process, on
 * unikernels compiled here by gcc and on files that are not unikernels.
 */

const cli = fileURLToPath(new URL('../dist/solo5.js', import.meta.url));

function solo5(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// A freestanding guest with the two Solo5 notes, laid out as Solo5's toolchain
// does: each note alone in a PT_NOTE, the manifest 8-aligned after its header.
const source = `
#include <stdint.h>
struct nhdr { uint32_t namesz, descsz, type; };
struct entry {
  char name[68]; uint32_t type;
  union { struct { uint64_t capacity; uint16_t block_size; } b; struct { uint8_t mac[6]; uint16_t mtu; } n; } u;
  uint64_t priv; _Bool attached;
};
#ifndef DEVICES
#define DEVICES
#define ENTRIES 1
#endif
struct mft_note { struct nhdr h; char name[8]; struct { uint32_t version, entries; struct entry e[ENTRIES]; } m; };
const struct mft_note mft __attribute__((section(".note.solo5.manifest"), aligned(8), used)) = {
  { 6, sizeof(struct mft_note) - 20, 0x3154464d }, "Solo5",
  { 1, ENTRIES, { { "", 0x40000000 } DEVICES } },
};
struct abi_note { struct nhdr h; char name[8]; uint32_t target, version, r0, r1; };
const struct abi_note abi __attribute__((section(".note.solo5.abi"), aligned(4), used)) = {
  { 6, 16, 0x31494241 }, "Solo5", TARGET, 2, 0, 0,
};
void _start(void) { for (;;) __asm__ volatile("hlt"); }
`;

const script = `
ENTRY(_start)
PHDRS { text PT_LOAD FLAGS(5); rodata PT_LOAD FLAGS(4); abi PT_NOTE; mft PT_NOTE; }
SECTIONS {
  . = 0x100000;
  .text : { *(.text .text.*) } :text
  . = ALIGN(0x1000);
  .rodata : { *(.rodata .rodata.*) } :rodata
  .note.solo5.abi : { KEEP(*(.note.solo5.abi)) } :rodata :abi
  .note.solo5.manifest : { KEEP(*(.note.solo5.manifest)) } :rodata :mft
  /DISCARD/ : { *(.note.gnu.*) *(.note.GNU-stack) *(.eh_frame*) *(.comment) *(.data*) *(.bss*) }
}
`;

const hasGcc = process.arch === 'x64' && spawnSync('gcc', ['--version']).status === 0;
let dir = '';

function compile(name: string, defines: string[]): string {
  const out = join(dir, name);
  execFileSync(
    'gcc',
    [
      '-ffreestanding',
      '-fno-pic',
      '-no-pie',
      '-nostdlib',
      '-static',
      '-Wl,--build-id=none',
      '-Wl,-z,noexecstack',
      ...defines,
      '-T',
      join(dir, 'k.lds'),
      '-o',
      out,
      join(dir, 'k.c'),
    ],
    { stdio: 'pipe' },
  );
  return out;
}

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run pnpm -F @hvtjs/cli build first`);
  dir = mkdtempSync(join(tmpdir(), 'hvtjs-info-'));
  writeFileSync(join(dir, 'k.c'), source);
  writeFileSync(join(dir, 'k.lds'), script);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!hasGcc)('solo5 info on unikernels', () => {
  let devices = '';
  let plain = '';
  let spt = '';
  beforeAll(() => {
    devices = compile('devices.hvt', [
      '-DTARGET=1',
      '-DENTRIES=3',
      '-DDEVICES=,{"storage",1},{"service0",2}',
    ]);
    plain = compile('plain.hvt', ['-DTARGET=1']);
    spt = compile('spt.spt', ['-DTARGET=2', '-DENTRIES=2', '-DDEVICES=,{"disk",1}']);
  });

  it('prints the ABI and every declared device', () => {
    const r = solo5('info', devices);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      [
        'ABI: hvt, version 2',
        'Manifest: version 1, 2 devices',
        '  [1] storage: BLOCK_BASIC',
        '  [2] service0: NET_BASIC',
        '',
      ].join('\n'),
    );
  });

  it('--json prints one object: abi and the query-manifest rendering', () => {
    for (const args of [
      ['info', devices, '--json'],
      ['info', '--json', devices],
    ]) {
      const r = solo5(...args);
      expect(r.status).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({
        abi: { target: 'hvt', version: 2 },
        manifest: {
          type: 'solo5.manifest',
          version: 1,
          devices: [
            { name: 'storage', type: 'BLOCK_BASIC' },
            { name: 'service0', type: 'NET_BASIC' },
          ],
        },
      });
    }
  });

  it('a unikernel without devices', () => {
    const r = solo5('info', plain);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('ABI: hvt, version 2\nManifest: version 1, no devices\n');
  });

  it('shows a unikernel of another target', () => {
    const r = solo5('info', spt);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      'ABI: spt, version 2\nManifest: version 1, 1 device\n  [1] disk: BLOCK_BASIC\n',
    );
    expect(JSON.parse(solo5('info', '--json', spt).stdout).abi).toEqual({
      target: 'spt',
      version: 2,
    });
  });

  it('a gcc ELF without Solo5 notes', () => {
    const bare = join(dir, 'bare');
    execFileSync('gcc', ['-static', '-nostdlib', '-no-pie', '-x', 'c', '-o', bare, '-'], {
      input: 'void _start(void) { for (;;); }\n',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    expectOneLine(solo5('info', bare), `${bare}: No Solo5 ABI information found in executable`);
  });

  it('a truncated unikernel', () => {
    const cut = join(dir, 'cut.hvt');
    writeFileSync(cut, readFileSync(devices).subarray(0, 10));
    expectOneLine(
      solo5('info', cut),
      `${cut}: invalid executable: elf header does not match the expected size (10 != 64)`,
    );
  });

  it('a unikernel whose program headers were cut off', () => {
    const cut = join(dir, 'cut2.hvt');
    writeFileSync(cut, readFileSync(devices).subarray(0, 100));
    const r = solo5('info', cut);
    expectOneLine(r, `${cut}: invalid executable: program header does not match the expected size`);
  });

  it('a corrupted unikernel', () => {
    const bad = join(dir, 'bad.hvt');
    const bytes = readFileSync(devices);
    bytes[4] = 1; // ELFCLASS32
    writeFileSync(bad, bytes);
    expectOneLine(
      solo5('info', bad),
      `${bad}: invalid executable: invalid or unsupported executable (elf header invalid while loading note)`,
    );
  });
});

function expectOneLine(r: ReturnType<typeof solo5>, startsWith: string): void {
  expect(r.status).toBe(1);
  expect(r.stdout).toBe('');
  const lines = r.stderr.split('\n');
  expect(lines).toHaveLength(2);
  expect(lines[1]).toBe('');
  expect(lines[0]?.startsWith(`solo5: ${startsWith}`)).toBe(true);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('solo5 info on files that are not unikernels', () => {
  it('a text file', () => {
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'this is not an executable\n'.repeat(10));
    expectOneLine(
      solo5('info', text),
      `${text}: invalid executable: invalid or unsupported executable (elf header invalid while loading note)`,
    );
  });

  it('an empty file', () => {
    const empty = join(dir, 'empty');
    writeFileSync(empty, '');
    expectOneLine(
      solo5('info', empty),
      `${empty}: invalid executable: elf header does not match the expected size (0 != 64)`,
    );
  });

  it('a directory', () => {
    const sub = join(dir, 'subdir');
    mkdirSync(sub);
    expectOneLine(solo5('info', sub), `${sub}: Could not open: Is a directory`);
  });

  it('a missing file', () => {
    const missing = join(dir, 'missing.hvt');
    expectOneLine(solo5('info', missing), `${missing}: Could not open: No such file or directory`);
  });

  it('usage errors', () => {
    const none = solo5('info');
    expect(none.status).toBe(1);
    expect(none.stderr).toBe('solo5: Missing KERNEL operand\nusage: solo5 info KERNEL [--json]\n');
    const bad = solo5('info', '--yaml', 'k');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe("solo5: Invalid option: `--yaml'\nusage: solo5 info KERNEL [--json]\n");
  });
});
