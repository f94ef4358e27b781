import { writeSync } from 'node:fs';
import type { FileRemoval } from '@hvtjs/core/platform';
import { native } from '../native.js';

/**
 * Platform.removeFileAtExit on Linux. A small process forked from the addon
 * before the sandbox (src/native/sandbox.cc) keeps only the directory and
 * the read end of a pipe, ignores the terminal's signals, and waits: one byte
 * from the tender keeps the file; the pipe's end of file without it, however
 * the tender ended, removes the file (if the name still is that file). The
 * tender keeps the write end, and the sandbox allows it `write` there and
 * nothing else: a sandboxed process could not unlink, and need not.
 *
 * The file disappears a moment after the tender ends, not before: whoever
 * waits for the tender and then looks may still see it for that moment.
 */
export function removeFileAtExit(dirFd: number, name: string, fileFd: number): FileRemoval {
  const fd = native.removeFileAtExit(dirFd, name, fileFd);
  let kept = false;
  return {
    fd,
    keep(): void {
      if (kept) return;
      kept = true;
      try {
        writeSync(fd, KEEP);
      } catch {
        // The remover is gone (killed): then nothing removes the file anyway.
      }
    },
  };
}

/** Any byte keeps the file; this one is easy to spot in strace. */
const KEEP = Uint8Array.of(0x6b);
