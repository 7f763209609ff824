/**
 * pnpm report [RUN_OR_RESULTS_DIR...] --out report.html [--device D] [--since DATE] [--gpu-hour-price USD]
 * Builds one self-contained HTML report (precompiled Vega charts, data and the vega runtime inline; opens
 * from file://). Default input: every run under results/ at the repo root.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_SLO, buildReport, writeExports } from './build-report.ts';
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
    .option('device', { type: 'string', describe: 'only records whose device contains this text (case-insensitive), e.g. h200' })
    .option('since', { type: 'string', describe: 'only records dated on or after this ISO date, e.g. 2026-11-21' })
    .option('gpu-hour-price', {
      type: 'number',
      describe: '$ per GPU-hour for the cost columns (default: the dated public on-demand price per card in packages/bench/data/peers.json)',
    })
    .option('slo-ttft-ms', { type: 'number', default: DEFAULT_SLO.ttftMs, describe: 'latency target for goodput: TTFT p90 (ms)' })
    .option('slo-tpot-ms', { type: 'number', default: DEFAULT_SLO.tpotMs, describe: 'latency target for goodput: TPOT p90 (ms)' })
    .option('peers', { type: 'string', describe: 'published peer numbers file (default packages/bench/data/peers.json, shared with pnpm bench)' })
    .option('lead-device', { type: 'string', describe: 'device (text in its name) whose summary comes first (default: the newest setup)' })
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
  if (argv.since != null && Number.isNaN(Date.parse(argv.since)))
    throw new ReportError('BAD_OPTION', `--since ${argv.since}: not a date (use an ISO date such as 2026-11-21)`);
  for (const [name, v] of [
    ['--gpu-hour-price', argv['gpu-hour-price']],
    ['--slo-ttft-ms', argv['slo-ttft-ms']],
    ['--slo-tpot-ms', argv['slo-tpot-ms']],
  ] as const)
    if (v != null && !(Number.isFinite(v) && v > 0)) throw new ReportError('BAD_OPTION', `${name} ${v}: expected a positive number`);
  const report = buildReport({
    dirs,
    title: argv.title,
    device: argv.device,
    since: argv.since,
    gpuHourPrice: argv['gpu-hour-price'],
    slo: { ttftMs: argv['slo-ttft-ms'], tpotMs: argv['slo-tpot-ms'] },
    peersFile: argv.peers ? path.resolve(cwd, argv.peers) : undefined,
    leadDevice: argv['lead-device'],
  });
  const out = path.resolve(cwd, argv.out);
  try {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, report.html);
  } catch (e) {
    throw new ReportError('OUT_NOT_WRITABLE', `cannot write ${out}: ${e instanceof Error ? e.message : String(e)} (choose another --out)`);
  }
  const drawn = report.charts.filter((c) => c.spec);
  const empty = report.charts.filter((c) => !c.spec);
  console.log(`report: ${out} (${(report.html.length / 1e6).toFixed(2)} MB, ${report.runs.length} run(s), ${report.provenance.setups.length} setup(s))`);
  for (const s of report.summaries) console.log(`summary: ${s.setup.label} · ${s.setup.engine}: ${s.headline.map((h) => h.text).join(', ')}`);
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
