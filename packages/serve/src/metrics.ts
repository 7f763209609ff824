/**
 * GET /metrics: Prometheus text through prom-client, under vLLM's metric names (so Grafana dashboards and scrapers
 * made for vLLM read ours): vllm:num_requests_running / _waiting, vllm:kv_cache_usage_perc (and the older
 * vllm:gpu_cache_usage_perc), vllm:prompt_tokens_total, vllm:generation_tokens_total,
 * vllm:time_to_first_token_seconds, vllm:time_per_output_token_seconds, vllm:e2e_request_latency_seconds,
 * vllm:request_success_total{finished_reason}. Every series carries model_name, as vLLM's do.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SchedFinishReason } from '@quantbench/engine';

const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
const TPOT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];

export class ServeMetrics {
  readonly registry = new Registry();
  readonly running: Gauge;
  readonly waiting: Gauge;
  readonly kvUsage: Gauge;
  private readonly kvUsageOld: Gauge;
  readonly promptTokens: Counter;
  readonly generationTokens: Counter;
  readonly ttft: Histogram;
  readonly tpot: Histogram;
  readonly e2e: Histogram;
  private readonly success: Counter;

  constructor(modelName: string, source: { running: () => number; waiting: () => number }) {
    this.registry.setDefaultLabels({ model_name: modelName });
    const registers = [this.registry];
    this.running = new Gauge({ name: 'vllm:num_requests_running', help: 'Number of requests in model execution batches.', registers, collect() { this.set(source.running()); } });
    this.waiting = new Gauge({ name: 'vllm:num_requests_waiting', help: 'Number of requests waiting to be processed.', registers, collect() { this.set(source.waiting()); } });
    this.kvUsage = new Gauge({ name: 'vllm:kv_cache_usage_perc', help: 'KV-cache usage. 1 means 100 percent usage.', registers });
    const kv = this.kvUsage;
    this.kvUsageOld = new Gauge({
      name: 'vllm:gpu_cache_usage_perc',
      help: 'KV-cache usage (the older vLLM name). 1 means 100 percent usage.',
      registers,
      async collect() {
        this.set((await kv.get()).values[0]?.value ?? 0);
      },
    });
    this.promptTokens = new Counter({ name: 'vllm:prompt_tokens_total', help: 'Number of prefill tokens processed.', registers });
    this.generationTokens = new Counter({ name: 'vllm:generation_tokens_total', help: 'Number of generation tokens processed.', registers });
    this.ttft = new Histogram({ name: 'vllm:time_to_first_token_seconds', help: 'Histogram of time to first token in seconds.', buckets: LATENCY_BUCKETS, registers });
    this.tpot = new Histogram({ name: 'vllm:time_per_output_token_seconds', help: 'Histogram of time per output token in seconds.', buckets: TPOT_BUCKETS, registers });
    this.e2e = new Histogram({ name: 'vllm:e2e_request_latency_seconds', help: 'Histogram of end to end request latency in seconds.', buckets: LATENCY_BUCKETS, registers });
    this.success = new Counter({ name: 'vllm:request_success_total', help: 'Count of finished requests by finish reason.', labelNames: ['finished_reason'], registers });
    this.kvUsage.set(0);
  }

  /** vLLM's finished_reason values: stop (EOS or a stop string/token), length, abort; plus error. */
  finished(reason: SchedFinishReason | 'error'): void {
    const r = reason === 'eos' ? 'stop' : reason;
    this.success.inc({ finished_reason: r });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
