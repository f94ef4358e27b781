import { describe, expect, it } from 'vitest';
import { loadPlatform, platformPackage, SUPPORTED } from '../src/platform.js';

describe('platform loading', () => {
  it('knows the platform package of each host OS', () => {
    expect(platformPackage('linux')).toBe('@hvtjs/linux-kvm');
    expect(platformPackage('freebsd')).toBe('@hvtjs/freebsd-vmm');
    expect(platformPackage('openbsd')).toBe('@hvtjs/openbsd-vmm');
    expect(platformPackage('darwin')).toBeUndefined();
    expect(platformPackage('win32')).toBeUndefined();
    expect(SUPPORTED).toMatch(/Linux/);
  });

  it.each([
    ['darwin', 'arm64'],
    ['win32', 'x64'],
    ['freebsd', 'arm64'],
    ['openbsd', 'arm64'],
    ['linux', 'ppc64'],
  ])('says where unikernels can run on %s %s', async (os, arch) => {
    await expect(loadPlatform(os, arch)).rejects.toThrow(
      `unikernels can be run on ${SUPPORTED} only; this host is ${os} on ${arch}`,
    );
  });

  it.runIf(process.platform === 'linux' && process.arch === 'x64')(
    'loads the Linux KVM platform here',
    async () => {
      const platform = await loadPlatform();
      expect(platform.name).toBe('linux-kvm');
      expect(platform.arch).toBe('x86_64');
      expect(typeof platform.catchTerminationSignals).toBe('function');
    },
  );
});
