import { closeSync, readSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { acceptTcp, guestDebugArgs, isNativeError, listenTcp } from '../src/index.js';
import { native } from '../src/native.js';

// The gdb module's mechanism (src/debug.ts, native/debug.cc) without KVM:
// what KVM_SET_GUEST_DEBUG is given, and the debugger's TCP connection.

describe('KVM_SET_GUEST_DEBUG requests', () => {
  // <linux/kvm.h>: KVM_GUESTDBG_ENABLE 1, SINGLESTEP 2, USE_SW_BP 0x10000, USE_HW_BP 0x20000.
  it('has the kernel header values', () => {
    expect(native.guestDebugFlags).toEqual({
      ENABLE: 0x1,
      SINGLESTEP: 0x2,
      USE_SW_BP: 0x10000,
      USE_HW_BP: 0x20000,
    });
  });

  it('maps stepping, software and hardware breakpoints to control bits and DR0-3, DR7', () => {
    const none = guestDebugArgs({ singleStep: false, softwareBreakpoints: false });
    expect(none.control).toBe(0);
    expect([...none.debugreg]).toEqual([0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
    expect(guestDebugArgs({ singleStep: true, softwareBreakpoints: false }).control).toBe(0x3);
    expect(guestDebugArgs({ singleStep: false, softwareBreakpoints: true }).control).toBe(0x10001);
    const hw = guestDebugArgs({
      singleStep: true,
      softwareBreakpoints: true,
      hardware: { dr: [0x101420n, 0x103004n, 0n, 0n], dr7: 0xd0060an },
    });
    expect(hw.control).toBe(0x30003);
    expect([...hw.debugreg]).toEqual([0x101420n, 0x103004n, 0n, 0n, 0n, 0n, 0n, 0xd0060an]);
  });

  it('lists the debug ioctls the sandbox must allow, by their numbers', () => {
    // _IOW(KVMIO, 0x9b, struct kvm_guest_debug) and friends, as <linux/kvm.h> has them on x86_64.
    expect(native.debugIoctls).toEqual({
      KVM_SET_GUEST_DEBUG: 0x4048ae9b,
      KVM_SET_REGS: 0x4090ae82,
      KVM_GET_FPU: 0x81a0ae8c,
      KVM_SET_FPU: 0x41a0ae8d,
    });
  });
});

describe('the debugger connection', () => {
  it('listens on loopback, reports the port it got, accepts one connection non-blocking', async () => {
    const listener = listenTcp('127.0.0.1', 0);
    expect(listener.port).toBeGreaterThan(0);
    const client = net.connect(listener.port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    const connection = acceptTcp(listener)!;
    expect(connection.peer).toBe('127.0.0.1');
    // The listener is closed: nobody else gets in.
    const second = net.connect(listener.port, '127.0.0.1');
    const refused = await new Promise((resolve) => second.once('error', resolve));
    expect((refused as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    // Non-blocking: nothing to read is EAGAIN, never a wait.
    expect(() => readSync(connection.fd, Buffer.alloc(1))).toThrow(/EAGAIN/);
    client.destroy();
    closeSync(connection.fd);
  });

  it('says which call failed: a port in use fails in bind', () => {
    const first = listenTcp('127.0.0.1', 0);
    let error: unknown;
    try {
      listenTcp('127.0.0.1', first.port);
    } catch (e) {
      error = e;
    }
    // SO_REUSEADDR does not let two sockets listen on one port.
    expect(isNativeError(error) && error.syscall).toBe('bind');
    expect(isNativeError(error) && error.code).toBe('EADDRINUSE');
    closeSync(first.fd);
  });
});
