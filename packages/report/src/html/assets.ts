/**
 * The browser code inlined into the report: the installed UMD bundle of vega (build/vega.min.js, which sets
 * the global vega), and the report's own client script bundled with esbuild. Specs are compiled from
 * Vega-Lite to Vega at build time (src/html/compile.ts), so neither the Vega-Lite compiler nor vega-embed
 * ships in the page.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { ReportError } from '../errors.ts';

const require = createRequire(import.meta.url);

export interface InlineScript {
  name: string;
  version: string;
  code: string;
}

function bundleOf(pkg: string, file: string): InlineScript {
  let entry: string;
  try {
    entry = require.resolve(pkg);
  } catch {
    throw new ReportError('ASSET_MISSING', `${pkg} is not installed: run \`pnpm install\` in the repo root`);
  }
  // Each package's entry sits in its build/ folder next to the UMD bundle.
  const p = path.join(path.dirname(entry), file);
  if (!fs.existsSync(p)) throw new ReportError('ASSET_MISSING', `${pkg} has no ${file} at ${p}: reinstall it (\`pnpm install\`)`);
  const pkgJson = JSON.parse(fs.readFileSync(path.join(path.dirname(entry), '..', 'package.json'), 'utf8')) as { version: string };
  // Drop the source-map comment: the map is not shipped, and nothing should be fetched.
  const code = fs.readFileSync(p, 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
  return { name: pkg, version: pkgJson.version, code };
}

let cached: InlineScript[] | undefined;

/** The vega runtime (the only library the page needs: specs arrive precompiled). */
export function vegaBundles(): InlineScript[] {
  cached ??= [bundleOf('vega', 'vega.min.js')];
  return cached;
}

let clientCached: string | undefined;

/** The report's client script (src/client/main.ts) as one IIFE. */
export function clientScript(): string {
  if (clientCached) return clientCached;
  const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'client', 'main.ts');
  const r = buildSync({ entryPoints: [entry], bundle: true, format: 'iife', target: 'es2020', write: false, minify: true, legalComments: 'none' });
  clientCached = r.outputFiles[0].text;
  return clientCached;
}

/** Makes text safe inside an inline <script> element. */
export function scriptSafe(code: string): string {
  return code.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}
