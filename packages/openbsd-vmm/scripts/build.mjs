// `pnpm build`: the TypeScript everywhere; the addon only on OpenBSD, the one
// system whose libc it links against and where it can be loaded. Elsewhere the
// package still builds, and its tables and policy translation are usable.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const packageRoot = fileURLToPath(new URL('..', import.meta.url));

function run(command, args) {
  const result = spawnSync(command, args, { cwd: packageRoot, stdio: 'inherit' });
  if (result.error) throw result.error;
  if (result.status !== 0) process.exit(result.status ?? 1);
}

if (process.platform === 'openbsd') {
  run('node-gyp', ['rebuild']);
} else {
  console.log(`openbsd-vmm: not building the addon on ${process.platform}`);
}
run('tsc', ['-p', 'tsconfig.build.json']);
