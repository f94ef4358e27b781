import { defineConfig } from 'vitest/config';

// The tests that need neither /dev/kvm nor taps; test/kvm/ runs in the project's
// KVM suite (test/vitest.kvm.config.ts), on the host or in the nested VM.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/kvm/**', '**/node_modules/**'],
    globalSetup: ['test/global-setup.ts'],
    // The sandbox tests start a child process per case: two at a time, and
    // slowly inside the nested VM (emulated CPUs).
    maxConcurrency: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
