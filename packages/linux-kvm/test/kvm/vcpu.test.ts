import { closeSync, readSync } from 'node:fs';
import { HvtError } from '@hvtjs/core';
import { ExitField, ExitKind, Prot } from '@hvtjs/core/platform';
import { HvtHcWalltime } from '@hvtjs/core/tender';
import { afterEach, describe, expect, it } from 'vitest';
import { createEventFd, type LinuxKvmVm, linuxKvmPlatform } from '../../src/index.js';
import { bootGuest, CODE_BASE } from '../fixtures/long-mode.mjs';
import { signalChild } from '../fixtures/signal-child.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const KVM_EXIT_HLT = 5;
const KVM_EXIT_MMIO = 6;
const KVM_EXIT_SHUTDOWN = 8;
const KVM_EXIT_INTERNAL_ERROR = 17;
const KVM_INTERNAL_ERROR_EMULATION = 1;

// Hand-assembled x86_64 instructions.
const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const movEax = (v: number) => [0xb8, ...le32(v)];
const movDx = (port: number) => [0x66, 0xba, port & 0xff, port >>> 8];
/** mov rax, imm64 (here below 2^53) */
const movRax = (v: number) => [0x48, 0xb8, ...le32(v % 2 ** 32), ...le32(Math.floor(v / 2 ** 32))];
/** mov eax, [addr] (32-bit absolute address) */
const movEaxFromAbs = (addr: number) => [0x8b, 0x04, 0x25, ...le32(addr)];
/** mov dword [addr], imm (32-bit absolute address) */
const movAbsImm = (addr: number, imm: number) => [0xc7, 0x04, 0x25, ...le32(addr), ...le32(imm)];
/** mov dword [rax], imm */
const movAtRaxImm = (imm: number) => [0xc7, 0x00, ...le32(imm)];
const MOV_ECX_FROM_RAX = [0x8b, 0x08];
const XOR_EAX_EAX = [0x31, 0xc0];
const UD2 = [0x0f, 0x0b];
const OUT_DX_AL = 0xee;
const OUT_DX_AX = [0x66, 0xef];
const IN_AL_DX = 0xec;
const OUT_DX_EAX = 0xef;
const HLT = 0xf4;

let vms: LinuxKvmVm[] = [];
function boot(memSize: number, code: number[]): LinuxKvmVm {
  const { vm, tscHz } = bootGuest(linuxKvmPlatform, memSize, code);
  expect(tscHz).toBeGreaterThan(0);
  vms.push(vm);
  return vm;
}
afterEach(() => {
  for (const vm of vms) vm.destroy();
  vms = [];
});

describe('vCPU runs', () => {
  it('exits on a 32-bit OUT with port, size, direction and value, then on HLT', () => {
    const vm = boot(4 * MiB, [...movEax(0x12345678), ...movDx(0x501), OUT_DX_EAX, HLT]);
    expect(vm.run()).toBe(ExitKind.IO);
    expect(vm.exit[ExitField.PORT]).toBe(0x501);
    expect(vm.exit[ExitField.SIZE]).toBe(4);
    expect(vm.exit[ExitField.DIRECTION]).toBe(1);
    expect(vm.exit[ExitField.VALUE]).toBe(0x12345678);
    // Where rip points at this exit differs between backends (KVM with SVM
    // completes the OUT on the next KVM_RUN; PVM already has): only rax is fixed.
    expect(vm.getRegistersX86().rax).toBe(0x12345678n);

    expect(vm.run()).toBe(ExitKind.OTHER);
    expect(vm.exit[ExitField.REASON]).toBe(KVM_EXIT_HLT);
    expect(vm.getRegistersX86().rip).toBe(BigInt(CODE_BASE + 11));
  });

  it('starts in the reference initial state', () => {
    const memSize = 8 * MiB;
    const vm = boot(memSize, [...movDx(0x501), OUT_DX_EAX, HLT]);
    expect(vm.run()).toBe(ExitKind.IO);
    const regs = vm.getRegistersX86();
    expect(regs).toMatchObject({
      rdi: 0x10000n,
      rsp: BigInt(memSize - 8),
      rflags: 0x2n,
      rax: 0n,
      rbx: 0n,
      r15: 0n,
      cs: 0x08,
      ss: 0x10,
      ds: 0x10,
      es: 0x10,
      fs: 0x10,
      gs: 0x10,
      fsBase: 0n,
      gsBase: 0n,
    });
  });

  it('reports only the bytes the access size covers, and IN as direction 0', () => {
    const vm = boot(4 * MiB, [
      ...movDx(0x510),
      ...movEax(0x11223344),
      OUT_DX_AL,
      ...OUT_DX_AX,
      IN_AL_DX,
      HLT,
    ]);
    expect(vm.run()).toBe(ExitKind.IO);
    expect([vm.exit[ExitField.SIZE], vm.exit[ExitField.VALUE]]).toEqual([1, 0x44]);
    expect(vm.run()).toBe(ExitKind.IO);
    expect([vm.exit[ExitField.SIZE], vm.exit[ExitField.VALUE]]).toEqual([2, 0x3344]);
    expect(vm.run()).toBe(ExitKind.IO);
    expect(vm.exit[ExitField.PORT]).toBe(0x510);
    expect(vm.exit[ExitField.DIRECTION]).toBe(0);
    expect(vm.exit[ExitField.SIZE]).toBe(1);
  });

  // docs/guest-abi.md 3.4 expects KVM_RUN to fail with EFAULT here (TRANSLATION_FAULT).
  // Some kernels instead map the page read-only and emulate the write as MMIO
  // (seen on 6.18 with shadow paging): the exit then names the address. Either
  // way the run stops at the write and guest RAM keeps its bytes.
  it('stops a guest write to a host read-only page', () => {
    const vm = boot(4 * MiB, [
      ...movEaxFromAbs(0x200000),
      ...movDx(0x501),
      OUT_DX_EAX,
      ...movAbsImm(0x200000, 0x12345678),
      HLT,
    ]);
    vm.memory.writeU32(0x200000, 0xcafebabe);
    // Guest text is read-only on the host, as the tender sets it; it still runs.
    vm.protect(CODE_BASE, 4096, Prot.READ);
    vm.protect(0x200000, 4096, Prot.READ);
    expect(vm.run()).toBe(ExitKind.IO);
    expect(vm.exit[ExitField.VALUE]).toBe(0xcafebabe);
    const kind = vm.run();
    if (kind === ExitKind.TRANSLATION_FAULT) {
      expect(vm.exit[ExitField.ERRNO]).toBe(14);
      expect(vm.getRegistersX86().rip).toBe(BigInt(CODE_BASE + 12));
    } else {
      expect(kind).toBe(ExitKind.MMIO);
      expect(vm.exit[ExitField.REASON]).toBe(KVM_EXIT_MMIO);
      expect(vm.exit[ExitField.ADDRESS]).toBe(0x200000);
      expect(vm.exit[ExitField.SIZE]).toBe(4);
      expect(vm.exit[ExitField.DIRECTION]).toBe(1);
      expect(vm.exit[ExitField.VALUE]).toBe(0x12345678);
    }
    expect(vm.memory.readU32(0x200000)).toBe(0xcafebabe);
  });

  // Without host access KVM cannot fetch the instruction: EFAULT on kernels
  // that report it, an emulation failure (internal error, suberror 1) on others.
  it('stops a guest executing from a host page without access', () => {
    const vm = boot(4 * MiB, [HLT]);
    vm.protect(CODE_BASE, 4096, Prot.NONE);
    const kind = vm.run();
    if (kind === ExitKind.TRANSLATION_FAULT) {
      expect(vm.exit[ExitField.ERRNO]).toBe(14);
    } else {
      expect(kind).toBe(ExitKind.INTERNAL_ERROR);
      expect(vm.exit[ExitField.REASON]).toBe(KVM_EXIT_INTERNAL_ERROR);
      expect(vm.exit[ExitField.DETAIL]).toBe(KVM_INTERNAL_ERROR_EMULATION);
    }
    expect(vm.getRegistersX86().rip).toBe(BigInt(CODE_BASE));
  });

  it('exits with SHUTDOWN on a triple fault (no IDT)', () => {
    const vm = boot(4 * MiB, UD2);
    expect(vm.run()).toBe(ExitKind.OTHER);
    expect(vm.exit[ExitField.REASON]).toBe(KVM_EXIT_SHUTDOWN);
  });

  it('shares 4 GiB of guest RAM with JavaScript through four views', () => {
    const vm = boot(4 * GiB, [
      ...movRax(0xc0001000),
      ...movAtRaxImm(0x600df00d),
      ...movRax(0xf0000000),
      ...MOV_ECX_FROM_RAX,
      HLT,
    ]);
    expect(vm.memory.chunks.map((c) => c.byteLength)).toEqual([GiB, GiB, GiB, GiB]);
    vm.memory.writeU32(0xf0000000, 0x5eed1234);
    expect(vm.run()).toBe(ExitKind.OTHER);
    expect(vm.exit[ExitField.REASON]).toBe(KVM_EXIT_HLT);
    expect(vm.memory.readU32(0xc0001000)).toBe(0x600df00d);
    expect(vm.getRegistersX86().rcx).toBe(0x5eed1234n);
  });

  it('reports the pages the guest touched as resident', () => {
    const vm = boot(8 * MiB, [...movAbsImm(0x300000, 1), HLT]);
    expect(vm.residentPages(0x300000, 4096)).toEqual(Uint8Array.of(0));
    expect(vm.run()).toBe(ExitKind.OTHER);
    expect(vm.residentPages(0x300000, 4096)).toEqual(Uint8Array.of(1));
    expect(vm.residentPages(0x600000, 2 * 4096)).toEqual(Uint8Array.of(0, 0));
    expect(vm.residentPages(0, 8 * MiB)?.length).toBe(2048);
  });

  it('signals an ioeventfd on OUT to its port without an exit', () => {
    const vm = boot(4 * MiB, [
      ...XOR_EAX_EAX,
      ...movDx(0x600),
      OUT_DX_EAX,
      ...movDx(0x501),
      OUT_DX_EAX,
      HLT,
    ]);
    expect(vm.ioEventFdSupported).toBe(true);
    const eventfd = createEventFd(true);
    try {
      vm.addIoEventFd(0x600, eventfd);
      expect(vm.run()).toBe(ExitKind.IO);
      expect(vm.exit[ExitField.PORT]).toBe(0x501);
      const counter = Buffer.alloc(8);
      expect(readSync(eventfd, counter)).toBe(8);
      expect(counter.readBigUInt64LE()).toBe(1n);
    } finally {
      closeSync(eventfd);
    }
  });

  it('serves the hypercalls of an armed fast path without returning, and returns the rest', () => {
    // 1000 WALLTIMEs with the struct at 0x300000, one with it past the
    // visible size, then POLL (never served natively).
    const vm = boot(4 * MiB, [
      ...[0xb9, ...le32(1000)], // mov ecx, 1000
      ...movEax(0x300000),
      ...movDx(0x501),
      OUT_DX_EAX,
      ...[0xff, 0xc9], // dec ecx
      ...[0x75, 0xf2], // jnz back to mov eax
      ...movEax(0x3ff000),
      OUT_DX_EAX,
      ...movEax(0x300100),
      ...movDx(0x503),
      OUT_DX_EAX,
      HLT,
    ]);
    vm.armFastPath({
      portBase: 0x500,
      visibleSize: 0x3ff000,
      restricted: [],
      calls: [undefined, { kind: 'walltime', layout: HvtHcWalltime }],
    });
    const before = BigInt(Date.now() - 1000) * 1_000_000n;
    expect(vm.run()).toBe(ExitKind.IO);
    expect([vm.exit[ExitField.PORT], vm.exit[ExitField.VALUE]]).toEqual([0x501, 0x3ff000]);
    expect(vm.getRegistersX86().rcx).toBe(0n);
    expect(vm.memory.readU64Big(0x300000)).toBeGreaterThan(before);
    expect(vm.run()).toBe(ExitKind.IO);
    expect([vm.exit[ExitField.PORT], vm.exit[ExitField.VALUE]]).toEqual([0x503, 0x300100]);
  });

  it('destroys idempotently and fails cleanly when used afterwards', () => {
    const vm = boot(4 * MiB, [HLT]);
    vm.memory.writeU32(0x300000, 42);
    vm.destroy();
    vm.destroy();
    let error: unknown;
    try {
      vm.run();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(HvtError);
    expect((error as HvtError).message).toBe('KVM: ioctl (RUN) failed: Bad file descriptor');
    // The views outlive the VM without crashing: the memory is gone, zeros remain.
    expect(vm.memory.readU32(0x300000)).toBe(0);
    vm.memory.writeU32(CODE_BASE, 1);
  });

  it('ends a spinning guest with SIGNAL 15 on SIGTERM', async () => {
    const { report, code, stderr } = await signalChild('run', 'SIGTERM');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(report).toEqual({ kind: ExitKind.SIGNAL, signal: 15, pending: 15 });
  });

  it('ends with SIGNAL 15 on SIGTERM while the fast path serves every exit', async () => {
    const { report, code, stderr } = await signalChild('fast-run', 'SIGTERM');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(report).toEqual({ kind: ExitKind.SIGNAL, signal: 15, pending: 15, served: 1 });
  });

  it('ends a spinning guest with SIGNAL 2 on SIGINT', async () => {
    const { report, code } = await signalChild('run', 'SIGINT');
    expect(code).toBe(0);
    expect(report).toEqual({ kind: ExitKind.SIGNAL, signal: 2, pending: 2 });
  });
});
