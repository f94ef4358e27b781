#!/usr/bin/env node
// Part of `pnpm lint`: every document a source or doc file cites must be in the
// repository, and every section it cites must exist.
//
// (a) No file may cite a document that lives outside the repository (the
//     background specs the project was started from): a contributor could not
//     follow the reference. They are named in OUTSIDE below.
// (b) A citation `docs/<file>.md <section>` (also `section N`, `sections N, M`,
//     `N.M-N.K`, `N/M`, `N and M`, `Appendix A`, across a comment's line break)
//     must name an existing file under docs/ and, for each section, a heading of
//     that file that starts with the number (`## 7. …`, `### 7.3 …`) or with
//     `Appendix A`.
// (c) A relative link `](path)` in a Markdown file must point at an existing file.
//
// Prints `file:line: problem` for each finding and exits 1 if there is any.
// `--list` prints every citation found instead (for checking the parser).

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const self = relative(root, fileURLToPath(import.meta.url));

/** Documents outside the repository, each with what replaced it. */
const OUTSIDE = [
  { pattern: /\bhvt-abi\.md\b/, instead: 'docs/guest-abi.md' },
  { pattern: /\bbsd-vmm-abi\.md\b/, instead: 'docs/bsd-vmm.md' },
  { pattern: /(?<![\w/.-])design\.md\b/, instead: 'docs/architecture.md' },
  { pattern: /\bkvm-in-qemu\.md\b/, instead: 'docs/nested-kvm.md' },
  { pattern: /(?<![\w/.-])shared\//, instead: 'a file under docs/' },
];

/** Never scanned: generated, vendored, or not text anyone reads for references. */
const SKIP_DIRS = new Set([
  'node_modules',
  'dist',
  'build',
  '.git',
  '.turbo',
  'prebuilds',
  'coverage',
]);
const SKIP_FILES = new Set(['pnpm-lock.yaml', self]);
const MAX_BYTES = 2 * 1024 * 1024;

/** The files to scan: git's view of the tree (tracked and new), else a walk. */
function listFiles() {
  const git = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: root,
    encoding: 'utf8',
  });
  const files =
    git.status === 0
      ? git.stdout.split('\0').filter((f) => f !== '')
      : walk(root).map((f) => relative(root, f));
  return files.filter((f) => {
    if (SKIP_FILES.has(f) || f.split('/').some((part) => SKIP_DIRS.has(part))) return false;
    const path = join(root, f);
    return existsSync(path) && statSync(path).isFile() && statSync(path).size <= MAX_BYTES;
  });
}

function walk(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP_DIRS.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** The text of a file, or undefined for binary content. */
function readText(file) {
  const bytes = readFileSync(join(root, file));
  if (bytes.subarray(0, 8192).includes(0)) return undefined;
  return bytes.toString('utf8');
}

const lineOf = (text, index) => text.slice(0, index).split('\n').length;

/** A section number (at most two digits per part, so `512` is not one) or an appendix. */
const REF = String.raw`(?:Appendix\s+[A-Z]\b|\d{1,2}(?:\.\d{1,2})*(?![\d.]*\d))`;
const SEP = String.raw`\s*(?:,|/|-|–|\band\b)\s*`;
const SECTION_LIST = new RegExp(
  String.raw`^\`?\s*\(?(?:sections?\s+|§\s*)?(${REF}(?:${SEP}${REF})*)`,
);
const CITATION = /\bdocs\/([\w.-]+\.md)\b/g;

/** The text after a citation with comment leaders at line starts turned into spaces. */
function following(text, from) {
  return text.slice(from, from + 200).replace(/\n[ \t]*(?:\*(?!\/)|\/\/+|#+(?=\s)|--)?/g, ' ');
}

/** The section ids of every citation in `text`: `[{ doc, sections, index }]`. */
export function citations(text) {
  const found = [];
  for (const m of text.matchAll(CITATION)) {
    const rest = following(text, m.index + m[0].length);
    const list = SECTION_LIST.exec(rest);
    const sections = list
      ? list[1]
          .split(new RegExp(SEP))
          .map((s) => s.replace(/\s+/g, ' ').trim())
          .filter((s) => s !== '')
      : [];
    found.push({ doc: m[1], sections, index: m.index });
  }
  return found;
}

/** The section ids a doc defines: the number or `Appendix X` opening each heading. */
export function headings(markdown) {
  const ids = new Set();
  for (const m of markdown.matchAll(/^#{1,6}[ \t]+(.+)$/gm)) {
    const title = m[1].trim();
    const id =
      /^(Appendix [A-Z])\b/.exec(title)?.[1] ?? /^(\d+(?:\.\d+)*)\.?(?:\s|$)/.exec(title)?.[1];
    if (id !== undefined) ids.add(id);
  }
  return ids;
}

function check() {
  const problems = [];
  const docs = new Map();
  const docHeadings = (name) => {
    if (!docs.has(name)) {
      const path = join(root, 'docs', name);
      docs.set(name, existsSync(path) ? headings(readFileSync(path, 'utf8')) : undefined);
    }
    return docs.get(name);
  };
  const listed = [];
  for (const file of listFiles()) {
    const text = readText(file);
    if (text === undefined) continue;
    for (const { pattern, instead } of OUTSIDE) {
      for (const m of text.matchAll(new RegExp(pattern.source, 'g'))) {
        problems.push(
          `${file}:${lineOf(text, m.index)}: cites \`${m[0]}\`, which is not in the repository (use ${instead})`,
        );
      }
    }
    for (const c of citations(text)) {
      listed.push(`${file}:${lineOf(text, c.index)}: docs/${c.doc} ${c.sections.join(', ')}`);
      const ids = docHeadings(c.doc);
      if (ids === undefined) {
        problems.push(
          `${file}:${lineOf(text, c.index)}: cites docs/${c.doc}, which does not exist`,
        );
        continue;
      }
      for (const section of c.sections) {
        if (!ids.has(section)) {
          problems.push(
            `${file}:${lineOf(text, c.index)}: cites docs/${c.doc} ${section}, which has no such section`,
          );
        }
      }
    }
    if (file.endsWith('.md')) {
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1].split('#')[0];
        if (target === '' || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
        if (!existsSync(join(root, dirname(file), target))) {
          problems.push(
            `${file}:${lineOf(text, m.index)}: links to ${target}, which does not exist`,
          );
        }
      }
    }
  }
  return { problems, listed };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { problems, listed } = check();
  if (process.argv.includes('--list')) {
    for (const line of listed) console.log(line);
  }
  for (const p of problems) console.error(p);
  if (problems.length > 0) {
    console.error(`check-doc-links: ${problems.length} problem(s)`);
    process.exit(1);
  }
  console.log(`check-doc-links: ${listed.length} citations of docs/ checked, all resolve`);
}
