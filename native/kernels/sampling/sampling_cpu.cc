// Sampling (greedy / temperature / top-p with a counter-based RNG) and log-prob gathering on fp32 logits.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "common/rng.h"
#include "kernels/reference.h"

namespace qb::cpu {
namespace {
double logsumexp(const float* x, int V) {
  float mx = -INFINITY;
  for (int i = 0; i < V; ++i) mx = std::fmax(mx, x[i]);
  double s = 0;
  for (int i = 0; i < V; ++i) s += std::exp((double)x[i] - mx);
  return mx + std::log(s);
}
int argmax(const float* x, int V) {
  int best = 0;
  for (int i = 1; i < V; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}
}  // namespace

// Uniform in [0, 1) with 24 random bits: identical on host and device (common/rng.h is the definition).
float rng_uniform(uint64_t seed, uint64_t counter) { return qb::rng::uniform(seed, counter); }

int32_t sample_row(const float* logits, int V, float temperature, float top_p, uint64_t seed, uint64_t counter,
                   float* logprob) {
  double lse = logsumexp(logits, V);
  int tok;
  if (!(temperature > 0.0f)) {
    tok = argmax(logits, V);
  } else {
    std::vector<double> p(V);
    float mx = logits[argmax(logits, V)];
    double sum = 0;
    for (int i = 0; i < V; ++i) {
      p[i] = std::exp(((double)logits[i] - mx) / temperature);
      sum += p[i];
    }
    std::vector<int> order(V);
    std::iota(order.begin(), order.end(), 0);
    // descending probability, ties by lower index (stable)
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
    double keep_mass = (top_p > 0.0f && top_p < 1.0f) ? top_p * sum : sum;
    int n_keep = 0;
    double cum = 0;
    while (n_keep < V) {
      cum += p[order[n_keep]];
      ++n_keep;
      if (cum >= keep_mass) break;
    }
    double u = rng_uniform(seed, counter) * cum;
    double c = 0;
    tok = order[n_keep - 1];
    for (int j = 0; j < n_keep; ++j) {
      c += p[order[j]];
      if (u < c) {
        tok = order[j];
        break;
      }
    }
  }
  if (logprob) *logprob = (float)((double)logits[tok] - lse);
  return tok;
}

float gather_logprob(const float* logits, int V, int32_t target, bool* is_argmax) {
  double lse = logsumexp(logits, V);
  if (is_argmax) *is_argmax = argmax(logits, V) == target;
  return (float)((double)logits[target] - lse);
}

}  // namespace qb::cpu
