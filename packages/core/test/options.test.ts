import { fstatSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  BlockModule,
  createModules,
  DumpcoreModule,
  defaultSandboxSettings,
  firstPass,
  guestCommandLine,
  NetModule,
  parseMem,
  secondPass,
  usageText,
  versionText,
} from '../src/entry/tender.js';
import { HvtError, UsageError } from '../src/index.js';
import {
  BLOCK,
  manifestOf,
  NET,
  optionContext,
  scratchDir,
  scratchPerTest,
  thrown,
  warnings,
} from './tender-helpers.js';

describe('first pass', () => {
  it('finds KERNEL after the options and keeps the rest for the guest', () => {
    expect(firstPass(['--mem=64', 'kernel.hvt', 'a', '--mem=2', 'b'])).toEqual({
      action: 'run',
      args: ['--mem=64', 'kernel.hvt', 'a', '--mem=2', 'b'],
      kernel: 'kernel.hvt',
      guestArgs: ['a', '--mem=2', 'b'],
    });
  });

  it('takes the argument after `--` as KERNEL even when it starts with -', () => {
    const parsed = firstPass(['--mem=8', '--', '-kernel', '--help']);
    expect(parsed).toMatchObject({ kernel: '-kernel', guestArgs: ['--help'] });
  });

  it('acts on --help and --version wherever they are among the options', () => {
    expect(firstPass(['--help'])).toEqual({ action: 'help' });
    expect(firstPass(['--block:x=y', '--help', 'kernel'])).toEqual({ action: 'help' });
    expect(firstPass(['--version'])).toEqual({ action: 'version' });
    expect(firstPass(['--version', '--help'])).toEqual({ action: 'version' });
    // After KERNEL they belong to the guest.
    expect(firstPass(['kernel', '--help'])).toMatchObject({ action: 'run', guestArgs: ['--help'] });
    // After `--` too: the option walk has ended.
    expect(firstPass(['--', '--help'])).toMatchObject({ action: 'run', kernel: '--help' });
  });

  it('says `Missing KERNEL operand` (a usage error) when there is no KERNEL', () => {
    for (const args of [[], ['--mem=64'], ['--'], ['--foo', '--bar']]) {
      const error = thrown(() => firstPass(args));
      expect(error).toBeInstanceOf(UsageError);
      expect(error.message).toBe('Missing KERNEL operand');
      expect((error as HvtError).exitStatus).toBe(1);
    }
  });

  it('treats an empty argument as KERNEL, as the reference does', () => {
    expect(firstPass(['', 'x'])).toMatchObject({ kernel: '', guestArgs: ['x'] });
  });
});

describe('--mem', () => {
  it('reads a leading decimal in MiB and ignores trailing garbage (%zd)', () => {
    expect(parseMem('--mem=64')).toBe(64n << 20n);
    expect(parseMem('--mem=64xyz')).toBe(64n << 20n);
    expect(parseMem('--mem= 32')).toBe(32n << 20n);
    expect(parseMem('--mem=+8')).toBe(8n << 20n);
    expect(parseMem('--mem=4096')).toBe(4096n << 20n);
    expect(parseMem('--mem=99999999999999999999')).toBe(99999999999999999999n << 20n);
  });

  it('refuses no number, zero and negatives with `Malformed argument to --mem`', () => {
    // --mem=0x10: %zd reads the 0 and stops at the x, so it is zero.
    for (const arg of ['--mem=', '--mem=abc', '--mem=0', '--mem=-5', '--mem=x64', '--mem=0x10']) {
      const error = thrown(() => parseMem(arg));
      expect(error).toBeInstanceOf(HvtError);
      expect(error).not.toBeInstanceOf(UsageError);
      expect(error.message).toBe('Malformed argument to --mem');
    }
  });
});

describe('second pass', () => {
  const scratch = scratchPerTest();
  let disk: string;
  beforeEach(() => {
    disk = join(scratch.dir, 'disk.img');
    writeFileSync(disk, new Uint8Array(4096));
  });

  const manifest = () =>
    manifestOf([
      { name: 'storage', type: BLOCK },
      { name: 'service', type: NET },
    ]);

  function parse(args: string[], modules = createModules()) {
    const m = manifest();
    const printed = warnings();
    const run = () => secondPass(args, modules, optionContext(m, printed.warn));
    return { m, printed, run, modules };
  }

  it('returns 512 MiB by default and the last --mem given', () => {
    expect(parse(['kernel']).run()).toBe(512n << 20n);
    expect(parse(['--mem=2', '--mem=64', 'kernel']).run()).toBe(64n << 20n);
  });

  it('stops at `--` and at KERNEL', () => {
    expect(parse(['--mem=8', '--', '--mem=16']).run()).toBe(8n << 20n);
    expect(parse(['--mem=8', 'kernel', '--mem=16', '--bogus']).run()).toBe(8n << 20n);
  });

  it('refuses an unknown option with `Invalid option` (a usage error)', () => {
    const error = thrown(parse(['--foo', 'kernel']).run);
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toBe("Invalid option: `--foo'");
  });

  it('offers the argument after --mem= to the modules in the same iteration (2.2)', () => {
    // A failing option right after --mem= warns twice, then is invalid.
    const p = parse(['--mem=64', '--block:nope=x', 'kernel']);
    const error = thrown(p.run);
    expect(error.message).toBe("Invalid option: `--block:nope=x'");
    expect(p.printed.list).toEqual([
      "Resource not declared in manifest: 'nope'",
      "Resource not declared in manifest: 'nope'",
    ]);
    // A succeeding one is consumed in that iteration (and the device opened once).
    const ok = parse(['--mem=64', `--block:storage=${disk}`, '--mem=32', 'kernel']);
    expect(ok.run()).toBe(32n << 20n);
    expect(ok.printed.list).toEqual([]);
    expect(ok.m.findByName('storage')?.attached).toBe(true);
    for (const module of ok.modules) module.close?.();
  });

  it('reports `Invalid option` for a module option whose handler warned', () => {
    const p = parse(['--block-sector-size:storage=1000', 'kernel']);
    expect(thrown(p.run).message).toBe("Invalid option: `--block-sector-size:storage=1000'");
    expect(p.printed.list).toEqual([
      'Block size must be a multiple of 2 greater than or equal 512',
    ]);
  });

  it('gives each option to the modules in link order', () => {
    const p = parse([`--block:storage=${disk}`, '--dumpcore=/tmp', 'kernel']);
    p.run();
    expect(p.m.findByName('storage')?.attached).toBe(true);
    for (const module of p.modules) module.close?.();
  });
});

describe('sandbox options', () => {
  const parse = (args: string[]) => {
    const settings = defaultSandboxSettings();
    const printed = warnings();
    const mem = secondPass(args, [], optionContext(manifestOf([]), printed.warn), settings);
    return { settings, mem };
  };

  it('are core options of the second pass, in any order among the others', () => {
    expect(
      parse(['--print-policy', '--mem=64', '--user=tender', '--group=kvm-guests', 'k']),
    ).toEqual({
      settings: { printPolicy: true, unsafeNoSandbox: false, user: 'tender', group: 'kvm-guests' },
      mem: 64n << 20n,
    });
    expect(parse(['--unsafe-no-sandbox', 'k']).settings.unsafeNoSandbox).toBe(true);
  });

  it('say when --user or --group is empty', () => {
    expect(() => parse(['--user=', 'k'])).toThrow('Malformed argument to --user');
    expect(() => parse(['--group=', 'k'])).toThrow('Malformed argument to --group');
  });

  it('default to the sandbox on and nothing printed', () => {
    expect(parse(['k']).settings).toEqual({ printPolicy: false, unsafeNoSandbox: false });
  });
});

describe('usage and version', () => {
  it("is the reference debug tender's text, with the sandbox options and --gdb-listen", () => {
    expect(usageText('solo5-hvt', createModules())).toBe(
      [
        'usage: solo5-hvt [ CORE OPTIONS ] [ MODULE OPTIONS ] [ -- ] KERNEL [ ARGS ]',
        'KERNEL is the filename of the unikernel to run.',
        'ARGS are optional arguments passed to the unikernel.',
        'Core options:',
        '  [ --mem=512 ] (guest memory in MB)',
        '    --help (display this help)',
        '    --version (display version information)',
        '  [ --user=nobody ] (user to become when started as root)',
        '  [ --group=nogroup ] (group to become when started as root)',
        '    --print-policy (print the sandbox policy and its rules, then exit)',
        '    --unsafe-no-sandbox (run without the sandbox: debugging only)',
        'Compiled-in modules: core block net gdb dumpcore ',
        'Compiled-in module options:',
        '    --block:NAME=PATH (attach block device/file at PATH as block storage NAME)',
        '  [ --block-sector-size:NAME=SECTORSIZE ] (set sector size for block device NAME; must be a power of two greater than or equal 512)',
        '    --net:NAME=IFACE | @NN (attach tap at IFACE or at fd @NN as network NAME)',
        '  [ --net-mac:NAME=HWADDR ] (set HWADDR for network NAME)',
        '    --gdb (optional flag for running in a gdb debug session)',
        '  [ --gdb-port=1234 ] (port to use) ',
        '  [ --gdb-listen=127.0.0.1 ] (address to listen on; others expose the guest)',
        '    --dumpcore=DIR (enable guest core dump on abort/trap)',
        '',
      ].join('\n'),
    );
  });

  it('is generated from the modules it is given', () => {
    const text = usageText('x', [new BlockModule(), new NetModule()]);
    expect(text).toContain('Compiled-in modules: block net \n');
    expect(text).not.toContain('dumpcore');
    expect(usageText('x', [])).toContain('Compiled-in module options:\n    (none)\n');
    expect(usageText('solo5 run', [new DumpcoreModule()])).toMatch(/^usage: solo5 run \[ CORE/);
  });

  it('prints the version and the ABI version on two lines', () => {
    expect(versionText('solo5-hvt', '0.1.0')).toBe(
      'solo5-hvt tender, version 0.1.0\nABI version 2\n',
    );
  });
});

describe('guest command line', () => {
  it('joins the arguments with single spaces, as bytes', () => {
    expect(new TextDecoder().decode(guestCommandLine(['a', 'b c', '--mem=2']))).toBe(
      'a b c --mem=2',
    );
    expect(guestCommandLine([]).byteLength).toBe(0);
    expect(guestCommandLine(['é']).byteLength).toBe(2);
  });

  it('allows 8191 bytes and refuses 8192', () => {
    expect(guestCommandLine(['x'.repeat(8191)]).byteLength).toBe(8191);
    expect(guestCommandLine(['x'.repeat(4095), 'y'.repeat(4095)]).byteLength).toBe(8191);
    const error = thrown(() => guestCommandLine(['x'.repeat(4096), 'y'.repeat(4095)]));
    expect(error).toBeInstanceOf(HvtError);
    expect(error.message).toBe('Guest command line too long (max=8191 characters)');
    // Counted in bytes, as the C string is.
    expect(thrown(() => guestCommandLine(['é'.repeat(4096)])).message).toMatch(/too long/);
  });
});

describe('option descriptors stay valid after parsing', () => {
  it('keeps the block file open until close()', () => {
    const scratch = scratchDir();
    const file = join(scratch.dir, 'd');
    writeFileSync(file, new Uint8Array(512));
    const block = new BlockModule();
    const m = manifestOf([{ name: 'd', type: BLOCK }]);
    const printed = warnings();
    secondPass([`--block:d=${file}`, 'k'], [block], optionContext(m, printed.warn));
    const [device] = block.attachedDevices();
    expect(device).toBeDefined();
    expect(fstatSync(device!.fd).size).toBe(512);
    block.close();
    scratch.remove();
  });
});
