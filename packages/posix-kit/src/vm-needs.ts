import type { FdRule, IoctlRule } from '@hvtjs/core/platform';

/**
 * The two descriptors every BSD VM keeps once sandboxed: the VM device, for
 * the ioctls the run loop and diagnostics issue, and the channel to the helper
 * process that ends the VM when the tender goes.
 */
export function vmFdRules<Name extends string>(vm: {
  readonly fd: number;
  /** For people: which VM device, e.g. `VM /dev/vmm/solo5-12`. */
  readonly what: string;
  /** The ioctls by name, and their numbers on the VM's release. */
  readonly ioctls: readonly Name[];
  readonly request: (name: Name) => number;
  readonly helperFd: number;
  /** For people: which helper, e.g. `channel to the VM destroyer process`. */
  readonly helper: string;
}): FdRule[] {
  return [
    {
      fd: vm.fd,
      kind: 'vm',
      owner: 'platform',
      what: vm.what,
      ops: ['ioctl'],
      ioctls: vm.ioctls.map((name): IoctlRule => ({ name, request: vm.request(name) })),
    },
    {
      fd: vm.helperFd,
      kind: 'hypervisor',
      owner: 'platform',
      what: vm.helper,
      ops: ['read', 'write'],
    },
  ];
}
