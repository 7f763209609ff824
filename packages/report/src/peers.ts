/** Published peer numbers (packages/report/data/peers.json, or --peers FILE): throughput, accuracy, GPU prices. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ReportError } from './errors.ts';

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

export const DEFAULT_PEERS_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'data', 'peers.json');

export function readPeers(file = DEFAULT_PEERS_FILE): Peers {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ReportError('BAD_PEERS', `cannot read peers file ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const p = raw as Partial<Peers> & { schema?: string };
  if (p.schema !== 'quantbench.peers' || !Array.isArray(p.throughput) || !Array.isArray(p.accuracy) || !Array.isArray(p.prices))
    throw new ReportError('BAD_PEERS', `${file} is not a quantbench.peers file (needs schema, throughput[], accuracy[], prices[])`);
  for (const t of p.throughput)
    if (!t.source || !t.protocol || !(t.outTokS > 0)) throw new ReportError('BAD_PEERS', `${file}: every throughput entry needs outTokS, source and protocol`);
  for (const a of p.accuracy)
    if (!a.source || !a.protocol || !(a.recoveryPct > 0)) throw new ReportError('BAD_PEERS', `${file}: every accuracy entry needs recoveryPct, source and protocol`);
  return { about: p.about ?? '', throughput: p.throughput, accuracy: p.accuracy, prices: p.prices };
}

/** A peer's device matches ours when its name (e.g. "H200") appears in our device string. */
export function deviceMatches(ours: string, peer: string): boolean {
  return ours.toLowerCase().includes(peer.toLowerCase());
}

export function priceFor(peers: Peers, device: string): GpuPrice | undefined {
  return peers.prices.find((p) => deviceMatches(device, p.device));
}
