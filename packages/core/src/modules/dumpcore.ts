import { accessSync, closeSync, constants, openSync } from 'node:fs';
import { decodeTrapFrame, writeCoreFile } from '../coredump.js';
import { EM_X86_64 } from '../elf.js';
import { HvtError } from '../errors.js';
import type { SandboxNeeds } from '../sandbox-policy.js';
import type { Module, SetupContext } from './module.js';

/** SOLO5_EXIT_ABORT: the status of abort and of fatal traps, the only one dumped. */
export const EXIT_ABORT = 255;

/**
 * The dumpcore module (11.4). The reference builds it only into its debug
 * tender; we compile it into the one tender, since it is useful and the
 * sandbox can allow creating files in its directory.
 */
export class DumpcoreModule implements Module {
  readonly name = 'dumpcore';
  readonly usage = '--dumpcore=DIR (enable guest core dump on abort/trap)';
  private dir: string | undefined;
  /**
   * DIR stays open from setup on, as in the reference: the sandbox grants file
   * creation below this descriptor and nothing else on the file system.
   */
  private dirFd: number | undefined;

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
    if (ctx.platform.arch !== 'x86_64') {
      throw new HvtError('dumpcore: not implemented for this backend/architecture');
    }
    const { vm, guest, warn } = ctx;
    ctx.registerHaltHook((status, cookieGpa) => {
      if (status !== EXIT_ABORT) return;
      warn(`dumpcore: dumping guest core to: ${dir}/core.solo5-hvt.${process.pid}`);
      try {
        const result = writeCoreFile({
          dir,
          pid: process.pid,
          memory: guest.memory,
          memSize: guest.size,
          regs: vm.getRegistersX86(),
          ...(cookieGpa !== 0 ? { cookie: decodeTrapFrame(guest.memory, cookieGpa) } : {}),
          ...withResidentPages(vm.residentPages?.(0, guest.size)),
          machine: EM_X86_64,
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

  sandboxNeeds(): SandboxNeeds {
    if (this.dirFd === undefined) return {};
    return {
      fds: [
        {
          fd: this.dirFd,
          kind: 'directory',
          owner: 'dumpcore',
          what: `dumpcore directory: ${this.dir}`,
          ops: ['create'],
        },
      ],
    };
  }

  close(): void {
    if (this.dirFd === undefined) return;
    try {
      closeSync(this.dirFd);
    } catch {
      // Already closed: nothing left to release.
    }
    this.dirFd = undefined;
  }
}

function withResidentPages(pages: Uint8Array | undefined): { residentPages?: Uint8Array } {
  return pages === undefined ? {} : { residentPages: pages };
}
