#!/usr/bin/env node
// `pnpm hello`: builds the project's hello unikernel (test/guests/hello.c) and
// runs it with the CLI, `solo5 run hello.hvt Hello`. Needs `pnpm build` first.
//
// Where this host has a working /dev/kvm, the unikernel runs here. Where it has
// none, it runs inside the project's nested test VM instead (test/vm/: QEMU's
// software emulation, whose guest has a /dev/kvm of its own), and this says so
// first; the first such run installs QEMU and downloads a Debian kernel.
// HVTJS_KVM=host or vm forces where it runs, as for the KVM test suite.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGuests } from '../test/guests/build.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const solo5 = join(root, 'packages/cli/dist/solo5.js');
const say = (msg) => process.stderr.write(`pnpm hello: ${msg}\n`);

if (!existsSync(solo5)) {
  say(`${solo5} is missing: run \`pnpm build\` first`);
  process.exit(1);
}

/** Why this host cannot run a VM itself, or undefined when it can. */
function noKvm() {
  if (!existsSync('/dev/kvm')) return 'this host has no /dev/kvm (no KVM here)';
  try {
    closeSync(openSync('/dev/kvm', 'r+'));
    return undefined;
  } catch (error) {
    return `this host's /dev/kvm cannot be opened read-write (${error.code})`;
  }
}

let hello;
try {
  ({ hello } = await buildGuests());
} catch (error) {
  say(`cannot build the hello unikernel: ${error.message}`);
  process.exit(1);
}
const command = [solo5, 'run', '--mem=32', hello, 'Hello'];
const mode = process.env.HVTJS_KVM || 'auto';
const why = mode === 'vm' ? 'HVTJS_KVM=vm' : mode === 'host' ? undefined : noKvm();
let result;
if (why === undefined) {
  say(`running ${hello} on this host's KVM`);
  result = spawnSync(process.execPath, command, { stdio: 'inherit' });
} else {
  say(
    `${why}, so the unikernel runs inside the nested test VM (QEMU software emulation, test/vm/README.md); ` +
      'the first run installs QEMU and downloads a kernel, later ones take about 10 s',
  );
  result = spawnSync(
    process.execPath,
    [join(root, 'test/vm/run-in-vm.mjs'), '--timeout', '600', '--', process.execPath, ...command],
    { stdio: 'inherit' },
  );
}
if (result.error) say(`cannot start: ${result.error.message}`);
process.exit(result.status ?? 1);
