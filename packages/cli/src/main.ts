import { HvtError, UsageError } from '@hvtjs/core';

/** Where a command writes: stdout for results, stderr for diagnostics (as solo5-hvt). */
export interface CommandIo {
  readonly prog: string;
  out(text: string): void;
  err(text: string): void;
}

/** A subcommand: returns the process exit status. */
export type Command = (args: readonly string[], io: CommandIo) => Promise<number>;

/** Prints an error the way the reference tender does and returns its exit status. */
export function report(error: unknown, io: CommandIo, usage?: () => string): number {
  if (error instanceof HvtError) {
    io.err(error.prefixed ? `${io.prog}: ${error.message}\n` : `${error.message}\n`);
    if (error instanceof UsageError && usage) io.err(usage());
    return error.exitStatus;
  }
  // A bug of ours, not bad input: still one line, with the way to get details.
  const detail = error instanceof Error ? error.message : String(error);
  io.err(`${io.prog}: internal error: ${detail} (set HVTJS_DEBUG=1 for a stack trace)\n`);
  if (process.env['HVTJS_DEBUG'] && error instanceof Error && error.stack)
    io.err(`${error.stack}\n`);
  return 1;
}

export const processIo = (prog: string): CommandIo => ({
  prog,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
});
