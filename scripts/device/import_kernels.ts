/**
 * Turn the GPU harness output (scripts/device/kernels.sh -> kernels.jsonl) into a committed result run:
 *   results/<run>/kernels.jsonl  KernelTiming lines (bench schema) with provenance
 *   results/<run>/checks.jsonl   every kernel-vs-CPU-twin check of that run
 *   results/<run>/README.md      how it was produced and the per-GEMM table
 * Usage: node --import tsx scripts/device/import_kernels.ts DEVICE_OUT_DIR COMMIT RUN_NAME
 */
import fs from 'node:fs';
import path from 'node:path';
import { BENCH_SCHEMA_VERSION, type KernelTiming } from '@quantbench/bench';
import { REPO_ROOT } from '@quantbench/engine';

interface HarnessTiming {
  op: string;
  precision: string;
  shape: string;
  kernel: string;
  medianUs: number;
  achievedTBs: number;
  achievedTflops: number;
  rooflineRatio: number;
  bound: 'bandwidth' | 'compute';
  device: string;
  peakTBs: number;
  peakTflops: number;
}

const [src, commit, run] = process.argv.slice(2);
if (!src || !commit || !run) {
  console.error('usage: import_kernels.ts DEVICE_OUT_DIR COMMIT RUN_NAME');
  process.exit(2);
}
const lines = fs.readFileSync(path.join(src, 'kernels.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
const timings = lines.filter((l) => 'medianUs' in l) as unknown as HarnessTiming[];
const checks = lines.filter((l) => 'check' in l);
const date = fs.statSync(path.join(src, 'kernels.jsonl')).mtime.toISOString();

function parseShape(s: string): { name: string; dims: Record<string, number> } {
  const parts = s.split(' ');
  const dims: Record<string, number> = {};
  let name = '';
  for (const p of parts) {
    const m = /^([A-Za-z]+)=(\d+)$/.exec(p);
    if (m) dims[m[1]!] = Number(m[2]);
    else name = p;
  }
  return { name, dims };
}
const baseline = new Map<string, number>();
for (const t of timings) if (t.op === 'gemm' && t.precision === 'bf16' && t.kernel === 'cublasLt') baseline.set(t.shape, t.medianUs);

const out: KernelTiming[] = timings.map((t) => {
  const { name, dims } = parseShape(t.shape);
  const b = baseline.get(t.shape);
  const precision = t.precision === 'fp8' ? 'fp8' : t.precision;
  return {
    schema: 'quantbench.bench.kernel',
    version: BENCH_SCHEMA_VERSION,
    provenance: {
      device: t.device,
      deviceKind: 'cuda',
      commit,
      model: 'kernels: Llama-3.1-8B linear shapes',
      weights: 'synthetic',
      recipe: { precision: precision === 'bf16' ? 'bf16' : precision === 'fp8' ? 'fp8-dynamic' : 'int8-w8a8', actDtype: 'bf16', weights: precision, activations: precision, source: 'none' },
      date,
      node: 'n/a (C++ harness)',
      host: 'gpu machine',
    },
    op: name ? `${t.op}:${name}` : t.op,
    precision,
    shape: dims,
    medianUs: t.medianUs,
    achievedTBs: t.achievedTBs,
    achievedTflops: t.achievedTflops,
    roofline: { bound: t.bound, ratio: t.rooflineRatio, peakBandwidthTBs: t.peakTBs, peakTflops: t.peakTflops },
    baseline: b !== undefined && !(t.precision === 'bf16' && t.kernel === 'cublasLt') ? { name: 'cuBLASLt bf16', medianUs: b } : undefined,
    note: `kernel ${t.kernel}; random inputs (weights synthetic)`,
  } as KernelTiming;
});

const dir = path.join(process.env.QB_RESULTS_DIR ?? path.join(REPO_ROOT, 'results'), run);
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, 'kernels.jsonl'), out.map((o) => JSON.stringify(o)).join('\n') + '\n');
fs.writeFileSync(path.join(dir, 'checks.jsonl'), checks.map((c) => JSON.stringify(c)).join('\n') + '\n');
const passed = checks.filter((c) => c.pass === true).length;
const rows = timings
  .filter((t) => t.op === 'gemm')
  .map((t) => `| ${t.shape} | ${t.precision} | ${t.kernel} | ${t.medianUs.toFixed(2)} | ${t.achievedTBs.toFixed(2)} | ${t.achievedTflops.toFixed(1)} | ${(100 * t.rooflineRatio).toFixed(1)}% ${t.bound} |`);
// The ceilings the harness took its ratios against, as its rows carry them.
const peakOf = (pred: (t: HarnessTiming) => boolean) => [...new Set(timings.filter(pred).map((t) => t.peakTflops))].join(' / ') || '?';
const peakTBs = [...new Set(timings.map((t) => t.peakTBs))].join(' / ') || '?';
fs.writeFileSync(
  path.join(dir, 'README.md'),
  `# ${run}\n\nDevice: ${timings[0]?.device ?? 'unknown'} · commit ${commit} · ${date}\n` +
    `Produced by \`bash scripts/device/kernels.sh\` on the GPU machine, imported with \`scripts/device/import_kernels.ts\`.\n` +
    `Inputs are fresh random data (\`"weights": "synthetic"\`). Checks vs the CPU twins: ${passed} passed, ${checks.length - passed} failed.\n` +
    `Roofline: bytes / ${peakTBs} TB/s for bandwidth-bound shapes, FLOPs / (${peakOf((t) => t.precision === 'bf16')} bf16 | ${peakOf((t) => t.precision !== 'bf16')} fp8/int8 TFLOP/s) for compute-bound ones.\n\n` +
    `| shape | precision | kernel | median µs | TB/s | TFLOP/s | roofline |\n|---|---|---|---|---|---|---|\n${rows.join('\n')}\n`,
);
console.log(`wrote ${dir}: ${out.length} timings, ${checks.length} checks (${passed} passed)`);
