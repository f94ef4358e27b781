import { defineConfig } from 'vitest/config';

// The tests that need no FreeBSD host; test/host/ runs on FreeBSD (pnpm test:host).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/host/**', '**/node_modules/**'],
  },
});
