/**
 * The packages depend one way — report <- bench/eval <- engine <- native — and import each other by package name,
 * never by a relative path into another package's files.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../src/datadir.ts';

// Which workspace packages each package may import (its own name aside).
const ALLOWED: Record<string, string[]> = {
  native: [],
  engine: ['native'],
  'lm-eval-ts-shim': [],
  bench: ['engine'],
  eval: ['engine', 'lm-eval-ts-shim'],
  report: ['bench', 'eval'],
};
const DIRS: Record<string, string> = Object.fromEntries(Object.keys(ALLOWED).map((p) => [p, p === 'native' ? 'native' : `packages/${p}`]));

function tsFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const f = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'build' ? [] : tsFiles(f);
    return f.endsWith('.ts') ? [f] : [];
  });
}

test('packages import only the packages below them, by name', () => {
  const problems: string[] = [];
  for (const [pkg, dir] of Object.entries(DIRS)) {
    const root = path.join(REPO_ROOT, dir);
    const deps = Object.keys((JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {})
      .filter((d) => d.startsWith('@quantbench/'))
      .map((d) => d.slice('@quantbench/'.length));
    for (const d of deps) if (!ALLOWED[pkg]!.includes(d)) problems.push(`${dir}/package.json depends on @quantbench/${d}`);
    for (const file of tsFiles(root)) {
      const rel = path.relative(REPO_ROOT, file);
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
        const spec = m[1]!;
        const named = /^@quantbench\/([^/]+)/.exec(spec);
        if (named && named[1] !== pkg && !ALLOWED[pkg]!.includes(named[1]!)) problems.push(`${rel} imports ${spec}`);
        if (spec.startsWith('.') && !path.resolve(path.dirname(file), spec).startsWith(root + path.sep)) problems.push(`${rel} imports ${spec} (outside ${dir})`);
      }
    }
  }
  assert.deepEqual(problems, []);
});
