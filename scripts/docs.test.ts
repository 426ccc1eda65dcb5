/**
 * The folder READMEs stay true to the tree: every file and subfolder of each source folder is
 * named (as `name.ts`, `name/` or a path ending in it) in the README that describes it: the
 * folder's own README.md, or, for a folder without one, the nearest parent's. Test files are
 * exempt (they sit beside the behaviour they pin and are named for it). Files are the ones git
 * tracks, so the check sees what a clone sees.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const SOURCE_ROOTS = ['domain', 'commands', 'projections', 'infrastructure', 'http', 'scripts', 'bench', 'demo'];
const isTest = (name: string) => /\.test\.ts$/.test(name);

/** Folder -> the names of its entries (files and subfolders), from the tracked files. */
function tree(files: readonly string[]): Map<string, Set<string>> {
  const dirs = new Map<string, Set<string>>();
  for (const f of files) {
    const parts = f.split('/');
    if (!SOURCE_ROOTS.includes(parts[0]!)) continue;
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!dirs.has(dir)) dirs.set(dir, new Set());
      dirs.get(dir)!.add(parts[i]!);
    }
  }
  return dirs;
}

function describingReadme(dir: string, exists: (p: string) => boolean): string | null {
  for (let d = dir; ; d = path.posix.dirname(d)) {
    if (exists(`${d}/README.md`)) return `${d}/README.md`;
    if (!d.includes('/')) return null;
  }
}

/** Entries no README names, as `folder/entry (README)`. */
export function undocumented(files: readonly string[], read: (p: string) => string | null): string[] {
  const exists = (p: string) => read(p) !== null;
  const missing: string[] = [];
  for (const [dir, entries] of tree(files)) {
    const readme = describingReadme(dir, exists);
    const text = readme ? read(readme)! : '';
    for (const entry of [...entries].sort()) {
      if (entry === 'README.md' || isTest(entry)) continue;
      if (!text.includes(entry)) missing.push(`${dir}/${entry} (${readme ?? 'no README'})`);
    }
  }
  return missing.sort();
}

function trackedFiles(): string[] {
  return execFileSync('git', ['ls-files', '-z', ...SOURCE_ROOTS], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f !== '' && fs.existsSync(path.join(ROOT, f)));
}

const readFile = (p: string): string | null => {
  try {
    return fs.readFileSync(path.join(ROOT, p), 'utf8');
  } catch {
    return null;
  }
};

describe('folder READMEs name every file and subfolder', () => {
  test('the checker finds an unnamed file and a folder without any README', () => {
    const docs: Record<string, string> = { 'domain/README.md': 'Has `a.ts` and `sub/`.', 'domain/sub/README.md': 'Only `x.ts`.' };
    const read = (p: string) => docs[p] ?? null;
    expect(undocumented(['domain/a.ts', 'domain/a.test.ts', 'domain/b.ts', 'domain/sub/x.ts', 'domain/sub/y.ts', 'domain/nested/z.ts', 'bench/run.ts'], read)).toEqual([
      'bench/run.ts (no README)',
      'domain/b.ts (domain/README.md)',
      'domain/nested (domain/README.md)',
      'domain/nested/z.ts (domain/README.md)',
      'domain/sub/y.ts (domain/sub/README.md)',
    ]);
  });

  test('every source folder of this repository', () => {
    expect(undocumented(trackedFiles(), readFile)).toEqual([]);
  });
});
