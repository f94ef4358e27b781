import { type GuestArch, guestArch } from './arch/index.js';
import { X86_64 } from './arch/x86_64.js';
import { HVT_FEATURE_RING_IO, writeBootInfo } from './boot-info.js';
import { readKernelFile } from './elf.js';
import { HvtError } from './errors.js';
import { Hypercalls } from './hypercalls.js';
import { loadElf } from './loader.js';
import { type Manifest, MftType } from './manifest.js';
import { guestMemorySize, HVT_RING_SIZE, planMemory } from './memory-layout.js';
import { BlockModule } from './modules/block.js';
import { createCoreModule, WaitSet } from './modules/core.js';
import { DumpcoreModule } from './modules/dumpcore.js';
import { GdbModule } from './modules/gdb.js';
import type { GuestRam, Module, SetupContext, Warn } from './modules/module.js';
import { NetModule } from './modules/net.js';
import { readAbiNote, readManifestNote, requireHvtAbi } from './notes.js';
import {
  defaultSandboxSettings,
  guestCommandLine,
  type SandboxSettings,
  secondPass,
} from './options.js';
import { ExitField, ExitKind, type Platform, type Vm } from './platform.js';
import {
  mergeSandboxNeeds,
  policyToJson,
  type SandboxPolicy,
  TENDER_SANDBOX_NEEDS,
} from './sandbox-policy.js';

/**
 * The tender's lifecycle (docs/guest-abi.md section 1, docs/architecture.md section 2), in the
 * reference's order, because which error a user sees first is observable.
 */

/** The modules of this tender, in link order: fresh instances for one run. */
export function createModules(waitSet = new WaitSet()): Module[] {
  return [
    createCoreModule(waitSet),
    new BlockModule(),
    new NetModule(),
    new GdbModule(),
    new DumpcoreModule(),
  ];
}

export interface TenderConfig {
  readonly platform: Platform;
  /** The command line after the program name, as the first pass saw it. */
  readonly args: readonly string[];
  readonly kernel: string;
  readonly guestArgs: readonly string[];
  /** Prints `<prog>: <text>` on stderr. */
  readonly warn: Warn;
  /** Prints on stdout (--print-policy). */
  readonly out?: (text: string) => void;
  /**
   * Called just before the sandbox goes on: from then on the process must end
   * through `platform.exit()`, since the runtime's own teardown makes system
   * calls the sandbox forbids. Not called with --unsafe-no-sandbox.
   */
  readonly onSandbox?: () => void;
  /** Print what the sandbox applied (one warning line per mechanism). */
  readonly debug?: boolean;
}

/** runTender's result for --print-policy, which runs nothing. */
const POLICY_PRINTED = 0;

/** Runs the unikernel to its end; returns its exit status, or throws HvtError. */
export function runTender(config: TenderConfig): number {
  const { platform, kernel, warn } = config;

  // Steps 2-4: the kernel file, its ABI note, its manifest.
  const image = readKernelFile(kernel);
  requireHvtAbi(readAbiNote(image, kernel), kernel);
  const manifest = readManifestNote(image, kernel);

  const waitSet = new WaitSet();
  const modules = createModules(waitSet);
  let vm: Vm | undefined;
  try {
    // Step 5: options; block files and taps are opened here.
    const settings = defaultSandboxSettings();
    const requested = secondPass(config.args, modules, { manifest, platform, warn }, settings);
    // Step 6: from here on SIGINT and SIGTERM end the run with "Exiting on
    // signal" (vm.run() reports them) instead of killing the process.
    platform.catchTerminationSignals();

    // Steps 7-10: memory, the VM, the kernel image, the ring area.
    const netAttached = manifest.entries.some((e) => e.attached && e.type === MftType.NET_BASIC);
    const plan = planMemory(guestMemorySize(requested, warn), netAttached, warn);
    vm = platform.createVm(plan.allocated);
    const theVm = vm;
    const loaded = loadElf(image, kernel, vm.memory, {
      memSize: plan.allocated,
      protect: (segment) => {
        const len = segment.end - segment.start;
        theVm.protect(segment.start, len, segment.hostProt);
        // From now on the tender's own accesses must keep out of what is not writable.
        theVm.memory.restrict(segment.start, len, segment.hostProt);
      },
      ...(plan.ringGpa !== 0
        ? { reserved: { start: plan.ringGpa, end: plan.allocated, what: 'network ring area' } }
        : {}),
    });
    if (plan.ringGpa !== 0) vm.memory.fill(plan.ringGpa, HVT_RING_SIZE);

    // Step 11: the vCPU, as the platform's architecture starts it.
    const arch = guestArch(platform.arch);
    arch.writeTables(vm.memory, plan.allocated);
    const cycleHz = arch.initVcpu(vm, loaded.entry, plan.visible);

    // Step 12: module setup, then every declared device must be attached.
    const guest: GuestRam = {
      memory: vm.memory,
      size: plan.visible,
      ...(vm.io !== undefined ? { io: vm.io } : {}),
    };
    const hypercalls = new Hypercalls(guest);
    let ringOffered = false;
    const ioThreadChecks: (() => HvtError | undefined)[] = [];
    const hooks: RunHooks = { start: [], exit: [] };
    const ctx: SetupContext = {
      platform,
      vm,
      guest,
      manifest,
      waitSet,
      warn,
      registerHypercall: (nr, handler, fast) => hypercalls.register(nr, handler, fast),
      registerHaltHook: (hook) => hypercalls.registerHaltHook(hook),
      ringGpa: plan.ringGpa,
      offerRingIo: () => {
        ringOffered = plan.ringGpa !== 0;
      },
      registerIoThreadCheck: (check) => ioThreadChecks.push(check),
      registerRunStart: (hook) => hooks.start.push(hook),
      registerExitHandler: (handler) => hooks.exit.push(handler),
    };
    for (const module of modules) setupModule(module, ctx, warn);
    requireAllAttached(manifest, warn);
    waitSet.open(platform);

    // Step 13: boot info, manifest copy, command line.
    writeBootInfo(vm.memory, {
      memSize: plan.visible,
      kernelEnd: loaded.kernelEnd,
      cpuCycleFreq: cycleHz,
      manifest: manifest.encode(),
      cmdline: guestCommandLine(config.guestArgs),
      ...(ringOffered ? { hostFeatures: HVT_FEATURE_RING_IO, netRing: plan.ringGpa } : {}),
    });

    armFastPath(vm, hypercalls, modules);

    // Step 14: what the sandbox must still allow, then the drop itself.
    if (enterSandbox(config, settings, modules, vm) === 'printed') return POLICY_PRINTED;

    // Step 15.
    return runLoop(vm, hypercalls, hypervisorName(platform), ioThreadChecks, hooks, arch);
  } finally {
    for (const module of modules) module.close?.();
    vm?.destroy();
  }
}

/**
 * Lets the platform serve the simple hypercalls natively (docs/architecture.md
 * 3.2), unless a module must see every exit or the platform cannot.
 */
export function armFastPath(vm: Vm, hypercalls: Hypercalls, modules: readonly Module[]): boolean {
  if (vm.armFastPath === undefined || modules.some((m) => m.seesEveryExit === true)) return false;
  vm.armFastPath(hypercalls.fastPathPlan());
  return true;
}

/** The modules' declarations merged into one policy (docs/architecture.md section 4). */
export function sandboxPolicy(modules: readonly Module[]): SandboxPolicy {
  return mergeSandboxNeeds(modules.map((m) => m.sandboxNeeds?.() ?? {}));
}

/** Everything the tender declares: its own stderr, the modules, the VM. */
export function declaredSandboxPolicy(modules: readonly Module[], vm?: Vm): SandboxPolicy {
  return mergeSandboxNeeds([
    TENDER_SANDBOX_NEEDS,
    ...modules.map((m) => m.sandboxNeeds?.() ?? {}),
    vm?.sandboxNeeds() ?? {},
  ]);
}

/**
 * Step 14 (docs/architecture.md 4): the policy is what the tender declares plus what the
 * runtime itself needs; then either print it (--print-policy), run without a
 * sandbox (--unsafe-no-sandbox, loudly), or drop privileges. Every platform
 * has a sandbox (the contract requires it): there is no silent fallback.
 */
export function enterSandbox(
  config: TenderConfig,
  settings: SandboxSettings,
  modules: readonly Module[],
  vm: Vm,
): 'printed' | 'sandboxed' | 'unsandboxed' {
  const { platform, warn } = config;
  if (settings.unsafeNoSandbox && !settings.printPolicy) {
    warn('WARNING: --unsafe-no-sandbox: the tender keeps every privilege it was started with.');
    warn('WARNING: A guest that compromises the tender can do anything this user can.');
    return 'unsandboxed';
  }
  vm.prepareSandbox?.();
  const declared = declaredSandboxPolicy(modules, vm);
  const policy = mergeSandboxNeeds([declared, platform.prepareSandbox(declared)]);
  const options = {
    ...(settings.user !== undefined ? { user: settings.user } : {}),
    ...(settings.group !== undefined ? { group: settings.group } : {}),
  };
  if (settings.printPolicy) {
    const printed = {
      platform: platform.name,
      policy: policyToJson(policy),
      compiled: platform.describeSandbox(policy, options),
    };
    (config.out ?? ((text: string) => warn(text)))(`${JSON.stringify(printed, null, 2)}\n`);
    return 'printed';
  }
  config.onSandbox?.();
  const report = platform.dropPrivileges(policy, options);
  if (config.debug) {
    for (const line of report.applied) warn(`sandbox: ${line}`);
    for (const line of report.unavailable) warn(`sandbox: unavailable: ${line}`);
  }
  return 'sandboxed';
}

/**
 * One module's setup (section 11): its own fatal messages pass through; any
 * other failure is the reference's "setup failed" with the module's usage.
 */
export function setupModule(module: Module, ctx: SetupContext, warn: Warn): void {
  try {
    module.setup?.(ctx);
  } catch (error) {
    if (error instanceof HvtError) throw error;
    const failed = `Module \`${module.name}' setup failed`;
    let reported: HvtError;
    if (module.usage === undefined) {
      reported = new HvtError(failed);
    } else {
      warn(failed);
      reported = new HvtError(`Please check you have correctly specified:\n    ${module.usage}`);
    }
    reported.cause = error;
    throw reported;
  }
}

/** 11.6: every device the manifest declares must have been attached. */
export function requireAllAttached(manifest: Manifest, warn: Warn): void {
  let missing = false;
  for (const entry of manifest.entries) {
    if (!entry.isDevice() || entry.attached) continue;
    warn(`Device '${entry.name}' of type ${entry.typeName()} declared but not attached.`);
    missing = true;
  }
  if (missing) throw new HvtError('All declared devices must be attached. See --help for syntax.');
}

/** How messages name the hypervisor, as the reference's backends do. */
export function hypervisorName(platform: Platform): string {
  return platform.name.endsWith('-kvm') ? 'KVM' : 'VMM';
}

/** What modules hook into the run loop (SetupContext.registerRunStart, registerExitHandler). */
export interface RunHooks {
  readonly start: (() => void)[];
  readonly exit: ((kind: ExitKind) => boolean)[];
}

/**
 * Step 15: runs the vCPU, serving each exit, until the guest halts (its status
 * is returned) or something fatal happens (thrown). One vm.run() per exit;
 * exit details come from the preallocated vm.exit. Hypercalls arrive as the
 * architecture's exit (port I/O on x86_64, MMIO on aarch64), which `arch`
 * decodes into a number; the handlers are the same for both. An IO_THREAD exit
 * is explained by the first of `ioThreadChecks` that claims it. Exits other
 * than a hypercall's go to the modules' exit handlers first.
 */
export function runLoop(
  vm: Vm,
  hypercalls: Hypercalls,
  hypervisor: string,
  ioThreadChecks: readonly (() => HvtError | undefined)[] = [],
  hooks: RunHooks = { start: [], exit: [] },
  arch: GuestArch = X86_64,
): number {
  const exit = vm.exit;
  const hypercallExit = arch.hypercallExit;
  for (const hook of hooks.start) hook();
  for (;;) {
    const kind = vm.run();
    if (kind === hypercallExit) {
      let halted: boolean;
      try {
        halted = hypercalls.dispatch(arch.hypercallNumber(exit), exit[ExitField.VALUE]!);
      } catch (error) {
        // The thread's signal may have cut a handler's system call short:
        // then the thread's failure is the story, not the interruption.
        throw ioThreadFailure(ioThreadChecks) ?? error;
      }
      if (halted) return hypercalls.haltStatus;
      continue;
    }
    if (hooks.exit.some((handler) => handler(kind))) continue;
    if (kind === ExitKind.IO_THREAD) {
      const failure = ioThreadFailure(ioThreadChecks);
      if (failure !== undefined) throw failure;
    }
    throw fatalExit(vm, kind, hypervisor, arch);
  }
}

/** The error of the first I/O thread that failed, if one did. */
function ioThreadFailure(checks: readonly (() => HvtError | undefined)[]): HvtError | undefined {
  for (const check of checks) {
    const failure = check();
    if (failure !== undefined) return failure;
  }
  return undefined;
}

/** The error for an exit the tender cannot serve (12, 13.2, 13.3). */
export function fatalExit(
  vm: Vm,
  kind: ExitKind,
  hypervisor: string,
  arch: GuestArch = X86_64,
): HvtError {
  const exit = vm.exit;
  // A backend whose reference tender words an exit its own way says so.
  const described = kind === ExitKind.SIGNAL ? undefined : vm.describeExit?.(kind);
  if (described !== undefined) return new HvtError(described);
  const hex = (n: number | bigint) => `0x${n.toString(16)}`;
  const unhandled = () =>
    new HvtError(
      `${hypervisor}: unhandled exit: exit_reason=${hex(exit[ExitField.REASON]!)}, ${arch.programCounter(vm)}`,
    );
  switch (kind) {
    case ExitKind.SIGNAL:
      return new HvtError(`Exiting on signal ${exit[ExitField.SIGNAL]}`);
    case ExitKind.TRANSLATION_FAULT:
      return new HvtError(
        `${hypervisor}: host/guest translation fault: ${arch.programCounter(vm)}`,
      );
    case ExitKind.FAIL_ENTRY:
      return new HvtError(
        `${hypervisor}: entry failure: hw_entry_failure_reason=${hex(exit[ExitField.DETAIL]!)}`,
      );
    case ExitKind.INTERNAL_ERROR:
      return new HvtError(
        `${hypervisor}: internal error exit: suberror=${hex(exit[ExitField.DETAIL]!)}`,
      );
    case ExitKind.MMIO:
      // x86 guests have no MMIO. Some KVM hosts (those that emulate every
      // guest instruction, e.g. PVM) report a write to guest RAM that the host
      // maps read-only as an MMIO exit rather than failing KVM_RUN with
      // EFAULT: the same event, so the same message.
      if (exit[ExitField.ADDRESS]! < vm.memory.size) {
        return new HvtError(
          `${hypervisor}: host/guest translation fault: ${arch.programCounter(vm)}`,
        );
      }
      return unhandled();
    case ExitKind.IO_THREAD:
      // Only when no module claimed the failure (see runLoop).
      return new HvtError('a device I/O thread failed');
    default:
      return unhandled();
  }
}
