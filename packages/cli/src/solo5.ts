#!/usr/bin/env node
import { type Command, processIo, report } from './main.js';

const VERSION = '0.1.0';

const usage = () =>
  [
    'usage: solo5 COMMAND [ ARGS ]',
    'Commands:',
    '  run [ OPTIONS ] [ -- ] KERNEL [ ARGS ]',
    '                         run a Solo5 hvt unikernel (options: solo5 run --help)',
    '  info KERNEL [--json]   show the ABI and the manifest of a Solo5 unikernel',
    '  build-exe -o PATH      make a self-contained solo5-hvt executable (x86_64 Linux)',
    '  --version              display version information',
    '  --help                 display this help',
    '',
  ].join('\n');

const commands: Record<string, () => Promise<Command>> = {
  info: async () => (await import('./info.js')).info,
  run: async () => (await import('./run.js')).run,
  'build-exe': async () => (await import('./build-exe.js')).buildExe,
};

async function main(argv: readonly string[]): Promise<number> {
  const io = processIo('solo5');
  const [name, ...rest] = argv;
  if (name === '--version') {
    io.out(`solo5 (hvt.js) version ${VERSION}\n`);
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h') {
    (name === undefined ? io.err : io.out)(usage());
    return name === undefined ? 1 : 0;
  }
  const load = commands[name];
  if (!load) {
    io.err(`solo5: unknown command '${name}'\n${usage()}`);
    return 1;
  }
  try {
    return await (await load())(rest, io);
  } catch (error) {
    return report(error, io);
  }
}

// No top-level await: the bundle is CommonJS (scripts/bundle.mjs).
void main(process.argv.slice(2)).then((status) => {
  process.exitCode = status;
});
