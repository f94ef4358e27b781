/**
 * `@hvtjs/core/platform`: what a platform package implements and what it is
 * handed (docs/architecture.md 3): the `Platform` and `Vm` interfaces and the
 * exit protocol, guest RAM as bounds-checked views and the I/O between it and
 * descriptors, the sandbox policy model it compiles (docs/architecture.md 4),
 * and the vCPU state core builds for `Vm.initVcpuX86` (x86_64) and the
 * `aarch64` namespace's (which a platform's own tests use to boot a guest
 * without the tender).
 */
export * as aarch64 from '../arch/aarch64.js';
export * from '../arch/x86_64.js';
export * from '../guest-io.js';
export * from '../guest-memory.js';
export * from '../platform.js';
export * from '../sandbox-policy.js';
