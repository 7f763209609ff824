/**
 * Speed vs quality for one device summary: one mark per precision (x: output tok/s of the summary's first
 * protocol, y: recovery vs fp16 of its quality run, or top-1 agreement when no accuracy applies), the
 * Pareto front (no other precision both faster and better) drawn through them, and published peer numbers
 * as labelled reference rules.
 */
import type { TopLevelSpec } from 'vega-lite';
import { comparePrecision, precisionScale } from '../setup.ts';
import type { DeviceSummary } from '../summary/device-summary.ts';
import type { PeerAccuracy } from '../peers.ts';
import { setupShort } from '../select/bench-setups.ts';
import type { ChartColumn, ChartResult, Row } from './chart-types.ts';
import { emptyChart } from './common.ts';
import { PRECISION_SHAPES } from './marks.ts';

const columns: ChartColumn[] = [
  { field: 'precision', title: 'precision' },
  { field: 'outTokS', title: 'output tok/s', format: 'int' },
  { field: 'quality', title: 'quality', format: 'num1' },
  { field: 'pareto', title: 'on Pareto front' },
];

/** Precisions not beaten on both axes by another (ties keep both). */
export function paretoFront(rows: { precision: string; x: number; y: number }[]): Set<string> {
  const front = new Set<string>();
  for (const r of rows) if (!rows.some((o) => o !== r && o.x >= r.x && o.y >= r.y && (o.x > r.x || o.y > r.y))) front.add(r.precision);
  return front;
}

export function speedVsQuality(s: DeviceSummary, peerAcc: PeerAccuracy[]): ChartResult {
  const id = `speed-quality-${s.id.replace(/^summary-/, '')}`;
  const title = `Speed vs quality — ${setupShort(s.setup)}`;
  const proto = s.speed.protocols[0];
  if (!proto) return emptyChart({ id, title, columns }, 'The bench setup has no rate-∞ throughput points.');
  const q = s.quality;
  const useRecovery = !!q && q.weights === 'real' && q.groups.length > 0;
  const group = q ? (q.groups.includes('leaderboard-v1') ? 'leaderboard-v1' : q.groups[0]) : undefined;
  const yTitle = useRecovery ? `${group} recovery vs fp16 (%)` : 'top-1 agreement with fp16 (%)';
  const pts: { precision: string; x: number; y: number }[] = [];
  for (const [prec, c] of Object.entries(s.speed.cells[proto.workload] ?? {})) {
    const qc = q?.cells[prec];
    const y = useRecovery ? (group ? qc?.recovery[group] : undefined) : qc?.top1 != null ? 100 * qc.top1 : undefined;
    if (y != null) pts.push({ precision: prec, x: c.outTokS, y });
  }
  if (pts.length === 0) return emptyChart({ id, title, columns }, 'No precision has both a throughput point and a quality result.');
  pts.sort((a, b) => comparePrecision(a.precision, b.precision));
  const front = paretoFront(pts);
  const rows: Row[] = pts.map((p) => ({ precision: p.precision, outTokS: p.x, quality: p.y, pareto: front.has(p.precision) ? 'yes' : 'no' }));
  const frontRows = rows.filter((r) => r.pareto === 'yes').sort((a, b) => Number(a.outTokS) - Number(b.outTokS));
  const scale = precisionScale(pts.map((p) => p.precision));
  const peerX = s.peers
    .filter((p) => p.inputLen === proto.inputLen && p.outputLen === proto.outputLen)
    .map((p) => ({ x: p.outTokS, label: `${p.engine} ${p.precision}: ${Math.round(p.outTokS).toLocaleString('en-US')} tok/s (other protocol)` }));
  const peerY = useRecovery
    ? peerAcc.map((a, i) => ({ y: a.recoveryPct, side: i % 2 ? 'right' : 'left', label: `${a.precision} model card (Llama-3.1-8B-Instruct): ${a.recoveryPct}%` }))
    : [];
  const xs = [...pts.map((p) => p.x), ...peerX.map((p) => p.x)];
  const ys = [...pts.map((p) => p.y), ...peerY.map((p) => p.y)];
  const pad = (lo: number, hi: number, f: number) => [lo - (hi - lo) * f - 0.5, hi + (hi - lo) * f + 0.5];
  const yDom = pad(Math.min(...ys), Math.max(...ys), 0.15);
  const xDom = [0, Math.max(...xs) * 1.08];
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    description: title,
    width: 560,
    height: 250,
    data: { values: rows },
    layer: [
      {
        data: { values: frontRows },
        mark: { type: 'line', color: '#888', strokeDash: [5, 4], strokeWidth: 1.5 },
        encoding: {
          x: { field: 'outTokS', type: 'quantitative' },
          y: { field: 'quality', type: 'quantitative' },
          order: { field: 'outTokS', type: 'quantitative' },
        },
      },
      ...(peerX.length
        ? [
            {
              data: { values: peerX },
              mark: { type: 'rule', color: '#6b6b6b', strokeDash: [2, 3] },
              encoding: { x: { field: 'x', type: 'quantitative' } },
            },
            {
              data: { values: peerX },
              mark: { type: 'text', align: 'right', baseline: 'top', dx: -4, dy: 4, y: 0, fontSize: 10, color: '#444' },
              encoding: { x: { field: 'x', type: 'quantitative' }, text: { field: 'label', type: 'nominal' } },
            },
          ]
        : []),
      ...(peerY.length
        ? [
            {
              data: { values: peerY },
              mark: { type: 'rule', color: '#9a9a9a', strokeDash: [6, 3] },
              encoding: { y: { field: 'y', type: 'quantitative' } },
            },
            {
              data: { values: peerY.filter((p) => p.side === 'left') },
              mark: { type: 'text', align: 'left', baseline: 'bottom', x: 4, dy: -2, fontSize: 10, color: '#444' },
              encoding: { y: { field: 'y', type: 'quantitative' }, text: { field: 'label', type: 'nominal' } },
            },
            {
              data: { values: peerY.filter((p) => p.side === 'right') },
              mark: { type: 'text', align: 'right', baseline: 'top', x: 556, dy: 2, fontSize: 10, color: '#444' },
              encoding: { y: { field: 'y', type: 'quantitative' }, text: { field: 'label', type: 'nominal' } },
            },
          ]
        : []),
      {
        mark: { type: 'point', filled: true, size: 150, opacity: 0.9 },
        encoding: {
          x: { field: 'outTokS', type: 'quantitative', title: `output tok/s — ${proto.workload} ${proto.inputLen}→${proto.outputLen}, batch ${proto.maxBatch}`, scale: { domain: xDom } },
          y: { field: 'quality', type: 'quantitative', title: yTitle, scale: { domain: yDom, zero: false } },
          color: { field: 'precision', type: 'nominal', title: 'precision', scale, legend: { orient: 'bottom', direction: 'horizontal' } },
          shape: {
            field: 'precision',
            type: 'nominal',
            title: 'precision',
            scale: { domain: scale.domain, range: scale.domain.map((p) => PRECISION_SHAPES[p] ?? 'circle') },
            legend: { orient: 'bottom', direction: 'horizontal' },
          },
          tooltip: [
            { field: 'precision', type: 'nominal' },
            { field: 'outTokS', type: 'quantitative', title: 'output tok/s', format: ',.0f' },
            { field: 'quality', type: 'quantitative', title: yTitle, format: '.2f' },
            { field: 'pareto', type: 'nominal', title: 'Pareto front' },
          ],
        },
      },
    ],
  } as unknown as TopLevelSpec;
  const best = [...front].map((p) => pts.find((x) => x.precision === p) as (typeof pts)[number]).sort((a, b) => b.x - a.x);
  const reading = `On the Pareto front: ${best.map((b) => `${b.precision} (${Math.round(b.x).toLocaleString('en-US')} tok/s, ${b.y.toFixed(1)}%)`).join(', ')}; dashed line = the front; exact values in the table above.`;
  const notes = [
    `Speed: ${s.setup.label} (${s.setup.weights} weights). Quality: ${q ? `${q.group.device} · ${q.group.model} (${q.weights} weights, run ${q.group.run})` : 'none'}${s.qualityElsewhere ? ' — another model/device than the speed axis: the two axes are read per precision, not as one measurement.' : '.'}`,
  ];
  if (peerX.length || peerY.length)
    notes.push('Grey rules are published peer numbers (sources in the peers table); their engines, checkpoints and protocols differ from ours.');
  return {
    id,
    title,
    reading,
    notes,
    spec,
    columns,
    rows,
    weights: [s.setup.weights, ...(q ? [q.weights as typeof s.setup.weights] : [])].filter((w, i, a) => a.indexOf(w) === i),
    fixture: s.setup.device === 'fixture',
    setups: [s.setup.label],
  };
}
