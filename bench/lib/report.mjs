// @ts-check
// Turns a run's JSON report (bench/run.mjs) into the markdown table and the
// SVG plot of its ratios. Pure functions of the report: re-rendering an old
// JSON gives the same text.

/**
 * @typedef {{ median: number, min: number, max: number, values: number[] }} Summary
 * @typedef {{ id: string, label: string, role: string }} TenderInfo
 * @typedef {{ kind: 'max' | 'min', ratio: number, text: string }} Goal
 * @typedef {{ id: string, label: string, unit: 'us/op' | 'MB/s', n: number, size: number, goal?: Goal,
 *             met: boolean | null, results: Record<string, { figure: Summary }>,
 *             ratios: Record<string, Record<string, Summary>>,
 *             lastSegmentRatios: Record<string, Record<string, Summary>> }} WorkloadResult
 * @typedef {{ jsNsPerExit: number, cNsPerExit: number, crossingNs?: number, dispatchNoopNs?: number,
 *             jsBigintClockNsPerExit?: number, clockNs?: number,
 *             jsBlockRead512Ns?: number, jsFsBlockRead512Ns?: number, cBlockRead512Ns?: number,
 *             jsBlockRead64kNs?: number, jsFsBlockRead64kNs?: number, cBlockRead64kNs?: number,
 *             fastNsPerExit?: number, fastBlockRead512Ns?: number, fastBlockRead64kNs?: number }} MicroRun
 * @typedef {{
 *   date: string, mode: string, quick: boolean, rounds: number, elapsedS: number,
 *   warmupMs?: number, targetLoopMs?: number,
 *   machine: { kvm: string, cpu: string, hostCpu: string | null, cores: number, memoryMiB: number, kernel: string, node: string },
 *   tenders: TenderInfo[], workloads: WorkloadResult[], skipped: { id: string, why: string }[],
 *   ring?: { ringFramesPerS: Summary, hypercallFramesPerS: Summary, speedup: Summary } | null,
 *   hello: { runs: number, subjects: { id: string, label: string, ms: Summary }[], deltaMs: Summary, goalMs: number, met: boolean,
 *            startup?: Startup },
 *   memory: { runs: number, guestMemMiB: number, goalMiB: number, met: boolean,
 *             tenders: { id: string, label: string, peakMiB: Summary, guestMiB: Summary, beyondMiB: Summary }[] },
 *   micro: { jit: MicroRun, jitless: MicroRun, where: string }
 * }} Report
 * @typedef {{ loadShare: Summary, loadGoal: number, loadMet: boolean, helloShare: Summary,
 *             helloGoal: number | null, helloMet: boolean | null,
 *             exeShare?: Summary | null, exeGoal?: number, exeMet?: boolean | null,
 *             host: { runs: number, nodeMs: Summary, loadMs: Summary, loadUnbundledMs: Summary,
 *                     loadShare: number, unbundledShare: number, goal: number, met: boolean } | null }} Startup
 */

/** Three significant digits, without exponent notation. */
function sig(/** @type {number} */ x) {
  if (!Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

const ratio = (/** @type {Summary | undefined} */ s) =>
  s === undefined ? '—' : `${s.median.toFixed(2)}× (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
const unitText = (/** @type {string} */ u) => (u === 'us/op' ? 'µs/op' : u);
const verdict = (/** @type {boolean | null} */ met) =>
  met === null ? '—' : met ? 'yes' : '**no**';

/** @param {Report} r */
export function machineLine(r) {
  const m = r.machine;
  const cpu = m.hostCpu ? `host CPU ${m.hostCpu}; guest CPU ${m.cpu}` : `CPU ${m.cpu}`;
  return `${m.kvm}; ${cpu}, ${m.cores} cores, ${m.memoryMiB} MiB; Linux ${m.kernel}; Node ${m.node}`;
}

/**
 * @param {Report} r
 * @returns {string}
 */
export function renderMarkdown(r) {
  const baselines = r.tenders.filter((t) => t.role === 'baseline');
  const variants = r.tenders.filter((t) => t.role === 'variant');
  const out = [];
  out.push(`#### Benchmark of ${r.date.slice(0, 10)}${r.quick ? ' (quick run)' : ''}`, '');
  out.push(`Machine: ${machineLine(r)}.  `);
  out.push(`${r.rounds} round(s); the whole run took ${Math.round(r.elapsedS)} s.`);
  if (r.mode === 'vm') {
    out.push(
      '',
      'Inside the nested VM every time is emulated (QEMU TCG): read the ratios, not the absolute figures.',
    );
  }
  out.push('');

  const head = ['workload', 'n', 'hvt.js'];
  for (const b of baselines) head.push(b.label);
  for (const b of baselines) head.push(`hvt.js / ${b.label} (median, min–max)`);
  head.push('same, last ¼ of each loop', 'goal', 'met');
  out.push(`| ${head.join(' | ')} |`);
  out.push(
    `|${head.map((_, i) => (i === 1 || (i >= 2 && i < 3 + baselines.length) ? '--:' : '---')).join('|')}|`,
  );
  for (const w of r.workloads) {
    const cells = [w.label, String(w.n)];
    cells.push(`${sig(w.results['hvtjs']?.figure.median ?? Number.NaN)} ${unitText(w.unit)}`);
    for (const b of baselines)
      cells.push(`${sig(w.results[b.id]?.figure.median ?? Number.NaN)} ${unitText(w.unit)}`);
    for (const b of baselines) cells.push(ratio(w.ratios[b.id]?.['hvtjs']));
    cells.push(ratio(w.lastSegmentRatios['c']?.['hvtjs']));
    cells.push(
      w.goal ? `${w.goal.text} (${w.unit === 'us/op' ? 'time' : 'throughput'})` : '— (none set)',
    );
    cells.push(verdict(w.met));
    out.push(`| ${cells.join(' | ')} |`);
  }
  for (const s of r.skipped) out.push(`| ${s.id} | | skipped: ${s.why} | |`);
  out.push('');
  if (r.ring) {
    const q = r.ring;
    out.push(
      `NET_WRITE of 1514-byte frames in hvt.js, same boot each round: through the ring ${sig(q.ringFramesPerS.median)} frames/s, ` +
        `by hypercall ${sig(q.hypercallFramesPerS.median)} frames/s: the ring moves ${ratio(q.speedup)} as many. ` +
        'The C baseline offers no ring, so its "via the ring" row is its hypercall path again.',
      '',
    );
  }

  const h = r.hello;
  const helloMs = (/** @type {string} */ id) => h.subjects.find((s) => s.id === id)?.ms;
  const mem = r.memory;
  const memOf = (/** @type {string} */ id) => mem.tenders.find((t) => t.id === id);
  out.push(
    `| start-up and memory | hvt.js | ${baselines.map((b) => b.label).join(' | ')} | hvt.js − C baseline | goal | met |`,
  );
  out.push(`|---|--:|${baselines.map(() => '--:').join('|')}|---|---|---|`);
  out.push(
    `| hello, start to exit (median of ${h.runs}) | ${sig(helloMs('hvtjs')?.median ?? Number.NaN)} ms | ${baselines.map((b) => `${sig(helloMs(b.id)?.median ?? Number.NaN)} ms`).join(' | ')} | +${sig(h.deltaMs.median)} ms (${sig(h.deltaMs.min)}–${sig(h.deltaMs.max)}) | ≤ +${h.goalMs} ms | ${verdict(h.met)} |`,
  );
  out.push(
    `| peak RSS beyond guest RAM (median of ${mem.runs}) | ${sig(memOf('hvtjs')?.beyondMiB.median ?? Number.NaN)} MiB | ${baselines.map((b) => `${sig(memOf(b.id)?.beyondMiB.median ?? Number.NaN)} MiB`).join(' | ')} | | ≤ ${mem.goalMiB} MiB | ${verdict(mem.met)} |`,
  );
  out.push('');
  const node = helloMs('node');
  const st = h.startup;
  if (node && st) {
    const pct = (/** @type {number} */ x) => `${(100 * x).toFixed(0)}%`;
    const pcts = (/** @type {Summary} */ s) => `${pct(s.median)} (${pct(s.min)}–${pct(s.max)})`;
    const here = r.mode === 'vm' ? 'nested VM' : 'host';
    const load = helloMs('load');
    const unbundled = helloMs('load-unbundled');
    out.push(
      '| start-up breakdown (medians) | `node -e 0` | Node loading hvt.js, then exiting | same, unbundled | loading beyond `node -e 0`, share of it | goal | met |',
      '|---|--:|--:|--:|---|---|---|',
    );
    if (st.host) {
      const hh = st.host;
      out.push(
        `| host, no KVM needed (${hh.runs} runs) | ${sig(hh.nodeMs.median)} ms | ${sig(hh.loadMs.median)} ms | ${sig(hh.loadUnbundledMs.median)} ms | ${pct(hh.loadShare)} (unbundled ${pct(hh.unbundledShare)}) | ≤ ${pct(hh.goal)} | ${verdict(hh.met)} |`,
      );
    }
    out.push(
      `| ${here} (${h.runs} runs) | ${sig(node.median)} ms | ${sig(load?.median ?? Number.NaN)} ms | ${unbundled ? `${sig(unbundled.median)} ms` : '—'} | ${pcts(st.loadShare)} | ≤ ${pct(st.loadGoal)} | ${verdict(st.loadMet)} |`,
      '',
      `Hello, start to exit (${here}): hvt.js ${sig(helloMs('hvtjs')?.median ?? Number.NaN)} ms` +
        (helloMs('unbundled')
          ? ` (unbundled ${sig(helloMs('unbundled')?.median ?? Number.NaN)} ms)`
          : '') +
        `, C baseline ${sig(helloMs('c')?.median ?? Number.NaN)} ms, \`node -e 0\` ${sig(node.median)} ms: hvt.js beyond \`node -e 0\` plus the C tender's hello, as a share of \`node -e 0\`, ${pcts(st.helloShare)}` +
        (st.helloGoal === null
          ? ' (the goal, ≤ 25%, is set for the nested VM).'
          : `; goal ≤ ${pct(st.helloGoal)}: ${st.helloMet ? 'met' : '**not met**'}.`) +
        ' Loading is the bundled `solo5-hvt` given a kernel file that does not exist: it loads the CLI, core, the platform package and its addon, then stops with "Could not open", before any VM work.',
      '',
    );
    const exe = helloMs('exe');
    if (exe && st.exeShare) {
      out.push(
        `The self-contained executable (\`solo5 build-exe\`), hello start to exit (${here}): ${sig(exe.median)} ms, against \`node -e 0\` + C's hello ${sig(node.median + (helloMs('c')?.median ?? Number.NaN))} ms: ${pcts(st.exeShare)} beyond that sum; goal ≤ ${pct(st.exeGoal ?? Number.NaN)}: ${st.exeMet ? 'met' : '**not met**'}.`,
        '',
      );
    }
  } else if (node) {
    // Reports from before the start-up breakdown had its own table.
    const imp = helloMs('import');
    out.push(
      `Start-up breakdown (medians): \`node -e 0\` ${sig(node.median)} ms; Node loading hvt.js's modules and addon, then exiting, ${sig(imp?.median ?? Number.NaN)} ms; hvt.js running hello ${sig(helloMs('hvtjs')?.median ?? Number.NaN)} ms; C baseline ${sig(helloMs('c')?.median ?? Number.NaN)} ms.`,
      '',
    );
  }

  const experimentRows = r.workloads.filter((w) => variants.some((v) => w.results[v.id]));
  if (experimentRows.length > 0) {
    const cols = [{ id: 'hvtjs', label: 'hvt.js' }, ...variants, { id: 'c', label: 'C baseline' }];
    out.push(`| run-loop experiment | ${cols.map((c) => c.label).join(' | ')} |`);
    out.push(`|---|${cols.map(() => '--:').join('|')}|`);
    for (const w of experimentRows) {
      const cells = cols.map((c) => {
        const v = w.results[c.id]?.figure.median;
        const q = c.id === 'c' ? undefined : w.ratios['c']?.[c.id];
        return v === undefined
          ? '—'
          : `${sig(v)} ${unitText(w.unit)}${q ? ` (${q.median.toFixed(2)}×)` : ''}`;
      });
      out.push(`| ${w.label} | ${cells.join(' | ')} |`);
    }
    out.push('');
  }

  const mj = r.micro.jit;
  const ml = r.micro.jitless;
  const breakEven = (mj.jsNsPerExit - 1.2 * mj.cNsPerExit) / 0.2;
  out.push(
    `Per-exit user-space cost of a WALLTIME exit, KVM_RUN stubbed out (micro-benchmark, ${r.micro.where}; medians): ` +
      `C ${sig(mj.cNsPerExit)} ns; hvt.js ${sig(mj.jsNsPerExit)} ns with the JIT, ${sig(ml.jsNsPerExit)} ns with \`--jitless\`. ` +
      `Of hvt.js's time: the vm.run() crossing and reading the exit ${sig(mj.crossingNs ?? Number.NaN)} ns; ` +
      `run loop and dispatch to a handler that does nothing ${sig(mj.dispatchNoopNs ?? Number.NaN)} ns in all; ` +
      `one reading of a clock that returns a BigInt ${sig(mj.clockNs ?? Number.NaN)} ns; ` +
      `the whole exit with such a clock (the tender before its allocation-free one) ${sig(mj.jsBigintClockNsPerExit ?? Number.NaN)} ns. ` +
      `The kernel's share of an exit (KVM_RUN, the world switch) is the same for both tenders, so hvt.js is within 1.2× of C on WALLTIME wherever that share is at least ${sig(breakEven)} ns.`,
    '',
  );
  if (mj.fastNsPerExit !== undefined) {
    const us = (/** @type {number | undefined} */ ns) => sig((ns ?? Number.NaN) / 1000);
    out.push(
      `With the native fast path, which the tender arms on Linux (docs/architecture.md 3.2), the same exits never reach JavaScript: ` +
        `WALLTIME ${sig(mj.fastNsPerExit)} ns (${(mj.fastNsPerExit / mj.cNsPerExit).toFixed(2)}× C; \`--jitless\` ${sig(ml.fastNsPerExit ?? Number.NaN)} ns); ` +
        `BLOCK_READ 512 B ${us(mj.fastBlockRead512Ns)} µs, 64 KiB ${us(mj.fastBlockRead64kNs)} µs. ` +
        'The JavaScript figures above are what every exit costs where the fast path is off (a module that must see every exit, the BSD platforms) and what a deferred exit costs.',
      '',
    );
  }
  if (mj.jsBlockRead512Ns !== undefined && mj.cBlockRead512Ns !== undefined) {
    // Throughput ratio (K + c) / (K + j) >= 0.9 holds when K >= 9j - 10c.
    const need = (/** @type {number} */ j, /** @type {number} */ c) => Math.max(0, 9 * j - 10 * c);
    const us = (/** @type {number | undefined} */ ns) => sig((ns ?? Number.NaN) / 1000);
    out.push(
      `BLOCK_READ from the page cache, same micro-benchmark (µs per exit): 512 B: C ${us(mj.cBlockRead512Ns)}, hvt.js (one addon call into guest RAM) ${us(mj.jsBlockRead512Ns)}, hvt.js through Node's fs.readSync as before ${us(mj.jsFsBlockRead512Ns)}; ` +
        `64 KiB: C ${us(mj.cBlockRead64kNs)}, hvt.js ${us(mj.jsBlockRead64kNs)}, through fs ${us(mj.jsFsBlockRead64kNs)}. ` +
        `hvt.js reaches 0.9× of C's throughput only where the kernel's share of an exit is at least ${us(need(mj.jsBlockRead512Ns, mj.cBlockRead512Ns))} µs (512 B) and ${us(need(mj.jsBlockRead64kNs ?? Number.NaN, mj.cBlockRead64kNs ?? Number.NaN))} µs (64 KiB).`,
      '',
    );
  }
  out.push(
    `Method: each tender boots each of the three benchmark guests (no device, a block device, a tap) once per round, in rotating order, and the guest runs its workloads one after the other; ` +
      `for each workload it makes hypercalls untimed for ${r.warmupMs ?? '?'} ms of guest time (at least 10), then times n of them with the TSC (n chosen so that the C baseline takes about ${r.targetLoopMs ?? '?'} ms); ` +
      'µs/op is per hypercall, MB/s counts 10^6 bytes; a ratio is taken per round, between runs made back to back, and shown as median (min–max) over rounds; "last ¼" is the same ratio over the last quarter of each timed loop only. ' +
      'Hello is fork to reaped exit of the tender process (bench/tools/measure.c). ' +
      `Peak RSS beyond guest RAM is the tender's peak RSS (wait4's ru_maxrss) minus the resident part of the ${mem.guestMemMiB} MiB guest mapping, read from /proc/PID/smaps while the guest idles in POLL after touching all it will.`,
  );
  return `${out.join('\n')}\n`;
}

const esc = (/** @type {string} */ s) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * A horizontal plot of every hvt.js / C ratio (median bar, min–max whisker,
 * goal mark), experiments included.
 * @param {Report} r
 * @returns {string}
 */
export function renderSvg(r) {
  /** @type {{ label: string, s: Summary, goal?: Goal, met: boolean | null, variant: boolean }[]} */
  const rows = [];
  for (const w of r.workloads) {
    for (const [id, s] of Object.entries(w.ratios['c'] ?? {})) {
      const t = r.tenders.find((x) => x.id === id);
      const variant = t?.role === 'variant';
      rows.push({
        label: `${w.label}${variant ? ` — ${t?.label}` : ''} (${w.unit === 'us/op' ? 'time' : 'MB/s'})`,
        s,
        ...(w.goal && !variant ? { goal: w.goal } : {}),
        met: variant ? null : w.met,
        variant,
      });
    }
  }
  // A log scale centred on 1×: ratios run from a tenth to ten times and
  // more, and 0.5× is as far from parity as 2×.
  const finite = rows.flatMap((x) => [x.s.min, x.s.max, x.goal?.ratio ?? 1]).filter((v) => v > 0);
  const lo = 2 ** Math.max(-6, Math.floor(Math.log2(Math.min(0.5, ...finite))));
  const hi = 2 ** Math.min(8, Math.ceil(Math.log2(Math.max(2, ...finite))));
  const left = 330;
  const width = 900;
  const plotW = width - left - 60;
  const rowH = 24;
  const top = 56;
  const height = top + rows.length * rowH + 40;
  const x = (/** @type {number} */ v) =>
    left +
    ((Math.log2(Math.min(hi, Math.max(lo, v))) - Math.log2(lo)) / (Math.log2(hi) - Math.log2(lo))) *
      plotW;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<title>hvt.js / C baseline ratios per workload, ${esc(r.date.slice(0, 10))}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">hvt.js / C baseline, ${esc(r.date.slice(0, 10))}${r.mode === 'vm' ? ' (nested VM: emulated times, ratios only)' : ''}</text>`,
    `<text x="10" y="38" fill="#555">${esc(r.machine.kvm)}. Log scale. Bar: median of ${r.rounds} round(s); whisker: min–max; black tick: goal. Time: lower is better; MB/s: higher is better.</text>`,
  ];
  for (let t = lo; t <= hi; t *= 2) {
    const text = t >= 1 ? `${t}×` : `1/${1 / t}×`;
    parts.push(
      `<line x1="${x(t)}" y1="${top - 6}" x2="${x(t)}" y2="${top + rows.length * rowH}" stroke="${t === 1 ? '#888' : '#e4e4e4'}"/>`,
      `<text x="${x(t)}" y="${top + rows.length * rowH + 16}" text-anchor="middle" fill="#555">${text}</text>`,
    );
  }
  rows.forEach((row, i) => {
    const y = top + i * rowH;
    const colour = row.variant
      ? '#9aa9c9'
      : row.met === null
        ? '#9a9a9a'
        : row.met
          ? '#3c9a50'
          : '#c8493c';
    parts.push(
      `<text x="${left - 8}" y="${y + 15}" text-anchor="end">${esc(row.label)}</text>`,
      `<rect x="${Math.min(x(1), x(row.s.median))}" y="${y + 4}" width="${Math.max(1, Math.abs(x(row.s.median) - x(1)))}" height="${rowH - 9}" fill="${colour}"/>`,
      `<line x1="${x(row.s.min)}" y1="${y + 11}" x2="${x(row.s.max)}" y2="${y + 11}" stroke="#222"/>`,
      `<line x1="${x(row.s.min)}" y1="${y + 7}" x2="${x(row.s.min)}" y2="${y + 15}" stroke="#222"/>`,
      `<line x1="${x(row.s.max)}" y1="${y + 7}" x2="${x(row.s.max)}" y2="${y + 15}" stroke="#222"/>`,
      `<text x="${Math.min(Math.max(x(row.s.max), x(1)) + 6, width - 50)}" y="${y + 15}" fill="#222">${row.s.median.toFixed(2)}×</text>`,
    );
    if (row.goal) {
      parts.push(
        `<line x1="${x(row.goal.ratio)}" y1="${y + 1}" x2="${x(row.goal.ratio)}" y2="${y + rowH - 2}" stroke="black" stroke-width="2"/>`,
      );
    }
  });
  parts.push('</svg>', '');
  return parts.join('\n');
}
