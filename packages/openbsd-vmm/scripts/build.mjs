// `pnpm build`: the TypeScript everywhere; the addon only on OpenBSD, the one
// system whose libc it links against and where it can be loaded.
import { buildPlatformPackage } from '@hvtjs/posix-kit/build';

buildPlatformPackage(new URL('..', import.meta.url), 'openbsd', 'openbsd-vmm');
