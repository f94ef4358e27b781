// The fast path's differential test (run by test/src/fast-path.test.ts, in a
// child so that PUTS has a stdout of its own and a stray access is seen as
// the signal it is). Two worlds, built the same way from the real parts: guest
// RAM of the linux-kvm platform (a real GuestMapping, mprotected as the loader
// would), core's own core, block and net modules set up on real files, FIFOs
// and descriptors. For each random or hostile hypercall, world A does what the
// tender does with the fast path armed (the native serve() that vCPU run()
// calls; if it defers, core's handler), world B what it does without (core's
// handler alone). Then both worlds must be identical: the outcome (served, or
// the same error message), the warnings, guest memory, the block files, the
// bytes on the FIFOs and on stdout.
//
//   node fast-path-child.mjs CONFIG_JSON
// CONFIG: { seed, runs, dir, stdout (the file fd 1 writes to), layout: 'small'|'big',
//           tamper?: 'visible' (A's plan claims all memory visible: must be caught) }
// Prints one JSON line on stderr: {"summary": ...} or {"mismatch": ...}; exit 0
// when the worlds never differed, 1 when they did.
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  openSync,
  readSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { HvtError } from '@hvtjs/core';
import { parseManifest } from '@hvtjs/core/kernel';
import { CHUNK_SIZE, Prot } from '@hvtjs/core/platform';
import {
  BlockModule,
  createCoreModule,
  HvtHcBlockIo,
  HvtHcNetRead,
  HvtHcNetWrite,
  HvtHcPuts,
  Hypercall,
  Hypercalls,
  NetModule,
  WaitSet,
} from '@hvtjs/core/tender';
import fc from 'fast-check';
import { linuxKvmPlatform, mapGuestRam } from '../../packages/linux-kvm/dist/index.js';

const cfg = JSON.parse(process.argv[2]);
const report = (obj) =>
  writeSync(2, `${JSON.stringify(obj, (_, v) => (typeof v === 'bigint' ? `${v}` : v))}\n`);

const KiB = 1024;
const MiB = 1024 * KiB;
const DISK = 64 * KiB;
/** The short disk's file after option time: reads past it come back short. */
const SHORT_FILE = 24 * KiB + 100;
/** Closed before the first case: every I/O on it fails with EBADF. */
const CLOSED_FD = 999;

// Guest RAM: a small guest, or one over the first 1 GiB view boundary, which
// core reaches through two views and the native side through one mapping.
// Only `windows` are used (and compared); `visible` leaves a top of memory
// that is mapped but not the guest's, as the ring area does.
const LAYOUTS = {
  small: { size: 8 * MiB, visible: 8 * MiB - 64 * KiB, windows: [[0, 8 * MiB]] },
  big: {
    size: CHUNK_SIZE + 2 * MiB,
    visible: CHUNK_SIZE + 2 * MiB - 16 * KiB,
    // Split at the boundary, so that each window lies in one view.
    windows: [
      [0, 4 * MiB],
      [CHUNK_SIZE - 2 * MiB, CHUNK_SIZE],
      [CHUNK_SIZE, CHUNK_SIZE + 2 * MiB],
    ],
  },
};
const L = LAYOUTS[cfg.layout];
// What the loader would protect: text (read and execute), rodata, a guard.
const RESTRICTED = [
  { start: 0x10000, end: 0x14000, prot: Prot.READ | Prot.EXEC },
  { start: 0x14000, end: 0x16000, prot: Prot.READ },
  { start: 0x16000, end: 0x17000, prot: Prot.NONE },
];

// The manifest: block disk, short, closed (a descriptor that fails every
// I/O); net net0 (a FIFO), net1 (a closed descriptor), net2 (a FIFO that takes a readiness check, as a descriptor
// handed over on a platform that cannot make it non-blocking).
const DEVICES = [
  ['disk', 1],
  ['short', 1],
  ['closed', 1],
  ['net0', 2],
  ['net1', 2],
  ['net2', 2],
];
function manifestBytes() {
  const out = new Uint8Array(8 + 104 * (DEVICES.length + 1));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 1, true);
  dv.setUint32(4, DEVICES.length + 1, true);
  dv.setUint32(8 + 68, 0x40000000, true);
  DEVICES.forEach(([name, type], i) => {
    out.set(new TextEncoder().encode(name), 8 + 104 * (i + 1));
    dv.setUint32(8 + 104 * (i + 1) + 68, type, true);
  });
  return out;
}

/** Deterministic bytes (xorshift32), the same in both worlds. */
function pattern(len, seed) {
  const out = new Uint8Array(len);
  const words = new Uint32Array(out.buffer, 0, len >>> 2);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return out;
}

function fifo(path) {
  execFileSync('mkfifo', [path]);
  // O_RDWR keeps the FIFO open at both ends; a reader fd drains what was written.
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  return { fd, reader };
}

function makeWorld(name) {
  const dir = join(cfg.dir, name);
  execFileSync('mkdir', ['-p', dir]);
  const ram = mapGuestRam(L.size);
  const memory = ram.memory;
  for (const [start, end] of L.windows) memory.write(start, pattern(end - start, start + 7));
  // Protected pages hold plausible structs: a native side that ignored the
  // protections would find something to serve there.
  for (const r of RESTRICTED) {
    for (let at = r.start; at < r.end; at += 32) {
      memory.writeU64(at, 1);
      memory.writeU64(at + 8, 0);
      memory.writeU64(at + 16, 0x40000);
      memory.writeU64(at + 24, 64);
    }
    ram.protect(r.start, r.end - r.start, r.prot);
    memory.restrict(r.start, r.end - r.start, r.prot);
  }
  const guest = { memory, size: L.visible, io: ram.io };
  const manifest = parseManifest(manifestBytes(), 'fast-path.hvt');
  const warnings = [];
  const warn = (text) => warnings.push(text);
  const files = {};
  for (const disk of ['disk', 'short', 'closed']) {
    files[disk] = join(dir, `${disk}.img`);
    writeFileSync(files[disk], pattern(DISK, disk.length * 131));
  }
  const block = new BlockModule();
  const net = new NetModule();
  const optionContext = { manifest, platform: linuxKvmPlatform, warn };
  for (const disk of ['disk', 'short', 'closed']) {
    if (!block.handleOption(`--block:${disk}=${files[disk]}`, optionContext)) {
      throw new Error(`block option for ${disk} refused`);
    }
  }
  const shortFd = openSync(files.short, 'r+');
  const net0 = fifo(join(dir, 'net0'));
  const net2 = fifo(join(dir, 'net2'));
  const entry = (n) => manifest.entries.find((e) => e.name === n);
  net.attach({ entry: entry('net0'), iface: '@net0', fd: net0.fd, mtu: 1500 });
  net.attach({ entry: entry('net1'), iface: `@${CLOSED_FD}`, fd: CLOSED_FD, mtu: 1500 });
  net.attach({ entry: entry('net2'), iface: '@net2', fd: net2.fd, mtu: 1500, nonBlocking: false });
  const waitSet = new WaitSet();
  const hypercalls = new Hypercalls(guest);
  const ctx = {
    platform: linuxKvmPlatform,
    vm: undefined,
    guest,
    manifest,
    waitSet,
    warn,
    registerHypercall: (nr, handler, fast) => hypercalls.register(nr, handler, fast),
    registerHaltHook: () => {},
    ringGpa: 0,
    offerRingIo: () => {},
    registerIoThreadCheck: () => {},
  };
  for (const module of [createCoreModule(waitSet), block, net]) module.setup(ctx);
  const devices = Object.fromEntries(block.attachedDevices().map((d) => [d.entry.name, d.fd]));
  const plan = hypercalls.fastPathPlan();
  const fast = ram.fastPath(
    cfg.tamper === 'visible' && name === 'A' ? { ...plan, visibleSize: L.size } : plan,
  );
  return { name, ram, memory, hypercalls, fast, warnings, files, devices, shortFd, net0, net2 };
}

const A = makeWorld('A');
const B = makeWorld('B');
const stdoutReader = openSync(cfg.stdout, 'r');
// The broken disk: its descriptor number now names a directory, on which
// every pread and pwrite fails (a number left closed would be taken by the
// next open).
for (const w of [A, B]) {
  closeSync(w.devices.closed);
  const fd = openSync(cfg.dir, 'r');
  if (fd !== w.devices.closed)
    throw new Error(`the broken disk's fd ${w.devices.closed} became ${fd}`);
}

// --- guest-chosen values ---
const top = L.visible;
const boundary = L.size > CHUNK_SIZE ? CHUNK_SIZE : undefined;
/** Addresses a struct or buffer may be at: mostly good, many at the edges. */
const address = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0x20000, max: 0x3e0000 }) },
  { weight: 2, arbitrary: fc.integer({ min: top - 100, max: top + 20 }) },
  { weight: 2, arbitrary: fc.integer({ min: 0x10000 - 48, max: 0x17000 + 8 }) },
  ...(boundary !== undefined
    ? [{ weight: 3, arbitrary: fc.integer({ min: boundary - 70000, max: boundary + 100 }) }]
    : []),
  { weight: 1, arbitrary: fc.constantFrom(0, L.size - 8, L.size, 0x80000000, 0xffffffff) },
);
const U64_MAX = (1n << 64n) - 1n;
const u64Edge = fc.constantFrom(
  0n,
  1n,
  0xffffffffn,
  1n << 32n,
  (1n << 53n) - 1n,
  1n << 53n,
  (1n << 63n) - 1n,
  1n << 63n,
  U64_MAX,
  U64_MAX - 1n,
  BigInt(top),
  BigInt(top - 1),
);
const pointer = fc.oneof(
  { weight: 8, arbitrary: address.map(BigInt) },
  { weight: 1, arbitrary: u64Edge },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: U64_MAX }) },
);
const length = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 2000 }).map(BigInt) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(511n, 512n, 4096n, 4097n, 24n * 1024n, 65536n, 65537n, 70000n),
  },
  { weight: 1, arbitrary: u64Edge },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: U64_MAX }) },
);
/** Block handles 1-3 (disk, short, broken), net handles these plus 3 (net0, net1, net2). */
const handle = fc.oneof(
  { weight: 6, arbitrary: fc.constant(1n) },
  { weight: 2, arbitrary: fc.constant(2n) },
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 7 }).map(BigInt) },
  { weight: 1, arbitrary: fc.constantFrom((1n << 32n) + 1n, (1n << 32n) + 4n, 64n, U64_MAX) },
);
const offset = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: DISK }).map(BigInt) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      0n,
      512n,
      BigInt(SHORT_FILE - 512),
      BigInt(DISK - 512),
      BigInt(DISK),
      BigInt(DISK + 1),
      1n << 53n,
      1n << 63n,
      U64_MAX,
    ),
  },
);
/** The FIFOs before the call: as left, a frame to read, full, nearly full. */
const fifoState = fc.constantFrom('drained', 'frame', 'full', 'nearly-full');
const hypercall = fc.record({
  nr: fc.constantFrom(
    Hypercall.WALLTIME,
    Hypercall.PUTS,
    Hypercall.BLOCK_WRITE,
    Hypercall.BLOCK_READ,
    Hypercall.NET_WRITE,
    Hypercall.NET_READ,
  ),
  gpa: address,
  handle,
  offset,
  data: pointer,
  len: length,
  fifo: fifoState,
});

// --- one case in one world ---
function writable(memory, gpa, len) {
  return gpa + len <= memory.size && memory.permits(gpa, len, Prot.WRITE);
}
function writeStruct(w, c) {
  const put = (field, value) => {
    const at = c.gpa + field.offset;
    if (!writable(w.memory, at, field.size)) return;
    if (field.size === 8) w.memory.writeU64Big(at, BigInt.asUintN(64, value));
    else w.memory.writeU32(at, Number(BigInt.asUintN(32, value)));
  };
  switch (c.nr) {
    case Hypercall.PUTS:
      put(HvtHcPuts.fields.data, c.data);
      put(HvtHcPuts.fields.len, c.len);
      break;
    case Hypercall.BLOCK_WRITE:
    case Hypercall.BLOCK_READ: {
      const f = HvtHcBlockIo.fields;
      put(f.handle, c.handle);
      put(f.offset, c.offset);
      put(f.data, c.data);
      put(f.len, c.len);
      put(f.ret, 0xdeadbeefn);
      break;
    }
    case Hypercall.NET_WRITE:
    case Hypercall.NET_READ: {
      const f = (c.nr === Hypercall.NET_WRITE ? HvtHcNetWrite : HvtHcNetRead).fields;
      put(f.handle, c.handle + 3n);
      put(f.data, c.data);
      put(f.len, c.len);
      put(f.ret, 0xdeadbeefn);
      break;
    }
  }
}

const chunk = new Uint8Array(64 * KiB);
/** Everything readable on `fd` now (a non-blocking FIFO end). */
function drain(fd) {
  const parts = [];
  for (;;) {
    let n = 0;
    try {
      n = readSync(fd, chunk, 0, chunk.length, null);
    } catch (e) {
      if (e.code === 'EAGAIN') break;
      throw e;
    }
    if (n === 0) break;
    parts.push(Buffer.from(chunk.subarray(0, n)));
  }
  return Buffer.concat(parts);
}
function fill(fd, leave) {
  const block = new Uint8Array(4096).fill(0x5a);
  for (;;) {
    try {
      if (writeSync(fd, block) < block.length) break;
    } catch (e) {
      if (e.code === 'EAGAIN') break;
      throw e;
    }
  }
  if (leave > 0) readSync(fd, new Uint8Array(leave), 0, leave, null);
}
function prepareFifos(w, state) {
  for (const f of [w.net0, w.net2]) {
    drain(f.reader);
    if (state === 'frame') writeSync(f.fd, pattern(300, 99));
    else if (state === 'full') fill(f.fd, 0);
    else if (state === 'nearly-full') fill(f.fd, 1000);
  }
}

const RET = {
  [Hypercall.BLOCK_WRITE]: HvtHcBlockIo.fields.ret,
  [Hypercall.BLOCK_READ]: HvtHcBlockIo.fields.ret,
  [Hypercall.NET_WRITE]: HvtHcNetWrite.fields.ret,
  [Hypercall.NET_READ]: HvtHcNetRead.fields.ret,
};
/** For the tally: the result code a served call left, and whether a frame was dropped. */
function result(w, c, warned) {
  const f = RET[c.nr];
  const at = c.gpa + (f?.offset ?? 0);
  if (f === undefined || !writable(w.memory, at, 4)) return 'served';
  const ret = ['OK', 'AGAIN', 'EINVAL'][w.memory.readI32(at)] ?? 'a result outside the ABI';
  return `served, ${ret}${w.warnings.length > warned ? ', a frame dropped with a warning' : ''}`;
}

function viaCore(w, nr, gpa) {
  try {
    w.hypercalls.dispatch(nr, gpa);
    return 'served';
  } catch (e) {
    if (!(e instanceof HvtError)) return `unexpected ${e?.stack ?? e}`;
    return `error: ${e.message} (exit ${e.exitStatus})`;
  }
}

function stdoutSize() {
  return fstatSync(1).size;
}
function stdoutBytes(from, to) {
  const out = Buffer.alloc(to - from);
  if (to > from) readSync(stdoutReader, out, 0, to - from, from);
  return out;
}

const tally = { served: {}, deferred: {}, outcomes: {}, cases: 0 };
const bump = (table, key) => {
  table[key] = (table[key] ?? 0) + 1;
};
const NAMES = Object.fromEntries(Object.entries(Hypercall).map(([k, v]) => [v, k]));

function differ(what, c, detail) {
  report({ mismatch: what, case: c, detail, seed: cfg.seed });
  throw new Error(`the worlds differ in ${what}`);
}

/** The windows less the no-access pages, which no one can read. */
const readable = L.windows.flatMap(([start, end]) => {
  const out = [];
  let at = start;
  for (const r of RESTRICTED.filter((r) => r.prot === Prot.NONE && r.start >= start)) {
    if (r.start > at) out.push([at, r.start]);
    at = r.end;
  }
  if (at < end) out.push([at, end]);
  return out;
});

function compareMemory(c) {
  for (const [start, end] of readable) {
    for (let at = start; at < end; at += 4 * MiB) {
      const n = Math.min(4 * MiB, end - at);
      const a = A.memory.piece(at, n);
      const b = B.memory.piece(at, n);
      const va = a.view.subarray(a.offset, a.offset + n);
      const vb = b.view.subarray(b.offset, b.offset + n);
      if (Buffer.compare(va, vb) !== 0) {
        let i = 0;
        while (va[i] === vb[i]) i++;
        differ('guest memory', c, `first difference at 0x${(at + i).toString(16)}`);
      }
    }
  }
}

const property = fc.property(hypercall, (c) => {
  tally.cases++;
  for (const w of [A, B]) {
    writeStruct(w, c);
    prepareFifos(w, c.fifo);
    ftruncateSync(w.shortFd, SHORT_FILE);
  }
  const name = NAMES[c.nr];
  const warned = B.warnings.length;
  const before = BigInt(Date.now() - 1) * 1_000_000n;
  const out0 = stdoutSize();
  const served = A.fast.serve(c.nr, c.gpa);
  const outcomeA = served ? 'served' : viaCore(A, c.nr, c.gpa);
  const out1 = stdoutSize();
  const outcomeB = viaCore(B, c.nr, c.gpa);
  const out2 = stdoutSize();
  const after = BigInt(Date.now() + 1) * 1_000_000n;
  bump(served ? tally.served : tally.deferred, name);
  const label = outcomeB === 'served' ? result(B, c, warned) : outcomeB;
  bump(tally.outcomes, `${name} ${label.replace(/0x[0-9a-f]+|\d+/g, 'N')}`);
  if (outcomeA !== outcomeB) differ('outcome', c, { A: outcomeA, B: outcomeB, served });
  if (A.warnings.join('\n') !== B.warnings.join('\n')) {
    differ('warnings', c, { A: A.warnings, B: B.warnings });
  }
  if (c.nr === Hypercall.WALLTIME && outcomeB === 'served') {
    // Two readings of the clock: each in its window, then made equal.
    const a = A.memory.readU64Big(c.gpa);
    const b = B.memory.readU64Big(c.gpa);
    if (a < before || b < a || b > after) differ('WALLTIME', c, { a, b, before, after });
    A.memory.writeU64Big(c.gpa, b);
  }
  compareMemory(c);
  if (Buffer.compare(stdoutBytes(out0, out1), stdoutBytes(out1, out2)) !== 0) {
    differ('stdout', c, { A: out1 - out0, B: out2 - out1 });
  }
  for (const disk of ['disk', 'short', 'closed']) {
    const a = readFileBytes(A.files[disk]);
    const b = readFileBytes(B.files[disk]);
    if (Buffer.compare(a, b) !== 0) differ(`block file ${disk}`, c, { A: a.length, B: b.length });
  }
  for (const f of ['net0', 'net2']) {
    const a = drain(A[f].reader);
    const b = drain(B[f].reader);
    if (Buffer.compare(a, b) !== 0) differ(`bytes on ${f}`, c, { A: a.length, B: b.length });
  }
  return true;
});

function readFileBytes(path) {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const out = Buffer.alloc(size);
    readSync(fd, out, 0, size, 0);
    return out;
  } finally {
    closeSync(fd);
  }
}

let failed = false;
try {
  fc.assert(property, { seed: cfg.seed, numRuns: cfg.runs, endOnFailure: true });
} catch (e) {
  failed = true;
  report({ failure: String(e.message).split('\n').slice(0, 6).join('\n') });
}
report({ summary: tally });
process.exit(failed ? 1 : 0);
