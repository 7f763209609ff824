/**
 * Published peer numbers (packages/bench/data/peers.json, the one copy): throughput, accuracy, GPU prices, each with
 * its source and protocol. `pnpm bench` prints the matching throughput beside each point (summary.ts) and writes it
 * into summary.json with where the protocols differ; the report (packages/report) reads the same file through here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '@quantbench/engine';
import type { BenchPoint } from './schema.ts';

export interface PeerThroughput {
  engine: string;
  device: string;
  model: string;
  precision: string;
  inputLen: number;
  outputLen: number;
  outTokS: number;
  source: string;
  protocol: string;
  /** Requests of the published run, when the source states it (TensorRT-LLM's perf overview: $num_requests). */
  numRequests?: number;
  /** KV cache dtype of the published run, when known. */
  kvCacheDtype?: string;
  /** How the published run chose its max batch, when known. */
  maxBatch?: string;
  requestRate?: 'inf' | number;
  fixedLengths?: boolean;
  ignoreEos?: boolean;
}

export interface PeerAccuracy {
  model: string;
  precision: string;
  benchmark: string;
  value: number | null;
  baseline: number | null;
  recoveryPct: number;
  source: string;
  protocol: string;
}

export interface GpuPrice {
  device: string;
  usdPerHour: number;
  date: string;
  source: string;
  note: string;
}

export interface Peers {
  about: string;
  throughput: PeerThroughput[];
  accuracy: PeerAccuracy[];
  prices: GpuPrice[];
}

export class PeersError extends Error {
  readonly code = 'BAD_PEERS';
  constructor(message: string) {
    super(message);
    this.name = 'PeersError';
  }
}

/** Resolved from the repository root (REPO_ROOT honours QB_REPO_ROOT, so a bundled CLI on the GPU machine finds it too). */
export const DEFAULT_PEERS_FILE = path.join(REPO_ROOT, 'packages', 'bench', 'data', 'peers.json');

export function readPeers(file = DEFAULT_PEERS_FILE): Peers {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new PeersError(`cannot read peers file ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const p = raw as Partial<Peers> & { schema?: string };
  if (p.schema !== 'quantbench.peers' || !Array.isArray(p.throughput) || !Array.isArray(p.accuracy) || !Array.isArray(p.prices))
    throw new PeersError(`${file} is not a quantbench.peers file (needs schema, throughput[], accuracy[], prices[])`);
  for (const t of p.throughput)
    if (!t.source || !t.protocol || !(t.outTokS > 0)) throw new PeersError(`${file}: every throughput entry needs outTokS, source and protocol`);
  for (const a of p.accuracy)
    if (!a.source || !a.protocol || !(a.recoveryPct > 0)) throw new PeersError(`${file}: every accuracy entry needs recoveryPct, source and protocol`);
  return { about: p.about ?? '', throughput: p.throughput, accuracy: p.accuracy, prices: p.prices };
}

/** A peer's device matches ours when its name (e.g. "H200") appears in our device string. */
export function deviceMatches(ours: string, peer: string): boolean {
  return ours.toLowerCase().includes(peer.toLowerCase());
}

export function priceFor(peers: Peers, device: string): GpuPrice | undefined {
  return peers.prices.find((p) => deviceMatches(device, p.device));
}

/** The published throughput for a point: same card, precision, input and output length; undefined when none. */
export function peerFor(point: BenchPoint, peers: Peers): PeerThroughput | undefined {
  return peers.throughput.find(
    (t) =>
      t.precision === point.precision &&
      t.inputLen === point.workload.inputLen &&
      t.outputLen === point.workload.outputLen &&
      point.workload.rangeRatio === 0 &&
      deviceMatches(point.provenance.device, t.device),
  );
}

/** A point beside its published peer number, as summary.json records it. */
export interface PeerComparison {
  key: string;
  ours: { outTokS: number; protocol: string };
  peer: PeerThroughput;
  /** ours / peer output tokens per second */
  ratio: number;
  /** Where the two runs differ (empty only when every recorded setting matches the peer's). */
  protocolDifferences: string[];
}

/** Starts the protocol difference that names the point's max batch (it varies across a sweep's rows). */
export const MAX_BATCH_PREFIX = 'ours: max batch ';

/** Where a point's run differs from the peer's published run, in words, from what both sides record. */
export function protocolDifferences(p: BenchPoint, peer: PeerThroughput): string[] {
  const out: string[] = [];
  const proto = p.protocol?.name ?? 'study';
  if (proto !== 'peer') out.push(`ours ran the ${proto} protocol, not the peer protocol`);
  if (peer.numRequests !== undefined && p.workload.numPrompts !== peer.numRequests)
    out.push(`ours ran ${p.workload.numPrompts} requests, the peer ${peer.numRequests}`);
  if (peer.requestRate !== undefined && p.requestRate !== peer.requestRate) out.push(`request rate ${p.requestRate} req/s, the peer's ${peer.requestRate}`);
  if (p.maxConcurrency !== null) out.push(`ours capped concurrency at ${p.maxConcurrency}`);
  if (p.workload.rangeRatio !== 0) out.push(`ours drew lengths with range ratio ${p.workload.rangeRatio}, the peer's are fixed`);
  const kv = p.engine.kvCacheDtype ?? 'auto';
  if (peer.kvCacheDtype && kv !== peer.kvCacheDtype)
    out.push(`KV cache ${kv === 'auto' ? 'in the activation dtype' : kv}${p.protocol?.kvCacheDtypeWanted && p.protocol.kvCacheDtypeWanted !== kv ? ` (the protocol wanted ${p.protocol.kvCacheDtypeWanted}; --kv-cache-dtype ran ${kv})` : ''}, the peer's ${peer.kvCacheDtype}`);
  out.push(`${MAX_BATCH_PREFIX}${p.engine.maxNumSeqs} and ${p.engine.maxNumBatchedTokens} batched tokens per step; the peer: ${peer.maxBatch ?? 'see its protocol'}`);
  // TensorRT-LLM's capacity scheduler runs GUARANTEED_NO_EVICT unless told otherwise (its default).
  if ((p.engine.capacitySchedulerPolicy ?? 'max-utilization') !== 'guaranteed-no-evict' && /TensorRT-LLM/.test(peer.engine))
    out.push(`ours scheduled with --capacity-scheduler-policy max-utilization (${p.metrics.preemptions} preemptions by recompute); the peer starts a request only when its whole length fits (GUARANTEED_NO_EVICT, its default)`);
  if (p.provenance.weights !== 'real') out.push(`ours ran ${p.provenance.weights} weights (${p.provenance.model}), the peer ${peer.model}`);
  else out.push(`ours ran ${p.provenance.model}, the peer ${peer.model}`);
  out.push(`other engine: ${peer.engine}`);
  return out;
}

export function comparePeers(points: readonly BenchPoint[], peers: Peers): PeerComparison[] {
  const out: PeerComparison[] = [];
  for (const p of points) {
    const peer = peerFor(p, peers);
    if (!peer) continue;
    out.push({
      key: p.key,
      ours: { outTokS: p.metrics.outputThroughput, protocol: p.protocol?.name ?? 'study' },
      peer,
      ratio: p.metrics.outputThroughput / peer.outTokS,
      protocolDifferences: protocolDifferences(p, peer),
    });
  }
  return out;
}
