/** The appendix: where every record came from (per setup), precision recipes, commands, skipped input. */
import type { RunInfo, Skipped } from '../load/read-results.ts';
import type { ProvenanceSummary } from '../provenance-summary.ts';
import { shortCommit } from '../setup.ts';
import { badges } from './chart-section.ts';
import { esc } from './escape.ts';

/** Recorded commands may name folders of the machine that ran them: keep only each path's last part. */
export function redactPaths(cmd: string): string {
  return cmd.replace(/(^|[\s='"])(\/[^\s'"]+)/g, (_m, pre: string, p: string) => `${pre}…/${p.split('/').filter(Boolean).pop() ?? ''}`);
}

function provenanceBlock(p: ProvenanceSummary, runs: RunInfo[]): string {
  if (p.setups.length === 0) return '<p class="warn">No result records were loaded.</p>';
  const rows = p.setups
    .map(
      (s) => `<tr><td>${esc(s.device)}${s.fixture ? ' <span class="badge fixture">FIXTURE</span>' : ''}</td><td>${esc(s.deviceKind)}</td>
<td><code title="${esc(s.commit)}">${esc(shortCommit(s.commit))}</code></td><td>${esc(s.model)}</td>
<td>${badges({ weights: s.weights.split(', '), fixture: false, setups: [] })}</td>
<td>${esc(s.firstDate === s.lastDate ? s.firstDate : `${s.firstDate} … ${s.lastDate}`)}</td>
<td>${esc(s.precisions.join(', '))}</td><td>${esc(s.contents.join('; '))}</td><td>${esc(s.runs.join(', '))}</td></tr>`,
    )
    .join('\n');
  const recipes = p.recipes
    .map(
      (r) =>
        `<tr><td>${esc(r.precision)}</td><td>${esc(r.weights)}</td><td>${esc(r.activations)}</td><td>${esc(r.actDtype)}</td><td>${esc(r.source)}</td><td>${esc(r.extra)}</td>${p.setups.length > 1 ? `<td>${esc(r.setup)}</td>` : ''}</tr>`,
    )
    .join('\n');
  const commands = runs
    .filter((r) => r.command)
    .map((r) => `<li><code>${esc(r.name)}</code>: <code>${esc(redactPaths(r.command ?? ''))}</code></li>`)
    .join('');
  return `<h3>Provenance: one row per setup (device · commit · model)</h3>
<div class="table-wrap wide"><table class="data prov"><thead><tr><th>device</th><th>kind</th><th>commit</th><th>model</th><th>weights</th><th>dates</th><th>precisions</th><th>records</th><th>runs</th></tr></thead>
<tbody>${rows}</tbody></table></div>
<details><summary>Precision recipes (${p.recipes.length})</summary>
<div class="table-wrap wide"><table class="data prov"><thead><tr><th>precision</th><th>weights</th><th>activations</th><th>act dtype</th><th>source</th><th>details</th>${p.setups.length > 1 ? '<th>setup</th>' : ''}</tr></thead><tbody>${recipes}</tbody></table></div></details>
${commands ? `<details><summary>Commands (${runs.filter((r) => r.command).length})</summary><ul class="commands">${commands}</ul></details>` : ''}`;
}

function skippedBlock(skipped: Skipped[]): string {
  if (skipped.length === 0) return '<p class="ok" id="skipped">Every result file found was read; nothing was skipped.</p>';
  const items = skipped
    .map((s) => `<li><code>${esc(s.file)}${s.line != null ? `:${s.line}` : ''}</code> — ${esc(s.reason)}</li>`)
    .join('\n');
  return `<details class="skipped" id="skipped"><summary>Skipped input: ${skipped.length} file(s) or line(s) not used (the report was built from the rest)</summary><ul>${items}</ul></details>`;
}

export function appendix(p: ProvenanceSummary, runs: RunInfo[], skipped: Skipped[]): string {
  return `<section class="appendix" id="appendix"><h2 class="sec">Appendix</h2>
${provenanceBlock(p, runs)}
<h3>Input</h3>
${skippedBlock(skipped)}
</section>`;
}
