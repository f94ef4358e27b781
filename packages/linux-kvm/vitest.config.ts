import { defineConfig } from 'vitest/config';

// The tests that need neither /dev/kvm nor taps; test/kvm/ runs in the project's
// KVM suite (test/vitest.kvm.config.ts), on the host or in the nested VM.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/kvm/**', '**/node_modules/**'],
  },
});
