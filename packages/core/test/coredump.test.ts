import { spawnSync } from 'node:child_process';
import {
  existsSync,
  fstatSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  coreFileSize,
  createCoreFile,
  decodeTrapFrame,
  type TrapFrame,
  writeCoreFile,
  x86CoreRegisters,
} from '../src/coredump.js';
import { GuestAccessError, HvtError } from '../src/errors.js';
import { GuestMemory } from '../src/guest-memory.js';
import { DumpcoreModule } from '../src/modules/dumpcore.js';
import type { HaltHook, SetupContext } from '../src/modules/module.js';
import type { FileRemoval, Platform, Vm, X86Registers } from '../src/platform.js';

const PAGE = 4096;
const MEM_SIZE = 4 * 1024 * 1024;
const EM_X86_64 = 62;

/** Offsets in the file as laid out by the writer, cross-checked against the headers below. */
const NOTE_DESC = 176 + 12 + 8;
const PR_REG = NOTE_DESC + 112;
const REG_ORDER = [
  'r15',
  'r14',
  'r13',
  'r12',
  'rbp',
  'rbx',
  'r11',
  'r10',
  'r9',
  'r8',
  'rax',
  'rcx',
  'rdx',
  'rsi',
  'rdi',
  'orig_rax',
  'rip',
  'cs',
  'eflags',
  'rsp',
  'ss',
  'fs_base',
  'gs_base',
  'ds',
  'es',
  'fs',
  'gs',
] as const;

function tool(name: string): boolean {
  return spawnSync(name, ['--version'], { stdio: 'ignore' }).status === 0;
}
const hasReadelf = tool('readelf');
const hasGdb = tool('gdb');

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** Guest RAM where every byte depends on its address, and no 4 KiB page is all zero. */
function patternedMemory(size: number): GuestMemory {
  const m = GuestMemory.allocate(size);
  const bytes = new Uint8Array(size);
  let x = 0x12345678;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    bytes[i] = (x >>> 16) | 1;
  }
  m.write(0, bytes);
  return m;
}

/** Distinct values in every register so that a misplaced slot shows. */
function sampleRegs(): X86Registers {
  return {
    rax: 0x1111_0000_0000_00a0n,
    rbx: 0x1111_0000_0000_00b0n,
    rcx: 0x1111_0000_0000_00c0n,
    rdx: 0x1111_0000_0000_00d0n,
    rsi: 0x1111_0000_0000_0051n,
    rdi: 0x1111_0000_0000_00d1n,
    rsp: 0x1ff0f8n,
    rbp: 0x1ff100n,
    r8: 0x8888n,
    r9: 0x9999n,
    r10: 0x1010n,
    r11: 0x1111n,
    r12: 0x1212n,
    r13: 0x1313n,
    r14: 0x1414n,
    r15: 0xffff_ffff_ffff_fff0n,
    rip: 0x100234n,
    rflags: 0x246n,
    cs: 0x8,
    ss: 0x10,
    ds: 0x18,
    es: 0x20,
    fs: 0x28,
    gs: 0x30,
    fsBase: 0xdead_0000n,
    gsBase: 0xbeef_0000n,
  };
}

function expectedRegs(regs: X86Registers): Record<(typeof REG_ORDER)[number], bigint> {
  return {
    r15: regs.r15,
    r14: regs.r14,
    r13: regs.r13,
    r12: regs.r12,
    rbp: regs.rbp,
    rbx: regs.rbx,
    r11: regs.r11,
    r10: regs.r10,
    r9: regs.r9,
    r8: regs.r8,
    rax: regs.rax,
    rcx: regs.rcx,
    rdx: regs.rdx,
    rsi: regs.rsi,
    rdi: regs.rdi,
    orig_rax: 0n,
    rip: regs.rip,
    cs: BigInt(regs.cs),
    eflags: regs.rflags,
    rsp: regs.rsp,
    ss: BigInt(regs.ss),
    fs_base: regs.fsBase,
    gs_base: regs.gsBase,
    ds: BigInt(regs.ds),
    es: BigInt(regs.es),
    fs: BigInt(regs.fs),
    gs: BigInt(regs.gs),
  };
}

function noteRegs(file: Buffer): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const [i, name] of REG_ORDER.entries()) out[name] = file.readBigUInt64LE(PR_REG + i * 8);
  return out;
}

/** gdb's `info registers` lines as name → value. */
function gdbRegisters(core: string, names: string[]): Record<string, bigint> {
  const text = run('gdb', [
    '-batch',
    '-nx',
    '-c',
    core,
    '-ex',
    `info registers ${names.join(' ')}`,
  ]);
  const out: Record<string, bigint> = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+)\s+(0x[0-9a-f]+)\s/.exec(line);
    if (m) out[m[1]!] = BigInt(m[2]!);
  }
  return out;
}

describe('writeCoreFile', () => {
  let dir: string;
  let memory: GuestMemory;
  const regs = sampleRegs();

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hvt-coredump-'));
    memory = patternedMemory(MEM_SIZE);
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const dump = (extra: Partial<Parameters<typeof writeCoreFile>[0]> = {}, into = dir) => {
    const file = createCoreFile(into, 4242);
    return writeCoreFile({
      ...file,
      pid: 4242,
      memory,
      memSize: MEM_SIZE,
      registers: x86CoreRegisters(regs),
      machine: EM_X86_64,
      ...extra,
    });
  };

  it('creates core.solo5-hvt.<pid> with mode 0600, write-only, and dumps every page by default', () => {
    const file = createCoreFile(dir, 4242);
    expect(file.path).toBe(join(dir, 'core.solo5-hvt.4242'));
    expect(statSync(file.path).mode & 0o777).toBe(0o600);
    expect(() => readFileSync(file.fd)).toThrow(/EBADF/);
    const r = writeCoreFile({
      ...file,
      pid: 4242,
      memory,
      memSize: MEM_SIZE,
      registers: x86CoreRegisters(regs),
      machine: 62,
    });
    expect(r.path).toBe(file.path);
    expect(r).toMatchObject({ pagesDumped: MEM_SIZE / PAGE, pagesTotal: MEM_SIZE / PAGE });
    expect(r.writeErrors).toBe(0);
    // The writer owns the fd: closed when it returns.
    expect(() => fstatSync(file.fd)).toThrow(/EBADF/);
  });

  it('grows the file to exactly coreFileSize(memSize), the bound the sandbox sets', () => {
    const r = dump({ memSize: MEM_SIZE - 3 * PAGE });
    expect(statSync(r.path).size).toBe(coreFileSize(MEM_SIZE - 3 * PAGE));
    expect(coreFileSize(MEM_SIZE)).toBe(4096 + MEM_SIZE);
  });

  it('refuses to overwrite an existing core (exclusive create)', () => {
    const first = dump();
    const before = readFileSync(first.path);
    expect(() => dump({ registers: x86CoreRegisters({ ...regs, rip: 0n }) })).toThrow(HvtError);
    expect(() => dump()).toThrow(
      `dumpcore: cannot create ${join(dir, 'core.solo5-hvt.4242')}: file already exists (EEXIST)`,
    );
    expect(readFileSync(first.path).equals(before)).toBe(true);
  });

  it('reports a directory it cannot create in as an HvtError', () => {
    expect(() => dump({}, join(dir, 'missing'))).toThrow(HvtError);
    expect(() => dump({}, join(dir, 'missing'))).toThrow(/cannot create.*ENOENT/);
  });

  it('rejects a memory size beyond guest memory, writes nothing and closes the fd', () => {
    const file = createCoreFile(dir, 4242);
    expect(() =>
      writeCoreFile({
        ...file,
        pid: 4242,
        memory,
        memSize: MEM_SIZE + PAGE,
        registers: x86CoreRegisters(regs),
        machine: 62,
      }),
    ).toThrow(HvtError);
    expect(statSync(file.path).size).toBe(0);
    expect(() => fstatSync(file.fd)).toThrow(/EBADF/);
  });

  it('writes an ELF64 ET_CORE header with the standalone OS/ABI and two program headers', () => {
    const f = readFileSync(dump().path);
    expect([...f.subarray(0, 8)]).toEqual([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 255]);
    expect(f.readUInt16LE(16)).toBe(4);
    expect(f.readUInt16LE(18)).toBe(EM_X86_64);
    expect(f.readBigUInt64LE(32)).toBe(64n);
    expect(f.readUInt16LE(54)).toBe(56);
    expect(f.readUInt16LE(56)).toBe(2);
    // PT_NOTE then PT_LOAD
    expect(f.readUInt32LE(64)).toBe(4);
    expect(f.readBigUInt64LE(64 + 8)).toBe(176n);
    expect(f.readUInt32LE(120)).toBe(1);
    expect(f.readUInt32LE(120 + 4)).toBe(0);
    expect(f.readBigUInt64LE(120 + 8) % 4096n).toBe(0n);
    expect(f.readBigUInt64LE(120 + 16)).toBe(0n);
    expect(f.readBigUInt64LE(120 + 24)).toBe(0n);
    expect(f.readBigUInt64LE(120 + 32)).toBe(BigInt(MEM_SIZE));
    expect(f.readBigUInt64LE(120 + 40)).toBe(BigInt(MEM_SIZE));
    expect(f.length).toBe(Number(f.readBigUInt64LE(120 + 8)) + MEM_SIZE);
  });

  it.skipIf(!hasReadelf)('readelf -h: Type CORE, standalone OS/ABI, Machine X86-64', () => {
    const out = run('readelf', ['-h', dump().path]);
    expect(out).toMatch(/Type:\s+CORE/);
    // binutils names 255 "Standalone App" only for some machines; for x86-64 it prints the number.
    expect(out).toMatch(/OS\/ABI:\s+(Standalone App|<unknown: ff>)/);
    expect(out).toMatch(/Machine:\s+.*X86-64/);
  });

  it.skipIf(!hasReadelf)('readelf -lW: one NOTE and one LOAD of memSize at vaddr 0', () => {
    const out = run('readelf', ['-lW', dump().path]);
    const rows = out.split('\n').filter((l) => /^\s+[A-Z_]+\s+0x/.test(l));
    expect(rows).toHaveLength(2);
    expect(rows.filter((l) => /^\s+NOTE\s/.test(l))).toHaveLength(1);
    const load = rows.filter((l) => /^\s+LOAD\s/.test(l));
    expect(load).toHaveLength(1);
    const [, offset, vaddr, paddr, filesz, memsz] = load[0]!.trim().split(/\s+/);
    expect(BigInt(offset!) % 4096n).toBe(0n);
    expect(BigInt(vaddr!)).toBe(0n);
    expect(BigInt(paddr!)).toBe(0n);
    expect(BigInt(filesz!)).toBe(BigInt(MEM_SIZE));
    expect(BigInt(memsz!)).toBe(BigInt(MEM_SIZE));
  });

  it.skipIf(!hasReadelf)('readelf -n: one CORE NT_PRSTATUS note of 0x150 bytes', () => {
    const out = run('readelf', ['-n', dump().path]);
    expect(out).toMatch(/CORE\s+0x00000150\s+NT_PRSTATUS/);
    expect(out.match(/NT_/g)).toHaveLength(1);
  });

  it('lays out the note name and struct elf_prstatus as Linux x86_64 does', () => {
    const f = readFileSync(dump().path);
    expect(f.readUInt32LE(176)).toBe(5);
    expect(f.readUInt32LE(180)).toBe(336);
    expect(f.readUInt32LE(184)).toBe(1);
    expect([...f.subarray(188, 196)]).toEqual([0x43, 0x4f, 0x52, 0x45, 0, 0, 0, 0]);
    expect(f.readInt32LE(NOTE_DESC + 32)).toBe(4242);
    expect(noteRegs(f)).toEqual(expectedRegs(regs));
    // pr_fpvalid and padding after pr_reg
    expect(f.readBigUInt64LE(NOTE_DESC + 328)).toBe(0n);
  });

  it.skipIf(!hasGdb)('gdb reads the registers and memory from the core', () => {
    const core = dump().path;
    const got = gdbRegisters(core, ['rip', 'rsp', 'rax', 'r15', 'eflags', 'cs', 'ss', 'fs_base']);
    const want = expectedRegs(regs);
    expect(got['rip']).toBe(want.rip);
    expect(got['rsp']).toBe(want.rsp);
    expect(got['rax']).toBe(want.rax);
    expect(got['r15']).toBe(want.r15);
    expect(got['eflags']).toBe(want.eflags);
    expect(got['cs']).toBe(want.cs);
    expect(got['ss']).toBe(want.ss);
    if (got['fs_base'] !== undefined) expect(got['fs_base']).toBe(want.fs_base);
    const addr = 0x123456;
    const out = run('gdb', ['-batch', '-nx', '-c', core, '-ex', `x/1gx ${addr}`]);
    const m = /:\s+(0x[0-9a-f]+)/.exec(out);
    expect(m).not.toBeNull();
    expect(BigInt(m![1]!)).toBe(memory.readU64Big(addr));
  });

  it('stores guest bytes at p_offset + address', () => {
    const f = readFileSync(dump().path);
    const base = Number(f.readBigUInt64LE(120 + 8));
    for (const addr of [0, 1, 0xfff, 0x1000, 0x10000, 0x100000, 0x2abcde, MEM_SIZE - 1]) {
      expect(f[base + addr], `byte at 0x${addr.toString(16)}`).toBe(memory.readU8(addr));
    }
    expect(f.subarray(base, base + MEM_SIZE).equals(Buffer.from(memory.read(0, MEM_SIZE)))).toBe(
      true,
    );
  });

  it('writes only resident pages and leaves the others as holes', () => {
    const pages = MEM_SIZE / PAGE;
    const resident = new Uint8Array(pages);
    const chosen = [0, 1, 256, 300, pages - 1];
    for (const p of chosen) resident[p] = 1;
    // Only bit 0 counts, as with mincore.
    resident[500] = 0xfe;
    const r = dump({ residentPages: resident });
    expect(r).toMatchObject({ pagesDumped: chosen.length, pagesTotal: pages, writeErrors: 0 });

    const st = statSync(r.path);
    const f = readFileSync(r.path);
    const base = Number(f.readBigUInt64LE(120 + 8));
    expect(st.size).toBe(base + MEM_SIZE);
    expect(st.blocks).toBeLessThan(MEM_SIZE / 512 / 8);

    for (let p = 0; p < pages; p++) {
      const inFile = f.subarray(base + p * PAGE, base + (p + 1) * PAGE);
      if (chosen.includes(p)) {
        expect(inFile.equals(Buffer.from(memory.read(p * PAGE, PAGE))), `page ${p}`).toBe(true);
      } else if (inFile.some((b) => b !== 0)) {
        throw new Error(`non-resident page ${p} has data in the core`);
      }
    }
  });

  it('covers only memSize when guest memory is larger', () => {
    const memSize = MEM_SIZE - 64 * PAGE;
    const r = dump({ memSize });
    expect(r.pagesTotal).toBe(memSize / PAGE);
    const f = readFileSync(r.path);
    expect(f.readBigUInt64LE(120 + 32)).toBe(BigInt(memSize));
    expect(f.length).toBe(Number(f.readBigUInt64LE(120 + 8)) + memSize);
  });

  it('lets the HALT cookie trap frame override rip, cs, rflags, rsp and ss', () => {
    const cookie: TrapFrame = {
      cr2: 0xbad000n,
      ec: 2n,
      rip: 0x1a2b3cn,
      cs: 0x33n,
      rflags: 0x10286n,
      rsp: 0x1fee00n,
      ss: 0x2bn,
    };
    const f = readFileSync(dump({ registers: x86CoreRegisters(regs, cookie) }).path);
    expect(noteRegs(f)).toEqual({
      ...expectedRegs(regs),
      rip: cookie.rip,
      cs: cookie.cs,
      eflags: cookie.rflags,
      rsp: cookie.rsp,
      ss: cookie.ss,
    });
  });

  it.skipIf(!hasGdb)('gdb sees the cookie rip and rsp', () => {
    const cookie: TrapFrame = {
      cr2: 0n,
      ec: 0n,
      rip: 0x10beefn,
      cs: 0x8n,
      rflags: 0x2n,
      rsp: 0x1fd000n,
      ss: 0x10n,
    };
    const got = gdbRegisters(dump({ registers: x86CoreRegisters(regs, cookie) }).path, [
      'rip',
      'rsp',
    ]);
    expect(got['rip']).toBe(cookie.rip);
    expect(got['rsp']).toBe(cookie.rsp);
  });
});

describe('decodeTrapFrame', () => {
  it('reads {cr2, ec, rip, cs, rflags, rsp, ss} as 7 u64 at the cookie address', () => {
    const m = GuestMemory.allocate(64 * 1024);
    const gpa = 0x8000;
    const values = [0xfeed_face_0000_1000n, 14n, 0x100abcn, 8n, 0x10046n, 0x1ffe0n, 0x10n];
    for (const [i, v] of values.entries()) m.writeU64Big(gpa + i * 8, v);
    expect(decodeTrapFrame({ memory: m, size: m.size }, gpa)).toEqual({
      cr2: values[0],
      ec: values[1],
      rip: values[2],
      cs: values[3],
      rflags: values[4],
      rsp: values[5],
      ss: values[6],
    });
  });

  it('throws GuestAccessError when the frame runs past guest memory', () => {
    const m = GuestMemory.allocate(64 * 1024);
    expect(() => decodeTrapFrame({ memory: m, size: m.size }, 64 * 1024 - 48)).toThrow(
      GuestAccessError,
    );
  });
});

describe('the dumpcore module: the core file exists before the sandbox', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hvt-dumpcore-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const SIZE = 1 << 20;
  const corePath = () => join(dir, `core.solo5-hvt.${process.pid}`);

  /** The module set up as the tender does, on a platform with or without a remover. */
  function setUpDumpcore(withRemover: boolean) {
    const events: string[] = [];
    const removals: { dirFd: number; name: string; fileFd: number; ino: number }[] = [];
    const hooks: HaltHook[] = [];
    const warned: string[] = [];
    const channel = openSync('/dev/null', 'w');
    const platform = {
      name: 'test',
      arch: 'x86_64',
      ...(withRemover
        ? {
            removeFileAtExit: (dirFd: number, name: string, fileFd: number): FileRemoval => {
              removals.push({ dirFd, name, fileFd, ino: fstatSync(fileFd).ino });
              return { fd: channel, keep: () => events.push('keep') };
            },
          }
        : {}),
    } as unknown as Platform;
    const guest = { memory: patternedMemory(SIZE), size: SIZE };
    const vm = {
      getRegistersX86: () => {
        events.push('registers');
        return sampleRegs();
      },
    } as unknown as Vm;
    const ctx = {
      platform,
      vm,
      guest,
      warn: (text: string) => warned.push(text),
      registerHaltHook: (hook: HaltHook) => hooks.push(hook),
    } as unknown as SetupContext;
    const module = new DumpcoreModule();
    module.handleOption(`--dumpcore=${dir}`);
    module.setup(ctx);
    const halt = (status: number) => {
      for (const hook of hooks) hook(status, 0);
    };
    return { module, events, removals, warned, halt, channel };
  }

  it('creates core.solo5-hvt.<pid> (0600) at setup and has the platform remove it unless kept', () => {
    const { module, removals } = setUpDumpcore(true);
    const path = corePath();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(path).size).toBe(0);
    expect(removals).toHaveLength(1);
    expect(removals[0]!.name).toBe(`core.solo5-hvt.${process.pid}`);
    expect(removals[0]!.ino).toBe(statSync(path).ino);
    // The directory the platform got is DIR.
    module.close();
  });

  it('declares only the file (pwrite, truncate up to its size) and the channel: nothing to create', () => {
    const { module, removals, channel } = setUpDumpcore(true);
    const needs = module.sandboxNeeds();
    expect(needs.fds).toEqual([
      {
        fd: removals[0]!.fileFd,
        kind: 'file',
        owner: 'dumpcore',
        what: `core file: ${corePath()} (created before the drop)`,
        ops: ['pwrite', 'truncate'],
        size: coreFileSize(SIZE),
      },
      {
        fd: channel,
        kind: 'channel',
        owner: 'dumpcore',
        what: 'keeps the core file (else it is removed at exit)',
        ops: ['write'],
      },
    ]);
    expect(needs.fds!.some((f) => f.ops.includes('create'))).toBe(false);
    // DIR itself is closed once the file exists.
    expect(() => fstatSync(removals[0]!.dirFd)).toThrow(/EBADF/);
    module.close();
  });

  it('on abort keeps the file, then writes the dump into it', () => {
    const { module, events, warned, halt } = setUpDumpcore(true);
    halt(255);
    expect(events).toEqual(['keep', 'registers']);
    expect(warned).toEqual([
      `dumpcore: dumping guest core to: ${dir}/core.solo5-hvt.${process.pid}`,
      `dumpcore: dumped ${SIZE / PAGE} pages of total ${SIZE / PAGE} pages`,
    ]);
    const core = readFileSync(corePath());
    expect([...core.subarray(0, 4)]).toEqual([0x7f, 0x45, 0x4c, 0x46]);
    expect(core.length).toBe(coreFileSize(SIZE));
    module.close();
  });

  it('for any other status neither keeps nor writes', () => {
    const { module, events, warned, halt } = setUpDumpcore(true);
    halt(3);
    halt(0);
    expect(events).toEqual([]);
    expect(warned).toEqual([]);
    expect(statSync(corePath()).size).toBe(0);
    module.close();
  });

  it('a file that could not be created is reported at dump time, in the same words as before', () => {
    writeFileSync(corePath(), 'old');
    const { module, events, warned, halt, removals } = setUpDumpcore(true);
    expect(removals).toEqual([]);
    expect(module.sandboxNeeds()).toEqual({});
    halt(255);
    expect(warned).toEqual([
      `dumpcore: dumping guest core to: ${dir}/core.solo5-hvt.${process.pid}`,
      `dumpcore: cannot create ${corePath()}: file already exists (EEXIST)`,
      'dumpcore: error(s) dumping core, file may be incomplete',
    ]);
    expect(events).toEqual([]);
    expect(readFileSync(corePath(), 'utf8')).toBe('old');
    module.close();
  });

  it('without a remover (platforms that lack one) it creates nothing before the dump', () => {
    const { module, halt, warned } = setUpDumpcore(false);
    expect(existsSync(corePath())).toBe(false);
    const needs = module.sandboxNeeds();
    expect(needs.fds).toHaveLength(1);
    expect(needs.fds![0]).toMatchObject({ kind: 'directory', ops: ['create'] });
    halt(255);
    expect(warned[1]).toMatch(/^dumpcore: dumped \d+ pages/);
    expect(readFileSync(corePath()).subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
    module.close();
  });
});
