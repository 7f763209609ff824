/**
 * Matching module names against compressed-tensors `targets` / `ignore` entries: a plain entry is an exact module
 * name (or, for targets, a layer class name such as "Linear"); an entry starting with "re:" is a Python regular
 * expression applied with re.match semantics (anchored at the start only), as compressed-tensors and vLLM do.
 */

const cache = new Map<string, RegExp>();

/** Compile a "re:" pattern (without the prefix). Throws a plain Error with the reason when it cannot. */
export function compilePythonPattern(pattern: string): RegExp {
  const hit = cache.get(pattern);
  if (hit) return hit;
  let p = pattern;
  let flags = '';
  // Python allows global inline flags at the very start, e.g. (?i); JS takes them as RegExp flags.
  const lead = /^\(\?([aiLmsux]+)\)/.exec(p);
  if (lead) {
    for (const f of lead[1]) {
      if (f === 'i' || f === 'm' || f === 's') flags += f;
      else if (f !== 'u' && f !== 'a') throw new Error(`inline flag (?${f}) has no JavaScript equivalent`);
    }
    p = p.slice(lead[0].length);
  }
  // Python named groups and back-references.
  p = p.replace(/\(\?P</g, '(?<').replace(/\(\?P=(\w+)\)/g, '\\k<$1>');
  const re = new RegExp(`^(?:${p})`, flags);
  cache.set(pattern, re);
  return re;
}

/** Whether one targets/ignore entry matches the module. `Linear` (a class name) matches every module asked about. */
export function entryMatches(entry: string, moduleName: string, classNames: readonly string[] = []): boolean {
  if (entry.startsWith('re:')) return compilePythonPattern(entry.slice(3)).test(moduleName);
  return entry === moduleName || classNames.includes(entry);
}
