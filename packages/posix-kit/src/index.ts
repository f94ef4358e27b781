/**
 * The POSIX host layer the hvt.js platform packages share: the TypeScript side
 * of include/hvt/posix_addon.h (poll sets, taps, clocks, signals), the addon
 * loader and error shape, guest-range checks, the BSD ioctl encoding and the
 * release-range choice. The native-source test helpers are the ./toolchain
 * export.
 */
export { type AddonSpec, addonFile, lazyAddon } from './addon.js';
export { type CStruct, cHex, generatedHeader, layoutAsserts } from './c-header.js';
export {
  type CoreHostAddon,
  checkFd,
  type HostAddon,
  MAX_POLL_FDS,
  type PosixHost,
  posixHost,
  warmRuntimeForSandbox,
} from './host.js';
export * from './ioc.js';
export {
  checkMemSize,
  checkRange,
  defaultVmName,
  mprotectOrThrow,
  PAGE_SIZE,
  residentPages,
} from './memory.js';
export { isNativeError, type NativeError } from './native-error.js';
export {
  closeQuietly,
  type KickableVm,
  kickError,
  type NativeNetRing,
  type NativeNetRingClass,
  ownedKick,
  pipeNetRing,
  RING_MAX_HANDLES,
  type RingAddon,
  type RingKick,
  ringDeviceTable,
  startRingThread,
} from './net-ring.js';
export { type NativeVmBase, PosixVm } from './posix-vm.js';
export { chooseRelease, type ReleaseChoice, stderrWarn } from './releases.js';
export { vmFdRules } from './vm-needs.js';
