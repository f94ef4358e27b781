import { defineConfig } from 'vitest/config';

// The tests that need no OpenBSD host; test/host/ runs on OpenBSD (pnpm test:host).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/host/**', '**/node_modules/**'],
  },
});
