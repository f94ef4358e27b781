/**
 * Every failure the tender reports is an HvtError: a message in the reference
 * tender's words (hvt-abi.md Appendix A) and the process exit status. The CLI
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
    readonly gpa: number,
    readonly size: number,
    where: string,
  ) {
    super(`${where}: Invalid guest access: gpa=0x${gpa.toString(16)}, sz=${size}`);
  }
}
