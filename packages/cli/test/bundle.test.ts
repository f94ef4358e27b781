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

/**
 * What a CommonJS module requires as it loads: `require("...")` at the top
 * level. Lazy loads sit inside functions, indented, and are not matched.
 */
function loadTimeRequires(file: string): string[] {
  const code = readFileSync(file, 'utf8');
  return [...code.matchAll(/^(?:(?:const|let|var) \w+ = )?require\("([^"]+)"\);$/gm)].map(
    (m) => m[1]!,
  );
}

/** Every file loaded at start-up from `entry`: the closure of its load-time requires. */
function startupFiles(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of loadTimeRequires(file)) {
      if (spec.startsWith('.')) visit(join(dirname(file), spec));
      else expect(spec, `${file} requires ${spec}`).toMatch(/^node:/);
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
  it('is CommonJS, so that Node never starts its ESM loader for a run', () => {
    expect(JSON.parse(readFileSync(join(dist, 'package.json'), 'utf8'))).toEqual({
      type: 'commonjs',
    });
    expect(readFileSync(join(dist, 'solo5-hvt.js'), 'utf8')).not.toMatch(/^import |import\(/m);
  });

  it('solo5-hvt loads one file at start-up, core included, nothing by package name', () => {
    expect(startupFiles(join(dist, 'solo5-hvt.js'))).toEqual(['solo5-hvt.js']);
  });

  it('solo5 loads one file too, and a command only once chosen', () => {
    expect(startupFiles(join(dist, 'solo5.js'))).toEqual(['solo5.js']);
    const entry = readFileSync(join(dist, 'solo5.js'), 'utf8');
    expect(entry).toContain('require("./chunks/solo5-info.js")');
    expect(entry).toContain('require("./chunks/solo5-run.js")');
  });

  it('keeps each platform package in a chunk of its own, required on demand', () => {
    const entry = readFileSync(join(dist, 'solo5-hvt.js'), 'utf8');
    for (const name of ['linux-kvm', 'freebsd-vmm', 'openbsd-vmm']) {
      expect(entry).toContain(
        `() => Promise.resolve().then(() => require("./chunks/solo5-hvt-${name}.js"))`,
      );
      // The chunk finds its addon in the installed package, not beside the bundle.
      const chunk = readFileSync(join(dist, `chunks/solo5-hvt-${name}.js`), 'utf8');
      expect(chunk).toContain(`const name = "@hvtjs/${name}";`);
      expect(chunk).not.toMatch(/new URL\("\.\.", import\.meta\.url\)/);
      // Core is the entry's: one copy, whose error classes the CLI recognises;
      // the three share the POSIX kit's host and ring part (posix-kit), the
      // BSD backends also its vmm helpers (posix-kit2), which Linux never loads.
      const shared =
        name === 'linux-kvm'
          ? ['chunks/solo5-hvt-posix-kit.js']
          : ['chunks/solo5-hvt-posix-kit.js', 'chunks/solo5-hvt-posix-kit2.js'];
      expect(startupFiles(join(dist, `chunks/solo5-hvt-${name}.js`))).toEqual([
        `chunks/solo5-hvt-${name}.js`,
        ...shared,
        'solo5-hvt.js',
      ]);
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
