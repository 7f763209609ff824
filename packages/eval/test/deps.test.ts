/**
 * Issue 20, item 8: listed-but-unused dependencies are dropped (cli-progress in engine, simple-statistics in eval and
 * the shim) and the shim parses CSV with csv-parse instead of a hand-written parser. A dependency listed in a
 * package.json must be imported by that package's sources.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '@quantbench/engine';

function sources(dir: string): string {
  let out = '';
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out += sources(p);
    else if (e.name.endsWith('.ts')) out += fs.readFileSync(p, 'utf8');
  }
  return out;
}

for (const pkg of ['engine', 'eval', 'lm-eval-ts-shim', 'bench']) {
  test(`packages/${pkg}: every dependency is imported`, () => {
    const dir = path.join(REPO_ROOT, 'packages', pkg);
    const deps = Object.keys((JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {});
    const src = sources(path.join(dir, 'src'));
    const unused = deps.filter((d) => !src.includes(`'${d}'`) && !src.includes(`'${d}/`));
    assert.deepEqual(unused, [], `listed but never imported by packages/${pkg}/src`);
  });
}

test('the shim reads CSV with csv-parse (no hand-written parser)', () => {
  const src = fs.readFileSync(path.join(REPO_ROOT, 'packages/lm-eval-ts-shim/src/data/csv.ts'), 'utf8');
  assert.match(src, /from 'csv-parse\/sync'/);
});
