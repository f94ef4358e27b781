import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { HvtError } from '@hvtjs/core';
import { ExitField, ExitKind } from '@hvtjs/core/platform';
import {
  describeRingOnHost,
  describeVmNeverOutlivesTender,
  expectMarkerOut,
  waitUntil,
} from '@hvtjs/posix-kit/host-tests';
import { afterEach, describe, expect, it } from 'vitest';
import { ExitReason, openbsdRelease } from '../../src/abi.js';
import { OpenBsdVm, openNet, vmExists } from '../../src/index.js';
import { native } from '../../src/native.js';
import { DATA_GPA, IO_PROGRAM, loadGuest, MEM_SIZE } from './fixtures/guest.mjs';

/**
 * Real vmm(4): OpenBSD 7.4+ as root on a CPU vmm(4) attaches to, built with
 * `pnpm build` (the child processes load dist/). CI: .github/workflows/openbsd.yml.
 */

const fixtures = join(import.meta.dirname, 'fixtures');

const live: OpenBsdVm[] = [];
afterEach(() => {
  for (const vm of live.splice(0)) vm.destroy();
});
function create(): OpenBsdVm {
  const vm = OpenBsdVm.create(MEM_SIZE);
  live.push(vm);
  return vm;
}

describe('vmm(4) VM lifecycle', () => {
  it('selects the layouts of the running release', () => {
    const vm = create();
    expect(vm.abi).toBe(openbsdRelease(native().osrelease()));
    expect(vmExists(vm.vmId)).toBe(true);
  });

  it('runs a guest: OUT exits with port, size and value, RIP moved past each OUT', () => {
    const vm = create();
    const { tscHz } = loadGuest(vm, IO_PROGRAM);
    expect(tscHz).toBeGreaterThan(0);

    expectMarkerOut(vm, DATA_GPA);

    // Without the 7.5+ fix-up the guest would execute the same OUT again.
    expect(vm.run()).toBe(ExitKind.IO);
    expect(vm.exit[ExitField.PORT]).toBe(0x508);

    // HLT with interrupts off leaves the vCPU in a terminal state or exits as HLT.
    expect(vm.run()).toBe(ExitKind.OTHER);
    expect([ExitReason.TERMINATED, ExitReason.VMX_HLT, ExitReason.SVM_HLT]).toContain(
      vm.exit[ExitField.REASON],
    );
    expect(vm.describeExit(ExitKind.OTHER)).toMatch(/^unhandled exit: unknown exit reason 0x/);
  });

  it('destroy() terminates the VM and leaves the memory views readable', () => {
    const vm = create();
    vm.memory.writeU32(DATA_GPA, 0xfeedface);
    vm.destroy();
    expect(vmExists(vm.vmId)).toBe(false);
    expect(vm.memory.readU32(DATA_GPA)).toBe(0xfeedface);
    expect(() => vm.run()).toThrow(HvtError);
  });

  it('refuses releases it has no layouts for', () => {
    expect(() => OpenBsdVm.create(MEM_SIZE, { osrelease: '7.3' })).toThrow(
      /OpenBSD 7.3 is not supported/,
    );
  });

  it('refuses tap names that are too long or leave /dev', () => {
    expect(() => openNet('tapdoesnotexist0')).toThrow(
      expect.objectContaining({ code: 'ENAMETOOLONG' }),
    );
    expect(() => openNet('../null')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});

describeRingOnHost(() => create());

describeVmNeverOutlivesTender({
  fixtures,
  exists: (id) => vmExists(Number(id)),
  endedBy: 'terminated by the terminator process',
});

describe('chroot, setresuid, pledge', () => {
  it('keep the run loop, register reads, Node and VM termination working', () => {
    const child = spawnSync(process.execPath, [join(fixtures, 'pledge-child.mjs')], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const result = JSON.parse(child.stdout.trim().split('\n').pop()!);
    expect(result.pledge).toBe('pledge("stdio vmm prot_exec", NULL)');
    expect(result.uid).not.toBe(0);
    expect(result.cwd).toBe('/');
    expect(result.firstExit).toEqual({ kind: ExitKind.IO, port: 0x505, value: 0x12345678 });
    expect(result.marker).toBe(0x12345678);
    expect(result.secondExit).toEqual({ kind: ExitKind.IO, port: 0x508 });
    expect(result.allocated).toBe(2000);
    expect(result.destroyed).toBe(true);
    expect(vmExists(result.id)).toBe(false);
  });

  it('kill the tender that opens a file afterwards, and the VM still goes', async () => {
    const child = spawnSync(process.execPath, [join(fixtures, 'violation-child.mjs')], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(child.signal).toBe('SIGABRT');
    const lines = child.stdout.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(await waitUntil(() => !vmExists(Number(lines[0])))).toBe(true);
  });
});
