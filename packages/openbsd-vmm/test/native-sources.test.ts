import { fileURLToPath } from 'node:url';
import { describeNativeSources } from '@hvtjs/posix-kit/native-sources';
import { renderAbiHeader } from '../src/abi-header.js';

describeNativeSources({
  nativeDir: fileURLToPath(new URL('../src/native', import.meta.url)),
  core: 'ob_vmm.c',
  system: 'OpenBSD',
  // The oldest supported release, the first with the kernel's guest memory, and the newest.
  targets: ['x86_64-unknown-openbsd', 'x86_64-unknown-openbsd7.4', 'x86_64-unknown-openbsd7.8'],
  objectTarget: 'x86_64-unknown-openbsd',
  // Besides CORE_LIBC:
  libc: [
    '__errno',
    '__guard_local',
    '__stack_smash_handler',
    'chdir',
    'chroot',
    'minherit',
    'pledge',
    'setgroups',
    'setresgid',
    'setresuid',
    'sysctl',
  ],
  required: ['ioctl', 'mmap', 'chroot', 'setresuid', 'pledge', 'fork'],
  foreignTarget: 'x86_64-unknown-freebsd14',
  refusal: /builds only for an OpenBSD target/,
  abiHeader: 'ob_abi.h',
  generatedHeader: 'ob_abi_gen.h',
  render: renderAbiHeader,
  corrupt: [
    'HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_78, id) == 600,',
    'HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_78, id) == 596,',
  ],
});
