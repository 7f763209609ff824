/** @quantbench/bench: result schema (read by the report) and the sweep API behind `pnpm bench`. */
export * from './schema.ts';
export { computeMetrics, distribution, parseGoodput, requestTimings, type GoodputSlo, type RequestRecord } from './metrics.ts';
export { sampleRequests, WORKLOAD_PRESETS, QUICK_PRESETS, defaultNumPrompts, type BenchRequest } from './workload.ts';
export { arrivalOffsetsMs } from './arrivals.ts';
export { runSweep, pointKey, resolveCeilings, type SweepConfig, type SweepOutcome, type Rate } from './sweep.ts';
export { readCeilingsFile, CeilingsError } from './ceilings.ts';
export { startGpuTelemetry, telemetryLine, type GpuTelemetry, type TelemetryResult } from './gpu_telemetry.ts';
export { ceilingsForDevice, KNOWN_CARDS, type DeviceCeilings } from '@quantbench/engine';
export { readPoints, POINTS_FILE, SUMMARY_JSON, SUMMARY_CSV, BREAKDOWN_FILE, KERNELS_FILE } from './run_dir.ts';
export { writeSummary, pointRow } from './summary.ts';
export { loadBenchEngine, type BenchEngine, type EngineLoader } from './engine_driver.ts';
export {
  readPeers,
  peerFor,
  comparePeers,
  protocolDifferences,
  deviceMatches,
  priceFor,
  DEFAULT_PEERS_FILE,
  PeersError,
  type Peers,
  type PeerThroughput,
  type PeerAccuracy,
  type GpuPrice,
  type PeerComparison,
} from './peers.ts';
