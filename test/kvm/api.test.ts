import { text } from 'node:stream/consumers';
import { runUnikernel } from '@hvtjs/cli';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Guests, guestPaths, SOLO5_HVT } from './tender-harness.js';

// The CLI package's embedding API on real KVM: one child process per VM, running the
// CLI's solo5-hvt, which runUnikernel finds on its own (resolveTender).

const MEM = 32;
let g: Guests;

beforeAll(async () => {
  g = await guestPaths();
});

describe('runUnikernel', () => {
  it('runs hello: its console as a stream, its exit as a promise', async () => {
    const vm = runUnikernel({ kernel: g['hello']!, args: ['from', 'the', 'API'], mem: MEM });
    expect(vm.pid).toBeGreaterThan(0);
    const [console, exit] = await Promise.all([text(vm.console), vm.exit]);
    expect(console).toContain('Hello, World\ncmdline: from the API\nSUCCESS\n');
    expect(exit).toEqual({ status: 0, messages: [] });
  });

  it("finds the CLI's solo5-hvt by default", async () => {
    const vm = runUnikernel({
      kernel: g['hello']!,
      args: ['--solo5:quiet', 'exit=7'],
      mem: MEM,
      tender: SOLO5_HVT,
    });
    const viaPath = await Promise.all([text(vm.console), vm.exit]);
    const byDefault = runUnikernel({
      kernel: g['hello']!,
      args: ['--solo5:quiet', 'exit=7'],
      mem: MEM,
    });
    expect(await Promise.all([text(byDefault.console), byDefault.exit])).toEqual(viaPath);
    expect(viaPath[1].status).toBe(7);
  });

  it("reports the tender's refusal as status 1 with its message", async () => {
    const vm = runUnikernel({ kernel: g['hello']!, mem: MEM, block: { storage: '/dev/null' } });
    const [console, exit] = await Promise.all([text(vm.console), vm.exit]);
    expect(console).toBe('');
    expect(exit.status).toBe(1);
    expect(exit.messages).toContain("solo5-hvt: Resource not declared in manifest: 'storage'");
  });

  it('stops the guest on kill(), as the tender does on SIGTERM', async () => {
    const vm = runUnikernel({ kernel: g['sleep']!, mem: MEM });
    let console = '';
    vm.console.setEncoding('utf8');
    vm.console.on('data', (chunk: string) => {
      console += chunk;
      if (console.includes('sleep 1:')) vm.kill();
    });
    const exit = await vm.exit;
    expect(console).not.toContain('sleep 5:');
    expect(exit).toEqual({ status: 1, messages: ['solo5-hvt: Exiting on signal 15'] });
  });
});
