import { defineConfig } from 'vitest/config';

// The suite that needs a working /dev/kvm. vm/kvm-suite.mjs runs it on the host
// when the host has KVM, otherwise inside one nested VM for the whole suite.
export default defineConfig({
  test: {
    include: ['kvm/**/*.test.ts', '../packages/*/test/kvm/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 600_000,
    fileParallelism: false,
  },
});
