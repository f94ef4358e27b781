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
