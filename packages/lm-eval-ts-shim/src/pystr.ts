/**
 * Python's str.strip() / lstrip() / rstrip() with no argument, which lm-eval's task code and templates use
 * (`{{question.strip()}}`, `.strip()` in process_docs and filters). Python strips what str.isspace() accepts; JS's
 * trim() strips a different set: Python also strips U+001C..U+001F and U+0085 (NEL — which ends at least one MMLU
 * test question), and JS also strips U+FEFF (BOM), which Python keeps.
 */
const PY_WS = '\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const LEAD = new RegExp(`^[${PY_WS}]+`);
const TRAIL = new RegExp(`[${PY_WS}]+$`);

export const pyLstrip = (s: string): string => s.replace(LEAD, '');
export const pyRstrip = (s: string): string => s.replace(TRAIL, '');
export const pyStrip = (s: string): string => pyRstrip(pyLstrip(s));
/** str.isspace() for a single character. */
export const pyIsSpace = (c: string): boolean => c.length > 0 && new RegExp(`^[${PY_WS}]+$`).test(c);
