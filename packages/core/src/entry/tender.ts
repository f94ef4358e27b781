/**
 * `@hvtjs/core/tender`: the tender's lifecycle (`runTender`, the command-line
 * passes, usage and version texts) and its parts: the memory plan, boot
 * information, hypercall dispatch and the guest structs it reads, the modules
 * (core, block, net, gdb, dumpcore) and the core dump writer. The CLI runs it with
 * a platform (docs/architecture.md 2).
 */
export { type GuestArch, guestArch } from '../arch/index.js';
export * from '../boot-info.js';
export * from '../coredump.js';
export * from '../guest-abi.js';
export * from '../hypercalls.js';
export * from '../memory-layout.js';
export * from '../modules/block.js';
export * from '../modules/core.js';
export * from '../modules/dumpcore.js';
export * from '../modules/gdb.js';
export * from '../modules/gdb-protocol.js';
export * from '../modules/module.js';
export * from '../modules/net.js';
export * from '../modules/scan.js';
export * from '../options.js';
export * from '../tender.js';
