import type { Platform } from '@hvtjs/core/platform';
import { posixHost } from '@hvtjs/posix-kit';
import { OPENBSD_RELEASES, openbsdRelease } from './abi.js';
import { native } from './native.js';
import { describeSandbox, dropPrivileges, exit, prepareSandbox } from './sandbox.js';
import { type CreateVmOptions, OpenBsdVm } from './vm.js';

export { MAX_POLL_FDS } from '@hvtjs/posix-kit';
export * from './abi.js';
export { vmmError, vmmMessage } from './errors.js';
export { isNativeError, type NativeError } from './native.js';
export * from './pledge.js';
export {
  describeSandbox,
  dropPrivileges,
  exit,
  type Identity,
  prepareSandbox,
  resolveIdentity,
  VMM_USER,
} from './sandbox.js';
export {
  type CreateVmOptions,
  describeOpenBsdExit,
  OpenBsdVm,
  openbsdAbiFor,
  PAGE_SIZE,
  vmSandboxNeeds,
} from './vm.js';

/**
 * The host functions of the kit over this addon. openNet: docs/guest-abi.md 11.3,
 * OpenBSD: the interface must be up (ENETDOWN otherwise); open /dev/<IFACE>
 * non-blocking. createPollSet: ppoll, within "stdio".
 */
const host = posixHost(native);
export const { openNet, createPollSet, walltimeNs, catchTerminationSignals, pendingSignal } = host;

/**
 * Whether VM `id` still exists, without touching it: for cleanup checks and
 * tests (needs an unpledged root process).
 */
export function vmExists(id: number, osrelease?: string): boolean {
  const abi = openbsdRelease(osrelease ?? native().osrelease());
  if (abi === undefined) throw new Error(`unknown OpenBSD release ${osrelease}`);
  return native().vmExists(OPENBSD_RELEASES.indexOf(abi), id);
}

/**
 * OpenBSD vmm(4) as the tender's platform, sandboxed with chroot, setresuid
 * and pledge.
 */
export const openbsdVmmPlatform = {
  name: 'openbsd-vmm',
  arch: 'x86_64',
  createVm: (memSize: number, options?: CreateVmOptions): OpenBsdVm =>
    OpenBsdVm.create(memSize, options),
  ...host,
  prepareSandbox,
  dropPrivileges,
  describeSandbox,
  exit,
} satisfies Platform;

export default openbsdVmmPlatform;
