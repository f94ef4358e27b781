import { defineConfig } from 'vitest/config';

// Real vmm(4) and Capsicum: FreeBSD 13+ as root with vmm.ko loaded (CI: .github/workflows/freebsd.yml).
export default defineConfig({
  test: {
    include: ['test/host/**/*.test.ts'],
    // Capability mode is entered only in child processes; files run one after another.
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 60_000,
  },
});
