import type { NetRingSupport } from '@hvtjs/core/platform';
import { closeQuietly, kickError, ownedKick, startRingThread } from '@hvtjs/posix-kit';
import { createEventFd } from './host.js';
import { type NativeGuestMapping, native } from './native.js';

/**
 * Ring I/O over guest RAM `mapping` (docs/guest-abi.md 10) with Linux's kick:
 * a close-on-exec, blocking eventfd that `register` has the guest's kick
 * signal (on a VM, KVM_IOEVENTFD: the kernel signals it without an exit).
 * The thread (posix-kit's hvt/net_ring.h) holds its own reference to the
 * mapping, so the range stays mapped until it is joined even if the VM is
 * destroyed first; stop() then closes the eventfd.
 */
export function eventFdNetRing(
  mapping: NativeGuestMapping,
  register: (eventfd: number) => void,
): NetRingSupport {
  return {
    start(config) {
      let fd: number;
      try {
        fd = createEventFd();
      } catch (e) {
        throw kickError('eventfd()', e);
      }
      try {
        register(fd);
      } catch (e) {
        closeQuietly(fd);
        throw kickError('KVM_IOEVENTFD', e);
      }
      const kick = ownedKick([{ fd, kind: 'eventfd', ops: ['read', 'write'] }], fd, fd);
      return startRingThread(native.NetRing, mapping, config, kick);
    },
  };
}

/** The signal a failing I/O thread sends the vCPU thread (tgkill within this process). */
export const IO_THREAD_SIGNAL: number = native.ioThreadSignal;
