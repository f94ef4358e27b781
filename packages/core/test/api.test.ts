import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveTender, runUnikernel, tenderArgs } from '../src/api.js';

// The real tender runs in test/kvm/api.test.ts (it needs KVM). Here a small
// script takes its place, to check what crosses the process boundary: the
// command line, descriptors, console, messages, status and signals.
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
  it("finds @hvtjs/cli's solo5-hvt through the exports map from a project directory", () => {
    const project = join(scratch, 'project');
    const cli = join(project, 'node_modules/@hvtjs/cli');
    mkdirSync(join(cli, 'dist'), { recursive: true });
    writeFileSync(
      join(cli, 'package.json'),
      JSON.stringify({ name: '@hvtjs/cli', exports: { './solo5-hvt': './dist/solo5-hvt.js' } }),
    );
    writeFileSync(join(cli, 'dist/solo5-hvt.js'), '');
    expect(resolveTender(project)).toBe(join(cli, 'dist/solo5-hvt.js'));
  });

  it('says what to install when there is no tender', () => {
    const empty = mkdtempSync(join(scratch, 'empty-'));
    // Core's own directory sees no @hvtjs/cli in this workspace: pnpm links declared dependencies only.
    expect(() => resolveTender(empty)).toThrow(/install @hvtjs\/cli/);
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
