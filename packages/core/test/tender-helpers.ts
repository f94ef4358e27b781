import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { type Manifest, parseManifest } from '../src/entry/kernel.js';
import { GuestMemory, type Platform, type Vm } from '../src/entry/platform.js';
import {
  type GuestRam,
  Hypercalls,
  type Module,
  type OptionContext,
  type SetupContext,
  WaitSet,
} from '../src/entry/tender.js';
import { type DeviceSpec, manifestBytes } from './elf-builder.js';

export const BLOCK = 1;
export const NET = 2;

export const MiB = 2 ** 20;
/** The guest RAM most tests give a guest. */
export const M = 4 * MiB;

export function manifestOf(devices: DeviceSpec[]): Manifest {
  return parseManifest(manifestBytes(devices), 'test.hvt');
}

/** Collects what modules print with warnx. */
export function warnings(): { list: string[]; warn: (text: string) => void } {
  const list: string[] = [];
  return { list, warn: (text) => list.push(text) };
}

/**
 * Option handling without a platform: only net's tap attach needs one, and the
 * tests that reach it use `@NN` descriptors, which need none.
 */
export function optionContext(manifest: Manifest, warn: (text: string) => void): OptionContext {
  return { manifest, platform: {} as Platform, warn };
}

/** Core's tests have no platform: a module that asks for a poll set fails loudly. */
function pollSetUnavailable(): never {
  throw new Error('createPollSet: no platform in these tests');
}

/** Guest RAM of `size` bytes, all of it visible unless `visible` says less. */
export function guestRam(size: number, visible = size): GuestRam {
  return { memory: GuestMemory.allocate(size), size: visible };
}

/**
 * The context the tender hands each module's setup, minus the VM: block and
 * net (with descriptors attached directly) never touch `vm`, and `platform`
 * is what the test gives (by default one without a poll set). `ring` gives a
 * ring area and a VM with only `netRing`; `offered` records what the net
 * module offered.
 */
export function setupContext(
  guest: GuestRam,
  manifest: Manifest,
  hypercalls: Hypercalls,
  warn: (text: string) => void,
  platform = { createPollSet: pollSetUnavailable } as unknown as Platform,
  ring: { ringGpa: number; vm: Pick<Vm, 'netRing'> } = { ringGpa: 0, vm: {} },
): SetupContext & {
  readonly waitSet: WaitSet;
  readonly offered: { ringIo: boolean; ioThreadChecks: (() => unknown)[] };
} {
  const offered = { ringIo: false, ioThreadChecks: [] as (() => unknown)[] };
  return {
    offered,
    platform,
    vm: ring.vm as Vm,
    guest,
    manifest,
    waitSet: new WaitSet(),
    warn,
    registerHypercall: (nr, handler) => hypercalls.register(nr, handler),
    registerHaltHook: (hook) => hypercalls.registerHaltHook(hook),
    ringGpa: ring.ringGpa,
    offerRingIo: () => {
      offered.ringIo = true;
    },
    registerIoThreadCheck: (check) => offered.ioThreadChecks.push(check),
    registerRunStart: () => {},
    registerExitHandler: () => false,
  };
}

/** Runs the setups of `modules` as the tender does, minus the VM (`setupContext`). */
export function setUp(
  modules: Module[],
  manifest: Manifest,
  guest: GuestRam,
  ring?: { ringGpa: number; vm: Pick<Vm, 'netRing'> },
) {
  const hypercalls = new Hypercalls(guest);
  const printed = warnings();
  const ctx = setupContext(guest, manifest, hypercalls, printed.warn, undefined, ring);
  for (const module of modules) module.setup?.(ctx);
  return { hypercalls, waitSet: ctx.waitSet, warnings: printed.list, offered: ctx.offered };
}

/** A scratch directory removed by the returned function. */
export function scratchDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'hvtjs-test-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A scratch directory for each test of the calling file (or describe block):
 * made before each test, removed after it. `dir` is the current one.
 */
export function scratchPerTest(): { readonly dir: string } {
  let current: ReturnType<typeof scratchDir> | undefined;
  beforeEach(() => {
    current = scratchDir();
  });
  afterEach(() => current?.remove());
  return {
    get dir() {
      if (current === undefined) throw new Error('the scratch directory exists only in a test');
      return current.dir;
    },
  };
}

/** The message of what `fn` throws. */
export function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an exception');
}
