/**
 * Published peer numbers: throughput, accuracy, GPU prices. The data lives once, in @quantbench/bench
 * (packages/bench/data/peers.json), because `pnpm bench` prints the same numbers beside its points and the
 * packages depend report <- bench; --peers FILE reads another file of the same format.
 */
import { DEFAULT_PEERS_FILE, readPeers as readPeersFile, type Peers } from '@quantbench/bench';
import { ReportError } from './errors.ts';

export { DEFAULT_PEERS_FILE, deviceMatches, priceFor, type GpuPrice, type PeerAccuracy, type Peers, type PeerThroughput } from '@quantbench/bench';

export function readPeers(file = DEFAULT_PEERS_FILE): Peers {
  try {
    return readPeersFile(file);
  } catch (e) {
    if (e instanceof Error && (e as { code?: string }).code === 'BAD_PEERS') throw new ReportError('BAD_PEERS', e.message);
    throw e;
  }
}
