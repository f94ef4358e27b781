import { initialVcpuState, type Vm, writePageTablesAndGdt } from '@hvtjs/core/platform';

/**
 * For the platforms' host tests: a guest of a few instructions in long mode,
 * set up with core's own page tables, GDT and initial vCPU state, enough to
 * exercise a run loop without building a unikernel.
 */

export const MEM_SIZE = 32 * 1024 * 1024;
export const ENTRY = 0x100000;
export const DATA_GPA = 0x200000;

const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const movEax = (v: number) => [0xb8, ...le32(v)];
const movEdx = (v: number) => [0xba, ...le32(v)];
const OUT_DX_EAX = [0xef];
const storeEax = (gpa: number) => [0x89, 0x04, 0x25, ...le32(gpa)];

/**
 * Stores a marker at DATA_GPA, OUTs to 0x505, OUTs to `kickPort` when given
 * (the ring's kick), OUTs to 0x508, then HLT with IF=0.
 */
export function ioProgram(kickPort?: number): readonly number[] {
  return [
    ...movEax(0x12345678),
    ...storeEax(DATA_GPA),
    ...movEdx(0x505),
    ...OUT_DX_EAX,
    ...(kickPort === undefined ? [] : [...movEdx(kickPort), ...OUT_DX_EAX]),
    ...movEdx(0x508),
    ...OUT_DX_EAX,
    0xf4,
    0xeb,
    0xfe,
  ];
}

/** Spins forever: only a signal ends its run. */
export const SPIN_PROGRAM: readonly number[] = [0xeb, 0xfe];

export function loadGuest(vm: Vm, program: readonly number[]): { tscHz: number } {
  writePageTablesAndGdt(vm.memory, MEM_SIZE);
  vm.memory.write(ENTRY, Uint8Array.from(program));
  return vm.initVcpuX86(initialVcpuState(ENTRY, MEM_SIZE));
}
