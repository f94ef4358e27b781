import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type GuestDebugRequest,
  GuestMemory,
  type Platform,
  Prot,
  type Vm,
  type X86DebugState,
} from '../src/entry/platform.js';
import {
  abridgedTagWord,
  armFastPath,
  checksum,
  debugRegisters,
  decodeRegisters,
  encodePacket,
  encodeRegisters,
  fromHex,
  fullTagWord,
  GDB_LOST,
  GDB_PACKET_SIZE,
  GDB_REGISTERS_SIZE,
  GdbModule,
  GdbSession,
  type GdbTarget,
  Hypercalls,
  hardwareBreakpointFits,
  ipFamily,
  PacketReader,
  type SetupContext,
  toHex,
} from '../src/entry/tender.js';
import { HvtError } from '../src/index.js';
import { guestRam, thrown } from './tender-helpers.js';

// The gdb module's protocol (docs/guest-abi.md 11.5) without KVM: framing,
// registers, debug registers and the session against real guest memory,
// fed what a debugger, or something pretending to be one, sends.

const bytes = (s: string) => Buffer.from(s, 'latin1');
const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');

describe('packet framing', () => {
  it('reads back every packet it encodes', () => {
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
        }),
        (data) => {
          fc.pre(!data.includes('$') && !data.includes('#') && data.length <= GDB_PACKET_SIZE);
          expect(new PacketReader().feed(encodePacket(data))).toEqual([{ kind: 'packet', data }]);
        },
      ),
    );
  });

  it('tells acks, naks and Ctrl-C apart, skips noise, restarts on $', () => {
    const events = new PacketReader().feed(bytes('+x-\x03zz$ab$g#67'));
    expect(events).toEqual([
      { kind: 'ack' },
      { kind: 'nak' },
      { kind: 'interrupt' },
      { kind: 'packet', data: 'g' },
    ]);
  });

  it('reports bad and non-hex checksums, and packets over the size limit', () => {
    const reader = new PacketReader();
    expect(reader.feed(bytes('$g#00$g#zz'))).toEqual([
      { kind: 'bad-checksum', computed: 0x67, sent: '00' },
      { kind: 'bad-checksum', computed: 0x67, sent: 'zz' },
    ]);
    expect(reader.feed(bytes(`$${'m'.repeat(GDB_PACKET_SIZE + 1)}#00`))).toEqual([
      { kind: 'oversized' },
    ]);
    // One byte at a time gives the same.
    const slow = new PacketReader();
    const events = [...encodePacket('qSupported')].flatMap((b) => slow.feed(Uint8Array.of(b)));
    expect(events).toEqual([{ kind: 'packet', data: 'qSupported' }]);
  });

  it('never throws and never holds more than a packet, whatever arrives', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 9000 }), { maxLength: 5 }), (chunks) => {
        const reader = new PacketReader();
        for (const chunk of chunks) {
          for (const e of reader.feed(chunk)) {
            if (e.kind === 'packet') expect(e.data.length).toBeLessThanOrEqual(GDB_PACKET_SIZE);
          }
        }
      }),
    );
  });

  it('hex both ways, strictly', () => {
    expect(toHex(Uint8Array.of(0, 0xab, 0x10))).toBe('00ab10');
    expect(fromHex('00aB10')).toEqual(Uint8Array.of(0, 0xab, 0x10));
    expect(fromHex('abc')).toBeUndefined();
    expect(fromHex('zz')).toBeUndefined();
    expect(checksum('g')).toBe(0x67);
  });
});

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const u16 = fc.integer({ min: 0, max: 0xffff });
/** st registers as FXSAVE stores them: 10 bytes used of every 16. */
const stBytes = fc.uint8Array({ minLength: 80, maxLength: 80 }).map((b) => {
  const st = new Uint8Array(128);
  for (let i = 0; i < 8; i++) st.set(b.subarray(i * 10, i * 10 + 10), i * 16);
  return st;
});
const states: fc.Arbitrary<X86DebugState> = fc.record({
  regs: fc.record({
    rax: u64,
    rbx: u64,
    rcx: u64,
    rdx: u64,
    rsi: u64,
    rdi: u64,
    rsp: u64,
    rbp: u64,
    r8: u64,
    r9: u64,
    r10: u64,
    r11: u64,
    r12: u64,
    r13: u64,
    r14: u64,
    r15: u64,
    rip: u64,
    rflags: u64,
  }),
  selectors: fc.record({ cs: u16, ss: u16, ds: u16, es: u16, fs: u16, gs: u16 }),
  fpu: fc.record({
    st: stBytes,
    fcw: u16,
    fsw: u16,
    ftw: fc.integer({ min: 0, max: 0xff }),
    fop: fc.integer({ min: 0, max: 0x7ff }),
    fip: u64,
    fdp: u64,
    xmm: fc.uint8Array({ minLength: 256, maxLength: 256 }),
    mxcsr: fc.integer({ min: 0, max: 0xffff_ffff }),
  }),
});

describe('the amd64 register set of g and G', () => {
  it('has GDB amd64 layout: 17 x 8, eflags, 6 selectors, st0-7, 8 x87 words, xmm0-15, mxcsr', () => {
    expect(GDB_REGISTERS_SIZE).toBe(17 * 8 + 4 + 6 * 4 + 8 * 10 + 8 * 4 + 16 * 16 + 4);
    const state = fc.sample(states, { seed: 1, numRuns: 1 })[0]!;
    const g = encodeRegisters(state);
    const dv = new DataView(g.buffer);
    expect(dv.getBigUint64(0, true)).toBe(state.regs.rax);
    expect(dv.getBigUint64(7 * 8, true)).toBe(state.regs.rsp);
    expect(dv.getBigUint64(16 * 8, true)).toBe(state.regs.rip);
    expect(dv.getUint32(136, true)).toBe(Number(state.regs.rflags & 0xffff_ffffn));
    expect(dv.getUint32(140, true)).toBe(state.selectors.cs);
    expect(g.subarray(164, 174)).toEqual(state.fpu.st.subarray(0, 10));
    expect(dv.getUint32(244, true)).toBe(state.fpu.fcw);
    expect(dv.getUint32(260, true)).toBe(Number(state.fpu.fip & 0xffff_ffffn));
    expect(g.subarray(276, 292)).toEqual(state.fpu.xmm.subarray(0, 16));
    expect(dv.getUint32(532, true)).toBe(state.fpu.mxcsr);
  });

  it('G of what g gave changes nothing (the round trip)', () => {
    fc.assert(
      fc.property(states, (state) => {
        const back = decodeRegisters(encodeRegisters(state), state);
        expect(back).toEqual(state);
      }),
    );
  });

  it('refuses a short set or a changed selector', () => {
    const state = fc.sample(states, { seed: 2, numRuns: 1 })[0]!;
    const g = encodeRegisters(state);
    expect(decodeRegisters(g.subarray(1), state)).toBeUndefined();
    const cs = g.slice();
    cs[140] = (cs[140]! + 1) & 0xff;
    expect(decodeRegisters(cs, state)).toBeUndefined();
  });

  it('converts the x87 tag word: empty 3, zero 1, valid 0, special 2', () => {
    const st = new Uint8Array(128);
    // ST0 (physical 0 with TOP 0) 1.0; ST1 zero; ST2 infinity; ST3 denormal.
    st.set([0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f], 0);
    st.set([0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x7f], 32);
    st.set([1, 0, 0, 0, 0, 0, 0, 0, 0, 0], 48);
    expect(fullTagWord(0b1111, 0, st)).toBe(0xff00 | (2 << 6) | (2 << 4) | (1 << 2) | 0);
    // TOP 1: physical 1 is ST0.
    expect(fullTagWord(0b10, 1 << 11, st) & 0b1100).toBe(0);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), u16, stBytes, (ftw, fsw, s) => {
        expect(abridgedTagWord(fullTagWord(ftw, fsw, s))).toBe(ftw);
      }),
    );
  });
});

describe('debug registers', () => {
  it('puts each breakpoint in DR0-3 with its enable, type and length bits in DR7', () => {
    expect(debugRegisters([{ type: 1, addr: 0x101420n, len: 1 }])).toEqual({
      dr: [0x101420n, 0n, 0n, 0n],
      dr7: 0x602n,
    });
    const four = debugRegisters([
      { type: 1, addr: 0x1000n, len: 1 },
      { type: 2, addr: 0x2000n, len: 4 },
      { type: 3, addr: 0x3000n, len: 8 },
      { type: 4, addr: 0x4002n, len: 2 },
    ]);
    expect(four.dr).toEqual([0x1000n, 0x2000n, 0x3000n, 0x4002n]);
    // G0-G3, GE, bit 10; per slot R/W 00 01 11 11 and LEN 00 11 10 01.
    expect(four.dr7).toBe(
      0xaan |
        0x600n |
        (0b00n << 16n) |
        (0b00n << 18n) |
        (0b01n << 20n) |
        (0b11n << 22n) |
        (0b11n << 24n) |
        (0b10n << 26n) |
        (0b11n << 28n) |
        (0b01n << 30n),
    );
  });

  it("follows x86's rules: execute length 1, watch 1/2/4/8 aligned", () => {
    expect(hardwareBreakpointFits(1, 0x1001n, 1)).toBe(true);
    expect(hardwareBreakpointFits(1, 0x1000n, 2)).toBe(false);
    for (const len of [1, 2, 4, 8]) expect(hardwareBreakpointFits(2, 0x1000n, len)).toBe(true);
    expect(hardwareBreakpointFits(2, 0x1002n, 4)).toBe(false);
    expect(hardwareBreakpointFits(3, 0x1000n, 3)).toBe(false);
    expect(hardwareBreakpointFits(4, 0x1000n, 16)).toBe(false);
  });
});

const MEM = 1 << 20;
const TEXT = 0x1000;

/** A stopped guest: real guest memory (a read-only page as text), a register file. */
function fakeTarget() {
  const memory = GuestMemory.allocate(MEM);
  memory.restrict(TEXT, 0x1000, Prot.READ);
  let state = fc.sample(states, { seed: 3, numRuns: 1 })[0]!;
  const debugs: GuestDebugRequest[] = [];
  const inside = (a: bigint, len: number) => a >= 0n && a + BigInt(len) <= BigInt(MEM);
  const target: GdbTarget = {
    readMemory: (a, len) =>
      inside(a, len) ? memory.chunks[0]!.slice(Number(a), Number(a) + len) : undefined,
    writeMemory(a, b) {
      if (!inside(a, b.length)) return false;
      memory.chunks[0]!.set(b, Number(a));
      return true;
    },
    getState: () => state,
    setState(s) {
      state = s;
      return true;
    },
    setGuestDebug: (r) => debugs.push(r),
  };
  return { memory, target, debugs, state: () => state };
}

/** The debugger's side, scripted: what it sends, chunk by chunk, then it hangs up. */
function scripted(chunks: (string | Uint8Array)[]) {
  const sent: string[] = [];
  const link = {
    receive: () => {
      const next = chunks.shift();
      return next === undefined ? undefined : typeof next === 'string' ? bytes(next) : next;
    },
    send: (b: Uint8Array) => sent.push(text(b)),
  };
  return { link, sent };
}

/** Replies (packet payloads) among what the session sent. */
const replies = (sent: string[]) =>
  sent.filter((s) => s.startsWith('$')).map((s) => s.slice(1, s.lastIndexOf('#')));

describe('the session', () => {
  it('serves the reference command set and resumes on c, s and D', () => {
    const { target, debugs, memory } = fakeTarget();
    memory.chunks[0]!.set([0x55, 0x48], TEXT);
    const p = (d: string) => text(encodePacket(d));
    const warned: string[] = [];
    const { link, sent } = scripted([
      `+${p('?')}+`,
      p('qSupported:swbreak+'),
      `+${p('m1000,2')}+`,
      p(`Z0,${TEXT.toString(16)},1`),
      `+${p('m1000,2')}+${p('Z2,2000,4')}+${p('k')}+${p('s')}`,
    ]);
    const session = new GdbSession(link, target, (t) => warned.push(t));
    expect(session.stopped(0, false)).toBe('step');
    expect(replies(sent)).toEqual([
      'S00',
      'PacketSize=1000;QStartNoAckMode+',
      '5548',
      'OK',
      'cc48',
      'OK',
      'OK',
    ]);
    expect(warned).toEqual(['Debugger asked us to quit']);
    expect(debugs.at(-1)).toEqual({
      singleStep: true,
      softwareBreakpoints: true,
      hardware: { dr: [0x2000n, 0n, 0n, 0n], dr7: 0xd0602n },
    });
    // The next stop is announced; D puts the text back and stops trapping.
    const again = scripted([`+${p('D')}+`]);
    const s2 = new GdbSession(again.link, target, () => {});
    expect(s2.stopped(5)).toBe('detach');
    expect(replies(again.sent)).toEqual(['S05', 'OK']);
    session.clear();
    expect([...memory.chunks[0]!.subarray(TEXT, TEXT + 2)]).toEqual([0x55, 0x48]);
    expect(debugs.at(-1)).toEqual({ singleStep: false, softwareBreakpoints: false });
  });

  it('answers hostile packets with E01 or the empty reply, and asks again after a bad checksum', () => {
    const { target, state } = fakeTarget();
    const before = state();
    const p = (d: string) => text(encodePacket(d));
    const hostile = [
      'm',
      'mzz,1',
      `m${(MEM - 1).toString(16)},2`,
      'mffffffffffffffff,2',
      'm10000000000000000,1',
      'm0,1000',
      'M0,2:00',
      'M0,1:zz',
      `M${MEM.toString(16)},1:00`,
      'G00',
      'Z0,0,2',
      'Z1,0,2',
      'Z5,0,1',
      'Z2,1,4',
      `Z2,${MEM.toString(16)},1`,
      'z1,0,1',
      'z0,0,1',
    ];
    const { link, sent } = scripted([
      '$g#00',
      ...hostile.flatMap((h) => [p(h), '+']),
      p('vCont?'),
      '+',
      p(`${'x'.repeat(GDB_PACKET_SIZE + 10)}`),
      '+',
      p('c'),
    ]);
    const warned: string[] = [];
    const session = new GdbSession(link, target, (t) => warned.push(t));
    expect(session.stopped(0, false)).toBe('continue');
    expect(sent[0]).toBe('-');
    expect(replies(sent)).toEqual([...hostile.map(() => 'E01'), '', 'E01']);
    expect(warned[0]).toMatch(/^GDB: bad checksum from the debugger \(computed 0x67, sent "00"\)/);
    expect(warned[1]).toBe('GDB: packet longer than 4096 bytes from the debugger, refused');
    expect(state()).toBe(before);
  });

  it('changes registers through G, refusing a changed selector', () => {
    const { target, state } = fakeTarget();
    const p = (d: string) => text(encodePacket(d));
    const g = encodeRegisters(state());
    const changed = g.slice();
    changed[0] = 0x99;
    const badSelector = g.slice();
    badSelector[140] = badSelector[140]! ^ 1;
    const { link, sent } = scripted([
      p(`G${toHex(changed)}`),
      '+',
      p(`G${toHex(badSelector)}`),
      '+',
      p('g'),
      '+',
      p('QStartNoAckMode'),
      '+',
      p('c'),
    ]);
    expect(new GdbSession(link, target, () => {}).stopped(0, false)).toBe('continue');
    expect(replies(sent)).toEqual(['OK', 'E01', toHex(changed), 'OK']);
    expect(state().regs.rax & 0xffn).toBe(0x99n);
    // In no-ack mode nothing is acknowledged any more.
    expect(sent.at(-1)).toBe('$OK#9a');
  });

  it('whatever the debugger sends, it ends only with a reply, a resume or the lost-debugger error', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (chunks) => {
        const { target } = fakeTarget();
        const { link } = scripted([...chunks]);
        try {
          new GdbSession(link, target, () => {}).stopped(0, false);
        } catch (error) {
          expect(error).toBeInstanceOf(HvtError);
          expect((error as HvtError).message).toBe(GDB_LOST);
        }
      }),
    );
  });

  it('while the guest runs: Ctrl-C interrupts, a hang-up is reported, other input waits', () => {
    const { target } = fakeTarget();
    const flood = text(encodePacket('g')).repeat(1000);
    const { link, sent } = scripted(['\x03', `+${text(encodePacket('?'))}`, flood, '$?#3f']);
    const session = new GdbSession(link, target, () => {});
    expect(session.input()).toBe('interrupt');
    expect(session.input()).toBe('nothing');
    // Packets sent while the guest runs are dropped, not kept for later.
    expect(session.input()).toBe('nothing');
    expect(() => session.stopped(2)).toThrow(GDB_LOST);
    expect(replies(sent)).toEqual(['S02', 'S02']);
  });
});

describe('the module', () => {
  it('keeps the native fast path off only when --gdb is given', () => {
    const plans: unknown[] = [];
    const vm = { armFastPath: (plan: unknown) => plans.push(plan) } as unknown as Vm;
    const hypercalls = new Hypercalls(guestRam(0x10000));
    const idle = new GdbModule();
    expect(armFastPath(vm, hypercalls, [idle])).toBe(true);
    const debugging = new GdbModule();
    debugging.handleOption('--gdb');
    expect(armFastPath(vm, hypercalls, [debugging])).toBe(false);
    expect(plans).toHaveLength(1);
  });

  it('parses --gdb-port as the reference does and refuses what it refuses', () => {
    const m = new GdbModule();
    expect(m.handleOption('--gdb')).toBe(true);
    expect(m.handleOption('--gdb-port=80xyz')).toBe(true);
    expect(m.handleOption('--gdb-port=0')).toBe(true);
    expect(m.handleOption('--gdb-port=65535')).toBe(true);
    for (const bad of ['--gdb-port=', '--gdb-port=x', '--gdb-port=-1', '--gdb-port=65536']) {
      expect(thrown(() => m.handleOption(bad))).toEqual(
        new HvtError('Malformed argument to --gdb-port'),
      );
    }
    expect(m.handleOption('--gdb-listen=::1')).toBe(true);
    expect(thrown(() => m.handleOption('--gdb-listen=localhost'))).toEqual(
      new HvtError('Malformed argument to --gdb-listen'),
    );
    expect(m.handleOption('--gdbx')).toBe(false);
  });

  it("takes --gdb-listen addresses exactly as Node's net.isIP does (differential)", () => {
    const same = (text: string) => expect([text, ipFamily(text)]).toEqual([text, isIP(text)]);
    for (const text of [
      '',
      '0.0.0.0',
      '127.0.0.1',
      '255.255.255.255',
      '256.0.0.1',
      '01.2.3.4',
      '1.2.3',
      '1.2.3.4.',
      ' 1.2.3.4',
      '::',
      '::1',
      '1::',
      ':1',
      '1:',
      '1:::2',
      '::1::',
      '1:2:3:4:5:6:7:8',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7::',
      '::2:3:4:5:6:7:8',
      '1:2:3:4:5:6::7:8',
      '::ffff:1.2.3.4',
      '1:2:3:4:5:6:1.2.3.4',
      '1:2:3:4:5::1.2.3.4',
      '1:2:3:4:5:6::1.2.3.4',
      '1.2.3.4::',
      '::1.2.3.4:1',
      'fe80::1%eth0',
      'fe80::1%',
      'fe80::1%a b',
      '1.2.3.4%x',
      '12345::',
      'g::',
      'FFFF::abcd',
      '::%1',
      '1:2:3:4:5:6:7:8%z.-:',
    ]) {
      same(text);
    }
    const hexGroup = fc.stringMatching(/^[0-9a-fA-F]{0,5}$/);
    const quad = fc
      .tuple(fc.nat(300), fc.nat(300), fc.nat(300), fc.nat(300))
      .map((q) => q.join('.'));
    const part = fc.oneof(hexGroup, hexGroup, quad, fc.constantFrom('', '0', '00', '01'));
    const sep = fc.constantFrom(':', ':', '::', '.', ':::');
    const address = fc
      .tuple(
        fc.array(fc.tuple(part, sep), { maxLength: 10 }),
        part,
        fc.constantFrom('', '%eth0', '%', '%a/b'),
      )
      .map(([pairs, lastPart, zone]) => pairs.map(([p, s]) => p + s).join('') + lastPart + zone);
    const anything = fc.stringMatching(/^[0-9a-fA-F:.%gz -]{0,24}$/);
    fc.assert(
      fc.property(fc.oneof(address, anything), (text) => ipFamily(text) === isIP(text)),
      {
        numRuns: 20000,
      },
    );
  });

  it('says "not implemented" where the platform has no debugger support (the BSDs)', () => {
    const m = new GdbModule();
    m.handleOption('--gdb');
    const ctx = {
      platform: { name: 'freebsd-vmm', arch: 'x86_64' } as Platform,
      vm: {} as Vm,
      warn: () => {},
    } as unknown as SetupContext;
    expect(thrown(() => m.setup(ctx))).toEqual(
      new HvtError('GDB support not implemented on this backend/architecture'),
    );
    // Without --gdb it does nothing and needs nothing.
    const off = new GdbModule();
    off.setup(ctx);
    expect(off.sandboxNeeds()).toEqual({});
  });
});
