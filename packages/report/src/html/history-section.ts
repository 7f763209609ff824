/**
 * Older setups, out of the headlines: one row per older bench setup with its best numbers at its own
 * protocol (speedups against fp16 of the same setup only), and a list of the older kernel, block and eval
 * setups with their runs.
 */
import { speedTable } from '../summary/speed.ts';
import type { Scope } from '../select/scope.ts';
import { evalCommitLabel } from '../select/scope.ts';
import { setupOf, shortCommit } from '../setup.ts';
import { esc } from './escape.ts';

export function historySection(scope: Scope): string {
  const rows = scope.olderBench.map((s) => {
    const t = speedTable(s);
    const parts = t.protocols.map((p) => {
      const cells = t.precisions
        .filter((pr) => t.cells[p.workload]?.[pr])
        .map((pr) => {
          const c = t.cells[p.workload][pr];
          return `${pr} ${Math.round(c.outTokS).toLocaleString('en-US')}${c.speedup != null && pr !== 'fp16' ? ` (${c.speedup.toFixed(2)}×)` : ''}`;
        });
      return `<div><strong>${esc(p.workload)}</strong> ${esc(p.label)}: ${esc(cells.join(' · '))}</div>`;
    });
    const plumbing = s.deviceKind === 'cpu' ? ' <span class="badge">CPU PLUMBING</span>' : '';
    return `<tr><td>${esc(s.device)}${plumbing}</td><td><code>${esc(shortCommit(s.commit))}</code></td><td>${esc(s.model)}</td><td>${esc(s.engine)}</td><td>${esc(s.firstDate.slice(0, 10))}</td><td class="wrap">${parts.join('') || '—'}</td><td class="wrap">${esc(s.runs.join(', '))}</td></tr>`;
  });
  const others = new Map<string, Set<string>>();
  const note = (kind: string, label: string, run: string) => {
    const k = `${kind}: ${label}`;
    (others.get(k) ?? others.set(k, new Set()).get(k))?.add(run);
  };
  for (const t of scope.history.kernels) note('kernel timings', setupOf(t.record.provenance).label, t.run);
  for (const t of scope.history.breakdown) note('block breakdown', setupOf(t.record.provenance).label, t.run);
  for (const g of scope.olderEval) note('eval', `${g.device} · ${evalCommitLabel(g)} · ${g.model}`, g.run);
  const list = [...others.entries()].map(([k, runs]) => `<li>${esc(k)} — ${esc([...runs].sort().join(', '))}</li>`).join('');
  if (!rows.length && !list) return '';
  return `<section class="history" id="history"><h2 class="sec">History: older setups (never mixed into the headlines)</h2>
${rows.length ? `<div class="table-wrap wide"><table class="data hist"><thead><tr><th>device</th><th>commit</th><th>model</th><th>engine</th><th>date</th><th>out tok/s at the largest batch all precisions ran (× fp16 of the same setup)</th><th>runs</th></tr></thead><tbody>${rows.join('\n')}</tbody></table></div>` : ''}
${list ? `<ul class="older">${list}</ul>` : ''}</section>`;
}
