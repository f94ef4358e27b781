import type { HvtError } from '../errors.js';
import type { GuestRam } from '../guest-abi.js';
import type { FastPathCall, HaltHook, HypercallHandler } from '../hypercalls.js';
import type { Manifest } from '../manifest.js';
import type { ExitKind, Platform, Vm } from '../platform.js';
import type { SandboxNeeds } from '../sandbox-policy.js';

export type { GuestRam, HaltHook, HypercallHandler };

/**
 * A tender module (docs/guest-abi.md section 11): one file holds its command-line
 * options and usage text, its setup, its hypercall handlers and what it needs
 * from the sandbox. The tender knows modules only through this interface.
 */

/** Prints `<prog>: <text>` on stderr (the reference's warnx). */
export type Warn = (text: string) => void;

/** What an option handler may use (second pass, before the VM exists). */
export interface OptionContext {
  readonly manifest: Manifest;
  readonly platform: Platform;
  readonly warn: Warn;
}

/** Descriptors POLL waits on, each tagged with the manifest index it reports (8.3). */
export interface WaitRegistry {
  watch(fd: number, index: number): void;
}

/** What a module setup may use (step 12, after the VM and vCPU exist). */
export interface SetupContext {
  readonly platform: Platform;
  readonly vm: Vm;
  readonly guest: GuestRam;
  readonly manifest: Manifest;
  readonly waitSet: WaitRegistry;
  readonly warn: Warn;
  /**
   * `fast`: what a platform's native fast path may serve of this hypercall
   * without calling `handler` (docs/architecture.md 3.2).
   */
  registerHypercall(nr: number, handler: HypercallHandler, fast?: FastPathCall): void;
  registerHaltHook(hook: HaltHook): void;
  /** GPA of the ring area reserved at the top of memory (5.1), 0 when there is none. */
  readonly ringGpa: number;
  /** Tells the guest, in the boot info, that the ring at `ringGpa` is served (9, 10). */
  offerRingIo(): void;
  /**
   * Explains an ExitKind.IO_THREAD exit: `check` returns the error of this
   * module's failed thread, or undefined when it is not the one that failed.
   */
  registerIoThreadCheck(check: () => HvtError | undefined): void;
  /** Runs `hook` once, after the sandbox, just before the guest's first instruction. */
  registerRunStart(hook: () => void): void;
  /**
   * Offers `handler` every exit other than a hypercall's before the tender
   * handles it (the reference's vmexit pre-handlers): it returns true when it
   * served the exit and the guest is to run on.
   */
  registerExitHandler(handler: (kind: ExitKind) => boolean): void;
}

export interface Module {
  /** As listed in "Compiled-in modules:". */
  readonly name: string;
  /** Usage text; a second line starts with a newline and two spaces, as the reference's. */
  readonly usage?: string;
  /**
   * Offered every option argument of the second pass: returns true when it
   * consumed it. Returning false after a warning makes the run fail with
   * "Invalid option". Fatal problems throw HvtError.
   */
  handleOption?(arg: string, ctx: OptionContext): boolean;
  /**
   * Step 12. Throws HvtError with the reference's message for fatal problems;
   * any other exception is reported as "Module `<name>' setup failed".
   */
  setup?(ctx: SetupContext): void;
  /**
   * The module must see every hypercall exit (a debugger stepping the guest):
   * then no native fast path is armed and every exit reaches JavaScript.
   */
  readonly seesEveryExit?: boolean;
  /** What this module needs once the guest runs (valid after setup). */
  sandboxNeeds?(): SandboxNeeds;
  /** Releases host resources (descriptors); called on every path out of the tender. */
  close?(): void;
}
