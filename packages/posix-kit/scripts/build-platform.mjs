// The build of a platform package: its addon with node-gyp only on the system
// whose libc it links against (elsewhere it could not load, and the package's
// tables and policy translation work without it), then its TypeScript.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** packageRoot: a file URL of the package's root; platform: process.platform of its system. */
export function buildPlatformPackage(packageRoot, platform, label) {
  const cwd = fileURLToPath(packageRoot);
  const run = (command, args) => {
    const result = spawnSync(command, args, { cwd, stdio: 'inherit' });
    if (result.error) throw result.error;
    if (result.status !== 0) process.exit(result.status ?? 1);
  };
  if (process.platform === platform) {
    run('node-gyp', ['rebuild']);
  } else {
    console.log(`${label}: not building the addon on ${process.platform}`);
  }
  run('tsc', ['-p', 'tsconfig.build.json']);
}
