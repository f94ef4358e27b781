/**
 * `@hvtjs/core`: the errors every layer throws and the CLI reports
 * (`HvtError` and its kinds, each with the message in the reference tender's
 * words and an exit status). The rest of core is reached by role, through the
 * package's other entries (packages/core/README.md, "Public surface"):
 *
 * - `@hvtjs/core/platform`: the contract a platform package implements;
 * - `@hvtjs/core/kernel`: reading a unikernel file (ELF, notes, manifest, loading);
 * - `@hvtjs/core/tender`: the tender's lifecycle and its parts, which the CLI runs.
 */
export * from './errors.js';
