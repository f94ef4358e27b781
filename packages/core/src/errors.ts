/**
 * Every failure the tender reports is an HvtError: a message in the reference
 * tender's words (docs/guest-abi.md Appendix A) and the process exit status. The CLI
 * prints `<prog>: <message>` (or the bare message when `prefixed` is false, as
 * the reference does for its plain fprintf messages) and exits with `exitStatus`.
 * Nothing else may escape to the user as a stack trace.
 */
export class HvtError extends Error {
  override name = 'HvtError';
  constructor(
    message: string,
    readonly exitStatus = 1,
    /** false for the reference's messages printed without the `<prog>: ` prefix */
    readonly prefixed = true,
  ) {
    super(message);
  }
}

/** A bad command line: the CLI prints the message, then the usage text. */
export class UsageError extends HvtError {
  override name = 'UsageError';
}

/** A guest-supplied range that does not lie inside guest memory (section 7.3). */
export class GuestAccessError extends HvtError {
  override name = 'GuestAccessError';
  constructor(
    readonly gpa: number | bigint,
    readonly size: number | bigint,
    where: string,
  ) {
    super(`${where}: Invalid guest access: gpa=0x${gpa.toString(16)}, sz=${size}`);
  }
}

/**
 * glibc's strerror text for a Node errno code, so messages read as the C tender's
 * (`<file>: Could not open: No such file or directory`).
 */
export function strerror(code: string | undefined): string {
  const known: Record<string, string> = {
    EPERM: 'Operation not permitted',
    ENOENT: 'No such file or directory',
    EIO: 'Input/output error',
    ENXIO: 'No such device or address',
    EBADF: 'Bad file descriptor',
    EAGAIN: 'Resource temporarily unavailable',
    ENOMEM: 'Cannot allocate memory',
    EACCES: 'Permission denied',
    EBUSY: 'Device or resource busy',
    EEXIST: 'File exists',
    ENODEV: 'No such device',
    ENOTDIR: 'Not a directory',
    EISDIR: 'Is a directory',
    EINVAL: 'Invalid argument',
    ENFILE: 'Too many open files in system',
    EMFILE: 'Too many open files',
    EFBIG: 'File too large',
    ENOSPC: 'No space left on device',
    ESPIPE: 'Illegal seek',
    EROFS: 'Read-only file system',
    ENAMETOOLONG: 'File name too long',
    ELOOP: 'Too many levels of symbolic links',
    EOVERFLOW: 'Value too large for defined data type',
    ENETDOWN: 'Network is down',
    ENOTSUP: 'Operation not supported',
    EOPNOTSUPP: 'Operation not supported',
    EFAULT: 'Bad address',
    EPIPE: 'Broken pipe',
    EINTR: 'Interrupted system call',
    ENOBUFS: 'No buffer space available',
    EMSGSIZE: 'Message too long',
    ECONNRESET: 'Connection reset by peer',
    ECONNREFUSED: 'Connection refused',
    ENOTCONN: 'Transport endpoint is not connected',
    EDESTADDRREQ: 'Destination address required',
  };
  return (code && known[code]) ?? code ?? 'Unknown error';
}

/** The kernel file could not be opened or read: `<file>: Could not open: <strerror>`. */
export class KernelOpenError extends HvtError {
  override name = 'KernelOpenError';
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: Could not open: ${reason}`);
  }
}

/**
 * The executable breaks an ELF, note or segment rule of docs/guest-abi.md section 3/4.1.
 * `message` is the reference's full text, `<file>: ` included.
 */
export class ElfError extends HvtError {
  override name = 'ElfError';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/** The ABI1 note is missing, or is not for hvt ABI version 2 (section 1 step 3). */
export class AbiError extends HvtError {
  override name = 'AbiError';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/**
 * The MFT1 note is missing or fails validation (section 4.5). The reference says
 * only `Solo5 manifest is invalid`; `reason` keeps which rule failed, for tests
 * and debugging, without changing the message.
 */
export class ManifestError extends HvtError {
  override name = 'ManifestError';
  constructor(
    readonly file: string,
    detail: string,
    readonly reason?: string,
  ) {
    super(`${file}: ${detail}`);
  }
}
