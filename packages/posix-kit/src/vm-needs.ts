import type { FdRule, IoctlRule } from '@hvtjs/core';

/**
 * The two descriptors every BSD VM keeps once sandboxed: the VM device, for
 * the ioctls the run loop and diagnostics issue, and the channel to the helper
 * process that ends the VM when the tender goes.
 */
export function vmFdRules(vm: {
  readonly fd: number;
  /** For people: which VM device, e.g. `VM /dev/vmm/solo5-12`. */
  readonly what: string;
  readonly ioctls: readonly IoctlRule[];
  readonly helperFd: number;
  /** For people: which helper, e.g. `channel to the VM destroyer process`. */
  readonly helper: string;
}): FdRule[] {
  return [
    { fd: vm.fd, kind: 'vm', owner: 'platform', what: vm.what, ops: ['ioctl'], ioctls: vm.ioctls },
    {
      fd: vm.helperFd,
      kind: 'hypervisor',
      owner: 'platform',
      what: vm.helper,
      ops: ['read', 'write'],
    },
  ];
}
