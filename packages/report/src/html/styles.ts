/** The report's stylesheet (inlined into the page). */
export const REPORT_CSS = `
:root { --fg:#1d2330; --muted:#5b6475; --line:#dde2ea; --bg:#ffffff; --soft:#f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; padding: 0 28px 48px; overflow-x: hidden; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 24px; margin: 14px 0 4px; }
h2 { font-size: 18px; margin: 0; }
h2.sec { font-size: 16px; margin: 18px 0 8px; }
code { font: 12px/1.3 ui-monospace, "DejaVu Sans Mono", monospace; }
.page { max-width: 1344px; margin: 0 auto; }
h3 { font-size: 16px; margin: 14px 0 4px; }
h4 { font-size: 15px; margin: 0; }
a { color: #23508f; }
.meta { color: var(--muted); margin: 4px 0 8px; }
.banner.fixture { margin: 0 -28px; padding: 10px 28px; font-weight: 700; letter-spacing: .02em; color: #4a3b00;
  background: repeating-linear-gradient(45deg, #ffe58a, #ffe58a 14px, #fff1b8 14px, #fff1b8 28px); border-bottom: 2px solid #d4a800; }
.badges { display: inline-flex; flex-wrap: wrap; gap: 6px; }
.badges.big .badge { font-size: 13px; padding: 4px 10px; }
.badge { display: inline-block; font-size: 11px; font-weight: 700; letter-spacing: .04em; padding: 2px 8px; border-radius: 4px; border: 1px solid; white-space: nowrap; }
.badge.synthetic { background: #fff0e0; color: #a04a00; border-color: #f0a050; }
.badge.real { background: #e6f6ea; color: #186a2f; border-color: #6cc48a; }
.badge.fixture { background: #fff6c4; color: #6b5600; border-color: #d4b106; }
.badge.split { background: #eaf1fb; color: #23508f; border-color: #8fb0e0; }
.mixed { background: #eaf1fb; border-left: 4px solid #5b8bd0; padding: 8px 12px; margin: 8px 0; }
.ok { color: #186a2f; }
.warn { color: #a04a00; }
details { margin: 8px 0; }
details > summary { cursor: pointer; color: var(--muted); }
details.skipped > summary { color: var(--muted); }
details.skipped li { margin: 2px 0; }
.toc ol { columns: 2; margin: 0; padding-left: 22px; }
.toc em { color: var(--muted); }
section.chart { border-top: 1px solid var(--line); padding: 18px 0 8px; }
.chart-head { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
.reading { font-size: 15px; margin: 6px 0 4px; }
.notes { color: var(--muted); margin: 2px 0 8px; padding-left: 18px; font-size: 13px; }
.chart-body { display: flex; gap: 20px; align-items: flex-start; flex-wrap: wrap; }
.figure { max-width: 100%; }
.vis svg { max-width: 100%; height: auto; display: block; }
details.data-table { margin: 4px 0; }
details.data-table .table-wrap { max-width: 100%; }
.vis.failed, .empty { padding: 28px 20px; min-width: 360px; border: 2px dashed var(--line); border-radius: 8px; color: var(--muted); background: var(--soft); }
.table-wrap { max-width: 100%; max-height: 440px; overflow: auto; border: 1px solid var(--line); border-radius: 6px; }
.table-wrap.wide { max-height: none; }
table.data { border-collapse: collapse; font-size: 12px; width: 100%; }
table.data th { position: sticky; top: 0; background: var(--soft); text-align: left; font-weight: 600; border-bottom: 1px solid var(--line); }
table.data th, table.data td { padding: 3px 8px; white-space: nowrap; }
table.data td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.data tbody tr:nth-child(even) { background: #fafbfc; }
table.prov td { white-space: normal; }
.exports { font-size: 13px; color: var(--muted); }
.exports a { color: #23508f; }
section.answer { border-top: 2px solid var(--fg); margin-top: 8px; }
.device-summary { margin-bottom: 18px; }
.setup-line { color: var(--muted); font-size: 13px; font-weight: 400; margin-left: 8px; }
h1 .badges { vertical-align: middle; margin-left: 12px; }
section.chart.compact { padding: 4px 0 0; }
section.chart.compact h4 { margin-bottom: 4px; }
.headline { font-size: 16px; font-weight: 600; margin: 6px 0; }
table.summary th, table.summary td { padding: 3px 6px; }
table.summary thead th { white-space: normal; vertical-align: bottom; text-align: right; }
table.summary thead th.grp { text-align: center; border-left: 1px solid var(--line); }
table.summary th.prec { text-align: left; position: static; background: none; }
table.summary .sub { font-weight: 400; color: var(--muted); font-size: 11px; }
.summary-wrap { max-height: none; }
.answer-row { display: flex; gap: 24px; align-items: flex-start; flex-wrap: wrap; }
.answer-chart { flex: 0 1 640px; min-width: 0; }
.answer-chart section.chart { border-top: none; padding-top: 6px; }
.answer-chart .reading { font-size: 14px; }
.answer-notes { flex: 1 1 380px; min-width: 0; padding-top: 8px; }
.note { color: var(--muted); font-size: 13px; margin: 4px 0; }
.caveats { margin: 4px 0; padding-left: 18px; font-size: 13px; color: #7a4100; }
td.wrap { white-space: normal !important; min-width: 160px; }
table.hist td { vertical-align: top; }
table.hist th, table.hist td { white-space: normal; }
.older { font-size: 13px; color: var(--muted); }
section.history, section.appendix { border-top: 2px solid var(--line); margin-top: 18px; }
`;
