import { accessSync, closeSync, constants, openSync, unlinkSync } from 'node:fs';
import { guestArch } from '../arch/index.js';
import {
  type CreatedCoreFile,
  coreFileName,
  coreFileSize,
  createCoreFile,
  writeCoreFile,
} from '../coredump.js';
import { HvtError } from '../errors.js';
import type { FileRemoval, Platform } from '../platform.js';
import type { FdRule, SandboxNeeds } from '../sandbox-policy.js';
import type { Module, SetupContext } from './module.js';

type RemoveFileAtExit = NonNullable<Platform['removeFileAtExit']>;

/** SOLO5_EXIT_ABORT: the status of abort and of fatal traps, the only one dumped. */
export const EXIT_ABORT = 255;

/**
 * The dumpcore module (11.4). The reference builds it only into its debug
 * tender; we compile it into the one tender, since it is useful and works
 * sandboxed.
 *
 * The reference creates the core file when the guest aborts. Here it is
 * created at setup, before the sandbox, so that afterwards no thread of the
 * tender may create or open a file at all: the sandbox allows only writing
 * and sizing this one open file. The platform removes it when the tender ends
 * without a dump (Platform.removeFileAtExit), so that what is left in DIR is
 * what the reference leaves. Creating it may fail (an old file of the same
 * name, say): that is reported at dump time, in the reference's words, as if
 * it had been created then.
 *
 * A platform without removeFileAtExit keeps DIR open instead and creates the
 * file at dump time, below that directory only (the policy's `create`).
 */
export class DumpcoreModule implements Module {
  readonly name = 'dumpcore';
  readonly usage = '--dumpcore=DIR (enable guest core dump on abort/trap)';
  private dir: string | undefined;
  /** DIR, open from setup on, as in the reference; closed once the file exists. */
  private dirFd: number | undefined;
  /** The core file created at setup, until the dump takes it over. */
  private file: CreatedCoreFile | undefined;
  /** Why creating it at setup failed, reported at dump time. */
  private createError: HvtError | undefined;
  private removal: FileRemoval | undefined;
  /** Bytes the core file may grow to: its headers and the guest-visible memory. */
  private fileSize = 0;

  handleOption(arg: string): boolean {
    if (!arg.startsWith('--dumpcore=')) return false;
    this.dir = arg.slice('--dumpcore='.length);
    return true;
  }

  setup(ctx: SetupContext): void {
    const dir = this.dir;
    if (dir === undefined) return;
    try {
      this.dirFd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    } catch {
      throw new HvtError('dumpcore: cannot open dir');
    }
    try {
      accessSync(dir, constants.W_OK);
    } catch {
      throw new HvtError('dumpcore: dir not writable');
    }
    const { vm, guest, warn, platform } = ctx;
    const arch = guestArch(platform.arch);
    this.fileSize = coreFileSize(guest.size);
    if (platform.removeFileAtExit !== undefined) this.precreate(dir, platform.removeFileAtExit);

    ctx.registerHaltHook((status, cookieGpa) => {
      if (status !== EXIT_ABORT) return;
      warn(`dumpcore: dumping guest core to: ${dir}/${coreFileName(process.pid)}`);
      try {
        const file = this.takeFile(dir);
        const result = writeCoreFile({
          fd: file.fd,
          path: file.path,
          pid: process.pid,
          memory: guest.memory,
          memSize: guest.size,
          registers: arch.coreRegisters(vm, guest, cookieGpa),
          ...withResidentPages(vm.residentPages?.(0, guest.size)),
          machine: arch.elfMachine,
        });
        warn(`dumpcore: dumped ${result.pagesDumped} pages of total ${result.pagesTotal} pages`);
        if (result.writeErrors > 0) {
          warn('dumpcore: error(s) dumping core, file may be incomplete');
        }
      } catch (error) {
        // A dump that fails must not change the guest's exit status.
        if (error instanceof HvtError) warn(error.message);
        warn('dumpcore: error(s) dumping core, file may be incomplete');
      }
    });
  }

  /**
   * Creates the core file now and has the platform remove it at exit unless
   * a dump is written. Once it exists, DIR is no longer needed.
   */
  private precreate(dir: string, removeFileAtExit: RemoveFileAtExit): void {
    try {
      this.file = createCoreFile(dir, process.pid);
    } catch (error) {
      if (!(error instanceof HvtError)) throw error;
      this.createError = error;
      this.closeDir();
      return;
    }
    try {
      this.removal = removeFileAtExit(this.dirFd!, coreFileName(process.pid), this.file.fd);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      const path = this.file.path;
      this.closeFile();
      removeNow(path);
      throw new HvtError(`dumpcore: cannot arrange the removal of ${path}: ${detail}`);
    }
    this.closeDir();
  }

  /** The file to dump into: the one created at setup, or (no removal) one created now. */
  private takeFile(dir: string): CreatedCoreFile {
    if (this.createError !== undefined) throw this.createError;
    // Without a remover DIR stayed open (and the sandbox lets it create).
    if (this.removal === undefined) return createCoreFile(dir, process.pid);
    const file = this.file;
    if (file === undefined) throw new HvtError('dumpcore: the core file was written already');
    this.file = undefined;
    // Before writing: a dump cut short stays, as the reference's would.
    this.removal?.keep();
    return file;
  }

  sandboxNeeds(): SandboxNeeds {
    const fds: FdRule[] = [];
    if (this.file !== undefined) {
      fds.push({
        fd: this.file.fd,
        kind: 'file',
        owner: 'dumpcore',
        what: `core file: ${this.file.path} (created before the drop)`,
        ops: ['pwrite', 'truncate'],
        size: this.fileSize,
      });
    }
    if (this.removal !== undefined) {
      fds.push({
        fd: this.removal.fd,
        kind: 'channel',
        owner: 'dumpcore',
        what: 'keeps the core file (else it is removed at exit)',
        ops: ['write'],
      });
    }
    if (this.dirFd !== undefined) {
      fds.push({
        fd: this.dirFd,
        kind: 'directory',
        owner: 'dumpcore',
        what: `dumpcore directory: ${this.dir}`,
        ops: ['create'],
      });
    }
    return fds.length > 0 ? { fds } : {};
  }

  close(): void {
    this.closeFile();
    this.closeDir();
    // Closing the channel without keep() has the file removed now; after
    // keep() it changes nothing.
    if (this.removal !== undefined) closeQuietly(this.removal.fd);
    this.removal = undefined;
  }

  private closeFile(): void {
    if (this.file === undefined) return;
    closeQuietly(this.file.fd);
    this.file = undefined;
  }

  private closeDir(): void {
    if (this.dirFd === undefined) return;
    closeQuietly(this.dirFd);
    this.dirFd = undefined;
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed: nothing left to release.
  }
}

/** Removes a file this module just created, before any sandbox (best effort). */
function removeNow(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Gone already, or not ours to remove any more.
  }
}

function withResidentPages(pages: Uint8Array | undefined): { residentPages?: Uint8Array } {
  return pages === undefined ? {} : { residentPages: pages };
}
