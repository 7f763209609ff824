/**
 * pnpm report [RESULT_DIRS...] --out report.html
 * Builds one self-contained HTML report (Vega-Lite charts, data and libraries inline; opens from file://).
 * Default input: every run under results/ at the repo root.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { buildReport, writeExports } from './build-report.ts';
import { ReportError } from './errors.ts';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

async function main(): Promise<number> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('pnpm report')
    .usage('$0 [RESULT_DIRS...] --out report.html')
    .command('$0 [dirs..]', 'build the HTML report', (y) =>
      y.positional('dirs', { type: 'string', array: true, describe: 'run directories, or folders holding them (default: results/)' }),
    )
    .option('out', { alias: 'o', type: 'string', default: 'report.html', describe: 'output HTML file' })
    .option('title', { type: 'string', default: 'quantbench report', describe: 'page title' })
    .option('exports-dir', {
      type: 'string',
      describe: 'also write each chart\'s CSV and Vega-Lite spec (<id>.csv, <id>.vl.json) into this folder',
    })
    .strict()
    .help()
    .parseAsync();

  // pnpm runs scripts from the repo root; relative paths mean the directory the user typed them in.
  const cwd = process.env.INIT_CWD ?? process.cwd();
  const given = (argv.dirs as string[] | undefined) ?? [];
  const dirs = given.length ? given.map((d) => path.resolve(cwd, d)) : [path.join(REPO_ROOT, 'results')];
  const report = buildReport({ dirs, title: argv.title });
  const out = path.resolve(cwd, argv.out);
  try {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, report.html);
  } catch (e) {
    throw new ReportError('OUT_NOT_WRITABLE', `cannot write ${out}: ${e instanceof Error ? e.message : String(e)} (choose another --out)`);
  }
  const drawn = report.charts.filter((c) => c.spec);
  const empty = report.charts.filter((c) => !c.spec);
  console.log(`report: ${out} (${(report.html.length / 1e6).toFixed(1)} MB, ${report.runs.length} run(s), ${report.provenance.setups.length} setup(s))`);
  console.log(`charts with data: ${drawn.length}/${report.charts.length}${empty.length ? `; no data: ${empty.map((c) => c.id).join(', ')}` : ''}`);
  if (report.skipped.length) {
    console.log(`skipped ${report.skipped.length} input item(s) (listed in the report):`);
    for (const s of report.skipped.slice(0, 20)) console.log(`  ${s.file}${s.line != null ? `:${s.line}` : ''}: ${s.reason}`);
    if (report.skipped.length > 20) console.log(`  … ${report.skipped.length - 20} more`);
  }
  if (argv['exports-dir']) {
    const exportsDir = path.resolve(cwd, argv['exports-dir']);
    const files = writeExports(report, exportsDir);
    console.log(`exports: ${files.length} file(s) in ${exportsDir}`);
  }
  if (report.runs.length === 0) {
    console.error(`no result runs found under ${dirs.join(', ')}: run \`pnpm bench\` or \`pnpm eval\` first (the report was still written)`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof ReportError) {
      console.error(`error [${e.code}]: ${e.message}`);
      process.exit(2);
    }
    throw e;
  },
);
