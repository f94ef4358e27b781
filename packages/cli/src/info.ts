import { UsageError } from '@hvtjs/core';
import {
  abiTargetName,
  EM_AARCH64,
  EM_X86_64,
  hostMachine,
  type ManifestJson,
  peekMachine,
  readAbiNote,
  readKernelFile,
  readManifestNote,
} from '@hvtjs/core/kernel';
import { type Command, report } from './main.js';

const usage = () => 'usage: solo5 info KERNEL [--json]\n';

/** What `solo5 info --json` prints. */
export interface KernelInfo {
  abi: { target: string; version: number };
  manifest: ManifestJson;
}

function parseArgs(args: readonly string[]): { kernel: string; json: boolean } {
  let json = false;
  let kernel: string | undefined;
  let options = true;
  for (const arg of args) {
    if (options && arg === '--') options = false;
    else if (options && arg === '--json') json = true;
    else if (options && arg.startsWith('-') && arg !== '-') {
      throw new UsageError(`Invalid option: \`${arg}'`);
    } else if (kernel === undefined) kernel = arg;
    else throw new UsageError(`Unexpected argument: \`${arg}'`);
  }
  if (kernel === undefined) throw new UsageError('Missing KERNEL operand');
  return { kernel, json };
}

/** Names are alphanumeric by convention only: never let one drive the terminal. */
function printable(name: string): string {
  return /^[\x20-\x7e]*$/.test(name) && !name.includes('"') ? name : JSON.stringify(name);
}

/**
 * `solo5 info KERNEL [--json]`: the ABI target and version and the manifest of a
 * Solo5 unikernel of any target, read with the tender's own checks. Like
 * solo5-elftool's query-abi and query-manifest, in one command.
 */
export const info: Command = async (args, io) => {
  let kernel: string;
  let json: boolean;
  try {
    ({ kernel, json } = parseArgs(args));
  } catch (error) {
    return report(error, io, usage);
  }
  const bytes = readKernelFile(kernel);
  // Describe an aarch64 unikernel on an x86_64 host too; anything else is
  // checked against the host, and refused with the tender's message.
  const peeked = peekMachine(bytes);
  const machine = peeked === EM_X86_64 || peeked === EM_AARCH64 ? peeked : hostMachine();
  const abi = readAbiNote(bytes, kernel, machine);
  const manifest = readManifestNote(bytes, kernel, machine);
  const result: KernelInfo = {
    abi: { target: abiTargetName(abi.target), version: abi.version },
    manifest: manifest.toJSON(),
  };
  if (json) {
    io.out(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  }
  const devices = manifest.devices();
  const lines = [
    `ABI: ${result.abi.target}, version ${abi.version}`,
    `Manifest: version ${manifest.version}, ${devices.length === 0 ? 'no' : devices.length} device${devices.length === 1 ? '' : 's'}`,
    ...devices.map((d) => `  [${d.index}] ${printable(d.name)}: ${d.typeName()}`),
  ];
  io.out(`${lines.join('\n')}\n`);
  return 0;
};
