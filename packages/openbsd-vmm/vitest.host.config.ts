import { HOST_TEST_OPTIONS } from '@hvtjs/posix-kit/host-tests';
import { defineConfig } from 'vitest/config';

// Real vmm(4) and pledge: OpenBSD 7.4+ as root on a CPU with VT-x/EPT or AMD-V/RVI
// (CI: .github/workflows/openbsd.yml). Pledging happens in child processes only.
export default defineConfig({ test: { ...HOST_TEST_OPTIONS } });
