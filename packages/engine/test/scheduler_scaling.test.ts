/**
 * The scheduler's host work per step is linear in the requests it holds, up to 2048 running sequences and more
 * (the peer protocol's max batch). Measured by counting, never by timing: while EngineCore.step() runs, every call
 * of an Array.prototype method that walks elements (shift, unshift, splice, filter, indexOf, includes, slice, ...)
 * adds the number of elements the spec has it visit or move. A per-request filter or shift inside a loop over the
 * running requests (the pattern this test exists for) makes that count quadratic; plain loops, Map/Set lookups and
 * typed-array work are linear by reading and are not counted.
 *
 * The model is NoopRunner (scheduler_fake_runner.ts: it samples token 1 for every row): the scheduler is under test,
 * not a model.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EngineCore } from '../src/scheduler/index.ts';
import { NoopRunner } from './scheduler_fake_runner.ts';

const clampIndex = (i: number | undefined, len: number, dflt: number) => {
  if (i === undefined) return dflt;
  const t = Math.trunc(i);
  return t < 0 ? Math.max(len + t, 0) : Math.min(t, len);
};

/** Elements an Array.prototype method visits or moves, per the spec (this.length unless narrower). */
const COST: Record<string, (len: number, args: unknown[]) => number> = {
  shift: (len) => len,
  unshift: (len, a) => len + a.length,
  splice: (len, a) => len - clampIndex(a[0] as number, len, 0),
  slice: (len, a) => Math.max(0, clampIndex(a[1] as number | undefined, len, len) - clampIndex(a[0] as number | undefined, len, 0)),
  concat: (len) => len,
};
const WALKERS = ['shift', 'unshift', 'splice', 'slice', 'concat', 'filter', 'indexOf', 'lastIndexOf', 'includes', 'find', 'findIndex', 'findLast', 'findLastIndex', 'some', 'every', 'map', 'forEach', 'reduce', 'reduceRight', 'reverse', 'sort', 'fill', 'copyWithin', 'flat', 'flatMap', 'join'] as const;

/** Runs f with the Array.prototype walkers counting; returns f's result and the elements they walked. */
function counted<T>(f: () => T): { result: T; work: number } {
  const proto = Array.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const saved = new Map<string, (...a: unknown[]) => unknown>();
  let work = 0;
  for (const name of WALKERS) {
    const orig = proto[name]!;
    saved.set(name, orig);
    const cost = COST[name] ?? ((len: number) => len);
    proto[name] = function (this: unknown[], ...args: unknown[]) {
      work += cost(this.length, args);
      return orig.apply(this, args);
    };
  }
  try {
    return { result: f(), work };
  } finally {
    for (const [name, orig] of saved) proto[name] = orig;
  }
}

interface ScaleRun {
  steps: number;
  /** Largest walked-element count of one step over (requests held at the step + 1). */
  worstPerHeld: number;
  /** Walked elements over the run / sum over steps of requests held. */
  meanPerHeld: number;
  preemptions: number;
  maxRunning: number;
  tokens: Map<string, number>;
}

function drive(n: number, promptLen: number, maxTokens: number, numKvBlocks: number): ScaleRun {
  const core = new EngineCore(new NoopRunner(numKvBlocks), { maxNumSeqs: n, maxNumBatchedTokens: n * promptLen });
  const tokens = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    core.addRequest({ id: `r${i}`, promptIds: Array.from({ length: promptLen }, (_, j) => 1 + ((i + j) % 90)), params: { maxTokens, ignoreEos: true } });
    tokens.set(`r${i}`, 0);
  }
  let steps = 0;
  let worstPerHeld = 0;
  let work = 0;
  let held = 0;
  let preemptions = 0;
  let maxRunning = 0;
  while (core.hasUnfinished()) {
    const h = core.numRunning + core.numWaiting;
    const { result, work: w } = counted(() => core.step());
    steps++;
    work += w;
    held += h + 1;
    worstPerHeld = Math.max(worstPerHeld, w / (h + 1));
    preemptions += result.stats.preempted;
    maxRunning = Math.max(maxRunning, result.stats.numRunning);
    for (const o of result.outputs) {
      tokens.set(o.id, tokens.get(o.id)! + o.newTokenIds.length);
      if (o.finished) assert.equal(o.finishReason, 'length', `${o.id}: ${o.error ?? ''}`);
    }
    assert.ok(steps < 100 * maxTokens, 'the scheduler makes progress');
  }
  return { steps, worstPerHeld, meanPerHeld: work / held, preemptions, maxRunning, tokens };
}

// Generous constants: the current scheduler walks about 2-3 elements per held request per step (the running-list
// sweep, block-pool compaction); a per-request O(n) step at n = 2048 shows as hundreds.
const PER_STEP = 16;

test('2048 running sequences finishing in the same step: host array work per step stays linear', () => {
  const r = drive(2048, 4, 6, 2048 * 2);
  assert.equal(r.maxRunning, 2048, 'all 2048 ran at once');
  assert.equal(r.preemptions, 0);
  for (const [id, t] of r.tokens) assert.equal(t, 6, id);
  assert.ok(r.worstPerHeld <= PER_STEP, `worst step walked ${r.worstPerHeld.toFixed(1)} elements per held request (bound ${PER_STEP})`);
});

test('KV exhaustion with 2048 running: hundreds of preemptions in one step stay linear and every request completes in full', () => {
  // 16-token prompts take one block each; at the 17th token every sequence needs a second block in the same step,
  // and the cache has room for only 512 of them: about 1500 preemptions at once, then recompute.
  const n = 2048;
  const r = drive(n, 16, 20, n + 512);
  assert.ok(r.preemptions >= 1000, `preempted ${r.preemptions}`);
  for (const [id, t] of r.tokens) assert.equal(t, 20, id);
  assert.ok(r.worstPerHeld <= PER_STEP, `worst step walked ${r.worstPerHeld.toFixed(1)} elements per held request (bound ${PER_STEP})`);
  assert.ok(r.meanPerHeld <= PER_STEP / 2, `mean ${r.meanPerHeld.toFixed(2)} elements per held request per step`);
});

test('the work per held request does not grow from 256 to 2048 sequences', () => {
  const small = drive(256, 16, 20, 256 + 64);
  const large = drive(2048, 16, 20, 2048 + 512);
  assert.ok(small.preemptions > 0 && large.preemptions > 0);
  // Linear: the same per-request cost at both sizes (quadratic would be 8x).
  assert.ok(large.meanPerHeld <= small.meanPerHeld * 1.5 + 1, `256: ${small.meanPerHeld.toFixed(2)}, 2048: ${large.meanPerHeld.toFixed(2)} per held request per step`);
});

test('Deque: FIFO with pushFront, growth across the ring boundary, removeWhere keeps order', async () => {
  const { Deque } = await import('../src/scheduler/deque.ts');
  const d = new Deque<number>(4);
  const model: number[] = [];
  for (let i = 0; i < 50; i++) {
    if (i % 3 === 0) {
      d.pushFront(i);
      model.unshift(i);
    } else {
      d.pushBack(i);
      model.push(i);
    }
    if (i % 4 === 0) assert.equal(d.popFront(), model.shift());
  }
  assert.deepEqual([...d], model);
  assert.equal(d.length, model.length);
  assert.equal(d.peekFront(), model[0]);
  assert.equal(d.at(3), model[3]);
  d.removeWhere((x) => x % 2 === 0);
  assert.deepEqual([...d], model.filter((x) => x % 2 !== 0));
  while (d.length > 0) d.popFront();
  assert.equal(d.popFront(), undefined);
  assert.equal(d.peekFront(), undefined);
});
