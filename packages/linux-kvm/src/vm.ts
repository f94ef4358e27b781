import { closeSync } from 'node:fs';
import { getSystemErrorName } from 'node:util';
import { HvtError } from '@hvtjs/core';
import {
  type Aarch64Registers,
  type Aarch64VcpuState,
  aarch64,
  CHUNK_SIZE,
  type ExitKind,
  type GuestIo,
  GuestMemory,
  type IoctlRule,
  type NetRingSupport,
  type SandboxNeeds,
  type Vm,
  type VmDebug,
  type X86Registers,
  type X86VcpuState,
} from '@hvtjs/core/platform';
import { type FastPathPlan, RING_KICK_PORT } from '@hvtjs/core/tender';
import { checkMemSize, checkRange, residentPages } from '@hvtjs/posix-kit';
import { selectorsOf, vcpuDebug } from './debug.js';
import { kvmError, type MmapSite } from './errors.js';
import {
  isNativeError,
  type NativeFastPath,
  type NativeGuestMapping,
  type NativeKvm,
  type NativeVcpuFd,
  type NativeVmFd,
  native,
} from './native.js';
import { eventFdNetRing } from './net-ring.js';

export { PAGE_SIZE } from '@hvtjs/posix-kit';

/** The KVM API version every KVM since Linux 2.6.22 reports. */
const KVM_API_VERSION = 12;

export interface CreateVmOptions {
  /** The KVM device; tests point it elsewhere to provoke open() errors. */
  devicePath?: string;
}

/** How many elements `Vm.exit` has (ExitField's indices are 0..7). */
const EXIT_FIELDS = 8;

/** The arm64 build's aarch64 vCPU functions. */
function aarch64Addon(): NonNullable<typeof native.aarch64> {
  if (native.aarch64 === undefined) {
    throw new HvtError(`aarch64 vCPU state on a ${process.arch} host`);
  }
  return native.aarch64;
}

/**
 * Where the guest's ring kick lands: the port of a 4-byte OUT on x86_64, the
 * address of a 4-byte MMIO store on aarch64 (docs/guest-abi.md 10.2).
 */
const RING_KICK = (): number =>
  native.aarch64 !== undefined ? aarch64.RING_KICK_MMIO : RING_KICK_PORT;

/** Descriptor I/O into a guest mapping by guest-physical address (Vm.io). */
export function mappingIo(mapping: NativeGuestMapping): GuestIo {
  return {
    // The addon's methods themselves: no wrapper call on the exit path.
    pread: mapping.pread.bind(mapping),
    pwrite: mapping.pwrite.bind(mapping),
    read: mapping.read.bind(mapping),
    write: mapping.write.bind(mapping),
    // Linux's errno numbers are the ones Node names.
    errnoName: (errno) => getSystemErrorName(-errno),
  };
}

/** Guest RAM without a VM, as a VM has it: for tests, benchmarks and fuzzing. */
export interface MappedGuestRam {
  readonly memory: GuestMemory;
  readonly io: GuestIo;
  /** mprotect of [gpa, gpa+len) with Prot bits, as Vm.protect. */
  protect(gpa: number, len: number, prot: number): void;
  /** Frees the pages; the views then read zeros (see LinuxKvmVm). */
  release(): void;
  /** The fast path a VM's run() would use with `plan`, over this RAM: its serve() is run()'s. */
  fastPath(plan: FastPathPlan): NativeFastPath;
}

/** Maps `size` bytes of zeroed guest RAM (a multiple of the page size) with no VM around it. */
export function mapGuestRam(size: number): MappedGuestRam {
  const mapping = new native.GuestMapping(size);
  const memory = new GuestMemory(
    mapping.chunks(CHUNK_SIZE).map((buffer) => new Uint8Array(buffer)),
  );
  return {
    memory,
    io: mappingIo(mapping),
    protect: (gpa, len, prot) => mapping.protect(gpa, len, prot),
    release: () => mapping.release(),
    fastPath: (plan) => new native.FastPath(mapping, plan),
  };
}

/**
 * One single-vCPU KVM virtual machine with its guest RAM.
 *
 * Guest RAM is one anonymous shared mapping registered as memory slot 0 at GPA 0,
 * seen from JavaScript through external ArrayBuffers of at most CHUNK_SIZE bytes
 * (no copies). Lifetime: destroy() closes the vCPU, VM and KVM fds and frees the
 * guest's pages at once, but the views in `memory` stay valid to touch (they then
 * read zeros); the address range itself is unmapped only when the last view has
 * been garbage-collected, so no JavaScript access can ever hit unmapped memory.
 */
export class LinuxKvmVm implements Vm {
  readonly memory: GuestMemory;
  readonly exit = new Float64Array(EXIT_FIELDS);
  /** Block and net I/O straight into guest RAM: one addon call, one system call. */
  readonly io: GuestIo;
  /** Whether the host can signal eventfds on guest port writes (KVM_CAP_IOEVENTFD). */
  readonly ioEventFdSupported: boolean;
  /** The gdb module's access to the vCPU (x86_64 only). */
  readonly debug?: VmDebug;
  private destroyed = false;

  private constructor(
    private readonly kvm: NativeKvm,
    private readonly vmFd: NativeVmFd,
    private readonly vcpu: NativeVcpuFd,
    private readonly mapping: NativeGuestMapping,
    ioEventFdSupported: boolean,
  ) {
    this.ioEventFdSupported = ioEventFdSupported;
    this.vcpu.bindExit(this.exit);
    const chunks = mapping.chunks(CHUNK_SIZE).map((buffer) => new Uint8Array(buffer));
    this.memory = new GuestMemory(chunks);
    this.io = mappingIo(mapping);
    this.netRing = eventFdNetRing(mapping, (fd) => this.addIoEventFd(RING_KICK(), fd));
    if (native.guestDebug !== undefined) this.debug = vcpuDebug(vcpu, this.exit);
  }

  /**
   * Creates the VM, its vCPU 0 and `memSize` bytes of zeroed guest RAM, in the
   * reference's order (docs/guest-abi.md 13.1) so that the first failure reported is the
   * same. Failures are HvtErrors in the reference's words, with the addon's error
   * as `cause`.
   */
  static create(memSize: number, options: CreateVmOptions = {}): LinuxKvmVm {
    checkMemSize(memSize);
    const undo: (() => void)[] = [];
    let mmapSite: MmapSite = 'guest-memory';
    try {
      const kvm = new native.Kvm(options.devicePath ?? '/dev/kvm');
      undo.push(() => kvm.close());
      const version = kvm.apiVersion();
      if (version !== KVM_API_VERSION) {
        throw new HvtError(`KVM: API version is ${version}, solo5-hvt requires version 12`);
      }
      const vmFd = new native.VmFd(kvm.createVm(0));
      undo.push(() => vmFd.close());
      const vcpuFdNumber = vmFd.createVcpu(0);
      let mmapSize: number;
      try {
        mmapSize = kvm.vcpuMmapSize();
        if (mmapSize < native.kvmRunSize) {
          throw new HvtError(`KVM: invalid VCPU_MMAP_SIZE: ${mmapSize}`);
        }
      } catch (e) {
        closeSync(vcpuFdNumber);
        throw e;
      }
      mmapSite = 'vcpu';
      const vcpu = new native.VcpuFd(vcpuFdNumber, mmapSize);
      undo.push(() => vcpu.close());
      mmapSite = 'guest-memory';
      if (kvm.checkExtension(native.caps.USER_MEMORY) !== 1) {
        throw new HvtError('KVM: host does not support KVM_CAP_USER_MEMORY');
      }
      const mapping = new native.GuestMapping(memSize);
      undo.push(() => mapping.release());
      vmFd.setUserMemoryRegion(0, 0, 0, mapping, 0, memSize);
      const ioEventFd = kvm.checkExtension(native.caps.IOEVENTFD) > 0;
      return new LinuxKvmVm(kvm, vmFd, vcpu, mapping, ioEventFd);
    } catch (e) {
      for (const step of undo.reverse()) step();
      throw kvmError(e, mmapSite);
    }
  }

  protect(gpa: number, len: number, prot: number): void {
    checkRange('protect', gpa, len, this.memory.size);
    if (len === 0) return;
    try {
      this.mapping.protect(gpa, len, prot);
    } catch (e) {
      throw kvmError(e);
    }
  }

  /** run() serves what `plan` names natively from now on (fastpath.cc). */
  armFastPath(plan: FastPathPlan): void {
    this.vcpu.armFastPath(new native.FastPath(this.mapping, plan));
  }

  initVcpuX86(state: X86VcpuState): { tscHz: number } {
    if (process.arch !== 'x64') throw new HvtError(`x86_64 vCPU state on a ${process.arch} host`);
    try {
      this.vcpu.setCpuid2(this.kvm.supportedCpuid());
      this.vcpu.setSregs(state);
      if (this.kvm.checkExtension(native.caps.GET_TSC_KHZ) !== 1) {
        throw new HvtError('KVM: host does not support KVM_CAP_GET_TSC_KHZ');
      }
      let tscKhz: number;
      try {
        tscKhz = this.vcpu.tscKhz();
      } catch (e) {
        if (isNativeError(e) && e.code === 'EIO') {
          throw new HvtError('KVM: host TSC is unstable, cannot continue');
        }
        throw e;
      }
      this.vcpu.setRegs({ rip: state.rip, rsp: state.rsp, rdi: state.rdi, rflags: state.rflags });
      return { tscHz: tscKhz * 1000 };
    } catch (e) {
      throw kvmError(e);
    }
  }

  /**
   * The aarch64 vCPU (docs/guest-abi.md 6.2): created as the host prefers it, then
   * core's registers; the cycle frequency is the generic timer's.
   */
  initVcpuAarch64(state: Aarch64VcpuState): { counterHz: number } {
    const a = aarch64Addon();
    try {
      a.vcpuInit(this.vmFd.fd, this.vcpu.fd);
      a.setRegisters(this.vcpu.fd, { ...state });
      return { counterHz: a.counterFrequency() };
    } catch (e) {
      throw kvmError(e);
    }
  }

  getRegistersAarch64(): Aarch64Registers {
    try {
      return aarch64Addon().getRegisters(this.vcpu.fd);
    } catch (e) {
      throw kvmError(e);
    }
  }

  run(): ExitKind {
    try {
      return this.vcpu.run() as ExitKind;
    } catch (e) {
      throw kvmError(e);
    }
  }

  getRegistersX86(): X86Registers {
    try {
      const r = this.vcpu.getRegs();
      const s = this.vcpu.getSregs();
      return {
        ...r,
        ...selectorsOf(s),
        fsBase: s.fs.base,
        gsBase: s.gs.base,
      };
    } catch (e) {
      throw kvmError(e);
    }
  }

  /**
   * Ring I/O (docs/guest-abi.md 10): the kick is an eventfd registered with
   * KVM_IOEVENTFD for RING_KICK (a port, or an MMIO address on aarch64), which
   * the kernel signals on the guest's 4-byte write without an exit; start it on the thread that runs the vCPU (a
   * failure of the ring thread interrupts that one).
   */
  readonly netRing: NetRingSupport;

  /**
   * Makes a 4-byte guest write to `address` (an OUT to that port on x86_64,
   * a store to that MMIO address on aarch64) signal `eventfd` in the kernel,
   * with no exit. Throws the addon's error (`code`, `message` = strerror) so that the
   * caller can warn and fall back: ENOSYS when the host lacks KVM_CAP_IOEVENTFD.
   */
  addIoEventFd(address: number, eventfd: number): void {
    // A port on x86_64; on aarch64 (MMIO) any guest-physical address.
    const mmio = native.aarch64 !== undefined;
    if (!Number.isSafeInteger(address) || address < 0 || (!mmio && address > 0xffff)) {
      throw new RangeError(`bad ${mmio ? 'address' : 'port'} ${address}`);
    }
    if (!this.ioEventFdSupported) {
      throw Object.assign(new Error('Function not implemented'), {
        code: 'ENOSYS',
        errno: 38,
        syscall: 'ioctl',
        request: 'KVM_IOEVENTFD',
      });
    }
    this.vmFd.ioeventfd(address, 4, eventfd, mmio ? 0 : native.ioeventfdFlagPio);
  }

  residentPages(gpa: number, len: number): Uint8Array | undefined {
    return residentPages(gpa, len, this.memory.size, (g, l) => this.mapping.resident(g, l));
  }

  /**
   * Does now what KVM does on a vCPU's first run, which may start a worker
   * task in this process (Linux 6.13 on): the sandbox forbids that later.
   */
  prepareSandbox(): void {
    try {
      this.vcpu.firstRun();
    } catch (e) {
      throw kvmError(e);
    }
  }

  /**
   * After the drop the run loop issues KVM_RUN, and reads the registers back
   * for its error messages and for dumpcore (x86_64: KVM_GET_REGS and
   * KVM_GET_SREGS, aarch64: KVM_GET_ONE_REG); the VM and
   * /dev/kvm fds stay open, unused, until destroy().
   */
  sandboxNeeds(): SandboxNeeds {
    const requests = native.vcpuIoctls;
    const ioctls: IoctlRule[] = [{ name: 'KVM_RUN', request: requests.KVM_RUN }];
    if (requests.KVM_GET_REGS !== undefined) {
      ioctls.push({ name: 'KVM_GET_REGS', request: requests.KVM_GET_REGS });
    }
    if (requests.KVM_GET_SREGS !== undefined) {
      ioctls.push({ name: 'KVM_GET_SREGS', request: requests.KVM_GET_SREGS });
    }
    if (requests.KVM_GET_ONE_REG !== undefined) {
      ioctls.push({ name: 'KVM_GET_ONE_REG', request: requests.KVM_GET_ONE_REG });
    }
    return {
      fds: [
        {
          fd: this.vcpu.fd,
          kind: 'vcpu',
          owner: 'platform',
          what: 'vCPU 0',
          ops: ['ioctl'],
          ioctls,
        },
        { fd: this.vmFd.fd, kind: 'vm', owner: 'platform', what: 'the KVM VM', ops: [] },
        { fd: this.kvm.fd, kind: 'hypervisor', owner: 'platform', what: '/dev/kvm', ops: [] },
      ],
    };
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    // KVM lets go of guest RAM only once the VM is gone, so RAM goes last.
    this.vcpu.close();
    this.vmFd.close();
    this.kvm.close();
    this.mapping.release();
  }
}
