/**
 * Host cost of serving one step at large batch, with the device taken out: the bench's serving loop (servePoint) and
 * the engine core (scheduling, batch building, output processing) over a runner whose submit/finish return at once
 * (it samples token 1 for every row). What it prints is the host work per step on this CPU — what bench's
 * host_overhead_fraction divides by the step time on a GPU — not a property of any model or device.
 *
 *   node --import tsx packages/bench/dev/host_cost.ts [--batch 800] [--input-len 128] [--output-len 2048] [--repeats 5] [--sync]
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { EngineCore } from '@quantbench/engine';
import { NoopRunner } from '@quantbench/engine/testing';
import { servePoint } from '../src/serve_point.ts';

const { values: a } = parseArgs({
  options: {
    batch: { type: 'string', default: '800' },
    'input-len': { type: 'string', default: '128' },
    'output-len': { type: 'string', default: '2048' },
    'max-num-batched-tokens': { type: 'string', default: '8192' },
    repeats: { type: 'string', default: '5' },
    sync: { type: 'boolean', default: false },
  },
});
const batch = Number(a.batch);
const inputLen = Number(a['input-len']);
const outputLen = Number(a['output-len']);
const budget = Number(a['max-num-batched-tokens']);
const blocks = batch * Math.ceil((inputLen + outputLen) / 16) + 64;
const requests = Array.from({ length: batch }, (_, i) => ({
  index: i,
  promptIds: Array.from({ length: inputLen }, (_, j) => 2 + ((i * 31 + j) % 1000)),
  outputLen,
}));
// Garbage-collection pauses inside each repeat (part of the host time above; the young generation's scavenges most).
let gcMs = 0;
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
});
gcObserver.observe({ entryTypes: ['gc'] });
const perStep: number[] = [];
for (let r = 0; r < Number(a.repeats); r++) {
  const core = new EngineCore(new NoopRunner(blocks, 8192), { maxNumSeqs: batch, maxNumBatchedTokens: budget, asyncScheduling: !a.sync });
  gcMs = 0;
  const res = await servePoint(core, { requests, arrivalsMs: requests.map(() => 0), maxConcurrency: null });
  await new Promise((resolve) => setImmediate(resolve));  // the observer's entries of this repeat
  const host = (res.loopMs - res.forwardMs) / res.steps;
  perStep.push(host);
  console.log(
    `repeat ${r + 1}: ${res.steps} steps, host ${host.toFixed(3)} ms/step (engine core ${(res.hostMs / res.steps).toFixed(3)}, ` +
      `serving loop ${((res.loopMs - res.forwardMs - res.hostMs) / res.steps).toFixed(3)}; runner ${(res.forwardMs / res.steps).toFixed(3)}; ` +
      `of it in GC ${(gcMs / res.steps).toFixed(3)})`,
  );
}
gcObserver.disconnect();
perStep.sort((x, y) => x - y);
console.log(
  `batch ${batch}, ${inputLen}/${outputLen}, ${a.sync ? 'one step at a time' : 'async scheduling'}: host ms/step min ${perStep[0].toFixed(3)}, ` +
    `median ${perStep[perStep.length >> 1].toFixed(3)} of ${perStep.length} repeats`,
);
