// `pnpm test`: build and lint everything, run every package's tests (the KVM suite
// included: on the host's /dev/kvm or inside the nested VM), then print one summary.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const reportsDir = join(root, '.test-results');
const turbo = (args) =>
  spawnSync('pnpm', ['exec', 'turbo', 'run', ...args], { cwd: root, stdio: 'inherit' }).status ?? 1;

rmSync(reportsDir, { recursive: true, force: true });
if (turbo(['build', 'lint']) !== 0) process.exit(1);
// Citations in code and docs point at sections of docs/ that exist.
if (spawnSync('node', [join(root, 'scripts/check-doc-links.mjs')], { stdio: 'inherit' }).status !== 0) {
  process.exit(1);
}
const status = turbo(['test', '--concurrency=1', '--continue']);

let passed = 0;
let failed = 0;
let skipped = 0;
const suites = existsSync(reportsDir) ? readdirSync(reportsDir).filter((f) => f.endsWith('.json')) : [];
for (const file of suites.sort()) {
  const r = JSON.parse(readFileSync(join(reportsDir, file), 'utf8'));
  const s = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  console.log(`suite ${file.replace(/\.json$/, '')}: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${s} skipped`);
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += s;
}
if (suites.length === 0) console.log('no test reports were written');
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(status !== 0 || failed > 0 || suites.length === 0 ? 1 : 0);
