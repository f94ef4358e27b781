import { defineConfig } from 'vitest/config';

// The suite that needs no /dev/kvm: guest builds, ELF fuzzing, the nested-VM harness itself.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'vm/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    fileParallelism: false,
  },
});
