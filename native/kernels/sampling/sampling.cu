// Sampling and log-prob gathering on fp32 logits rows (twins: cpu::sample_row, cpu::gather_logprob).
//
// One block (512 threads) per row; no workspace, no host sync, launch shape depends only on n.
//  1. Row statistics in one pass: max, argmax (first index on ties), min, and logsumexp at temperature 1 (online
//     max-rescaled sum of expf terms accumulated in double; agrees with the CPU's double sum to ~1e-7).
//     Greedy rows (temperature <= 0, detected per row on the device) stop here: token = argmax.
//  2. Sampled rows: the CPU walks the tokens in descending probability (ties: lower index first), keeps the prefix
//     whose cumulative mass reaches top_p * sum, and picks the first token whose cumulative mass exceeds
//     u = rng * kept. Instead of sorting, each of those two crossings is found by a threshold search on the
//     order key of the logit (the order of x is the order of p = exp((x - max) / T)): a pass over the row builds a
//     16-bin histogram of mass (p exactly as the CPU computes it, in double) and count over the current key range,
//     the bin holding the crossing becomes the next range, until the range holds <= 2048 tokens; those are
//     gathered to shared memory, sorted by (logit desc, index asc), and prefix-summed in double to find the token.
//     A range that is one single value with more than 2048 tokens (a huge tie) is resolved in index order.
//     The first histogram (over the whole row, together with the softmax sum) is shared by both searches.
//  Results equal the CPU's except where a draw or the top-p target lies within rounding (~1e-15 relative) of a
//  cumulative boundary (the GPU's sums are taken in another order).
#include <cfloat>
#include <string>

#include "common/rng.h"
#include "kernels/sampling/sampling.h"
#include "kernels/common/device_common.cuh"
#include "kernels/sampling/row_stats.cuh"

namespace qb::cuda {
namespace {

using namespace sampling_rows;

// ---------------------------------------------------------------------------------------------------------------
// Threshold search.
struct Hist {
  double mass[kBins];
  int cnt[kBins];
  uint32_t th[kBins + 1];  // bin b holds keys in [th[b+1], th[b]); th[0] = range end (excl), th[kBins] = start
};

struct SampleSmem {
  StatsSmem st;
  Hist h1, hw;  // first (whole-row) histogram, working histogram
  double wmass[kWarps][kBins];
  int wcnt[kWarps][kBins];
  uint64_t ck[kCap];
  double cp[kCap];
  double wsum[kWarps];
  // search state (written by thread 0)
  uint32_t lo, hi;
  int cnt, n_c, first, found;
  double above;
  bool key_split;
};

// Thresholds splitting the key range [lo, hi) (hi - lo >= 2) into kBins non-empty-able bins, every one strictly
// smaller than the range. Value split (equal widths of the float range) unless key_split or the width overflows;
// key split: equal widths of the key range. Thread 0 only.
__device__ void make_thresholds(uint32_t lo, uint32_t hi, bool key_split, uint32_t* th) {
  th[0] = hi;
  th[kBins] = lo;
  const float flo = unkey(lo), fhi = unkey(hi - 1);
  const float w = (fhi - flo) / kBins;
  const bool value = !key_split && isfinite(w) && w > 0.0f;
  for (int k = 1; k < kBins; ++k) {
    uint32_t t;
    if (value)
      t = okey(fhi - w * k);
    else
      t = hi - (uint32_t)(((uint64_t)(hi - lo) * k) / kBins);
    t = max(t, lo + 1);
    t = min(t, hi - 1);
    t = min(t, th[k - 1]);
    th[k] = t;
  }
}

__device__ __forceinline__ double prob(float x, float mx, float T) { return exp(((double)x - (double)mx) / (double)T); }

// Histogram of mass and count over keys in [lo, hi) with the thresholds in h.th; h.mass/h.cnt written.
__device__ void hist_pass(const float* __restrict__ row, int V, bool vec, float mx, float T, uint32_t lo, uint32_t hi,
                          Hist& h, SampleSmem& sh) {
  uint32_t th[kBins];
#pragma unroll
  for (int k = 1; k < kBins; ++k) th[k] = h.th[k];
  double m[kBins];
  int c[kBins];
#pragma unroll
  for (int j = 0; j < kBins; ++j) {
    m[j] = 0.0;
    c[j] = 0;
  }
  for_row(row, V, vec, [&](float x, int) {
    const uint32_t key = okey(x);
    if (key >= lo && key < hi) {
      const double p = prob(x, mx, T);
      int b = 0;
#pragma unroll
      for (int k = 1; k < kBins; ++k) b += key < th[k];
#pragma unroll
      for (int j = 0; j < kBins; ++j) {
        m[j] += b == j ? p : 0.0;
        c[j] += b == j;
      }
    }
  });
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int j = 0; j < kBins; ++j) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      m[j] += __shfl_xor_sync(0xffffffffu, m[j], o);
      c[j] += __shfl_xor_sync(0xffffffffu, c[j], o);
    }
  }
  if (lane == 0) {
#pragma unroll
    for (int j = 0; j < kBins; ++j) {
      sh.wmass[warp][j] = m[j];
      sh.wcnt[warp][j] = c[j];
    }
  }
  __syncthreads();
  if (threadIdx.x < kBins) {
    double s = 0.0;
    int n = 0;
    for (int w = 0; w < kWarps; ++w) {
      s += sh.wmass[w][threadIdx.x];
      n += sh.wcnt[w][threadIdx.x];
    }
    h.mass[threadIdx.x] = s;
    h.cnt[threadIdx.x] = n;
  }
  __syncthreads();
}

__device__ __forceinline__ bool reached(double c, double target, bool ge) { return ge ? c >= target : c > target; }

// First token (in descending p order, ties by index) whose inclusive cumulative mass reaches target (ge: >=, else >).
// Starts from the whole-row histogram sh.h1. Returns the token (all threads) and its inclusive cumulative mass.
__device__ int search(const float* __restrict__ row, int V, bool vec, float mx, float T, double target, bool ge,
                      SampleSmem& sh, double* cum_out) {
  __syncthreads();  // the previous search's results (sh.first, sh.found, sh.cp, sh.ck) have been read
  const Hist* h = &sh.h1;
  double above = 0.0;
  for (int stage = 0;; ++stage) {
    if (threadIdx.x == 0) {
      double acc = stage == 0 ? 0.0 : sh.above, acc_last = acc;
      int chosen = -1, last = -1;
      for (int b = 0; b < kBins; ++b) {
        if (h->cnt[b] == 0) continue;
        last = b;
        acc_last = acc;
        const double nxt = acc + h->mass[b];
        if (reached(nxt, target, ge)) {
          chosen = b;
          break;
        }
        acc = nxt;
      }
      if (chosen < 0) {  // target beyond the total (rounding): the last non-empty bin
        chosen = last;
        acc = acc_last;
      }
      if (chosen < 0) {  // empty range (cannot happen for a range that held the crossing)
        chosen = kBins - 1;
      }
      const int prev_cnt = stage == 0 ? INT_MAX : sh.cnt;
      sh.above = acc;
      sh.lo = h->th[chosen + 1];
      sh.hi = h->th[chosen];
      sh.cnt = h->cnt[chosen];
      // A value split that kept more than half of the tokens: split the key range next time.
      sh.key_split = !sh.key_split && (long long)sh.cnt * 2 > (long long)prev_cnt;
      if (stage == 0) sh.key_split = false;
      sh.n_c = 0;
      sh.first = INT_MAX;
      sh.found = -1;
    }
    __syncthreads();
    const uint32_t lo = sh.lo, hi = sh.hi;
    const int cnt = sh.cnt;
    above = sh.above;
    if (cnt <= kCap || hi - lo <= 1 || stage > 64) {
      if (cnt <= kCap) {
        // Gather the range, sort by (logit desc, index asc), prefix-sum p in double.
        for_row(row, V, vec, [&](float x, int i) {
          const uint32_t key = okey(x);
          if (key >= lo && key < hi) {
            const int pos = atomicAdd(&sh.n_c, 1);
            if (pos < kCap) sh.ck[pos] = ((uint64_t)(~key) << 32) | (uint32_t)i;
          }
        });
        __syncthreads();
        const int n = min(sh.n_c, kCap);
        int P = 1;
        while (P < n) P <<= 1;
        for (int i = n + threadIdx.x; i < P; i += kThreads) sh.ck[i] = ~0ull;
        __syncthreads();
        for (int k = 2; k <= P; k <<= 1)
          for (int j = k >> 1; j > 0; j >>= 1) {
            for (int i = threadIdx.x; i < P; i += kThreads) {
              const int ixj = i ^ j;
              if (ixj > i) {
                const uint64_t a = sh.ck[i], b = sh.ck[ixj];
                if ((a > b) == ((i & k) == 0)) {
                  sh.ck[i] = b;
                  sh.ck[ixj] = a;
                }
              }
            }
            __syncthreads();
          }
        // Inclusive prefix of p over the sorted tokens: 4 consecutive per thread (kCap = 4 * kThreads).
        constexpr int E = kCap / kThreads;
        const int j0 = threadIdx.x * E;
        double loc[E];
        double run = 0.0;
#pragma unroll
        for (int e = 0; e < E; ++e) {
          const int j = j0 + e;
          const double p = j < n ? prob(unkey(~(uint32_t)(sh.ck[j] >> 32)), mx, T) : 0.0;
          run += p;
          loc[e] = run;
        }
        const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
        double incl = run;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
          const double t = __shfl_up_sync(0xffffffffu, incl, o);
          if (lane >= o) incl += t;
        }
        if (lane == 31) sh.wsum[warp] = incl;
        __syncthreads();
        double off = incl - run;
        for (int w = 0; w < warp; ++w) off += sh.wsum[w];
#pragma unroll
        for (int e = 0; e < E; ++e) {
          const int j = j0 + e;
          if (j < n) {
            sh.cp[j] = above + off + loc[e];
            if (reached(above + off + loc[e], target, ge)) {
              atomicMin(&sh.first, j);
            }
          }
        }
        __syncthreads();
        int f = sh.first;
        if (f == INT_MAX) f = n - 1;
        if (f < 0) {  // nothing gathered (cannot happen): fall back to the argmax
          *cum_out = 0.0;
          return -1;
        }
        *cum_out = sh.cp[f];
        return (int)(uint32_t)sh.ck[f];
      }
      // One value, more than kCap tokens (or too many stages): tokens in index order, equal p each.
      const float xv = unkey(lo);
      const double p = prob(xv, mx, T);
      long long j;
      if (p > 0.0) {
        const double q = (target - above) / p;
        j = ge ? (long long)ceil(q) - 1 : (long long)floor(q);
      } else {
        j = cnt - 1;
      }
      j = max(0ll, min((long long)cnt - 1, j));
      __shared__ int wc[kWarps];
      long long running = 0;
      const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
      for (int base = 0; base < V; base += kThreads) {
        const int i = base + threadIdx.x;
        const uint32_t key = i < V ? okey(__ldg(row + i)) : 0u;
        const bool hit = i < V && key >= lo && key < hi;
        const unsigned bal = __ballot_sync(0xffffffffu, hit);
        if (lane == 0) wc[warp] = __popc(bal);
        __syncthreads();
        long long before = running, total = 0;
        for (int w = 0; w < kWarps; ++w) {
          if (w < warp) before += wc[w];
          total += wc[w];
        }
        before += __popc(bal & ((1u << lane) - 1u));
        if (hit && before == j) sh.found = i;
        running += total;
        __syncthreads();
        if (running > j) break;
      }
      *cum_out = above + (double)(j + 1) * p;
      return sh.found;
    }
    if (threadIdx.x == 0) make_thresholds(lo, hi, sh.key_split, sh.hw.th);
    __syncthreads();
    hist_pass(row, V, vec, mx, T, lo, hi, sh.hw, sh);
    h = &sh.hw;
  }
}

__global__ void __launch_bounds__(kThreads, 1)
    sample_kernel(const float* __restrict__ logits, int V, const int32_t* __restrict__ row_idx,
                  const float* __restrict__ temperature, const float* __restrict__ top_p,
                  const uint32_t* __restrict__ seeds, int32_t* __restrict__ token, float* __restrict__ logprob,
                  const StatPart* __restrict__ parts) {
  __shared__ SampleSmem sh;
  const int r = blockIdx.x;
  const float* row = logits + (size_t)__ldg(row_idx + r) * V;
  const bool vec = (V & 3) == 0 && ((uintptr_t)row & 15) == 0;
  const int C = stat_parts(V);
  const RowStats st = parts ? combine_parts(parts + (size_t)r * C, C, sh.st) : row_stats(row, V, vec, sh.st);
  const float T = __ldg(temperature + r);
  int tok = st.am;
  if (T > 0.0f) {
    // Whole-row histogram (and the softmax sum) over keys [lo, max]; tokens below lo have p == 0 exactly in double
    // ((x - max) / T < -760), so they are left out.
    float lo_x = fmaxf(st.mn, st.mx - 760.0f * T);
    if (!(lo_x >= -FLT_MAX)) lo_x = -FLT_MAX;
    const uint32_t lo = okey(lo_x), hi = okey(st.mx) + 1u;
    if (threadIdx.x == 0) {
      sh.key_split = false;
      if (hi - lo >= 2) {
        make_thresholds(lo, hi, false, sh.h1.th);
      } else {  // one value: everything in bin 0
        for (int k = 0; k <= kBins; ++k) sh.h1.th[k] = k == 0 ? hi : lo;
      }
    }
    __syncthreads();
    hist_pass(row, V, vec, st.mx, T, lo, hi, sh.h1, sh);
    double sum = 0.0;
    for (int b = 0; b < kBins; ++b) sum += sh.h1.mass[b];
    const float tp = __ldg(top_p + r);
    double kept = sum;
    if (tp > 0.0f && tp < 1.0f) {
      const int cut = search(row, V, vec, st.mx, T, (double)tp * sum, true, sh, &kept);
      if (cut < 0) kept = sum;
    }
    const uint64_t seed = (uint64_t)__ldg(seeds + 3 * r) | ((uint64_t)__ldg(seeds + 3 * r + 1) << 32);
    const uint64_t counter = __ldg(seeds + 3 * r + 2);
    const double u = (double)qb::rng::uniform(seed, counter) * kept;
    double c;
    const int t = search(row, V, vec, st.mx, T, u, false, sh, &c);
    if (t >= 0) tok = t;
  }
  if (threadIdx.x == 0) {
    token[r] = tok;
    logprob[r] = (float)((double)__ldg(row + tok) - st.lse);
  }
}

__global__ void __launch_bounds__(kThreads)
    logprob_kernel(const float* __restrict__ logits, int V, const int32_t* __restrict__ row_idx,
                   const int32_t* __restrict__ targets, float* __restrict__ logprob, uint8_t* __restrict__ is_argmax) {
  __shared__ StatsSmem sh;
  const int r = blockIdx.x;
  const float* row = logits + (size_t)__ldg(row_idx + r) * V;
  const bool vec = (V & 3) == 0 && ((uintptr_t)row & 15) == 0;
  const RowStats st = row_stats(row, V, vec, sh);
  if (threadIdx.x == 0) {
    const int t = __ldg(targets + r);
    const bool ok = t >= 0 && t < V;
    logprob[r] = ok ? (float)((double)__ldg(row + t) - st.lse) : NAN;
    if (is_argmax) is_argmax[r] = ok && st.am == t;
  }
}

}  // namespace

// Row statistics split over blocks when the row is long (see stats_part_kernel); at most kThreads parts per row.
static bool use_parts(int V) { return V >= 2 * kPartChunk && stat_parts(V) <= kThreads; }
size_t sample_rows_workspace_bytes(int n, int V) {
  return use_parts(V) ? (size_t)n * stat_parts(V) * sizeof(StatPart) : 0;
}

void sample_rows(const float* logits, int V, const int32_t* row_idx, int n, const float* temperature,
                 const float* top_p, const uint32_t* seeds, int32_t* token, float* logprob, void* workspace,
                 size_t workspace_bytes, cudaStream_t stream) {
  const char* name = "sample_rows";
  require(n >= 0 && V > 0, name, "bad shape n=" + std::to_string(n) + " V=" + std::to_string(V));
  require(workspace_bytes >= sample_rows_workspace_bytes(n, V), name, "workspace too small");
  if (n == 0) return;
  require(logits && row_idx && temperature && top_p && seeds && token && logprob, name, "null pointer");
  StatPart* parts = nullptr;
  if (use_parts(V)) {
    require(workspace != nullptr && (uintptr_t)workspace % 16 == 0, name, "workspace must be 16-byte aligned");
    parts = static_cast<StatPart*>(workspace);
    stats_part_kernel<<<dim3(n, stat_parts(V)), kPartThreads, 0, stream>>>(logits, V, row_idx, parts);
    check_launch("sample_rows (row statistics)");
  }
  sample_kernel<<<n, kThreads, 0, stream>>>(logits, V, row_idx, temperature, top_p, seeds, token, logprob, parts);
  check_launch(name);
}

void gather_logprob_rows(const float* logits, int V, const int32_t* row_idx, const int32_t* targets, int n,
                         float* logprob, uint8_t* is_argmax, cudaStream_t stream) {
  const char* name = "gather_logprob_rows";
  require(n >= 0 && V > 0, name, "bad shape n=" + std::to_string(n) + " V=" + std::to_string(V));
  if (n == 0) return;
  require(logits && row_idx && targets && logprob, name, "null pointer");
  logprob_kernel<<<n, kThreads, 0, stream>>>(logits, V, row_idx, targets, logprob, is_argmax);
  check_launch(name);
}

}  // namespace qb::cuda
