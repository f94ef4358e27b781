import { closeSync } from 'node:fs';
import { HvtError } from '@hvtjs/core';
import {
  ExitField,
  ExitKind,
  type GuestDebugRequest,
  type IoctlRule,
  type SandboxNeeds,
  type TcpConnection,
  type TcpListener,
  type VmDebug,
  type X86DebugState,
} from '@hvtjs/core/platform';
import { kvmError } from './errors.js';
import { isNativeError, type NativeSregsOut, type NativeVcpuFd, native } from './native.js';

/**
 * The gdb module's mechanism on Linux KVM x86_64 (docs/guest-abi.md 11.5):
 * the vCPU's debug ioctls and the debugger's TCP connection. Every decision
 * (which breakpoints, what DR7 holds, what to tell the debugger) is core's.
 */

/** KVM_EXIT_HLT: the guest executed HLT. */
const KVM_EXIT_HLT = 5;

/** The segment selectors of a KVM_GET_SREGS result. */
export function selectorsOf(s: NativeSregsOut): X86DebugState['selectors'] {
  const { cs, ss, ds, es, fs, gs } = s;
  return {
    cs: cs.selector,
    ss: ss.selector,
    ds: ds.selector,
    es: es.selector,
    fs: fs.selector,
    gs: gs.selector,
  };
}

/** The KVM_SET_GUEST_DEBUG control word and debug registers for a request. */
export function guestDebugArgs(request: GuestDebugRequest): {
  control: number;
  debugreg: BigUint64Array;
} {
  const flags = native.guestDebugFlags!;
  let control = 0;
  if (request.singleStep) control |= flags.ENABLE | flags.SINGLESTEP;
  if (request.softwareBreakpoints) control |= flags.ENABLE | flags.USE_SW_BP;
  const debugreg = new BigUint64Array(8);
  if (request.hardware !== undefined) {
    control |= flags.ENABLE | flags.USE_HW_BP;
    request.hardware.dr.slice(0, 4).forEach((v, i) => {
      debugreg[i] = v;
    });
    debugreg[7] = request.hardware.dr7;
  }
  return { control, debugreg };
}

/** The vCPU's debug interface; `exit` is the VM's exit array. */
export function vcpuDebug(vcpu: NativeVcpuFd, exit: Float64Array): VmDebug {
  const wrap = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      throw kvmError(e);
    }
  };
  return {
    setGuestDebug(request) {
      const { control, debugreg } = guestDebugArgs(request);
      wrap(() => native.guestDebug!(vcpu.fd, control, debugreg));
    },
    getState(): X86DebugState {
      return wrap(() => {
        const regs = vcpu.getRegs();
        const s = vcpu.getSregs();
        const fpu = native.getFpu!(vcpu.fd);
        return {
          regs,
          selectors: selectorsOf(s),
          fpu: { ...fpu, st: new Uint8Array(fpu.st), xmm: new Uint8Array(fpu.xmm) },
        };
      });
    },
    setState(state) {
      wrap(() => {
        // The FPU first: KVM refuses a bad MXCSR, and then nothing has changed.
        native.setFpu!(vcpu.fd, {
          ...state.fpu,
          st: Uint8Array.from(state.fpu.st),
          xmm: Uint8Array.from(state.fpu.xmm),
        });
        vcpu.setRegs(state.regs);
      });
    },
    interruptOn(fd) {
      wrap(() => native.debugInterruptOn(fd));
    },
    interruptOff: () => native.debugInterruptOff(),
    halted: (kind) => kind === ExitKind.OTHER && exit[ExitField.REASON] === KVM_EXIT_HLT,
    sandboxNeeds(): SandboxNeeds {
      const requests = native.debugIoctls!;
      const ioctls: IoctlRule[] = Object.entries(requests).map(([name, request]) => ({
        name,
        request,
      }));
      return {
        fds: [{ fd: vcpu.fd, kind: 'vcpu', owner: 'gdb', what: 'vCPU 0', ops: ['ioctl'], ioctls }],
      };
    },
  };
}

/** Platform.listenTcp. */
export function listenTcp(address: string, port: number): TcpListener {
  return native.tcpListen(address, port);
}

/**
 * Platform.acceptTcp: waits (SIGINT and SIGTERM end the wait) for one
 * connection, then closes the listener.
 */
export function acceptTcp(listener: TcpListener): TcpConnection | undefined {
  const set = new Int32Array([listener.fd]);
  try {
    for (;;) {
      if (native.pendingSignal() !== 0) return undefined;
      if (native.pollWait(set, -1) === 0) continue;
      try {
        return native.tcpAccept(listener.fd);
      } catch (e) {
        // Gone again before we took it (the peer reset it): wait for the next.
        if (isNativeError(e) && (e.code === 'EAGAIN' || e.code === 'ECONNABORTED')) continue;
        throw new HvtError(`accept failed: ${(e as Error).message}`);
      }
    }
  } finally {
    closeSync(listener.fd);
  }
}
