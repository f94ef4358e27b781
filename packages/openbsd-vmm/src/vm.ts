import { HvtError } from '@hvtjs/core';
import {
  ExitField,
  ExitKind,
  type SandboxNeeds,
  type Vm,
  type X86Registers,
  type X86VcpuState,
} from '@hvtjs/core/platform';
import { checkMemSize, defaultVmName, PosixVm, stderrWarn, vmFdRules } from '@hvtjs/posix-kit';
import {
  chooseOpenbsdRelease,
  decodeRegisters,
  ExitReason,
  encodeRegState,
  OPENBSD_EXIT_FIELDS,
  OPENBSD_RELEASES,
  openbsdIoctl,
  openbsdIoctlTable,
  type ReleaseAbi,
} from './abi.js';
import { vmmError } from './errors.js';
import { type NativeVm, native } from './native.js';

export { PAGE_SIZE } from '@hvtjs/posix-kit';

export interface CreateVmOptions {
  /** The VM's name (default `solo5-<pid>`, with `-<n>` for later VMs of this process). */
  name?: string;
  /** kern.osrelease to select the ABI for (default: the running kernel's). */
  osrelease?: string;
  /** Where the one-line warning for an untested release goes (default: stderr). */
  warn?: (text: string) => void;
}

/**
 * What a VM needs once pledged: VMM_IOC_RUN, VMM_IOC_READREGS for error
 * reports and core dumps, VMM_IOC_TERM to end it, and the terminator channel.
 * (pledge's "vmm" promise allows all three; the list documents which are used.)
 */
export function vmSandboxNeeds(vm: {
  name: string;
  abi: ReleaseAbi;
  vmFd: number;
  terminatorFd: number;
}): SandboxNeeds {
  const fds = vmFdRules({
    fd: vm.vmFd,
    what: `/dev/vmm (VM ${vm.name})`,
    ioctls: ['VMM_IOC_RUN', 'VMM_IOC_READREGS', 'VMM_IOC_TERM'],
    request: (name) => openbsdIoctl(name, vm.abi),
    helperFd: vm.terminatorFd,
    helper: 'channel to the VM terminator process',
  });
  return { fds };
}

/** The reference's message for an exit run() returned as OTHER (docs/guest-abi.md 13.5). */
export function describeOpenBsdExit(reason: number): string {
  if (reason === ExitReason.VMX_TRIPLE_FAULT || reason === ExitReason.SVM_SHUTDOWN)
    return 'Triple Fault';
  return `unhandled exit: unknown exit reason 0x${reason.toString(16)}`;
}

/**
 * The layout a VM on `osrelease` gets: HvtError before 7.4; for a release
 * newer than the newest known one, that one's with a one-line warning.
 */
export function openbsdAbiFor(
  osrelease: string,
  warn: (text: string) => void = stderrWarn('openbsd-vmm'),
): ReleaseAbi {
  const choice = chooseOpenbsdRelease(osrelease);
  if (choice === undefined) {
    const known = OPENBSD_RELEASES.map((r) => r.release).join(', ');
    throw new HvtError(
      `OpenBSD ${osrelease} is not supported (vmm(4) layouts are known for ${known})`,
    );
  }
  if (choice.untested) {
    warn(`OpenBSD ${osrelease.trim()} is untested; using the ${choice.abi.release} vmm layout`);
  }
  return choice.abi;
}

/**
 * One single-vCPU vmm(4) VM with its guest RAM (docs/guest-abi.md 13.5).
 *
 * A terminator process forked at creation ends the VM (VMM_IOC_TERM) when
 * asked (destroy()) or as soon as this process is gone, however it ends:
 * closing /dev/vmm or exiting does not tear a VM down. On 7.7 and older guest
 * RAM is our own anonymous mapping; from 7.8 it is the kernel's, immutable,
 * so protect() cannot change it there (vmm manages the guest side itself).
 */
export class OpenBsdVm extends PosixVm<NativeVm> implements Vm {
  /** vcp_id: how vmm(4) names this VM (kept after destroy(), for checks). */
  readonly vmId: number;

  private constructor(
    name: string,
    readonly abi: ReleaseAbi,
    vm: NativeVm,
  ) {
    super(name, vm, OPENBSD_EXIT_FIELDS, native);
    this.vmId = vm.id;
  }

  protected vmmError(e: unknown): unknown {
    return vmmError(e);
  }

  /** 7.8+: guest memory is the kernel's immutable mapping, so protect() does nothing. */
  protected override fixedProtection(): boolean {
    return this.vm.kernelMemory;
  }

  static create(memSize: number, options: CreateVmOptions = {}): OpenBsdVm {
    checkMemSize(memSize);
    if (typeof process.geteuid === 'function' && process.geteuid() !== 0) {
      throw new HvtError('need root privileges');
    }
    const addon = native();
    const osrelease = options.osrelease ?? addon.osrelease();
    const abi = openbsdAbiFor(osrelease, options.warn);
    const index = OPENBSD_RELEASES.indexOf(abi);
    // The binary must issue the numbers of the tables the tests checked.
    const native_ = addon.releaseTable()[index];
    const expected = openbsdIoctlTable(abi);
    if (
      native_?.release !== abi.release ||
      JSON.stringify(native_.ioctls) !== JSON.stringify(expected)
    ) {
      throw new Error(
        `addon ioctl table for ${abi.release} differs from src/abi.ts (rebuild the addon)`,
      );
    }
    const name = options.name ?? defaultVmName();
    let vm: NativeVm;
    try {
      vm = new addon.Vm(index, name, memSize);
    } catch (e) {
      throw vmmError(e);
    }
    return new OpenBsdVm(name, abi, vm);
  }

  initVcpuX86(state: X86VcpuState): { tscHz: number } {
    try {
      const tsc = native().tsc();
      if (!tsc.invariant) throw new HvtError('Host TSC is not invariant, cannot continue');
      this.vm.resetCpu(encodeRegState(state, this.abi));
      return { tscHz: tsc.hz };
    } catch (e) {
      throw vmmError(e);
    }
  }

  getRegistersX86(): X86Registers {
    try {
      return decodeRegisters(this.vm.readRegs(), this.abi);
    } catch (e) {
      throw vmmError(e);
    }
  }

  sandboxNeeds(): SandboxNeeds {
    return vmSandboxNeeds({
      name: this.name,
      abi: this.abi,
      vmFd: this.vm.fd,
      terminatorFd: this.vm.terminatorFd,
    });
  }

  describeExit(kind: ExitKind): string | undefined {
    return kind === ExitKind.OTHER ? describeOpenBsdExit(this.exit[ExitField.REASON]!) : undefined;
  }
}
