// `pnpm gen:abi` (after `pnpm build`): rewrites src/native/fb_abi_gen.h from
// src/abi.ts, the one place the vmm numbers are written.
import { writeFileSync } from 'node:fs';
import { renderAbiHeader } from '../dist/abi-header.js';

writeFileSync(new URL('../src/native/fb_abi_gen.h', import.meta.url), renderAbiHeader());
