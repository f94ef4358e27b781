// The hypercall fuzz's child process (run by test/src/hypercall-fuzz.test.ts,
// so that a death by signal is seen from outside). It runs the real tender,
// runTender() of @hvtjs/core with the linux-kvm platform, again and again,
// with one part replaced: instead of a KVM vCPU, a scripted guest. Its run()
// hands the run loop one port-I/O exit per hypercall, the way KVM reports a
// guest's OUT, and before that writes the hypercall's struct into guest RAM;
// it also fills the network ring, publishes entries and kicks the real ring
// thread through its eventfd, as the guest's OUT to the kick port would
// through KVM's ioeventfd. The tender arms the native fast path, which
// serves the exits it can before the run loop sees them, as in a real vCPU
// run (fast-path.test.ts proves it equal to core's handlers; here it faces
// the same hostile guest, and under the sandbox, the real filter). Everything
// else is real: the ELF loader and its
// mprotect of guest RAM (a real GuestMapping of the addon), the option
// parsing that opens the block files and taps, module setup, the handlers,
// the ring thread, and in the sandbox mode the real seccomp/Landlock drop.
//
// Each hypercall's outcome is checked against what the ABI allows: a result
// code of OK, AGAIN or EINVAL in the struct, or the end of the run with one of
// the reference's messages (exact where the outcome is known in advance, e.g.
// a struct outside guest memory). A run ends at its first fatal hypercall or
// ring entry; the next run starts a fresh tender.
//
//   node hypercall-fuzz-child.mjs CONFIG_JSON
// CONFIG: { mode: 'main'|'sandbox', seed, hypercalls, ringEntries, kernel,
//           blocks: {small, sparse}, nets: {net0, net1}, progress?, skipProtected? }
// Reports on stderr, one JSON object per line: {"violation": ...} for each
// broken rule, and a final {"summary": ...}. Exit 0 when done (violations
// are the parent's to judge), other statuses only for a crash of the driver.
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { GuestAccessError, HvtError } from '@hvtjs/core';
import { loadElf } from '@hvtjs/core/kernel';
import { CHUNK_SIZE, ExitField, ExitKind, GuestMemory, Prot } from '@hvtjs/core/platform';
import { HVT_PIO_BASE, Hypercall, planMemory, runTender } from '@hvtjs/core/tender';
import {
  eventFdNetRing,
  linuxKvmPlatform,
  mappingIo,
} from '../../packages/linux-kvm/dist/index.js';
import { native } from '../../packages/linux-kvm/dist/native.js';

const cfg = JSON.parse(process.argv[2]);
const report = (obj) =>
  writeSync(2, `${JSON.stringify(obj, (_, v) => (typeof v === 'bigint' ? `${v}` : v))}\n`);

// --- a seeded generator (sfc32): the same seed replays the same hypercalls ---
let [ra, rb, rc, rd] = [0x9e3779b9, 0x243f6a88, 0xb7e15162, cfg.seed >>> 0];
function u32() {
  ra >>>= 0;
  rb >>>= 0;
  rc >>>= 0;
  rd >>>= 0;
  const t = (((ra + rb) | 0) + rd) | 0;
  rd = (rd + 1) | 0;
  ra = rb ^ (rb >>> 9);
  rb = (rc + (rc << 3)) | 0;
  rc = (rc << 21) | (rc >>> 11);
  rc = (rc + t) | 0;
  return t >>> 0;
}
for (let i = 0; i < 16; i++) u32();
const below = (n) => Math.floor((u32() / 2 ** 32) * n);
const chance = (p) => u32() / 2 ** 32 < p;
const pick = (list) => list[below(list.length)];
const u64 = () => (BigInt(u32()) << 32n) | BigInt(u32());

const GUARD = 4096;
const MiB = 2 ** 20;
const U64_MAX = (1n << 64n) - 1n;
const OK = 0;
const AGAIN = 1;
const EINVAL = 2;
const HALT_COOKIE_MAX = 512;
const MAX_IO = 256n * 1024n;
/** Shortest frame the tap takes: an Ethernet header. */
const ETHER_MIN = 14;
const nap = new Int32Array(new SharedArrayBuffer(4));

const kernelBytes = new Uint8Array(readFileSync(cfg.kernel));
const blockNames = ['small', 'sparse'];
const netNames = ['net0', 'net1'];

// --- tallies ---
const counts = {
  hypercalls: 0,
  ringEntries: 0,
  sessions: 0,
  results: { OK: 0, AGAIN: 0, EINVAL: 0 },
  ends: {},
  byCall: {},
  ringResults: { OK: 0, AGAIN: 0, EINVAL: 0 },
  halts: 0,
  leadingGuards: 0,
  guardChecks: 0,
  violations: 0,
  placements: {},
  /** Hypercalls the native fast path served (the others went to core's handlers). */
  fastServed: 0,
};
const bump = (table, key) => {
  table[key] = (table[key] ?? 0) + 1;
};
function violation(what, detail) {
  counts.violations++;
  if (counts.violations <= 200)
    report({ violation: what, detail, seed: cfg.seed, at: counts.hypercalls });
}

// The last case, written before it runs: what a crash was doing.
const progressFd = cfg.progress ? openSync(cfg.progress, 'w') : -1;
const progressBuf = Buffer.alloc(512);
function progress(text) {
  if (progressFd < 0) return;
  progressBuf.fill(0x20);
  progressBuf.write(`${text}\n`, 0, 'utf8');
  writeSync(progressFd, progressBuf, 0, progressBuf.length, 0);
}

/** The RW / RO / no-access ranges of guest RAM, as the loader protects them. */
function protections(visible) {
  const scratch = GuestMemory.allocate(visible);
  const loaded = loadElf(kernelBytes, cfg.kernel, scratch, { memSize: visible });
  const ro = [];
  const none = [];
  for (const s of loaded.segments) {
    if (s.hostProt === Prot.NONE) none.push([s.start, s.end]);
    else if ((s.hostProt & Prot.WRITE) === 0) ro.push([s.start, s.end]);
  }
  return { ro, none, kernelEnd: loaded.kernelEnd };
}
const overlaps = (ranges, gpa, len) => ranges.some(([s, e]) => gpa < e && gpa + len > s);

/**
 * The guest-visible address space of one session. Built as runTender builds
 * it (planMemory), so the scripted guest knows its sizes before the tender
 * tells it through the boot info.
 */
const layouts = new Map();
function layoutFor(memMiB) {
  let layout = layouts.get(memMiB);
  if (layout === undefined) {
    const plan = planMemory(memMiB * MiB, true, () => {});
    layout = { ...plan, ...protections(plan.visible) };
    layouts.set(memMiB, layout);
  }
  return layout;
}

/**
 * The VM stand-in: a real GuestMapping (what LinuxKvmVm uses), with a
 * PROT_NONE guard page after it in the same mapping and, where the kernel puts
 * it there, a PROT_NONE page of its own right before it. No vCPU: run() is
 * the scripted guest.
 */
class FuzzVm {
  constructor(size, driver) {
    this.mapping = new native.GuestMapping(size + GUARD);
    this.mapping.protect(size, GUARD, Prot.NONE);
    this.leading = new native.GuestMapping(GUARD);
    this.leading.protect(0, GUARD, Prot.NONE);
    // The views cover guest RAM only; the guard page stays out of JavaScript's reach.
    const chunks = [];
    this.mapping.chunks(CHUNK_SIZE).forEach((buffer, i) => {
      const usable = Math.min(buffer.byteLength, size - i * CHUNK_SIZE);
      if (usable > 0) chunks.push(new Uint8Array(buffer, 0, usable));
    });
    this.memory = new GuestMemory(chunks);
    // Block and net I/O by guest-physical address, as LinuxKvmVm does it (Vm.io).
    this.io = mappingIo(this.mapping);
    if (this.memory.size !== size)
      throw new Error(`guest views cover ${this.memory.size}, not ${size}`);
    this.exit = new Float64Array(8);
    this.driver = driver;
    this.kickFd = -1;
    this.ring = undefined;
    // The real ring capability over this mapping, its eventfd kept for the
    // driver to signal as KVM would on the guest's OUT to the kick port.
    const rings = eventFdNetRing(this.mapping, (fd) => {
      this.kickFd = fd;
    });
    this.netRing = {
      start: (config) => {
        this.ring = rings.start(config);
        return this.ring;
      },
    };
    driver.attach(this);
  }
  protect(gpa, len, prot) {
    this.mapping.protect(gpa, len, prot);
  }
  initVcpuX86() {
    return { tscHz: 1_000_000_000 };
  }
  /** The native fast path the tender arms (docs/architecture.md 3.2), as LinuxKvmVm does. */
  armFastPath(plan) {
    this.fast = new native.FastPath(this.mapping, plan);
  }
  /**
   * The scripted guest's next exit, through the armed fast path as the
   * vCPU's run loop takes it: a hypercall it serves goes straight back to
   * the guest, any other exit (or one it defers) to the tender's run loop.
   */
  run() {
    for (;;) {
      const kind = this.driver.step();
      const x = this.exit;
      const nr = x[ExitField.PORT] - HVT_PIO_BASE;
      if (
        this.fast === undefined ||
        kind !== ExitKind.IO ||
        x[ExitField.SIZE] !== 4 ||
        x[ExitField.DIRECTION] !== 1 ||
        nr <= 0 ||
        nr > 0xffff ||
        !this.fast.serve(nr, x[ExitField.VALUE])
      ) {
        return kind;
      }
      counts.fastServed++;
    }
  }
  getRegistersX86() {
    return { rip: 0x100000n };
  }
  residentPages(gpa, len) {
    return this.mapping.resident(gpa, len);
  }
  sandboxNeeds() {
    return {};
  }
  destroy() {
    this.mapping.release();
    this.leading.release();
  }
}

/** True when the page before the guest mapping is our PROT_NONE page (from /proc/self/maps). */
function leadingGuardAdjacent() {
  const maps = readFileSync('/proc/self/maps', 'utf8').trim().split('\n');
  const rows = maps.map((l) => {
    const [range, perms] = l.split(/\s+/);
    const [s, e] = range.split('-').map((h) => BigInt(`0x${h}`));
    return { s, e, perms };
  });
  for (let i = 1; i < rows.length; i++) {
    const guard = rows[i - 1];
    if (guard.e - guard.s === BigInt(GUARD) && guard.perms === '---s' && guard.e === rows[i].s) {
      return true;
    }
  }
  return false;
}

// --- messages the tender may end a run with (the reference's words) ---
const FATAL_PATTERNS = [
  /^[a-z-]+\.ts:[A-Z_]+: Invalid guest access: gpa=0x[0-9a-f]+, sz=\d+$/,
  /^Invalid guest hypercall: num=\d+$/,
  /^Invalid guest port access: port=0x[0-9a-f]+$/,
  /^Fatal error when (writing|reading): [A-Z][a-z ]+$/,
  /^Fatal error: (wrote|read) only \d+ out of \d+ bytes$/,
  /^Fatal write error on net device: [A-Za-z ]+$/,
  /^Fatal write error: wrote only \d+ out of \d+ bytes$/,
  /^net\.ts:RING: Invalid guest ring indices: ent_head=\d+, ent_tail=\d+$/,
];
const kindOf = (message) => message.replace(/0x[0-9a-f]+/g, '0x…').replace(/\d+/g, 'N');

/** Where a struct lands, and what may then happen. */
const Place = { RW: 'rw', TOP: 'top', OUTSIDE: 'outside', RO: 'ro', NONE: 'none', VIEW: 'view' };

const STRUCTS = {
  [Hypercall.WALLTIME]: { size: 8, name: 'WALLTIME', file: 'core.ts' },
  [Hypercall.PUTS]: { size: 16, name: 'PUTS', file: 'core.ts' },
  [Hypercall.POLL]: { size: 24, name: 'POLL', file: 'core.ts' },
  [Hypercall.BLOCK_WRITE]: { size: 40, name: 'BLOCK_WRITE', file: 'block.ts', ret: 32 },
  [Hypercall.BLOCK_READ]: { size: 40, name: 'BLOCK_READ', file: 'block.ts', ret: 32 },
  [Hypercall.NET_WRITE]: { size: 32, name: 'NET_WRITE', file: 'net.ts', ret: 24 },
  [Hypercall.NET_READ]: { size: 32, name: 'NET_READ', file: 'net.ts', ret: 24 },
  [Hypercall.HALT]: { size: 16, name: 'HALT', file: 'hypercalls.ts' },
};

/**
 * The scripted guest of one session. step() is the vCPU's run(): it checks
 * what the previous hypercall left in its struct, then prepares the next one
 * (or a batch of ring entries) and reports it as a port-I/O exit.
 */
class Driver {
  constructor(layout, budget, tame) {
    this.L = layout;
    this.budget = budget;
    this.tame = tame;
    this.pending = undefined;
    this.expectFatal = undefined;
    this.ringHead = 0;
    this.ringTail = 0;
    this.comHead = 0;
    this.ringBroken = false;
    this.ringExpectFatal = undefined;
    this.done = 0;
  }

  attach(vm) {
    this.vm = vm;
    this.mem = vm.memory;
  }

  // --- addresses ---
  rwAddress(len) {
    const { kernelEnd, visible } = this.L;
    // Low memory above the boot info and manifest copy, or above the kernel.
    if (chance(0.2)) return 0x20000 + below(0xe0000 - len);
    return kernelEnd + below(Math.max(1, visible - kernelEnd - len - 1));
  }
  placeStruct(size) {
    const { visible, allocated, ro, none } = this.L;
    const r = u32() / 2 ** 32;
    const protectedOk = !cfg.skipProtected && !this.tame;
    // With more than 1 GiB, a struct across the first view boundary now and then.
    if (this.mem.size > CHUNK_SIZE && chance(0.05)) {
      return { gpa: CHUNK_SIZE - size + 1 + below(size - 1), place: Place.VIEW };
    }
    if (this.tame ? r < 0.9995 : r < 0.994) return { gpa: this.rwAddress(size), place: Place.RW };
    if (this.tame || r < 0.9955) {
      // Around the top of guest-visible memory: the last valid byte is visible - 2.
      return { gpa: visible - size - 3 + below(size + 6), place: Place.TOP };
    }
    if (r < 0.997) {
      const gpa = pick([
        () => visible + below(allocated - visible),
        () => pick([0xffffffff, 0xfffffff8, 0x80000000, allocated, allocated - 8, allocated - 1]),
        () => u32(),
      ])();
      return { gpa, place: Place.OUTSIDE };
    }
    if (this.mem.size > CHUNK_SIZE && r < 0.9975) {
      return { gpa: CHUNK_SIZE - size + 1 + below(size - 1), place: Place.VIEW };
    }
    if (ro.length === 0 || none.length === 0)
      throw new Error('the fuzz kernel has no read-only or no-access segment');
    if (protectedOk && r < 0.9985) {
      const [s, e] = pick(ro);
      return { gpa: s - size + 1 + below(e - s + size - 1), place: Place.RO };
    }
    if (protectedOk) {
      const [s, e] = pick(none);
      return { gpa: s - size + 1 + below(e - s + size - 1), place: Place.NONE };
    }
    return { gpa: this.rwAddress(size), place: Place.RW };
  }
  /**
   * A valid buffer of more than MAX_IO bytes is cut down: serving one means
   * moving up to 4 GiB through a file or socket, which proves nothing more
   * than a smaller one and would take most of the run. A big frame that
   * crosses a 1 GiB view is kept (crossing views is where copies happen).
   */
  bounded(data, len) {
    if (!this.valid(data, len) || len <= MAX_IO) return { data, len };
    const crosses =
      Math.floor(Number(data) / CHUNK_SIZE) !== Math.floor(Number(data + len) / CHUNK_SIZE);
    if (crosses && chance(0.05)) return { data, len };
    return { data, len: len % MAX_IO };
  }
  /** A guest-chosen u64: mostly `good`, else values near the edges. */
  mutate(good, edges) {
    if (this.tame ? !chance(0.0005) : !chance(0.0025)) return BigInt.asUintN(64, BigInt(good));
    const base = pick([
      0n,
      1n,
      0x7fffffffn,
      0x80000000n,
      0xffffffffn,
      1n << 32n,
      (1n << 53n) - 1n,
      1n << 53n,
      (1n << 53n) + 1n,
      (1n << 63n) - 1n,
      1n << 63n,
      U64_MAX,
      BigInt(this.L.visible),
      BigInt(this.L.ringGpa),
      BigInt(this.L.allocated),
      BigInt(CHUNK_SIZE),
      ...edges,
    ]);
    if (chance(0.2)) return u64();
    return BigInt.asUintN(64, base + BigInt(below(5)) - 2n);
  }

  /** Bytes of [gpa, gpa+len) that the scripted guest may write: RW pages inside the mapping. */
  writable(gpa, len) {
    return (
      gpa + len <= this.L.allocated &&
      !overlaps(this.L.ro, gpa, len) &&
      !overlaps(this.L.none, gpa, len)
    );
  }
  // Guest memory writes a field across the 1 GiB view boundary as the guest would.
  put64(gpa, v) {
    if (this.writable(gpa, 8)) this.mem.writeU64Big(gpa, BigInt.asUintN(64, v));
  }
  put32(gpa, v) {
    if (this.writable(gpa, 4)) this.mem.writeU32(gpa, v >>> 0);
  }
  get64(gpa) {
    return this.mem.readU64Big(gpa);
  }

  /** 7.3: [gpa, gpa+len) valid when gpa < M and gpa + len < M, in exact u64 arithmetic. */
  valid(gpa, len) {
    const M = BigInt(this.L.visible);
    return gpa < M && gpa + len < M;
  }

  // --- the vCPU ---
  step() {
    if (this.pending !== undefined) this.checkResult();
    if (this.vm.ring?.failure() !== undefined) {
      // The ring thread failed: a real vCPU's KVM_RUN is interrupted by its signal.
      this.expectFatal = this.ringExpectFatal ?? {
        what: 'ring failure without a bad entry',
        unexpectedRing: true,
      };
      this.pending = { ring: true };
      return ExitKind.IO_THREAD;
    }
    if (this.done >= this.budget) return this.halt();
    if (this.vm.ring !== undefined && !this.ringBroken && chance(this.ringShare())) {
      this.ringBatch();
      if (this.vm.ring.failure() !== undefined) return this.step();
    }
    this.done++;
    counts.hypercalls++;
    return this.hypercall();
  }
  ringShare() {
    // Batches average about 16 entries (4 in the sandbox's sample).
    return cfg.ringEntries / Math.max(1, cfg.hypercalls) / (this.tame ? 4 : 16);
  }

  exitIo(port, value, size = 4, out = 1) {
    const x = this.vm.exit;
    x[ExitField.REASON] = 2;
    x[ExitField.PORT] = port;
    x[ExitField.SIZE] = size;
    x[ExitField.DIRECTION] = out;
    x[ExitField.VALUE] = value;
    return ExitKind.IO;
  }

  halt() {
    const gpa = this.rwAddress(16);
    const status = below(256);
    this.mem.writeU64Big(gpa, 0n);
    this.mem.writeI32(gpa + 8, status);
    this.pending = { nr: Hypercall.HALT, halt: status };
    progress(`seed ${cfg.seed} session ${counts.sessions} HALT status ${status}`);
    return this.exitIo(HVT_PIO_BASE + Hypercall.HALT, gpa);
  }

  hypercall() {
    // Now and then a port or size the ABI does not have.
    if (!this.tame && chance(0.001)) {
      const port = pick([
        HVT_PIO_BASE,
        HVT_PIO_BASE + 9,
        HVT_PIO_BASE + 0xff,
        0x4ff,
        below(0x10000),
      ]);
      const size = pick([1, 2, 4]);
      const out = chance(0.8) ? 1 : 0;
      const nr = port - HVT_PIO_BASE;
      // A 4-byte OUT to a served port is a hypercall: only number 0 is invalid there.
      const served = out === 1 && size === 4 && nr > 0 && nr < 9;
      const realSize = served ? 2 : size;
      this.expectFatal =
        out === 1 && realSize === 4 && nr === 0
          ? { message: `Invalid guest hypercall: num=${nr}`, what: 'bad hypercall number' }
          : { message: `Invalid guest port access: port=0x${port.toString(16)}`, what: 'bad port' };
      this.pending = { nr: -1 };
      progress(`seed ${cfg.seed} port 0x${port.toString(16)} size ${size} out ${out}`);
      return this.exitIo(port, this.rwAddress(8), realSize, out);
    }
    const nr =
      !this.tame && chance(0.001)
        ? Hypercall.HALT
        : pick([
            Hypercall.WALLTIME,
            Hypercall.PUTS,
            Hypercall.POLL,
            Hypercall.BLOCK_WRITE,
            Hypercall.BLOCK_READ,
            Hypercall.BLOCK_READ,
            Hypercall.NET_WRITE,
            Hypercall.NET_READ,
            Hypercall.NET_READ,
          ]);
    const st = STRUCTS[nr];
    const { gpa, place } = this.placeStruct(st.size);
    bump(counts.placements, place);
    const where = `${st.file}:${st.name}`;
    this.pending = { nr, gpa, place, st };
    this.expectFatal = undefined;
    const structOk = this.valid(BigInt(gpa), BigInt(st.size));
    if (!structOk) {
      this.expectFatal = {
        message: `${where}: Invalid guest access: gpa=0x${gpa.toString(16)}, sz=${st.size}`,
        what: 'struct outside guest memory',
      };
    } else if (place === Place.NONE) {
      this.expectFatal = { protected: true, where, what: 'struct in no-access pages' };
    } else if (place === Place.RO) {
      // Handlers that only read it may serve it; one that writes must refuse it.
      this.expectFatal = {
        protected: true,
        optional: true,
        where,
        what: 'struct in read-only pages',
      };
    }
    const fill = structOk && place !== Place.NONE;
    const args = fill ? this.fillStruct(nr, gpa, where) : 'unfilled';
    progress(
      `seed ${cfg.seed} session ${counts.sessions} #${counts.hypercalls} ${st.name} struct 0x${gpa.toString(16)} (${place}) ${args}`,
    );
    return this.exitIo(HVT_PIO_BASE + nr, gpa);
  }

  /** Writes the struct's inputs (where the guest could) and works out what must happen. */
  fillStruct(nr, gpa, where) {
    const L = this.L;
    const canWrite = (n) => this.writable(gpa, n);
    const dataArg = (maxLen) => {
      // The sample under the sandbox sends only frames a tap takes (a header's worth at least).
      const least = this.tame ? ETHER_MIN : 0;
      const len = this.mutate(least + below(maxLen - least), [BigInt(L.visible)]);
      const r = u32() / 2 ** 32;
      let data;
      if (this.mem.size > CHUNK_SIZE && chance(0.1))
        data = BigInt(CHUNK_SIZE - below(Number(len) + 1));
      else if (this.tame || r < 0.995)
        data = BigInt(this.rwAddress(Number(len < 4096n ? len : 4096n)));
      else if (r < 0.9975) data = BigInt(pick(L.ro.concat(L.none))[0] + below(0x1000));
      else data = BigInt(L.visible) - len - BigInt(below(4));
      return this.bounded(this.mutate(data, [BigInt(L.kernelEnd)]), len);
    };
    const dataProtected = (data, len) =>
      len > 0n &&
      data + len <= BigInt(L.visible) &&
      (overlaps(L.ro, Number(data), Number(len)) || overlaps(L.none, Number(data), Number(len)));
    const rangeFatal = (data, len, name) => ({
      message: `${where}: Invalid guest access: gpa=0x${data.toString(16)}, sz=${len}`,
      what: `${name} outside guest memory`,
    });
    switch (nr) {
      case Hypercall.WALLTIME:
        this.pending.before = BigInt(Date.now() - 1000) * 1_000_000n;
        return '';
      case Hypercall.PUTS: {
        const { data, len } = dataArg(256);
        this.put64(gpa, data);
        this.put64(gpa + 8, len);
        if (!canWrite(16)) return 'ro';
        if (!this.valid(data, len)) this.expectFatal ??= rangeFatal(data, len, 'data');
        else if (dataProtected(data, len)) {
          this.expectFatal ??= {
            protected: true,
            where,
            what: 'console bytes in protected pages',
            io: true,
          };
        }
        return `data 0x${data.toString(16)} len ${len}`;
      }
      case Hypercall.POLL: {
        // Long timeouts only where a device is sure to become readable soon (the test feeds net1).
        const timeout = chance(0.95) ? BigInt(below(2)) * 1000n : this.mutate(0, [1000000n]);
        this.put64(gpa, timeout);
        this.put64(gpa + 8, U64_MAX);
        this.put32(gpa + 16, 0xdeadbeef);
        return `timeout ${timeout}`;
      }
      case Hypercall.BLOCK_WRITE:
      case Hypercall.BLOCK_READ: {
        const which = below(2);
        const handle = this.mutate(L.handles[blockNames[which]], [BigInt(L.handles.net0), 64n]);
        const cap = L.capacity[blockNames[which]];
        let len = this.mutate(pick([512, 4096, below(8192), 0]), [BigInt(cap), BigInt(cap) + 1n]);
        const offset = this.mutate(
          chance(0.5)
            ? cap - Number(len < BigInt(cap) ? len : 0n) - below(2) * 512
            : below(64) * 512,
          [BigInt(cap), BigInt(cap) - 512n],
        );
        const dataGood = BigInt(this.rwAddress(Number(len < 8192n ? len : 8192n)));
        let data = this.mutate(
          chance(0.004) && !this.tame ? BigInt(pick(L.ro.concat(L.none))[0]) : dataGood,
          [BigInt(L.visible) - len],
        );
        ({ data, len } = this.bounded(data, len));
        this.put64(gpa, handle);
        this.put64(gpa + 8, offset);
        this.put64(gpa + 16, data);
        this.put64(gpa + 24, len);
        this.put32(gpa + 32, 0xdeadbeef);
        if (!canWrite(40)) return 'ro';
        const dev = L.devByHandle.get(Number(handle & 0xffffffffn));
        const capacity = dev?.capacity;
        const einval =
          capacity === undefined ||
          capacity === null ||
          len > (1n << 63n) - 1n ||
          offset >= BigInt(capacity) ||
          len > BigInt(capacity) - offset;
        if (einval) this.pending.expect = EINVAL;
        else if (!this.valid(data, len)) this.expectFatal ??= rangeFatal(data, len, 'data');
        else if (dataProtected(data, len))
          this.expectFatal ??= {
            protected: true,
            where,
            what: 'block buffer in protected pages',
            io: true,
          };
        else this.pending.expect = OK;
        return `handle ${handle} offset ${offset} data 0x${data.toString(16)} len ${len}`;
      }
      case Hypercall.NET_WRITE:
      case Hypercall.NET_READ: {
        let handle = this.mutate(L.handles[pick(netNames)], [BigInt(L.handles.small), 64n]);
        let { data, len } = dataArg(nr === Hypercall.NET_WRITE ? 1514 : 2048);
        if (nr === Hypercall.NET_WRITE && this.mem.size > CHUNK_SIZE && chance(0.03)) {
          // A frame of hundreds of MiB across the view boundary, to net0 (a tap
          // where there is one): the device refuses it, the host must not copy it.
          handle = BigInt(L.handles.net0);
          data = BigInt(CHUNK_SIZE - 1 - below(4096));
          len = BigInt(2 ** 28 + below(2 ** 29));
        }
        this.put64(gpa, handle);
        this.put64(gpa + 8, data);
        this.put64(gpa + 16, len);
        this.put32(gpa + 24, 0xdeadbeef);
        if (!canWrite(32)) return 'ro';
        const isNet = L.netHandles.has(Number(handle & 0xffffffffn));
        if (!isNet) this.pending.expect = EINVAL;
        else if (!this.valid(data, len)) this.expectFatal ??= rangeFatal(data, len, 'data');
        else if (dataProtected(data, len))
          this.expectFatal ??= {
            protected: true,
            where,
            what: 'net buffer in protected pages',
            io: true,
          };
        this.pending.len = len;
        return `handle ${handle} data 0x${data.toString(16)} len ${len}`;
      }
      case Hypercall.HALT: {
        const cookie = chance(0.7)
          ? 0n
          : this.mutate(BigInt(this.rwAddress(HALT_COOKIE_MAX)), [
              BigInt(L.visible - HALT_COOKIE_MAX),
            ]);
        const status = u32() | 0;
        this.put64(gpa, cookie);
        this.put32(gpa + 8, status);
        if (!canWrite(16)) return 'ro';
        if (cookie !== 0n && !this.valid(cookie, BigInt(HALT_COOKIE_MAX))) {
          this.expectFatal ??= {
            message: `${where}: Invalid guest access: gpa=0x${cookie.toString(16)}, sz=${HALT_COOKIE_MAX}`,
            what: 'cookie outside guest memory',
          };
        }
        this.pending.halt = status;
        return `cookie 0x${cookie.toString(16)} status ${status}`;
      }
    }
    return '';
  }

  /** After a hypercall that returned: its struct must hold an ABI result. */
  checkResult() {
    const p = this.pending;
    this.pending = undefined;
    if (p.ring || p.nr === Hypercall.HALT) return;
    const what = `${p.st?.name ?? 'port'} struct 0x${p.gpa?.toString(16)} (${p.place})`;
    bump(counts.byCall, `${p.st?.name ?? 'port'} returned`);
    if (this.expectFatal !== undefined) {
      if (this.expectFatal.protected && this.expectFatal.io) {
        // A buffer in protected pages that the I/O call happened not to need.
        return;
      }
      if (this.expectFatal.optional) return;
      violation(
        'returned where the run must end',
        `${what}: expected ${this.expectFatal.message ?? this.expectFatal.what}`,
      );
      return;
    }
    if (p.place === Place.RO || p.place === Place.NONE) return;
    const { gpa, st } = p;
    if (st.ret !== undefined) {
      const ret = this.mem.readI32(gpa + st.ret);
      const name =
        ret === OK ? 'OK' : ret === AGAIN ? 'AGAIN' : ret === EINVAL ? 'EINVAL' : undefined;
      if (name === undefined) {
        violation('result code outside the ABI', `${what}: ret=${ret}`);
        return;
      }
      counts.results[name]++;
      bump(counts.byCall, `${st.name} ${name}`);
      if (p.expect !== undefined && ret !== p.expect) {
        violation('wrong result code', `${what}: ret=${ret}, expected ${p.expect}`);
      }
      if (p.nr === Hypercall.NET_READ && ret === OK) {
        const got = this.get64(gpa + 16);
        if (got === 0n || got > p.len)
          violation('NET_READ length', `${what}: got ${got} of ${p.len}`);
      }
      if (
        (p.nr === Hypercall.BLOCK_READ ||
          p.nr === Hypercall.BLOCK_WRITE ||
          p.nr === Hypercall.NET_WRITE) &&
        ret === AGAIN
      ) {
        violation('AGAIN from a call that never returns it', what);
      }
    } else if (p.nr === Hypercall.WALLTIME) {
      const ns = this.get64(gpa);
      const after = BigInt(Date.now() + 1000) * 1_000_000n;
      if (ns < p.before || ns > after) violation('WALLTIME', `${what}: ${ns}`);
    } else if (p.nr === Hypercall.POLL) {
      const set = this.get64(gpa + 8);
      const n = this.mem.readI32(gpa + 16);
      const allowed = [...this.L.netHandles].reduce((m, h) => m | (1n << BigInt(h)), 0n);
      let bits = 0;
      for (let b = set; b !== 0n; b &= b - 1n) bits++;
      if ((set & ~allowed) !== 0n || n !== bits)
        violation('POLL', `${what}: ready_set=0x${set.toString(16)} ret=${n}`);
    }
  }

  // --- the network ring (struct hvt_ring at ringGpa) ---
  ringBatch() {
    const R = this.L.ringGpa;
    const mem = this.mem;
    const n = this.tame ? 1 + below(8) : 1 + below(32);
    const ids = new Map();
    // A served write may fail on the device (a frame the tap refuses), ending the run first.
    let writes = false;
    // The previous batch was served in full: nothing of it can still fail.
    this.ringExpectFatal = undefined;
    for (let i = 0; i < n; i++) {
      const slot = (this.ringTail + i) & 1023;
      const at = R + 128 + slot * 32;
      const op = this.tame || chance(0.97) ? pick([1, 2, 2]) : pick([0, 3, 0xffffffff]);
      const handle =
        this.tame || chance(0.95) ? this.L.handles[pick(netNames)] : pick([0, 1, 63, 64, u32()]);
      const len =
        chance(0.98) || this.tame
          ? (this.tame ? ETHER_MIN : 0) + below(op === 1 ? 1500 : 2048)
          : pick([0xffffffff, this.L.visible, u32()]);
      let data = BigInt(this.rwAddress(Math.min(len, 4096)));
      if (!this.tame && chance(0.005))
        data = pick([
          BigInt(this.L.visible) - BigInt(len),
          BigInt(R),
          U64_MAX,
          1n << 53n,
          BigInt(this.L.visible - 1),
        ]);
      // The entry's field is a u64: visible - len wraps when len is larger.
      data = BigInt.asUintN(64, data);
      mem.writeU32(at, op);
      mem.writeU32(at + 4, handle);
      mem.writeU64Big(at + 8, data);
      mem.writeU32(at + 16, len);
      const id = u32();
      mem.writeU32(at + 20, id);
      ids.set(id, { op, len });
      // The first served entry with a bad buffer stops the thread, with this message.
      const served = (op === 1 || op === 2) && this.L.netHandles.has(handle);
      if (served && !this.valid(data, BigInt(len)) && this.ringExpectFatal === undefined) {
        const name = op === 1 ? 'RING_NET_WRITE' : 'RING_NET_READ';
        this.ringExpectFatal = {
          message: `net.ts:${name}: Invalid guest access: gpa=0x${data.toString(16)}, sz=${len}`,
          what: 'ring entry outside guest memory',
          deviceWrite: writes,
        };
      }
      if (served && op === 1 && this.ringExpectFatal === undefined) writes = true;
    }
    counts.ringEntries += n;
    progress(
      `seed ${cfg.seed} session ${counts.sessions} ring batch of ${n} at tail ${this.ringTail}`,
    );
    let tail = (this.ringTail + n) >>> 0;
    // A hostile guest: indices moved while the thread works.
    const race = !this.tame && chance(0.03);
    mem.writeU32(R, tail);
    this.kick();
    if (race) {
      const t = pick([(tail + 1 + below(2000)) >>> 0, (this.ringTail - 1) >>> 0, u32(), tail]);
      mem.writeU32(R, t);
      this.ringBroken = true;
      for (let i = 0; i < 50; i++) {
        const slot = below(1024);
        mem.writeU32(R + 128 + slot * 32 + 16, u32());
        mem.writeU32(R + 128 + slot * 32, pick([1, 2]));
      }
      this.kick();
      tail = t;
      this.ringExpectFatal = { what: 'ring indices moved under the thread', raced: true };
    }
    this.ringTail = tail;
    // Until the thread caught up, failed, or (after a race) a while has passed.
    const deadline = Date.now() + (race ? 20 : 2000);
    while (mem.readU32(R + 64) !== tail && this.vm.ring.failure() === undefined) {
      // Sleep a little rather than spin: on two cores the thread needs one.
      Atomics.wait(nap, 0, 0, 0.02);
      if (Date.now() > deadline) {
        if (!race) violation('ring thread stalled', `ent_head ${mem.readU32(R + 64)} tail ${tail}`);
        this.ringBroken = true;
        break;
      }
    }
    if (writes && this.ringExpectFatal === undefined)
      this.ringExpectFatal = { deviceWrite: true, what: 'ring write' };
    if (
      !race &&
      this.ringExpectFatal?.message !== undefined &&
      this.vm.ring.failure() === undefined
    ) {
      violation('ring thread served a bad entry', this.ringExpectFatal.message);
    }
    this.drainCommits(ids, race);
  }
  kick() {
    writeSync(this.vm.kickFd, new BigUint64Array([1n]));
  }
  drainCommits(ids, race) {
    const R = this.L.ringGpa;
    const comTail = this.mem.readU32(R + 68);
    while (this.comHead !== comTail) {
      const at = R + 32896 + (this.comHead & 1023) * 16;
      const id = this.mem.readU32(at);
      const ret = this.mem.readI32(at + 4);
      const len = this.mem.readU32(at + 8);
      const name =
        ret === OK ? 'OK' : ret === AGAIN ? 'AGAIN' : ret === EINVAL ? 'EINVAL' : undefined;
      if (name === undefined) violation('ring result outside the ABI', `ret=${ret}`);
      else counts.ringResults[name]++;
      const entry = ids.get(id);
      if (!race && entry === undefined) violation('ring commit for an unknown id', `id=${id}`);
      if (entry !== undefined && ret === OK && (len === 0 || len > entry.len)) {
        violation('ring read length', `got ${len} of ${entry.len}`);
      }
      this.comHead = (this.comHead + 1) >>> 0;
      this.mem.writeU32(R + 4, this.comHead);
    }
  }
}

/**
 * net0 when it is a tap: opened by name in the first run (the option path of a
 * real tap), else passed as @NN from one descriptor opened once, because
 * closing a tap waits for an RCU grace period (milliseconds) and a run per
 * fatal hypercall would spend most of the fuzz's time there.
 */
let tapFd;
function net0Arg() {
  const name = cfg.nets.net0;
  if (name.startsWith('@') || cfg.mode === 'sandbox' || counts.sessions === 1) return name;
  tapFd ??= linuxKvmPlatform.openNet(name).fd;
  return `@${tapFd}`;
}

/** One tender run: returns when the guest halted or the tender ended it. */
function session(budget, tame) {
  counts.sessions++;
  const memMiB = !tame && chance(0.02) ? 2050 : pick([4, 6, 8]);
  const layout = layoutFor(memMiB);
  const driver = new Driver(layout, budget, tame);
  let vm;
  const platform = {
    ...linuxKvmPlatform,
    createVm: (size) => {
      if (size !== layout.allocated)
        throw new Error(`tender planned ${size}, fuzz ${layout.allocated}`);
      vm = new FuzzVm(size, driver);
      if (counts.sessions <= 3 || counts.sessions % 200 === 0) {
        counts.guardChecks++;
        if (leadingGuardAdjacent()) counts.leadingGuards++;
      }
      return vm;
    },
  };
  const args = [
    `--mem=${memMiB}`,
    `--block:small=${cfg.blocks.small}`,
    `--block:sparse=${cfg.blocks.sparse}`,
    `--net:net0=${net0Arg()}`,
    `--net:net1=${cfg.nets.net1}`,
    ...(cfg.mode === 'sandbox' ? [] : ['--unsafe-no-sandbox']),
    cfg.kernel,
  ];
  const warnings = [];
  // Handles and capacities as the guest learns them from its manifest copy.
  layout.handles = { small: 1, sparse: 2, net0: 3, net1: 4 };
  layout.netHandles = new Set([3, 4]);
  layout.capacity = cfg.capacities;
  layout.devByHandle = new Map([
    [1, { capacity: cfg.capacities.small }],
    [2, { capacity: cfg.capacities.sparse }],
  ]);
  let status;
  let error;
  counts.sandbox = warnings;
  try {
    status = runTender({
      platform,
      args: args.slice(0, -1),
      kernel: cfg.kernel,
      guestArgs: [],
      warn: (t) => warnings.push(t),
      onSandbox: () => {},
      // The sandbox says what it applied, as warnings: the proof that it did.
      debug: cfg.mode === 'sandbox',
    });
  } catch (e) {
    error = e;
  }
  const expected = driver.expectFatal;
  const pending = driver.pending;
  if (error === undefined) {
    if (pending?.nr === Hypercall.HALT) {
      counts.halts++;
      bump(counts.ends, 'HALT');
      if (pending.halt !== undefined && status !== pending.halt)
        violation('HALT status', `${status} != ${pending.halt}`);
    } else {
      violation('run ended without HALT', String(status));
    }
    return vm;
  }
  if (!(error instanceof HvtError) || error.exitStatus !== 1) {
    violation('untyped error', `${error?.stack ?? error}`);
    return vm;
  }
  const message = error.message;
  bump(counts.ends, kindOf(message));
  if (!FATAL_PATTERNS.some((re) => re.test(message))) {
    violation(
      "message not the reference's",
      `${message} (${expected?.what ?? 'unexpected'}; ${pending?.st?.name} 0x${pending?.gpa?.toString(16)} ${pending?.place})`,
    );
    return vm;
  }
  const deviceWriteError = /^Fatal (write error|error when writing|error: wrote only)/.test(
    message,
  );
  if (deviceWriteError && (pending?.nr === Hypercall.NET_WRITE || expected?.deviceWrite)) {
    // The device refused the frame (the tender does no MTU check): fatal, as in the reference.
    return vm;
  }
  if (expected?.unexpectedRing) {
    violation('ring thread failed on good entries', message);
  } else if (expected === undefined) {
    violation(
      'run ended where the ABI says it goes on',
      `${message} after ${pending?.st?.name ?? 'ring'} (${pending?.place})`,
    );
  } else if (expected.message !== undefined && expected.message !== message) {
    violation('wrong message', `${message}, expected ${expected.message}`);
  } else if (
    expected.protected &&
    !expected.io &&
    !(error instanceof GuestAccessError) &&
    !/Bad address/.test(message)
  ) {
    violation(
      'struct in protected pages',
      `${message}, expected an Invalid guest access (${expected.what})`,
    );
  } else if (expected.io && !(error instanceof GuestAccessError) && !/Bad address/.test(message)) {
    violation('buffer in protected pages', `${message} (${expected.what})`);
  }
  if (/Bad address/.test(message) && !expected?.protected) {
    violation('EFAULT on a buffer in RW guest pages', message);
  }
  return vm;
}

const start = Date.now();
const tame = cfg.mode === 'sandbox';
if (tame) {
  // One tender, sandboxed: the sample runs to HALT or to its first fatal call.
  session(cfg.hypercalls, true);
} else {
  // Ring batches are drawn at random: go on until both counts are reached.
  while (counts.hypercalls < cfg.hypercalls || counts.ringEntries < cfg.ringEntries) {
    session(Math.max(cfg.hypercalls - counts.hypercalls, 2000), false);
    // Released guest views unmap when collected: keep the mapping count low.
    if (counts.sessions % 200 === 0) globalThis.gc?.();
  }
}
// getrusage is not in the sandbox's filter: the sample reports no RSS.
const rss = tame ? 0 : process.resourceUsage().maxRSS * 1024;
report({
  summary: {
    ...counts,
    seconds: (Date.now() - start) / 1000,
    maxRssMiB: Math.round(rss / MiB),
    mode: cfg.mode,
  },
});
if (progressFd >= 0) closeSync(progressFd);
if (tame) linuxKvmPlatform.exit(0);
process.exit(0);
