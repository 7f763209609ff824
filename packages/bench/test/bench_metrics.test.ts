import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeMetrics, distribution, parseGoodput, requestTimings, type RequestRecord } from '../src/metrics.ts';

const close = (a: number, b: number, msg?: string) => assert.ok(Math.abs(a - b) < 1e-9 * Math.max(1, Math.abs(b)), `${msg ?? ''} ${a} != ${b}`);

// Hand-computed case (ms): A 3 tokens, B 1 token, C 4 tokens, D failed; duration 2 s.
const records: RequestRecord[] = [
  { promptLen: 10, sendMs: 0, tokenTimesMs: [100, 110, 130], success: true },
  { promptLen: 20, sendMs: 50, tokenTimesMs: [250], success: true },
  { promptLen: 5, sendMs: 0, tokenTimesMs: [40, 90, 100, 160], success: true },
  { promptLen: 99, sendMs: 0, tokenTimesMs: [], success: false, error: 'rejected' },
];

test('per-request TTFT, E2EL, TPOT = (E2EL - TTFT)/(out - 1), ITL gaps', () => {
  const a = requestTimings(records[0]);
  assert.equal(a.ttftMs, 100);
  assert.equal(a.e2elMs, 130);
  assert.equal(a.tpotMs, 15);
  assert.deepEqual(a.itlMs, [10, 20]);
  const b = requestTimings(records[1]);
  assert.equal(b.ttftMs, 200);
  assert.equal(b.tpotMs, null, 'no TPOT for a single-token output');
  assert.deepEqual(b.itlMs, []);
  assert.equal(requestTimings(records[2]).tpotMs, 40);
});

test('aggregate metrics match hand computation (vllm bench serve definitions)', () => {
  const { metrics: m } = computeMetrics(records, 2);
  assert.equal(m.completed, 3);
  assert.equal(m.failed, 1);
  assert.equal(m.totalInputTokens, 35, 'failed requests count no input tokens');
  assert.equal(m.totalOutputTokens, 8);
  close(m.requestThroughput, 1.5);
  close(m.outputThroughput, 4);
  close(m.totalTokenThroughput, 21.5);
  // TTFT [100, 200, 40]
  close(m.ttftMs.mean, 340 / 3);
  close(m.ttftMs.median, 100);
  close(m.ttftMs.p90, 180, 'linear interpolation: idx 1.8');
  close(m.ttftMs.p99, 198);
  close(m.ttftMs.std, Math.sqrt(13066.666666666666 / 3), 'population std');
  assert.equal(m.ttftMs.min, 40);
  assert.equal(m.ttftMs.max, 200);
  // TPOT only over requests with > 1 token: [15, 40]
  close(m.tpotMs.mean, 27.5);
  close(m.tpotMs.p90, 37.5);
  close(m.tpotMs.std, 12.5);
  // ITL pooled: [10, 20, 50, 10, 60]
  close(m.itlMs.mean, 30);
  close(m.itlMs.median, 20);
  close(m.itlMs.p90, 56);
  close(m.itlMs.p99, 59.6);
  close(m.itlMs.std, Math.sqrt(440));
  // E2EL [130, 200, 160]
  close(m.e2elMs.mean, 490 / 3);
  close(m.e2elMs.median, 160);
  assert.equal(m.goodput, undefined);
});

test('goodput: a request is good when it meets every SLO; single-token requests count TPOT 0', () => {
  const g1 = computeMetrics(records, 2, parseGoodput(['ttft:150', 'tpot:20'])).metrics.goodput!;
  close(g1.requestsPerS, 0.5); // only A
  close(g1.fraction, 1 / 3);
  assert.deepEqual(g1.slo, { ttft: 150, tpot: 20 });
  const g2 = computeMetrics(records, 2, parseGoodput(['tpot:0'])).metrics.goodput!;
  close(g2.requestsPerS, 0.5); // only B (TPOT 0)
  const g3 = computeMetrics(records, 2, parseGoodput(['e2el:160'])).metrics.goodput!;
  close(g3.requestsPerS, 1); // A and C
});

test('distribution of random samples agrees with a direct computation', () => {
  let s = 12345;
  const xs = Array.from({ length: 101 }, () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 100);
  const d = distribution(xs);
  const sorted = xs.slice().sort((a, b) => a - b);
  close(d.median, sorted[50]);
  close(d.p90, sorted[90], 'idx (n-1)*0.9 = 90 exactly');
  close(d.p99, sorted[99]);
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  close(d.mean, mean);
  close(d.std, Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length));
  assert.deepEqual(distribution([]), { mean: 0, median: 0, p90: 0, p99: 0, std: 0, min: 0, max: 0 });
});

test('bad --goodput items and durations are typed errors', () => {
  assert.throws(() => parseGoodput(['ttfb:10']), { code: 'BAD_GOODPUT' });
  assert.throws(() => parseGoodput(['ttft:abc']), { code: 'BAD_GOODPUT' });
  assert.throws(() => computeMetrics(records, 0), { code: 'BAD_GOODPUT' });
});
