import type { GuestRam } from '../guest-abi.js';
import type { GuestMemory } from '../guest-memory.js';
import type { Arch, ExitKind, Vm } from '../platform.js';

/**
 * What differs between the guest architectures, as data for the one tender
 * (docs/architecture.md 2): the tables and the vCPU at the first instruction
 * (docs/guest-abi.md 5, 6), which exit carries a hypercall and how its number is
 * decoded (7.2), where the ring's kick lands (10.2), and how messages name the
 * program counter (13.2, 13.3). The run loop and the hypercall handlers are
 * the same for every architecture.
 */
export interface GuestArch {
  readonly name: Arch;
  /** Writes what the vCPU's paging needs (page tables; on x86_64 the GDT) for `allocated` bytes. */
  writeTables(memory: GuestMemory, allocated: number): void;
  /** Sets the vCPU up to start at `entry`; returns the cycle counter's frequency in Hz. */
  initVcpu(vm: Vm, entry: number, visibleSize: number): number;
  /** The exit kind hypercalls arrive as (port I/O or MMIO). */
  readonly hypercallExit: ExitKind;
  /** The hypercall number of such an exit (Vm.exit); throws the reference's message when it is none. */
  hypercallNumber(exit: Float64Array): number;
  /** The port or MMIO address whose 4-byte write kicks the ring (Vm.addIoEventFd). */
  readonly ringKick: number;
  /** The kick as people read it: `port 0x600`, `mmio 0x100000100`. */
  readonly ringKickText: string;
  /** `rip=0x…` or `pc=0x…`: the program counter as the reference's messages show it. */
  programCounter(vm: Vm): string;
  /** e_machine of the guest's executables and of its core files. */
  readonly elfMachine: number;
  /**
   * pr_reg of a core file's NT_PRSTATUS note (docs/guest-abi.md 11.4): the vCPU's
   * registers, with the faulting ones from the HALT cookie's trap frame at
   * `cookieGpa` when there is one (0: none).
   */
  coreRegisters(vm: Vm, guest: GuestRam, cookieGpa: number): readonly bigint[];
}
