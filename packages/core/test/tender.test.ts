import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Platform } from '../src/entry/platform.js';
import {
  BlockModule,
  CONSOLE_FD,
  createCoreModule,
  DumpcoreModule,
  Hypercalls,
  hypervisorName,
  type Module,
  NetModule,
  requireAllAttached,
  sandboxPolicy,
  secondPass,
  setupModule,
  WaitSet,
} from '../src/entry/tender.js';
import { HvtError } from '../src/index.js';
import {
  BLOCK,
  guestRam,
  manifestOf,
  NET,
  optionContext,
  scratchPerTest,
  setUp,
  setupContext,
  thrown,
  warnings,
} from './tender-helpers.js';

const scratch = scratchPerTest();

describe('declared but not attached (11.6)', () => {
  it('names every unattached device, then fails', () => {
    const m = manifestOf([
      { name: 'disk', type: BLOCK },
      { name: 'net0', type: NET },
      { name: 'odd', type: 7 },
      { name: 'reserved', type: 0x40000001 },
    ]);
    m.findByName('disk')!.attached = true;
    const printed = warnings();
    const error = thrown(() => requireAllAttached(m, printed.warn));
    expect(error).toBeInstanceOf(HvtError);
    expect(error.message).toBe('All declared devices must be attached. See --help for syntax.');
    expect(printed.list).toEqual([
      "Device 'net0' of type NET_BASIC declared but not attached.",
      "Device 'odd' of type <undefined type> declared but not attached.",
    ]);
  });

  it('passes when all are attached, or none are declared', () => {
    const printed = warnings();
    requireAllAttached(manifestOf([]), printed.warn);
    const m = manifestOf([{ name: 'disk', type: BLOCK }]);
    m.findByName('disk')!.attached = true;
    requireAllAttached(m, printed.warn);
    expect(printed.list).toEqual([]);
  });
});

describe('module setup failures (section 11)', () => {
  /** A module whose setup fails the way a bug or a host failure would. */
  const failing = (usage?: string): Module => ({
    name: 'broken',
    ...(usage === undefined ? {} : { usage }),
    setup() {
      throw new Error('host said no');
    },
  });

  function run(module: Module) {
    const printed = warnings();
    const m = manifestOf([]);
    const guest = guestRam(2 ** 20);
    // Neither the failing module nor dumpcore's directory check reaches the platform.
    const ctx = setupContext(guest, m, new Hypercalls(guest), printed.warn);
    const error = thrown(() => setupModule(module, ctx, printed.warn));
    return { error, warnings: printed.list };
  }

  it('says which module failed and shows its usage', () => {
    const { error, warnings: printed } = run(failing('--broken=X (does things)'));
    expect(printed).toEqual(["Module `broken' setup failed"]);
    expect(error).toBeInstanceOf(HvtError);
    expect(error.message).toBe(
      'Please check you have correctly specified:\n    --broken=X (does things)',
    );
    expect((error.cause as Error).message).toBe('host said no');
  });

  it('says only that it failed when the module has no options', () => {
    const { error, warnings: printed } = run(failing());
    expect(printed).toEqual([]);
    expect(error.message).toBe("Module `broken' setup failed");
  });

  it("passes a module's own fatal message through", () => {
    const dumpcore = new DumpcoreModule();
    dumpcore.handleOption(`--dumpcore=${join(scratch.dir, 'missing')}`);
    const { error, warnings: printed } = run(dumpcore);
    expect(printed).toEqual([]);
    expect(error.message).toBe('dumpcore: cannot open dir');
  });
});

describe('sandbox policy', () => {
  it('merges what the modules keep using after setup', () => {
    const disk = join(scratch.dir, 'disk');
    writeFileSync(disk, new Uint8Array(1024));
    const m = manifestOf([{ name: 'storage', type: BLOCK }]);
    const waitSet = new WaitSet();
    const modules = [createCoreModule(waitSet), new BlockModule(), new NetModule()];
    const printed = warnings();
    secondPass([`--block:storage=${disk}`, 'k'], modules, optionContext(m, printed.warn));
    const guest = guestRam(2 ** 20);
    setUp(modules.slice(1), m, guest);
    const policy = sandboxPolicy(modules);
    const block = (modules[1] as BlockModule).attachedDevices()[0]!;
    expect(policy.fds).toEqual([
      { fd: CONSOLE_FD, kind: 'stdio', owner: 'core', what: 'console (PUTS)', ops: ['write'] },
      {
        fd: block.fd,
        kind: 'block',
        owner: 'block',
        what: `block 'storage': ${disk}`,
        ops: ['pread', 'pwrite'],
        size: 1024,
      },
    ]);
    expect(policy.clocks).toEqual(['realtime']);
    for (const module of modules) module.close?.();
  });
});

describe('hypervisor names in messages', () => {
  it('is KVM for the Linux platform, VMM for the BSDs', () => {
    const named = (name: string) => ({ name }) as Platform;
    expect(hypervisorName(named('linux-kvm'))).toBe('KVM');
    expect(hypervisorName(named('openbsd-vmm'))).toBe('VMM');
  });
});
