import { initialVcpuState, writePageTablesAndGdt } from './arch/x86_64.js';
import { writeBootInfo } from './boot-info.js';
import { readKernelFile } from './elf.js';
import { HvtError } from './errors.js';
import { Hypercalls } from './hypercalls.js';
import { loadElf } from './loader.js';
import { type Manifest, MftType } from './manifest.js';
import { guestMemorySize, HVT_RING_SIZE, planMemory } from './memory-layout.js';
import { BlockModule } from './modules/block.js';
import { createCoreModule, WaitSet } from './modules/core.js';
import { DumpcoreModule } from './modules/dumpcore.js';
import type { GuestRam, Module, SetupContext, Warn } from './modules/module.js';
import { NetModule } from './modules/net.js';
import { readAbiNote, readManifestNote, requireHvtAbi } from './notes.js';
import { guestCommandLine, secondPass } from './options.js';
import { ExitField, ExitKind, type Platform, type Vm } from './platform.js';
import { mergeSandboxNeeds, type SandboxPolicy } from './sandbox-policy.js';

/**
 * The tender's lifecycle (hvt-abi.md section 1, design.md section 2), in the
 * reference's order, because which error a user sees first is observable.
 */

/** The modules of this tender, in link order: fresh instances for one run. */
export function createModules(waitSet = new WaitSet()): Module[] {
  return [createCoreModule(waitSet), new BlockModule(), new NetModule(), new DumpcoreModule()];
}

export interface TenderConfig {
  readonly platform: Platform;
  /** The command line after the program name, as the first pass saw it. */
  readonly args: readonly string[];
  readonly kernel: string;
  readonly guestArgs: readonly string[];
  /** Prints `<prog>: <text>` on stderr. */
  readonly warn: Warn;
  /** Step 14, just before the guest runs: drop privileges (later: print the policy). */
  readonly beforeRun?: (policy: SandboxPolicy, vm: Vm) => void;
}

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
    const requested = secondPass(config.args, modules, { manifest, platform, warn });
    // Step 6: from here on SIGINT and SIGTERM end the run with "Exiting on
    // signal" (vm.run() reports them) instead of killing the process.
    platform.catchTerminationSignals?.();

    // Steps 7-10: memory, the VM, the kernel image, the ring area.
    const netAttached = manifest.entries.some((e) => e.attached && e.type === MftType.NET_BASIC);
    const plan = planMemory(guestMemorySize(requested, warn), netAttached, warn);
    vm = platform.createVm(plan.allocated);
    const theVm = vm;
    const loaded = loadElf(image, kernel, vm.memory, {
      memSize: plan.allocated,
      protect: (segment) =>
        theVm.protect(segment.start, segment.end - segment.start, segment.hostProt),
    });
    if (plan.ringGpa !== 0) vm.memory.fill(plan.ringGpa, HVT_RING_SIZE);

    // Step 11: the vCPU.
    writePageTablesAndGdt(vm.memory, plan.allocated);
    const { tscHz } = vm.initVcpuX86(initialVcpuState(loaded.entry, plan.visible));

    // Step 12: module setup, then every declared device must be attached.
    const guest: GuestRam = { memory: vm.memory, size: plan.visible };
    const hypercalls = new Hypercalls(guest);
    const ctx: SetupContext = {
      platform,
      vm,
      guest,
      manifest,
      waitSet,
      warn,
      registerHypercall: (nr, handler) => hypercalls.register(nr, handler),
      registerHaltHook: (hook) => hypercalls.registerHaltHook(hook),
    };
    for (const module of modules) setupModule(module, ctx, warn);
    requireAllAttached(manifest, warn);
    waitSet.open(platform);

    // Step 13: boot info, manifest copy, command line.
    writeBootInfo(vm.memory, {
      memSize: plan.visible,
      kernelEnd: loaded.kernelEnd,
      cpuCycleFreq: tscHz,
      manifest: manifest.encode(),
      cmdline: guestCommandLine(config.guestArgs),
    });

    // Step 14: what the sandbox must still allow, then the drop itself.
    const policy = sandboxPolicy(modules);
    config.beforeRun?.(policy, vm);

    // Step 15.
    return runLoop(vm, hypercalls, hypervisorName(platform));
  } finally {
    for (const module of modules) module.close?.();
    vm?.destroy();
  }
}

/** The modules' declarations merged into one policy (design.md section 4). */
export function sandboxPolicy(modules: readonly Module[]): SandboxPolicy {
  return mergeSandboxNeeds(modules.map((m) => m.sandboxNeeds?.() ?? {}));
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

/**
 * Step 15: runs the vCPU, serving each exit, until the guest halts (its status
 * is returned) or something fatal happens (thrown). One vm.run() per exit;
 * exit details come from the preallocated vm.exit.
 */
export function runLoop(vm: Vm, hypercalls: Hypercalls, hypervisor: string): number {
  const exit = vm.exit;
  for (;;) {
    const kind = vm.run();
    if (kind === ExitKind.IO) {
      const halted = hypercalls.dispatchPort(
        exit[ExitField.PORT]!,
        exit[ExitField.SIZE]!,
        exit[ExitField.DIRECTION] === 1,
        exit[ExitField.VALUE]!,
      );
      if (halted) return hypercalls.haltStatus;
      continue;
    }
    throw fatalExit(vm, kind, hypervisor);
  }
}

/** The error for an exit the tender cannot serve (12, 13.2). */
export function fatalExit(vm: Vm, kind: ExitKind, hypervisor: string): HvtError {
  const exit = vm.exit;
  const hex = (n: number | bigint) => `0x${n.toString(16)}`;
  const unhandled = () =>
    new HvtError(
      `${hypervisor}: unhandled exit: exit_reason=${hex(exit[ExitField.REASON]!)}, rip=${hex(vm.getRegistersX86().rip)}`,
    );
  switch (kind) {
    case ExitKind.SIGNAL:
      return new HvtError(`Exiting on signal ${exit[ExitField.SIGNAL]}`);
    case ExitKind.TRANSLATION_FAULT:
      return new HvtError(
        `${hypervisor}: host/guest translation fault: rip=${hex(vm.getRegistersX86().rip)}`,
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
          `${hypervisor}: host/guest translation fault: rip=${hex(vm.getRegistersX86().rip)}`,
        );
      }
      return unhandled();
    default:
      return unhandled();
  }
}
