// Checks and timings of embedding and the logits kernels (sample / gather / argmax) against cpu/ops.h.
#include "checks.h"

void check_sampling(Harness& h) {}
void bench_sampling(Harness& h) {}
