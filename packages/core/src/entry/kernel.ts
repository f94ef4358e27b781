/**
 * `@hvtjs/core/kernel`: reading a Solo5 unikernel without running it: the
 * ELF headers (their layouts declared as data), the ABI1 and MFT1 notes, the manifest, and loading the
 * segments into guest memory (`solo5 info`, and the tender's steps 2 to 4 and
 * 9 of docs/architecture.md 2).
 */
export * from '../elf.js';
export * from '../elf-layout.js';
export * from '../loader.js';
export * from '../manifest.js';
export * from '../notes.js';
