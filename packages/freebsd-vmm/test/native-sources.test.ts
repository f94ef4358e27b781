import { fileURLToPath } from 'node:url';
import { describeNativeSources } from '@hvtjs/posix-kit/native-sources';
import { renderAbiHeader } from '../src/abi-header.js';

describeNativeSources({
  nativeDir: fileURLToPath(new URL('../src/native', import.meta.url)),
  core: 'fb_vmm.c',
  system: 'FreeBSD',
  // Every supported release line.
  targets: ['13', '14', '15'].map((r) => `x86_64-unknown-freebsd${r}`),
  objectTarget: 'x86_64-unknown-freebsd14',
  // Besides CORE_LIBC:
  libc: [
    '__error',
    'cap_enter',
    'cap_fcntls_limit',
    'cap_getmode',
    'cap_ioctls_limit',
    'cap_rights_limit',
    'mincore',
    'sysctlbyname',
  ],
  required: ['ioctl', 'mmap', 'sysctlbyname', 'cap_rights_limit', 'cap_enter', 'fork'],
  foreignTarget: 'x86_64-unknown-openbsd',
  refusal: /builds only for a FreeBSD target/,
  abiHeader: 'fb_abi.h',
  generatedHeader: 'fb_abi_gen.h',
  render: renderAbiHeader,
  corrupt: [
    'HVT_STATIC_ASSERT(sizeof(struct fb_vm_run_14) == 32,',
    'HVT_STATIC_ASSERT(sizeof(struct fb_vm_run_14) == 40,',
  ],
});
