import { defineConfig } from 'vitest/config';

// The suite that needs no /dev/kvm: guest builds, ELF fuzzing, the nested-VM harness itself,
// and the install test (packed packages installed with npm; its unikernel runs in the VM).
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'vm/**/*.test.ts', 'install/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    fileParallelism: false,
  },
});
