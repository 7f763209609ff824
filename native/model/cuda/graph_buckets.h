// Batch-size buckets of the decode CUDA graphs: a decode step of T rows replays the graph of decode_graph_bucket(T)
// rows, the rows past T padded (no KV write, discarded). Powers of two up to 64 (the step is bound by the weight
// bytes there, so padding costs little); above that steps of 8 rows up to 256, then sixteen buckets per octave, so
// padding adds less than 1/16 of the rows. The linears are compute-bound at these sizes and pay for every padded row:
// batch 800 ran 1024 rows with power-of-two buckets, 832 with eight per octave (session 12), 800 now.
// Only the buckets a run meets are captured (decode_graphs.cc).
#pragma once

namespace qb::cuda_model {

constexpr int decode_graph_bucket(int T) {
  int p = 1;
  while (p < T) p *= 2;  // smallest power of two >= T
  if (p <= 64) return p;
  const int step = p / 32 > 8 ? p / 32 : 8;  // (p/2, p] in 16 steps of p/32, at least 8 rows
  return (T + step - 1) / step * step;
}

static_assert(decode_graph_bucket(1) == 1 && decode_graph_bucket(3) == 4 && decode_graph_bucket(64) == 64);
static_assert(decode_graph_bucket(65) == 72 && decode_graph_bucket(256) == 256 && decode_graph_bucket(257) == 272);
static_assert(decode_graph_bucket(800) == 800 && decode_graph_bucket(801) == 832 && decode_graph_bucket(1025) == 1088);
static_assert(decode_graph_bucket(2048) == 2048 && decode_graph_bucket(200) == 200 && decode_graph_bucket(201) == 208);

}  // namespace qb::cuda_model
