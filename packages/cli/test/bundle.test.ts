import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * The published bins are bundles (scripts/bundle.mjs): start-up must load one
 * file plus the chunks it statically imports (core), and the platform package
 * of the host only when a unikernel is run.
 */

const dist = fileURLToPath(new URL('../dist/', import.meta.url));

/** Specifiers a module imports statically (`import ... from` / bare `import`). */
function staticImports(file: string): string[] {
  const code = readFileSync(file, 'utf8');
  return [...code.matchAll(/^import\s+(?:[^'"]*?\s+from\s+)?["']([^"']+)["'];?$/gm)].map(
    (m) => m[1]!,
  );
}

/** Every file loaded at start-up from `entry`: the static import closure. */
function startupFiles(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of staticImports(file)) {
      if (spec.startsWith('.')) visit(join(dirname(file), spec));
      else expect(spec, `${file} imports ${spec}`).toMatch(/^node:/);
    }
  };
  visit(entry);
  return [...seen].map((f) => f.slice(dist.length)).sort();
}

function run(bin: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [join(dist, bin), ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  if (!existsSync(join(dist, 'solo5-hvt.js'))) {
    throw new Error(`${dist}solo5-hvt.js is missing: run pnpm -F @hvtjs/cli build first`);
  }
});

describe('bundled bins', () => {
  it('solo5-hvt loads itself and core at start-up, nothing by package name', () => {
    expect(startupFiles(join(dist, 'solo5-hvt.js'))).toEqual([
      'chunks/solo5-hvt-core.js',
      'solo5-hvt.js',
    ]);
  });

  it('solo5 loads its dispatcher and core, and a command only once chosen', () => {
    expect(startupFiles(join(dist, 'solo5.js'))).toEqual([
      'chunks/solo5-core.js',
      'chunks/solo5-main.js',
      'solo5.js',
    ]);
    const entry = readFileSync(join(dist, 'solo5.js'), 'utf8');
    expect(entry).toContain('import("./chunks/solo5-info.js")');
    expect(entry).toContain('import("./chunks/solo5-run.js")');
  });

  it('keeps each platform package in a chunk of its own, imported on demand', () => {
    const entry = readFileSync(join(dist, 'solo5-hvt.js'), 'utf8');
    for (const name of ['linux-kvm', 'freebsd-vmm', 'openbsd-vmm']) {
      expect(entry).toContain(`import("./chunks/solo5-hvt-${name}.js")`);
      // The chunk finds its addon in the installed package, not beside the bundle.
      const chunk = readFileSync(join(dist, `chunks/solo5-hvt-${name}.js`), 'utf8');
      expect(chunk).toContain(`.resolve("@hvtjs/${name}")`);
      expect(chunk).not.toMatch(/new URL\("\.\.", import\.meta\.url\)/);
    }
  });

  it('answers --version from the package manifest, from the entry and from a chunk', () => {
    const version = JSON.parse(
      readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
    ).version;
    expect(run('solo5-hvt.js', '--version').stderr).toContain(`version ${version}`);
    expect(run('solo5.js', 'run', '--version').stderr).toContain(`version ${version}`);
  });

  it('loads the platform and reports a missing kernel like the reference', () => {
    const r = run('solo5-hvt.js', '/nonexistent/kernel.hvt');
    expect(r.stderr).toBe(
      'solo5-hvt: /nonexistent/kernel.hvt: Could not open: No such file or directory\n',
    );
    expect(r.status).toBe(1);
  });
});
