// Experiment (issue 17): a large-batch decode step runs its attention (bandwidth-bound: the FP8 KV read) and its
// linears (compute-bound at M >= 256) one after the other, so the step costs their sum. Split the batch into two
// micro-batches on two streams and let one's attention run beside the other's linears (NanoFlow's intra-device
// overlap): does the step get shorter, and by how much, once both kinds share the SMs, the memory system and the
// 700 W power limit?
//
// Per layer and micro-batch of M rows: qkv GEMM [M, 4096] x [6144, 4096]^T, FP8-KV decode attention (the product's
// tensor-core kernel) over M sequences of context C, o GEMM [M, 4096] x [4096, 4096]^T, gate_up [M, 4096] x
// [28672, 4096]^T, down [M, 14336] x [4096, 14336]^T (the product's cuBLASLt FP8 GEMMs, tuned as the product tunes
// them). 32 layers, each with its own weights and KV cache. The elementwise kernels (norms, SiLU, RoPE: ~2.5 ms of
// a 30 ms batch-800 step) are left out. Timing only: the kernels it launches are checked against the CPU reference in
// qb_kernel_check, and the values here are random codes of moderate magnitude.
//
// Variants, each timed eagerly (launches queue far ahead of the GPU) and as a CUDA graph:
//   seq       one batch of B rows, one stream (what the product runs)
//   split     two micro-batches of B/2 rows, one stream: the cost of the split alone
//   pingpong  two micro-batches on two streams; the attentions alternate (A's layer l after B's layer l - 1, B's
//             layer l after A's layer l), each micro-batch's linears run while the other's attention does
//   prio      pingpong with each micro-batch's linears on a high-priority stream and its attention on a low one
// Build (on the device, after scripts/device/gpu.sh build):  see README.md; run: /tmp/overlap_main [--batch 800
// --ctx 1152 --iters 10]
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernels/attention/attention.h"
#include "kernels/gemm/gemm_lt.h"

using namespace qb;
using namespace qb::cuda;

namespace {

constexpr int kLayers = 32, kHidden = 4096, kHeads = 32, kKvHeads = 8, kDh = 128, kFfn = 14336, kBlock = 16;
constexpr int kQkv = (kHeads + 2 * kKvHeads) * kDh;

void ck(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

// e4m3 codes of magnitude [0.5, 2): exponent field 6 or 7, either sign (a hash of the index and seed).
__global__ void fill_kernel(uint8_t* d, size_t n, uint32_t seed) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    uint32_t h = (uint32_t)i * 2654435761u ^ (uint32_t)(i >> 32) ^ seed * 0x9E3779B9u;
    h ^= h >> 15;
    h *= 0x2C1B3C6Du;
    h ^= h >> 12;
    d[i] = (uint8_t)(((h >> 24) & 0x80) | (0x30 + ((h >> 8) & 0x0F)));
  }
}
void fill_codes(uint8_t* d, size_t n, uint32_t seed) {
  fill_kernel<<<1024, 256>>>(d, n, seed);
  ck(cudaGetLastError(), "fill");
}

template <typename T>
T* dev_alloc(size_t n) {
  void* p = nullptr;
  ck(cudaMalloc(&p, n * sizeof(T)), "cudaMalloc");
  return static_cast<T*>(p);
}

struct Layer {
  uint8_t *qkv, *o, *gu, *down, *k, *v;
};

struct Micro {
  int M = 0;
  std::unique_ptr<LtContext> lt;
  uint8_t* xq = nullptr;     // [M, kFfn] fp8 input codes of every GEMM
  uint16_t* qkv = nullptr;   // [M, kQkv] bf16
  uint16_t* attn = nullptr;  // [M, kHidden]
  uint16_t* y = nullptr;     // [M, 2 * kFfn] GEMM outputs
  int32_t *seq_starts = nullptr, *positions = nullptr, *tables = nullptr;
  void* ws = nullptr;
  size_t ws_bytes = 0;
  int* tickets = nullptr;
  cudaStream_t gemm_st = nullptr, attn_st = nullptr;
};

struct Setup {
  int B, C, nb;
  std::vector<Layer> layers;
};

Micro make_micro(int M, int first_seq, const Setup& s, int gemm_prio, int attn_prio) {
  Micro m;
  m.M = M;
  m.lt = std::make_unique<LtContext>();
  m.xq = dev_alloc<uint8_t>((size_t)M * kFfn);
  fill_codes(m.xq, (size_t)M * kFfn, 7 + first_seq);
  m.qkv = dev_alloc<uint16_t>((size_t)M * kQkv);
  m.attn = dev_alloc<uint16_t>((size_t)M * kHidden);
  m.y = dev_alloc<uint16_t>((size_t)M * 2 * kFfn);
  ck(cudaMemset(m.qkv, 0x3c, (size_t)M * kQkv * 2), "memset");  // bf16 ~0.0115 until the first qkv GEMM
  std::vector<int32_t> starts(M + 1), pos(M, s.C - 1), tab((size_t)M * s.nb);
  for (int i = 0; i <= M; ++i) starts[i] = i;
  for (int i = 0; i < M; ++i)
    for (int b = 0; b < s.nb; ++b) tab[(size_t)i * s.nb + b] = (first_seq + i) * s.nb + b;  // contiguous per sequence
  m.seq_starts = dev_alloc<int32_t>(M + 1);
  m.positions = dev_alloc<int32_t>(M);
  m.tables = dev_alloc<int32_t>(tab.size());
  ck(cudaMemcpy(m.seq_starts, starts.data(), starts.size() * 4, cudaMemcpyHostToDevice), "copy");
  ck(cudaMemcpy(m.positions, pos.data(), pos.size() * 4, cudaMemcpyHostToDevice), "copy");
  ck(cudaMemcpy(m.tables, tab.data(), tab.size() * 4, cudaMemcpyHostToDevice), "copy");
  m.ws_bytes = paged_attention_workspace_bytes(M, kHeads, kDh, s.C);
  m.ws = dev_alloc<uint8_t>(std::max<size_t>(m.ws_bytes, 16));
  m.tickets = dev_alloc<int>((size_t)M * kHeads);
  ck(cudaMemset(m.tickets, 0, (size_t)M * kHeads * 4), "memset");
  ck(cudaStreamCreateWithPriority(&m.gemm_st, cudaStreamNonBlocking, gemm_prio), "stream");
  ck(cudaStreamCreateWithPriority(&m.attn_st, cudaStreamNonBlocking, attn_prio), "stream");
  return m;
}

void gemm(Micro& m, const uint8_t* w, int N, int K, cudaStream_t st) {
  gemm_fp8_lt_unscaled_bf16(*m.lt, m.xq, w, m.M, N, K, m.y, st);
}

void attention(Micro& m, const Layer& L, const Setup& s, cudaStream_t st) {
  PagedAttentionArgs a;
  a.q = m.qkv;
  a.ld_q = kQkv;
  a.k_cache = L.k;
  a.v_cache = L.v;
  a.kv.fp8 = true;
  a.seq_starts = m.seq_starts;
  a.positions = m.positions;
  a.block_tables = m.tables;
  a.max_blocks = s.nb;
  a.T = m.M;
  a.S = m.M;
  a.H = kHeads;
  a.Hkv = kKvHeads;
  a.Dh = kDh;
  a.block_size = kBlock;
  a.scale = 1.0f / std::sqrt((float)kDh);
  a.act = ActDtype::BF16;
  a.max_q_len = 1;
  a.max_context = s.C;
  a.out = m.attn;
  a.ld_out = kHidden;
  a.workspace = m.ws;
  a.workspace_bytes = m.ws_bytes;
  a.tickets = m.tickets;
  paged_attention(a, st);
}

// One micro-batch's layer l, split at the attention: `pre` is the qkv GEMM, `post` the o, gate_up and down GEMMs.
void pre(Micro& m, const Layer& L, cudaStream_t st) { gemm(m, L.qkv, kQkv, kHidden, st); }
void post(Micro& m, const Layer& L, cudaStream_t st) {
  gemm(m, L.o, kHidden, kHidden, st);
  gemm(m, L.gu, 2 * kFfn, kHidden, st);
  gemm(m, L.down, kHidden, kFfn, st);
}

// Events: a pool, reused each step (eager) or per capture.
struct Events {
  std::vector<cudaEvent_t> ev;
  size_t next = 0;
  cudaEvent_t get() {
    if (next == ev.size()) {
      cudaEvent_t e;
      ck(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "event");
      ev.push_back(e);
    }
    return ev[next++];
  }
};

void after(cudaStream_t waiter, cudaStream_t on, Events& E) {
  cudaEvent_t e = E.get();
  ck(cudaEventRecord(e, on), "record");
  ck(cudaStreamWaitEvent(waiter, e, 0), "wait");
}

enum class Variant { Seq, Split, PingPong, Prio };
const char* name(Variant v) {
  switch (v) {
    case Variant::Seq: return "seq";
    case Variant::Split: return "split";
    case Variant::PingPong: return "pingpong";
    default: return "prio";
  }
}

// One step of `v` issued from `origin` (joined back to it at the end).
void step(Variant v, Setup& s, Micro& full, Micro& a, Micro& b, cudaStream_t origin, Events& E) {
  E.next = 0;
  if (v == Variant::Seq) {
    for (const Layer& L : s.layers) {
      pre(full, L, origin);
      attention(full, L, s, origin);
      post(full, L, origin);
    }
    return;
  }
  if (v == Variant::Split) {
    for (const Layer& L : s.layers)
      for (Micro* m : {&a, &b}) {
        pre(*m, L, origin);
        attention(*m, L, s, origin);
        post(*m, L, origin);
      }
    return;
  }
  // Two micro-batches; with Prio each has a linears stream and an attention stream, else one stream each.
  const bool prio = v == Variant::Prio;
  Micro* ms[2] = {&a, &b};
  for (Micro* m : ms) {
    after(m->gemm_st, origin, E);
    if (prio) after(m->attn_st, origin, E);
  }
  cudaStream_t last_attn = nullptr;  // stream of the attention issued last (the other micro-batch's)
  for (int l = 0; l < kLayers; ++l) {
    const Layer& L = s.layers[l];
    for (Micro* m : ms) {
      cudaStream_t g = m->gemm_st, at = prio ? m->attn_st : m->gemm_st;
      pre(*m, L, g);
      if (prio) after(at, g, E);
      if (last_attn) after(at, last_attn, E);  // the attentions alternate
      attention(*m, L, s, at);
      last_attn = at;
      if (prio) after(g, at, E);
      post(*m, L, g);
    }
  }
  for (Micro* m : ms) after(origin, m->gemm_st, E);
}

float time_eager(Variant v, Setup& s, Micro& full, Micro& a, Micro& b, cudaStream_t origin, Events& E, int iters) {
  cudaEvent_t t0, t1;
  ck(cudaEventCreate(&t0), "ev");
  ck(cudaEventCreate(&t1), "ev");
  step(v, s, full, a, b, origin, E);  // warm
  ck(cudaEventRecord(t0, origin), "rec");
  for (int i = 0; i < iters; ++i) step(v, s, full, a, b, origin, E);
  ck(cudaEventRecord(t1, origin), "rec");
  ck(cudaEventSynchronize(t1), "sync");
  float ms = 0;
  ck(cudaEventElapsedTime(&ms, t0, t1), "elapsed");
  return ms / iters;
}

float time_graph(Variant v, Setup& s, Micro& full, Micro& a, Micro& b, cudaStream_t origin, Events& E, int iters) {
  cudaGraph_t g;
  cudaGraphExec_t ge;
  ck(cudaStreamBeginCapture(origin, cudaStreamCaptureModeThreadLocal), "capture");
  step(v, s, full, a, b, origin, E);
  ck(cudaStreamEndCapture(origin, &g), "end capture");
  ck(cudaGraphInstantiate(&ge, g, 0), "instantiate");
  cudaEvent_t t0, t1;
  ck(cudaEventCreate(&t0), "ev");
  ck(cudaEventCreate(&t1), "ev");
  ck(cudaGraphLaunch(ge, origin), "launch");
  ck(cudaEventRecord(t0, origin), "rec");
  for (int i = 0; i < iters; ++i) ck(cudaGraphLaunch(ge, origin), "launch");
  ck(cudaEventRecord(t1, origin), "rec");
  ck(cudaEventSynchronize(t1), "sync");
  float ms = 0;
  ck(cudaEventElapsedTime(&ms, t0, t1), "elapsed");
  cudaGraphExecDestroy(ge);
  cudaGraphDestroy(g);
  return ms / iters;
}

}  // namespace

int main(int argc, char** argv) {
  int B = 800, C = 1152, iters = 10, splitA = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--batch")) B = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--ctx")) C = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--iters")) iters = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--split")) splitA = std::atoi(argv[i + 1]);
  }
  if (splitA <= 0 || splitA >= B) splitA = B / 2;
  Setup s{B, C, (C + kBlock - 1) / kBlock, {}};
  const size_t kv_bytes = (size_t)B * s.nb * kBlock * kKvHeads * kDh;  // one layer's K (or V), FP8 codes
  for (int l = 0; l < kLayers; ++l) {
    Layer L;
    L.qkv = dev_alloc<uint8_t>((size_t)kQkv * kHidden);
    L.o = dev_alloc<uint8_t>((size_t)kHidden * kHidden);
    L.gu = dev_alloc<uint8_t>((size_t)2 * kFfn * kHidden);
    L.down = dev_alloc<uint8_t>((size_t)kHidden * kFfn);
    L.k = dev_alloc<uint8_t>(kv_bytes);
    L.v = dev_alloc<uint8_t>(kv_bytes);
    fill_codes(L.qkv, (size_t)kQkv * kHidden, 100 + l);
    fill_codes(L.o, (size_t)kHidden * kHidden, 200 + l);
    fill_codes(L.gu, (size_t)2 * kFfn * kHidden, 300 + l);
    fill_codes(L.down, (size_t)kHidden * kFfn, 400 + l);
    fill_codes(L.k, kv_bytes, 500 + l);
    fill_codes(L.v, kv_bytes, 600 + l);
    s.layers.push_back(L);
  }
  int lo = 0, hi = 0;
  ck(cudaDeviceGetStreamPriorityRange(&lo, &hi), "prio range");  // hi is the numerically smaller (higher) priority
  Micro full = make_micro(B, 0, s, lo, lo);
  Micro a = make_micro(splitA, 0, s, hi, lo);
  Micro b = make_micro(B - splitA, splitA, s, hi, lo);
  cudaStream_t origin;
  ck(cudaStreamCreateWithFlags(&origin, cudaStreamNonBlocking), "stream");
  Events E;
  // Tune each GEMM problem once, eagerly (the product tunes the eager step before a graph capture).
  {
    LtTuneScope t0(*full.lt, true), t1(*a.lt, true), t2(*b.lt, true);
    step(Variant::Seq, s, full, a, b, origin, E);
    step(Variant::Split, s, full, a, b, origin, E);
    ck(cudaStreamSynchronize(origin), "tune");
  }
  const double kv_gb = 2.0 * kv_bytes * kLayers / 1e9 * 1.0;
  const double w_gb = ((double)kQkv * kHidden + (double)kHidden * kHidden + 3.0 * kFfn * kHidden) * kLayers / 1e9;
  const double flops = 2.0 * B * ((double)kQkv * kHidden + (double)kHidden * kHidden + 3.0 * kFfn * kHidden) * kLayers;
  std::printf("batch %d (micro-batches %d + %d) context %d: KV %.1f GB, weights %.1f GB, linears %.1f TFLOP per step\n",
              B, splitA, B - splitA, C, kv_gb, w_gb, flops / 1e12);
  // Parts alone: attention only and linears only, one batch of B rows.
  {
    cudaEvent_t t0, t1;
    ck(cudaEventCreate(&t0), "ev");
    ck(cudaEventCreate(&t1), "ev");
    for (int part = 0; part < 2; ++part) {
      float best = 1e30f;
      for (int r = 0; r < 3; ++r) {
        ck(cudaEventRecord(t0, origin), "rec");
        for (const Layer& L : s.layers) {
          if (part == 0) attention(full, L, s, origin);
          else { pre(full, L, origin); post(full, L, origin); }
        }
        ck(cudaEventRecord(t1, origin), "rec");
        ck(cudaEventSynchronize(t1), "sync");
        float ms = 0;
        ck(cudaEventElapsedTime(&ms, t0, t1), "elapsed");
        best = std::min(best, ms);
      }
      if (part == 0) std::printf("part attention-only  %8.3f ms  (%.2f TB/s of KV)\n", best, kv_gb / best);
      else std::printf("part linears-only    %8.3f ms  (%.0f TFLOP/s)\n", best, flops / 1e9 / best);
    }
  }
  const Variant vs[] = {Variant::Seq, Variant::Split, Variant::PingPong, Variant::Prio};
  for (int round = 0; round < 2; ++round)
    for (Variant v : vs) {
      const float e = time_eager(v, s, full, a, b, origin, E, iters);
      const float g = time_graph(v, s, full, a, b, origin, E, iters);
      std::printf("round %d %-9s eager %8.3f ms  graph %8.3f ms\n", round + 1, name(v), e, g);
    }
  ck(cudaDeviceSynchronize(), "end");
  return 0;
}
