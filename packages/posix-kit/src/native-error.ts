/** A failed system call as the kit's addons throw it, shaped like Node's system errors. */
export interface NativeError extends Error {
  /** errno name, e.g. 'EPERM' */
  code: string;
  /** positive errno number */
  errno: number;
  /** 'ioctl', 'open', 'sysctl', 'mmap', 'fork', ... */
  syscall: string;
  /** the ioctl, sysctl or step that failed, e.g. 'VMM_IOC_CREATE', 'sysctl hw.vmm.create' */
  request?: string;
  /** the file that open() failed on */
  path?: string;
}

/** True for errors thrown by an addon for a failed system call. */
export function isNativeError(e: unknown): e is NativeError {
  return (
    e instanceof Error &&
    typeof (e as Partial<NativeError>).code === 'string' &&
    typeof (e as Partial<NativeError>).errno === 'number' &&
    typeof (e as Partial<NativeError>).syscall === 'string'
  );
}
