import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HvtError } from '@hvtjs/core';
import { ExitField, ExitKind } from '@hvtjs/core/platform';
import {
  describeRingOnHost,
  describeVmNeverOutlivesTender,
  expectMarkerOut,
} from '@hvtjs/posix-kit/host-tests';
import { afterEach, describe, expect, it } from 'vitest';
import { VmExitCode } from '../../src/abi.js';
import { FreeBsdVm, freebsdVmmPlatform, openNet } from '../../src/index.js';
import { native } from '../../src/native.js';
import { DATA_GPA, IO_PROGRAM, loadGuest, MEM_SIZE } from './fixtures/guest.mjs';

/**
 * Real vmm(4): FreeBSD 13+ as root with vmm.ko loaded, built with `pnpm build`
 * (the child processes load dist/). CI: .github/workflows/freebsd.yml.
 */

const fixtures = join(import.meta.dirname, 'fixtures');
const vmExists = (name: string) => existsSync(`/dev/vmm/${name}`);

const live: FreeBsdVm[] = [];
afterEach(() => {
  for (const vm of live.splice(0)) vm.destroy();
});
function create(options = {}): FreeBsdVm {
  const vm = FreeBsdVm.create(MEM_SIZE, options);
  live.push(vm);
  return vm;
}

describe('vmm(4) VM lifecycle', () => {
  it('selects the ABI of the running kernel', () => {
    const vm = create();
    const osreldate = native().osreldate();
    expect(vm.line).toBe(osreldate >= 1500000 ? 15 : osreldate >= 1400000 ? 14 : 13);
    expect(vmExists(vm.name)).toBe(true);
  });

  it('runs a guest: OUT exits with port, size and value', () => {
    const vm = create();
    const { tscHz } = loadGuest(vm, IO_PROGRAM);
    expect(tscHz).toBeGreaterThan(0);

    expectMarkerOut(vm, DATA_GPA);

    expect(vm.run()).toBe(ExitKind.IO);
    expect(vm.exit[ExitField.PORT]).toBe(0x508);

    // HLT with interrupts off: vmm suspends the VM (halt detection).
    expect(vm.run()).toBe(ExitKind.OTHER);
    expect(vm.exit[ExitField.REASON]).toBe(VmExitCode.SUSPENDED);
    expect(vm.describeExit(ExitKind.OTHER)).toMatch(
      /^unhandled exit: exitcode=14, rip=0x1000..* \(suspended: HALT\)$/,
    );
    expect(vm.getRegistersX86().cs).toBe(8);
  });

  it('destroy() removes the VM and leaves the memory views readable', () => {
    const vm = create();
    vm.memory.writeU32(DATA_GPA, 0xfeedface);
    vm.destroy();
    expect(vmExists(vm.name)).toBe(false);
    expect(vm.memory.readU32(DATA_GPA)).toBe(0xfeedface);
    vm.destroy();
    expect(() => vm.run()).toThrow(HvtError);
  });

  it('reports a name clash in the reference words with what to do', () => {
    const first = create();
    expect(() => create({ name: first.name })).toThrow(
      /^Cannot create VM 'solo5-.*': File exists\n/,
    );
  });

  it('refuses releases before 13.0', () => {
    expect(() => FreeBsdVm.create(MEM_SIZE, { osreldate: 1203000 })).toThrow(
      /FreeBSD 12 is not supported/,
    );
  });

  it('refuses tap names that are too long or leave /dev', () => {
    expect(() => openNet('tapdoesnotexist0')).toThrow(
      expect.objectContaining({ code: 'ENAMETOOLONG' }),
    );
    expect(() => openNet('../null')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('the platform object carries the contract and the sandbox', () => {
    expect(freebsdVmmPlatform.name).toBe('freebsd-vmm');
    expect(typeof freebsdVmmPlatform.dropPrivileges).toBe('function');
  });
});

describeRingOnHost(() => create());

describeVmNeverOutlivesTender({
  fixtures,
  exists: vmExists,
  endedBy: 'destroyed by the destroyer process',
});

describe('Capsicum', () => {
  it('limits the fds, enters capability mode, keeps the run loop and Node working, still destroys the VM', () => {
    const child = spawnSync(process.execPath, [join(fixtures, 'capsicum-child.mjs')], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const result = JSON.parse(child.stdout.trim().split('\n').pop()!);
    expect(result.capMode).toBe(true);
    expect(result.openFile).toBe('ECAPMODE');
    expect(result.firstExit).toEqual({ kind: result.ioKind, port: 0x505, value: 0x12345678 });
    expect(result.marker).toBe(0x12345678);
    expect(result.setRegister).toBe('ENOTCAPABLE');
    expect(result.allocated).toBe(2000);
    expect(result.destroyed).toBe(true);
    expect(vmExists(result.name)).toBe(false);
  });
});
