import type { SandboxNeeds } from '@hvtjs/core/platform';

/**
 * The sandbox needs of a typical tender, as core's modules declare them, for
 * the BSD packages' policy tests (Capsicum rights, pledge promises): the
 * console, one block device (fd 20), one tap (21), dumpcore's directory (22)
 * and a core file created before the drop with its channel (23, 24). Each
 * test merges the parts it needs with its own VM's.
 */

export const CONSOLE_NEEDS = {
  fds: [{ fd: 1, kind: 'stdio', owner: 'core', what: 'console (PUTS)', ops: ['write'] }],
} as const satisfies SandboxNeeds;

/** Block 'storage' on disk.img, `size` bytes long. */
export const blockNeeds = (size: number) =>
  ({
    fds: [
      {
        fd: 20,
        kind: 'block',
        owner: 'block',
        what: "block 'storage': disk.img",
        ops: ['pread', 'pwrite'],
        size,
      },
    ],
  }) as const satisfies SandboxNeeds;

export const TAP_NEEDS = {
  fds: [
    {
      fd: 21,
      kind: 'tap',
      owner: 'net',
      what: "net 'service0': tap0",
      ops: ['read', 'write', 'poll'],
    },
  ],
} as const satisfies SandboxNeeds;

/** dumpcore creating its core file in the directory at run time. */
export const DUMPCORE_DIR_NEEDS = {
  fds: [
    {
      fd: 22,
      kind: 'directory',
      owner: 'dumpcore',
      what: 'dumpcore directory: /tmp',
      ops: ['create'],
    },
  ],
} as const satisfies SandboxNeeds;

/** dumpcore with its core file created before the drop (32 MiB of guest), and the channel that keeps it. */
export const PRECREATED_CORE_NEEDS = {
  fds: [
    {
      fd: 23,
      kind: 'file',
      owner: 'dumpcore',
      what: 'core file',
      ops: ['pwrite', 'truncate'],
      size: 4096 + (32 << 20),
    },
    { fd: 24, kind: 'channel', owner: 'dumpcore', what: 'keep', ops: ['write'] },
  ],
} as const satisfies SandboxNeeds;
