import { HOST_TEST_OPTIONS } from '@hvtjs/posix-kit/host-tests';
import { defineConfig } from 'vitest/config';

// Real vmm(4) and Capsicum: FreeBSD 13+ as root with vmm.ko loaded (CI: .github/workflows/freebsd.yml).
// Capability mode is entered only in child processes.
export default defineConfig({ test: { ...HOST_TEST_OPTIONS } });
