// Checks and timings of the attention-path kernels (RoPE + paged KV write, paged attention) against cpu/ops.h.
#include "checks.h"

void check_attention(Harness& h) {}
void bench_attention(Harness& h) {}
