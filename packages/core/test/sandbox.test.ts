import { describe, expect, it } from 'vitest';
import type { Platform, SandboxPolicy, Vm } from '../src/entry/platform.js';
import {
  defaultSandboxSettings,
  enterSandbox,
  type SandboxSettings,
  type TenderConfig,
} from '../src/entry/tender.js';
import { HvtError } from '../src/index.js';

// Step 14 as core runs it: which platform hooks it calls, in which order, and
// what it refuses. (The platforms' own sandboxes are tested in their packages.)

function scene(platformParts: Partial<Platform>, settings: Partial<SandboxSettings> = {}) {
  const calls: string[] = [];
  const printed: string[] = [];
  const warned: string[] = [];
  const vm = {
    prepareSandbox: () => calls.push('vm.prepareSandbox'),
    sandboxNeeds: () => ({
      fds: [{ fd: 7, kind: 'vcpu', owner: 'platform', what: 'vCPU 0', ops: ['ioctl'] }],
    }),
  } as unknown as Vm;
  // Every platform has the sandbox hooks (the contract requires them); these
  // record that they ran unless the case brings its own.
  const platform = {
    name: 'test',
    prepareSandbox: () => {
      calls.push('platform.prepareSandbox');
      return {};
    },
    describeSandbox: () => {
      calls.push('describeSandbox');
      return {};
    },
    dropPrivileges: () => {
      calls.push('dropPrivileges');
      return { applied: [], unavailable: [] };
    },
    exit: () => {
      throw new Error('must not exit');
    },
    ...platformParts,
  } as Platform;
  const config: TenderConfig = {
    platform,
    args: [],
    kernel: 'k',
    guestArgs: [],
    warn: (text) => warned.push(text),
    out: (text) => printed.push(text),
    onSandbox: () => calls.push('onSandbox'),
  };
  const run = () => enterSandbox(config, { ...defaultSandboxSettings(), ...settings }, [], vm);
  return { calls, printed, warned, run };
}

describe('entering the sandbox (step 14)', () => {
  it("merges the tender's, the VM's and the runtime's needs and drops, telling the CLI first", () => {
    let dropped: SandboxPolicy | undefined;
    const s = scene({
      prepareSandbox: (declared) => {
        s.calls.push(`platform.prepareSandbox(${declared.fds.map((f) => f.fd).join(',')})`);
        return { fds: [{ fd: 9, kind: 'eventpoll', owner: 'node', what: 'loop', ops: ['poll'] }] };
      },
      dropPrivileges: (policy) => {
        s.calls.push('dropPrivileges');
        dropped = policy;
        return { applied: [], unavailable: [] };
      },
    });
    expect(s.run()).toBe('sandboxed');
    expect(s.calls).toEqual([
      'vm.prepareSandbox',
      'platform.prepareSandbox(2,7)',
      'onSandbox',
      'dropPrivileges',
    ]);
    expect(dropped!.fds.map((f) => [f.fd, f.owner])).toEqual([
      [2, 'tender'],
      [7, 'platform'],
      [9, 'node'],
    ]);
  });

  it('with --unsafe-no-sandbox warns and calls none of the sandbox hooks', () => {
    const unsafe = scene({}, { unsafeNoSandbox: true });
    expect(unsafe.run()).toBe('unsandboxed');
    expect(unsafe.warned).toEqual([
      'WARNING: --unsafe-no-sandbox: the tender keeps every privilege it was started with.',
      'WARNING: A guest that compromises the tender can do anything this user can.',
    ]);
    // The scene's hooks record their calls: none ran.
    expect(unsafe.calls).toEqual([]);
  });

  it('--print-policy prints the policy and its compilation as JSON and drops nothing', () => {
    const s = scene(
      {
        describeSandbox: (policy, options) => ({ rules: policy.fds.length, options }),
        dropPrivileges: () => {
          throw new Error('must not drop');
        },
      },
      { printPolicy: true, user: 'tender' },
    );
    expect(s.run()).toBe('printed');
    const printed = JSON.parse(s.printed.join('')) as {
      platform: string;
      policy: { fds: { fd: number; what: string }[] };
      compiled: unknown;
    };
    expect(printed.platform).toBe('test');
    expect(printed.policy.fds.map((f) => f.what)).toEqual(['diagnostics (stderr)', 'vCPU 0']);
    expect(printed.compiled).toEqual({ rules: 2, options: { user: 'tender' } });
    expect(s.calls).not.toContain('onSandbox');
  });
});
