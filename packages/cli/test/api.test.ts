import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveTender, runUnikernel, tenderArgs } from '../src/api.js';

// The real tender runs in test/kvm/api.test.ts (it needs KVM). Here a small
// script takes its place, to check what crosses the process boundary: the
// command line, descriptors, console, messages, status and signals.
const packageDir = fileURLToPath(new URL('..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'hvtjs-api-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const recorder = join(scratch, 'recording-tender.mjs');
writeFileSync(
  recorder,
  `import { fstatSync, writeSync } from 'node:fs';
const args = process.argv.slice(2);
writeSync(1, JSON.stringify({ args, fd3: (() => { try { return fstatSync(3).isFile(); } catch { return false; } })() }) + '\\n');
writeSync(2, 'recording-tender: first message\\nrecording-tender: last message');
const status = args.find((a) => a.startsWith('status='));
if (args.includes('wait')) setInterval(() => {}, 1000);
else process.exitCode = status ? Number(status.slice(7)) : 0;
`,
);

describe('tenderArgs', () => {
  it('puts the options before `--` KERNEL and the guest arguments after it', () => {
    expect(tenderArgs({ kernel: 'hello.hvt' })).toEqual({ args: ['--', 'hello.hvt'], fds: [] });
    expect(
      tenderArgs({
        kernel: '-odd.hvt',
        args: ['exit=3', 'two words'],
        mem: 64,
        block: { storage: 'disk.img', other: { path: '/dev/loop0', sectorSize: 4096 } },
        net: { service: 'tap0', admin: { tap: 'tap1', mac: '02:00:00:00:00:01' } },
        dumpcore: '/var/tmp',
        user: 'hvt',
        group: 'hvt',
        unsafeNoSandbox: true,
      }).args,
    ).toEqual([
      '--mem=64',
      '--block:storage=disk.img',
      '--block:other=/dev/loop0',
      '--block-sector-size:other=4096',
      '--net:service=tap0',
      '--net:admin=tap1',
      '--net-mac:admin=02:00:00:00:00:01',
      '--dumpcore=/var/tmp',
      '--user=hvt',
      '--group=hvt',
      '--unsafe-no-sandbox',
      '--',
      '-odd.hvt',
      'exit=3',
      'two words',
    ]);
  });

  it('hands descriptors over as fd 3, 4, ... and names them @3, @4, ...', () => {
    expect(
      tenderArgs({ kernel: 'k', net: { a: { fd: 17 }, b: { fd: 9, mac: '02:aa:bb:cc:dd:ee' } } }),
    ).toEqual({
      args: ['--net:a=@3', '--net:b=@4', '--net-mac:b=02:aa:bb:cc:dd:ee', '--', 'k'],
      fds: [17, 9],
    });
  });

  it.each([
    [{ kernel: '' }, TypeError, /kernel/],
    [{ kernel: 'k', mem: 0 }, RangeError, /mem/],
    [{ kernel: 'k', mem: 1.5 }, RangeError, /mem/],
    [{ kernel: 'k', block: { 'bad-name': 'x' } }, RangeError, /block device name 'bad-name'/],
    [{ kernel: 'k', net: { ['n'.repeat(68)]: 'tap0' } }, RangeError, /1 to 67/],
    [{ kernel: 'k', block: { b: 'two words' } }, TypeError, /block 'b' path/],
    [{ kernel: 'k', block: { b: { path: 'x', sectorSize: 1000 } } }, RangeError, /sectorSize/],
    [{ kernel: 'k', net: { n: '' } }, TypeError, /net 'n' tap/],
    [{ kernel: 'k', net: { n: { tap: 't', mac: '02:00:00:00:00' } } }, TypeError, /mac/],
    [{ kernel: 'k', net: { n: { fd: -1 } } }, RangeError, /fd/],
    [{ kernel: 'k', args: ['a\0b'] }, TypeError, /NUL/],
    [{ kernel: 'k', user: '' }, TypeError, /user/],
  ])('refuses %j', (options, type, message) => {
    // biome-ignore lint/suspicious/noExplicitAny: deliberately malformed options.
    expect(() => tenderArgs(options as any)).toThrow(type);
    // biome-ignore lint/suspicious/noExplicitAny: deliberately malformed options.
    expect(() => tenderArgs(options as any)).toThrow(message);
  });
});

describe('resolveTender', () => {
  it("is this package's own solo5-hvt bin, which exists once built", () => {
    const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
    expect(manifest.bin['solo5-hvt']).toBe('./dist/solo5-hvt.js');
    expect(resolveTender()).toBe(join(packageDir, 'dist/solo5-hvt.js'));
    expect(existsSync(resolveTender())).toBe(true);
  });

  it('finds the bin from the bundled API as installed, without looking in node_modules', () => {
    // The published package, as npm lays it out: the bundle beside its bins.
    const installed = join(scratch, 'node_modules/@hvtjs/cli');
    mkdirSync(join(installed, 'dist'), { recursive: true });
    for (const file of ['package.json', 'dist/package.json', 'dist/api.js']) {
      copyFileSync(join(packageDir, file), join(installed, file));
    }
    const api = createRequire(import.meta.url)(join(installed, 'dist/api.js'));
    expect(() => api.resolveTender()).toThrow(
      /solo5-hvt of @hvtjs\/cli is missing .*build @hvtjs\/cli/,
    );
    writeFileSync(join(installed, 'dist/solo5-hvt.js'), '');
    expect(api.resolveTender()).toBe(join(installed, 'dist/solo5-hvt.js'));
  });
});

describe('runUnikernel', () => {
  it('streams the console, collects the messages and resolves the status', async () => {
    const run = runUnikernel({ kernel: 'hello.hvt', args: ['status=7'], tender: recorder });
    expect(run.pid).toBeGreaterThan(0);
    const [output, exit] = await Promise.all([text(run.console), run.exit]);
    expect(JSON.parse(output)).toEqual({ args: ['--', 'hello.hvt', 'status=7'], fd3: false });
    expect(exit).toEqual({
      status: 7,
      messages: ['recording-tender: first message', 'recording-tender: last message'],
    });
  });

  it('passes descriptors for net devices', async () => {
    const file = join(scratch, 'frames');
    writeFileSync(file, '');
    const fd = openSync(file, 'r');
    try {
      const run = runUnikernel({ kernel: 'k', net: { service: { fd } }, tender: recorder });
      const [output] = await Promise.all([text(run.console), run.exit]);
      expect(JSON.parse(output)).toEqual({ args: ['--net:service=@3', '--', 'k'], fd3: true });
    } finally {
      closeSync(fd);
    }
  });

  it('reports a signal as 128 + its number, for kill() and for an AbortSignal', async () => {
    const killed = runUnikernel({ kernel: 'k', args: ['wait'], tender: recorder });
    killed.console.resume();
    await new Promise((resolve) => killed.console.once('data', resolve));
    killed.kill('SIGKILL');
    expect(await killed.exit).toMatchObject({ status: 137, signal: 'SIGKILL' });

    const controller = new AbortController();
    const aborted = runUnikernel({
      kernel: 'k',
      args: ['wait'],
      tender: recorder,
      signal: controller.signal,
    });
    aborted.console.resume();
    await new Promise((resolve) => aborted.console.once('data', resolve));
    controller.abort();
    expect(await aborted.exit).toMatchObject({ status: 143, signal: 'SIGTERM' });
  });

  it('refuses a tender that does not exist before starting anything', () => {
    expect(() => runUnikernel({ kernel: 'k', tender: join(scratch, 'no-such-tender') })).toThrow(
      /does not exist/,
    );
  });

  it('rejects exit when the tender cannot be started', async () => {
    const notExecutable = join(scratch, 'not-executable');
    writeFileSync(notExecutable, '');
    const run = runUnikernel({ kernel: 'k', tender: notExecutable });
    await expect(run.exit).rejects.toThrow(/cannot start the tender .*EACCES/);
  });
});
