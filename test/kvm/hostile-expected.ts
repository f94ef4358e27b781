// What the tender must say for each fatal mode of the hostile guest
// (test/guests/hostile.c), on x86_64 and aarch64: the guest-pointer checks are
// the same for both, the transport modes differ (ports or MMIO, docs/guest-abi.md 7.2).

/** What an expectation reads from the guest's run. */
export interface GuestOutput {
  readonly stdout: string;
}

const hex = (n: number | bigint) => n.toString(16);

/** The guest-visible size the guest printed. */
export const memOf = (run: GuestOutput) =>
  Number.parseInt(/mem_size=0x([0-9a-f]+)/.exec(run.stdout)![1]!, 16);
const access = (where: string, gpa: number | bigint, sz: number | bigint) =>
  `${where}: Invalid guest access: gpa=0x${hex(gpa)}, sz=${sz}`;
/** gpa and len of the guest's last "puts data=0x.. len=0x.." line. */
const putsArgs = (run: GuestOutput) => {
  const m = /puts data=0x([0-9a-f]+) len=0x([0-9a-f]+)/.exec(run.stdout)!;
  return [BigInt(`0x${m[1]}`), BigInt(`0x${m[2]}`)] as const;
};
/** The address the guest printed after `what=0x`. */
const printedGpa = (run: GuestOutput, what: string) =>
  Number.parseInt(new RegExp(`${what}=0x([0-9a-f]+)`).exec(run.stdout)![1]!, 16);

type Expected = (mem: number, run: GuestOutput) => string;

const GUEST_ACCESS: Record<string, Expected> = {
  'puts-struct-outside': (m) => access('core.ts:PUTS', m + 0x1000, 16),
  'puts-data-top': (m) => access('core.ts:PUTS', m - 16, 16),
  'puts-data-outside': (m) => access('core.ts:PUTS', m + 0x1000, 1),
  'puts-len-overflow': (_, run) => access('core.ts:PUTS', ...putsArgs(run)),
  'puts-huge-len': (_, run) => access('core.ts:PUTS', ...putsArgs(run)),
  'puts-straddle': (m) => access('core.ts:PUTS', m - 8, 16),
  'walltime-straddle': (m) => access('core.ts:WALLTIME', m - 4, 8),
  // In the guest's read-only pages: the same message, not a SIGSEGV (exit 139).
  'walltime-rodata': (_, run) => access('core.ts:WALLTIME', printedGpa(run, 'walltime struct'), 8),
  'block-read-text': (_, run) =>
    access('block.ts:BLOCK_READ', printedGpa(run, 'block read data'), 512),
  'halt-cookie-top': (m) => access('hypercalls.ts:HALT', m - 512, 512),
  'halt-cookie-outside': (m) => access('hypercalls.ts:HALT', m + 0x1000, 512),
  'block-data-outside': (m) => access('block.ts:BLOCK_READ', m + 0x1000, 512),
  'net-data-outside': (m) => access('net.ts:NET_WRITE', m + 0x1000, 60),
  'hypercall-0': () => 'Invalid guest hypercall: num=0',
};

const TRANSPORT: Record<'x86_64' | 'aarch64', Record<string, Expected>> = {
  x86_64: {
    'hypercall-9': () => 'Invalid guest port access: port=0x509',
    'hypercall-7f': () => 'Invalid guest port access: port=0x57f',
    'in-port': () => 'Invalid guest port access: port=0x501',
    out8: () => 'Invalid guest port access: port=0x501',
    out16: () => 'Invalid guest port access: port=0x501',
    'out-port-400': () => 'Invalid guest port access: port=0x400',
  },
  // The same modes against the MMIO window: a read, 1- and 2-byte stores at
  // WALLTIME's slot, stores past the window.
  aarch64: {
    'hypercall-9': () => 'Invalid guest mmio access: mmio=0x100000048',
    'hypercall-7f': () => 'Invalid guest mmio access: mmio=0x1000003f8',
    'in-port': () => 'Invalid guest mmio access: mmio=0x100000008 len=4',
    out8: () => 'Invalid guest mmio access: mmio=0x100000008 len=1',
    out16: () => 'Invalid guest mmio access: mmio=0x100000008 len=2',
    'out-port-400': () => 'Invalid guest mmio access: mmio=0x100000048',
  },
};

/** Mode name to the one message the tender must print for it (exit status 1). */
export function hostileFatal(arch: 'x86_64' | 'aarch64'): Record<string, Expected> {
  return { ...GUEST_ACCESS, ...TRANSPORT[arch] };
}
