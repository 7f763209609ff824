// Batch-size buckets of the decode CUDA graphs: a decode step of T rows replays the graph of decode_graph_bucket(T)
// rows, the rows past T padded (no KV write, discarded). Powers of two up to 64 (the step is bound by the weight
// bytes there, so padding costs little); above that eight buckets per octave, so padding adds at most 1/8 of the
// rows (batch 800 runs 832 rows, not 1024: the linears are compute-bound at that size and pay for every padded row).
#pragma once

namespace qb::cuda_model {

constexpr int decode_graph_bucket(int T) {
  int p = 1;
  while (p < T) p *= 2;  // smallest power of two >= T
  if (p <= 64) return p;
  const int step = p / 16;  // (p/2, p] in 8 steps of p/16
  return (T + step - 1) / step * step;
}

static_assert(decode_graph_bucket(1) == 1 && decode_graph_bucket(3) == 4 && decode_graph_bucket(64) == 64);
static_assert(decode_graph_bucket(65) == 72 && decode_graph_bucket(256) == 256 && decode_graph_bucket(257) == 288);
static_assert(decode_graph_bucket(800) == 832 && decode_graph_bucket(1025) == 1152 && decode_graph_bucket(2048) == 2048);

}  // namespace qb::cuda_model
