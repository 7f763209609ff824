/**
 * "The answer" at the top of the page: per device, a precision × {speed, cost, quality} table from one
 * bench setup, the headline sentence computed from the same cells (data-summary / data-headline keys let
 * the browser test check they agree), the caveats, and the published peer numbers with their sources.
 */
import type { DeviceSummary } from '../summary/device-summary.ts';
import { cellKey } from '../summary/device-summary.ts';
import type { Peers } from '../peers.ts';
import { kvCacheLabel, shortCommit } from '../setup.ts';
import { esc } from './escape.ts';

const int = (v: number) => Math.round(v).toLocaleString('en-US');
const f2 = (v: number) => v.toFixed(2);
const f1 = (v: number) => v.toFixed(1);

function td(v: string | null, key?: string, title?: string): string {
  return `<td class="num"${key ? ` data-summary="${esc(key)}"` : ''}${title ? ` title="${esc(title)}"` : ''}>${v == null ? '—' : esc(v)}</td>`;
}

/** KV cache dtype of the setup's points (fp8 with an FP8 cache, else the activation dtype). */
function kvOf(s: DeviceSummary): string {
  return [...new Set(s.setup.points.map((t) => kvCacheLabel(t.record.provenance)))].join('/') || 'unknown';
}

function table(s: DeviceSummary): string {
  const { speed, quality: q } = s;
  const dev = s.setup.device;
  const workloads = speed.protocols.map((p) => p.workload);
  const costWl = workloads.filter((w) => s.cost[w]);
  const showAcc = !!q && q.weights === 'real';
  const groups = q ? q.groups : [];
  const head1 = [
    '<th rowspan="2">precision</th>',
    ...speed.protocols.map((p) => `<th colspan="4" class="grp">${esc(p.workload)}<br><span class="sub">${esc(p.label)}</span></th>`),
    s.price ? `<th colspan="${Math.max(1, costWl.length)}" class="grp">$ / M output tokens<br><span class="sub">best goodput at TTFT p90 ≤ ${int(s.slo.ttftMs)} ms, TPOT p90 ≤ ${int(s.slo.tpotMs)} ms</span></th>` : '',
    q ? `<th colspan="${(showAcc ? 2 * groups.length : 0) + 3}" class="grp">quality vs fp16<br><span class="sub">${esc(q.group.model)} · ${esc(q.group.device)} · ${q.limit == null ? 'full' : `limit ${q.limit}`}</span></th>` : '',
  ].join('');
  const head2 = [
    ...speed.protocols.flatMap((p) => ['out tok/s', '× fp16', 'TTFT p50 ms', 'TPOT p50 ms'].map((h, i) => `<th${i >= 2 ? ` title="${esc(p.latencyLabel)}"` : ''}>${esc(h)}</th>`)),
    ...(s.price ? (costWl.length ? costWl : ['—']).map((w) => `<th>${esc(w)}</th>`) : []),
    ...(showAcc ? groups.flatMap((g) => [`<th>${esc(g)} ${esc(q?.metricOf[g] ?? '')}</th>`, `<th>${esc(g)} recovery</th>`]) : []),
    ...(q
      ? [
          '<th title="choice KL(fp16 || quantized), mean over items of the tasks that have one">KL (mean)</th>',
          '<th title="same argmax choice as fp16 (generation tasks: identical text), mean over all items">top-1 agree</th>',
          '<th title="answers that turned right→wrong / wrong→right vs fp16, summed over tasks">flips R→W / W→R</th>',
        ]
      : []),
  ].join('');
  const body = speed.precisions
    .map((prec) => {
      const cells: string[] = [`<th class="prec">${esc(prec)}</th>`];
      for (const w of workloads) {
        const c = speed.cells[w]?.[prec];
        cells.push(td(c ? int(c.outTokS) : null, cellKey(dev, w, prec, 'outTokS')));
        cells.push(td(c?.speedup != null ? `${f2(c.speedup)}×` : null, cellKey(dev, w, prec, 'speedup')));
        cells.push(td(c?.ttftP50 != null ? int(c.ttftP50) : null));
        cells.push(td(c?.tpotP50 != null ? f1(c.tpotP50) : null));
      }
      if (s.price) {
        if (!costWl.length) cells.push(td(null));
        for (const w of costWl) {
          const c = s.cost[w]?.[prec];
          cells.push(td(c ? `$${f2(c.usdPerMTok)}` : 'misses SLO', cellKey(dev, w, prec, 'usd'), c ? `${int(c.goodputTokS)} tok/s at batch ${c.maxBatch}, ${c.rate}` : 'no point meets both targets'));
        }
      }
      if (q) {
        const qc = q.cells[prec];
        if (showAcc)
          for (const g of groups) {
            cells.push(td(qc?.accuracy[g] != null ? `${f1(100 * qc.accuracy[g])}%` : null));
            cells.push(td(qc?.recovery[g] != null ? `${f1(qc.recovery[g])}%` : null));
          }
        cells.push(td(qc?.kl != null ? (qc.kl === 0 ? '0' : qc.kl.toExponential(1)) : null));
        cells.push(td(qc?.top1 != null ? `${f1(100 * qc.top1)}%` : null));
        cells.push(td(qc?.flipsRightToWrong != null ? `${qc.flipsRightToWrong} / ${qc.flipsWrongToRight}` : null));
      }
      return `<tr>${cells.join('')}</tr>`;
    })
    .join('\n');
  return `<div class="table-wrap summary-wrap"><table class="data summary" data-device="${esc(dev)}"><thead><tr>${head1}</tr><tr>${head2}</tr></thead><tbody>\n${body}\n</tbody></table></div>`;
}

/** Our protocol in the words the peer table compares against. */
function ourProtocol(s: DeviceSummary): string {
  const pts = s.setup.points.map((t) => t.record).filter((p) => p.requestRate === 'inf');
  const ratios = [...new Set(pts.map((p) => p.workload.rangeRatio))];
  const lengths = ratios.length === 1 && ratios[0] === 0 ? 'fixed lengths' : `lengths varied by ±${ratios.map((r) => `${Math.round(100 * r)}%`).join('/')}`;
  const maxB = Math.max(...pts.map((p) => p.engine.maxNumSeqs));
  const prompts = Math.max(...pts.map((p) => p.workload.numPrompts));
  return `ours: ${lengths}, KV cache ${kvOf(s)}, batch ≤ ${maxB}, ≤ ${prompts} prompts per point`;
}

function peerTable(s: DeviceSummary, peers: Peers): string {
  const rows = s.peers.map((p) => {
    const ours = s.speed.protocols.find((x) => x.inputLen === p.inputLen && x.outputLen === p.outputLen);
    const oursCell = ours ? s.speed.cells[ours.workload]?.[p.precision] : undefined;
    return `<tr><td>${esc(p.engine)}</td><td>${esc(p.device)}</td><td>${esc(p.precision)}</td><td>${p.inputLen}→${p.outputLen}</td><td class="num">${int(p.outTokS)}</td>
<td class="num">${oursCell ? `${int(oursCell.outTokS)} (batch ${ours?.maxBatch})` : '—'}</td><td class="wrap">${esc(p.protocol)}</td><td class="wrap"><a href="${esc(p.source)}">${esc(p.source)}</a></td></tr>`;
  });
  const acc = peers.accuracy.map(
    (a) =>
      `<tr><td>${esc(a.model)}</td><td>${esc(a.precision)}</td><td class="wrap">${esc(a.benchmark)}</td><td class="num">${a.value != null ? `${a.value} vs ${a.baseline}` : '—'}</td><td class="num">${a.recoveryPct}%</td><td class="wrap">${esc(a.protocol)}</td><td class="wrap"><a href="${esc(a.source)}">${esc(a.source)}</a></td></tr>`,
  );
  return `<details class="peers"><summary>Published peer numbers beside ours (${rows.length + acc.length}) — other engines, checkpoints and protocols</summary>
${rows.length ? `<div class="table-wrap wide"><table class="data"><thead><tr><th>engine</th><th>card</th><th>precision</th><th>in→out</th><th>their out tok/s</th><th>ours (this setup)</th><th>their protocol (${esc(ourProtocol(s))})</th><th>source</th></tr></thead><tbody>${rows.join('')}</tbody></table></div>` : ''}
${acc.length ? `<div class="table-wrap wide"><table class="data"><thead><tr><th>checkpoint</th><th>precision</th><th>benchmark</th><th>score vs fp16</th><th>recovery</th><th>protocol</th><th>source</th></tr></thead><tbody>${acc.join('')}</tbody></table></div>` : ''}
<p class="note">${esc(peers.about)}</p></details>`;
}

export function summarySection(list: DeviceSummary[], peers: Peers, charts: Map<string, { figure: string; text: string }>): string {
  if (!list.length) return '<section class="answer" id="answer"><h2 class="sec">The answer</h2><p class="warn">No bench setup was found: no summary.</p></section>';
  const blocks = list.map((s) => {
    const st = s.setup;
    const headline = s.headline.length
      ? `<p class="headline">${s.headline.map((h) => `<span data-headline="${esc(h.key)}">${esc(h.text)}</span>`).join(', ')}.</p>`
      : '';
    const prov = `commit <code>${esc(shortCommit(st.commit))}</code> · ${esc(st.model)} · <span class="badge ${esc(st.weights)}">${esc(st.weights.toUpperCase())} WEIGHTS</span> · ${esc(st.engine)} · KV cache ${esc(kvOf(s))} · ${esc(st.firstDate.slice(0, 10))} · <span title="${esc(st.runs.join(', '))}">${st.runs.length} run(s)</span>`;
    const price = s.price
      ? `<p class="note">Cost at $${s.price.usdPerHour.toFixed(2)} per GPU-hour — ${s.price.url ? `<a href="${esc(s.price.url)}">${esc(s.price.source)}</a>` : esc(s.price.source)}; change with <code>--gpu-hour-price</code>, targets with <code>--slo-ttft-ms</code> / <code>--slo-tpot-ms</code>. Latency columns: ${esc(s.speed.protocols.map((p) => `${p.workload} ${p.latencyLabel}`).join('; '))}.</p>`
      : `<p class="note">No GPU-hour price for ${esc(st.device)}: pass <code>--gpu-hour-price</code> for the cost columns.</p>`;
    const caveats = s.caveats.map((c) => `<li>${esc(c)}</li>`).join('');
    const chart = charts.get(s.id) ?? { figure: '', text: '' };
    return `<div class="device-summary" id="${esc(s.id)}">
<h3>${esc(st.device)} — newest comparable setup <span class="setup-line">${prov}</span></h3>
${headline}
${table(s)}
<div class="answer-row"><div class="answer-chart">${chart.figure}</div><div class="answer-notes">${chart.text}${caveats ? `<ul class="caveats">${caveats}</ul>` : ''}${price}${peerTable(s, peers)}</div></div>
</div>`;
  });
  return `<section class="answer" id="answer"><h2 class="sec">The answer: what each precision costs and buys</h2>${blocks.join('\n')}</section>`;
}
