// The Llama forward on the CUDA backend: the same Model interface and semantics as the CPU reference
// (cpu/llama_cpu.cc), one varlen step (prefill chunks + decodes) over a paged KV cache, using our kernels:
//   embed -> [rmsnorm(+quant) -> qkv GEMM -> rope + KV write -> paged attention -> (quant) o GEMM
//             -> residual + rmsnorm(+quant) -> gate_up GEMM -> silu*mul(+quant) -> down GEMM] x L
//   -> residual + final rmsnorm -> lm_head (16-bit, rows that need logits only) -> sample / gather on the GPU.
// Only token ids and the requested log-probs (and logits rows when asked) come back to the host.
// Decode-only steps run as CUDA graphs captured per batch-size bucket (see DecodeGraphs below).
#include "cuda_model.h"

#include <cuda_profiler_api.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "cuda_attention.h"
#include "cuda_check.h"
#include "cuda_model_weights.h"
#include "cuda_ops.h"
#include "cuda_sampling.h"
#include "trace.cuh"
#ifdef QB_HAVE_CUBLASLT
#include "gemm_lt.h"
#endif

namespace qb {

void cuda_profiler(bool on) { (void)(on ? cudaProfilerStart() : cudaProfilerStop()); }  // advisory: errors ignored

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

bool cuda_model_implemented() { return true; }

namespace {

using namespace qb::cuda;
using Clock = std::chrono::steady_clock;

// Bumped whenever a device buffer moves: captured decode graphs hold raw pointers and are re-captured after a move.
uint64_t g_buffer_generation = 0;

// A device buffer that grows on demand (never inside a graph capture: capture only follows an eager run of the
// same shape, which sized everything).
struct GrowBuf {
  void* p = nullptr;
  size_t bytes = 0;
  const char* what = "buffer";
  explicit GrowBuf(const char* w) : what(w) {}
  ~GrowBuf() {
    if (p) cudaFree(p);
  }
  void* ensure(size_t n) {
    if (n > bytes) {
      if (p) {
        cudaDeviceSynchronize();
        cudaFree(p);
        p = nullptr;
      }
      size_t want = std::max<size_t>(n + n / 4, 256);
      p = device_alloc(want, what);
      bytes = want;
      ++g_buffer_generation;
    }
    return p;
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(p);
  }
};

struct PinnedBuf {
  void* p = nullptr;
  size_t bytes = 0;
  ~PinnedBuf() {
    if (p) cudaFreeHost(p);
  }
  void* ensure(size_t n) {
    if (n > bytes) {
      if (p) cudaFreeHost(p);
      p = nullptr;
      size_t want = std::max<size_t>(n + n / 4, 4096);
      check(cudaMallocHost(&p, want), "pinned host buffer");
      bytes = want;
    }
    return p;
  }
};

// Named device events for --profile-blocks: elapsed time between consecutive marks goes to the first mark's block.
class BlockTimer {
 public:
  enum Block { Attention = 0, Mlp, Quant, Other, kBlocks };
  void start(cudaStream_t s) {
    on_ = true;
    n_ = 0;
    mark(Other, s);
  }
  void mark(Block b, cudaStream_t s) {
    if (!on_) return;
    if (n_ == events_.size()) {
      cudaEvent_t e;
      check(cudaEventCreate(&e), "cudaEventCreate");
      events_.push_back(e);
      blocks_.push_back(Other);
    }
    blocks_[n_] = b;
    check(cudaEventRecord(events_[n_], s), "cudaEventRecord");
    ++n_;
  }
  // After a stream sync: milliseconds per block.
  void finish(double out[kBlocks]) {
    for (int i = 0; i < kBlocks; ++i) out[i] = 0;
    for (size_t i = 0; i + 1 < n_; ++i) {
      float ms = 0;
      check(cudaEventElapsedTime(&ms, events_[i], events_[i + 1]), "cudaEventElapsedTime");
      out[blocks_[i]] += ms;
    }
    on_ = false;
  }
  bool on() const { return on_; }
  ~BlockTimer() {
    for (auto e : events_) cudaEventDestroy(e);
  }

 private:
  bool on_ = false;
  size_t n_ = 0;
  std::vector<cudaEvent_t> events_;
  std::vector<Block> blocks_;
};

// Per-step metadata, packed into one pinned host block and copied to the device in one transfer.
struct StepMeta {
  // offsets (in 4-byte words) into the packed block
  size_t tokens, positions, slots, seq_starts, block_tables, rows, sample_idx, temperature, top_p, seeds,
      gather_idx, gather_targets, total;
};

class CudaModel final : public Model {
 public:
  explicit CudaModel(const ModelConfig& cfg) : Model(cfg) {
    if (cuda_device_count() == 0) throw QbError("NO_CUDA", "no CUDA GPU is visible; use device 'cpu'");
    check(cudaGetDevice(&dev_), "cudaGetDevice");
    check(cudaGetDeviceProperties(&prop_, dev_), "cudaGetDeviceProperties");
    if (prop_.major < 9)
      throw QbError("GPU_UNSUPPORTED",
                    std::string("GPU ") + prop_.name + " is sm_" + std::to_string(prop_.major) +
                        std::to_string(prop_.minor) + ": the CUDA backend is built for sm_90a (Hopper) only, so it "
                        "can run none of fp16, bf16, int8-w8a8, fp8-dynamic, fp8-static here" +
                        (prop_.major * 10 + prop_.minor < 89 ? " (and this GPU has no FP8 tensor cores, sm_89+, for "
                                                               "fp8-dynamic / fp8-static in any build)"
                                                             : "") +
                        "; use device 'cpu'");
    if (cfg.act == ActDtype::F32)
      throw QbError("UNSUPPORTED_ON_CUDA", "fp32 activations run on the CPU reference only; use fp16 or bf16 on cuda");
    if (cfg.hidden % 16 || (cfg.heads * cfg.head_dim) % 16 || (cfg.kv_heads * cfg.head_dim) % 8)
      throw QbError("UNSUPPORTED_ON_CUDA", "the CUDA kernels need hidden size and heads*head_dim multiples of 16");
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
#ifdef QB_HAVE_CUBLASLT
    lt_ = std::make_unique<LtContext>();
#endif
  }
  ~CudaModel() override {
    graphs_clear();
    if (k_cache_) cudaFree(k_cache_);
    if (v_cache_) cudaFree(v_cache_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  std::string device_name() const override { return prop_.name; }

  void synthesize(uint64_t seed, int outlier_channels, float outlier_gain) override {
    synth_.enabled = true;
    synth_.seed = seed;
    synth_.outlier_channels = outlier_channels;
    synth_.outlier_gain = outlier_gain;
    store_.clear();
  }

  void finalize(Precision p, const PrepareOptions& opt) override {
    if (p == Precision::F32)
      throw QbError("UNSUPPORTED_ON_CUDA", "fp32 runs on the CPU reference only (device 'cpu')");
    if ((p == Precision::FP8_DYNAMIC || p == Precision::FP8_STATIC) && prop_.major * 10 + prop_.minor < 89)
      throw QbError("GPU_UNSUPPORTED", std::string("GPU ") + prop_.name + " has no FP8 tensor cores (sm_89+): it can "
                                       "run fp16, bf16 and int8-w8a8, not " + precision_name(p));
    graphs_clear();
    W_.reset();  // free the previous preparation first (calibration re-prepares)
    auto W = std::make_unique<DevWeights>();
    prepare_device_weights(cfg_, store_, synth_, p, opt, *W, stream_);
    W_ = std::move(W);
    Fp_ = W_->inter_padded;
  }

  int suggest_kv_blocks(double utilization, int max_tokens) override {
    size_t fr = 0, tot = 0;
    check(cudaMemGetInfo(&fr, &tot), "cudaMemGetInfo");
    const double budget = utilization * (double)tot - (double)(tot - fr) - (double)workspace_estimate(max_tokens);
    const double per_block = (double)kv_block_bytes();
    return budget > per_block ? (int)std::min(budget / per_block, 2e9) : 0;
  }

  void allocate_kv_cache(int num_blocks) override {
    graphs_clear();
    if (k_cache_) cudaFree(k_cache_);
    if (v_cache_) cudaFree(v_cache_);
    k_cache_ = v_cache_ = nullptr;
    size_t half = (size_t)num_blocks * kv_block_bytes() / 2;
    k_cache_ = device_alloc(half, "KV cache (keys)");
    v_cache_ = device_alloc(half, "KV cache (values)");
    num_blocks_ = num_blocks;
  }

  void fill_kv_random(uint64_t seed) override {
    if (!k_cache_) throw QbError("NOT_READY", "the KV cache is not allocated");
    const size_t n = (size_t)num_blocks_ * kBlockSize * cfg_.kv_heads * cfg_.head_dim * cfg_.layers;
    const FillKind kind = cfg_.act == ActDtype::BF16 ? FillKind::BF16 : FillKind::F16;
    fill_random(k_cache_, n, kind, seed, 1.0f, stream_);
    fill_random(v_cache_, n, kind, seed + 1, 1.0f, stream_);
    check(cudaStreamSynchronize(stream_), "fill_kv_random");
  }

  void set_calibration(bool on) override {
    calibrating_ = on;
    if (on && !calib_dev_.p) {
      const int qd = cfg_.heads * cfg_.head_dim;
      calib_off_[0] = 0;
      calib_off_[1] = calib_off_[0] + (size_t)cfg_.layers * cfg_.hidden;
      calib_off_[2] = calib_off_[1] + (size_t)cfg_.layers * qd;
      calib_off_[3] = calib_off_[2] + (size_t)cfg_.layers * cfg_.hidden;
      calib_off_[4] = calib_off_[3] + (size_t)cfg_.layers * Fp_;
      calib_dev_.ensure(calib_off_[4] * 4);
      check(cudaMemset(calib_dev_.p, 0, calib_off_[4] * 4), "calibration statistics");
    }
  }

  std::map<std::string, std::vector<float>> calibration_stats() const override {
    std::map<std::string, std::vector<float>> out;
    if (!calib_dev_.p) return out;
    check(cudaStreamSynchronize(stream_), "calibration statistics");
    std::vector<float> all(calib_off_[4]);
    check(cudaMemcpy(all.data(), calib_dev_.p, all.size() * 4, cudaMemcpyDeviceToHost), "calibration statistics");
    const int qd = cfg_.heads * cfg_.head_dim;
    const char* keys[4] = {"attn_in", "o_in", "mlp_in", "down_in"};
    const int widths[4] = {cfg_.hidden, qd, cfg_.hidden, Fp_};
    const int keep[4] = {cfg_.hidden, qd, cfg_.hidden, cfg_.inter};
    for (int k = 0; k < 4; ++k) {
      auto& v = out[keys[k]];
      for (int l = 0; l < cfg_.layers; ++l) {
        const float* row = all.data() + calib_off_[k] + (size_t)l * widths[k];
        v.insert(v.end(), row, row + keep[k]);
      }
    }
    return out;
  }

  const LlamaWeights& weights() const override {
    throw QbError("UNSUPPORTED_ON_CUDA",
                  "prepared weights live on the GPU; export / inspect them with device 'cpu' (pnpm quantize runs there)");
  }

  StepResult forward(const Batch& b) override {
    if (!W_) throw QbError("NOT_READY", "model weights are not prepared: call finalize() first");
    if (!k_cache_) throw QbError("NOT_READY", "the KV cache is not allocated: call allocate_kv_cache() first");
    validate_batch(b, cfg_, num_blocks_);
    auto t0 = Clock::now();
    StepResult R;
    Step st = plan_step(b);
    bool graphable = !b.profile && !calibrating_ && !no_graphs_ && st.decode_only && st.T <= kMaxGraphBatch &&
                     b.gather_rows.empty() && b.logit_rows.empty() && b.sample_rows.size() == (size_t)st.T &&
                     st.max_context <= graph_max_blocks() * kBlockSize;
    for (int i = 0; graphable && i < st.T; ++i) graphable = b.sample_rows[i] == i;
    if (graphable) {
      run_decode_graph(b, st);
    } else {
      upload_meta(b, st, st.T, std::max(1, b.max_blocks));
      if (b.profile) timer_.start(stream_);
      run_layers(st.T, st.S, st.max_q_len, st.max_context);
      run_head(b, st);
      timer_.mark(BlockTimer::Other, stream_);
    }
    collect(b, R);
    if (b.profile) {
      double ms[BlockTimer::kBlocks];
      timer_.finish(ms);
      R.ms_attention = ms[BlockTimer::Attention];
      R.ms_mlp = ms[BlockTimer::Mlp];
      R.ms_quant = ms[BlockTimer::Quant];
      R.ms_other = ms[BlockTimer::Other];
    }
    R.ms_total = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    return R;
  }

 private:
  static constexpr int kMaxGraphBatch = 256;
  static constexpr size_t kLogitsBytes = 256ull << 20;  // logits scratch per chunk of rows

  struct Step {
    int T = 0, S = 0, max_q_len = 1, max_context = 1;
    bool decode_only = false;
    std::vector<int32_t> slots, rows;  // rows: sorted unique rows that need logits
    int R = 0, chunk_rows = 0;
    StepMeta meta{};
  };

  size_t kv_block_bytes() const {
    return 2ull * cfg_.layers * kBlockSize * cfg_.kv_heads * cfg_.head_dim * 2;  // k + v, 16-bit
  }
  int qkv_width() const { return (cfg_.heads + 2 * cfg_.kv_heads) * cfg_.head_dim; }

  size_t workspace_estimate(int T) const {
    const size_t D = cfg_.hidden, qd = (size_t)cfg_.heads * cfg_.head_dim, F = (cfg_.inter + 15) / 16 * 16;
    size_t per_tok = 2 * (3 * D + qkv_width() + qd + 3 * F) + std::max({D, qd, F}) + 64;
    size_t lt = (size_t)T * 2 * F * 4;  // fp32 scratch of the library fp8 / int8 path (gate_up)
    return (size_t)T * per_tok + lt + kLogitsBytes + paged_attention_workspace_bytes(T, cfg_.heads, cfg_.head_dim,
                                                                                      cfg_.max_pos) +
           (256ull << 20);
  }

  Step plan_step(const Batch& b) {
    Step st;
    st.T = (int)b.tokens.size();
    st.S = (int)b.seq_starts.size() - 1;
    st.slots.resize(st.T);
    st.decode_only = true;
    for (int s = 0; s < st.S; ++s) {
      int n = b.seq_starts[s + 1] - b.seq_starts[s];
      st.max_q_len = std::max(st.max_q_len, n);
      if (n != 1) st.decode_only = false;
      for (int i = b.seq_starts[s]; i < b.seq_starts[s + 1]; ++i) {
        int p = b.positions[i];
        st.max_context = std::max(st.max_context, p + 1);
        st.slots[i] = b.block_tables[(size_t)s * b.max_blocks + p / kBlockSize] * kBlockSize + p % kBlockSize;
      }
    }
    for (auto* v : {&b.sample_rows, &b.gather_rows, &b.logit_rows}) st.rows.insert(st.rows.end(), v->begin(), v->end());
    std::sort(st.rows.begin(), st.rows.end());
    st.rows.erase(std::unique(st.rows.begin(), st.rows.end()), st.rows.end());
    st.R = (int)st.rows.size();
    st.chunk_rows = (int)std::max<size_t>(1, std::min<size_t>(std::max(st.R, 1), kLogitsBytes / ((size_t)cfg_.vocab * 4)));
    return st;
  }

  // Packs the step's metadata (padded to T_pad rows / S_pad sequences and block tables mb wide for graph buckets,
  // so the layout depends on the bucket only) and uploads it.
  void upload_meta(const Batch& b, Step& st, int T_pad, int mb) {
    const int T = st.T, S = st.S, S_pad = S + (T_pad - T);
    const int copy_cols = std::min(mb, b.max_blocks);
    StepMeta& m = st.meta;
    size_t o = 0;
    auto take = [&](size_t n) {
      size_t r = o;
      o += (n + 3) / 4 * 4;  // 16-byte aligned sections
      return r;
    };
    m.tokens = take(T_pad);
    m.positions = take(T_pad);
    m.slots = take(T_pad);
    m.seq_starts = take(S_pad + 1);
    m.block_tables = take((size_t)S_pad * mb);
    m.rows = take(std::max(st.R, T_pad));
    size_t ns = std::max<size_t>(b.sample_rows.size(), T_pad), ng = b.gather_rows.size();
    m.sample_idx = take(ns);
    m.temperature = take(ns);
    m.top_p = take(ns);
    m.seeds = take(3 * ns);
    m.gather_idx = take(ng);
    m.gather_targets = take(ng);
    m.total = o;
    int32_t* h = static_cast<int32_t*>(meta_host_.ensure(o * 4));
    std::memset(h, 0, o * 4);
    std::copy(b.tokens.begin(), b.tokens.end(), h + m.tokens);
    std::copy(b.positions.begin(), b.positions.end(), h + m.positions);
    std::copy(st.slots.begin(), st.slots.end(), h + m.slots);
    for (int i = T; i < T_pad; ++i) h[m.slots + i] = -1;  // padding rows: no KV write, position 0, block 0
    std::copy(b.seq_starts.begin(), b.seq_starts.end(), h + m.seq_starts);
    for (int s = S; s < S_pad; ++s) h[m.seq_starts + s + 1] = h[m.seq_starts + s] + 1;
    for (int s = 0; s < S; ++s)
      std::copy(b.block_tables.begin() + (size_t)s * b.max_blocks,
                b.block_tables.begin() + (size_t)s * b.max_blocks + copy_cols, h + m.block_tables + (size_t)s * mb);
    std::copy(st.rows.begin(), st.rows.end(), h + m.rows);
    for (int i = st.R; i < T_pad && T_pad > T; ++i) h[m.rows + i] = i;  // graph buckets: every padded row sampled
    auto local = [&](int row) { return (int32_t)(std::lower_bound(st.rows.begin(), st.rows.end(), row) - st.rows.begin()); };
    for (size_t i = 0; i < b.sample_rows.size(); ++i) {
      h[m.sample_idx + i] = local(b.sample_rows[i]);
      std::memcpy(&h[m.temperature + i], &b.temperature[i], 4);
      std::memcpy(&h[m.top_p + i], &b.top_p[i], 4);
      std::memcpy(&h[m.seeds + 3 * i], &b.seeds[3 * i], 12);
    }
    for (size_t i = b.sample_rows.size(); i < (size_t)T_pad && T_pad > T; ++i) {
      h[m.sample_idx + i] = (int32_t)i;  // padding rows: greedy, discarded
      float one = 1.0f;
      std::memcpy(&h[m.top_p + i], &one, 4);
    }
    for (size_t i = 0; i < ng; ++i) {
      h[m.gather_idx + i] = local(b.gather_rows[i]);
      h[m.gather_targets + i] = b.gather_targets[i];
    }
    meta_dev_.ensure(o * 4);
    check(cudaMemcpyAsync(meta_dev_.p, h, o * 4, cudaMemcpyHostToDevice, stream_), "upload step metadata");
    cur_meta_ = m;
    cur_max_blocks_ = mb;
  }
  const int32_t* meta(size_t off) const { return meta_dev_.as<int32_t>() + off; }

  void ensure_workspace(int T, int max_context) {
    const size_t D = cfg_.hidden, qd = (size_t)cfg_.heads * cfg_.head_dim;
    resid_.ensure((size_t)T * D * 2);
    normed_.ensure((size_t)T * D * 2);
    branch_.ensure((size_t)T * D * 2);
    qkv_.ensure((size_t)T * qkv_width() * 2);
    attn_.ensure((size_t)T * qd * 2);
    gu_.ensure((size_t)T * 2 * Fp_ * 2);
    hmid_.ensure((size_t)T * Fp_ * 2);
    xq_.ensure((size_t)T * std::max({D, qd, (size_t)Fp_}) + 16);
    xs_.ensure(2 * ((size_t)T * 4 + 16));  // two halves: see quant_out
    row_amax_.ensure((size_t)cfg_.layers * 2 * kFusedMMax * 4);
    attn_ws_.ensure(paged_attention_workspace_bytes(T, cfg_.heads, cfg_.head_dim, max_context));
    const void* before = attn_tickets_.p;
    attn_tickets_.ensure((size_t)T * cfg_.heads * sizeof(int));
    if (attn_tickets_.p != before)  // new tickets start at zero (never inside a capture: see GrowBuf)
      check(cudaMemsetAsync(attn_tickets_.p, 0, attn_tickets_.bytes, stream_), "attention tickets");
  }

  QuantMode quant_mode() const {
    switch (W_->precision) {
      case Precision::INT8_W8A8: return QuantMode::Int8PerToken;
      case Precision::FP8_DYNAMIC: return QuantMode::Fp8PerToken;
      case Precision::FP8_STATIC: return QuantMode::Fp8Static;
      default: return QuantMode::None;
    }
  }
  // The quantized input for a linear: per-token scales in xs_, or the layer's static scale. Per-token scales alternate
  // between xs_'s halves (qkv, gate_up: first; o, down: second): a consumer that finishes an unscaled linear output
  // (ScaledIn) reads that linear's input scales while it writes the next linear's.
  QuantOut quant_out(int layer, int which) {
    QuantOut q;
    q.mode = calibrating_ ? QuantMode::None : quant_mode();
    if (q.mode == QuantMode::None) return q;
    q.q = xq_.p;
    q.scale = q.mode == QuantMode::Fp8Static ? W_->static_scales + (size_t)layer * 4 + which
                                             : xs_.as<float>() + (which & 1) * (xs_.bytes / 2 / 16 * 4);
    return q;
  }

  void record(int which, int layer, const void* x, int T, int K) {
    if (!calibrating_) return;
    const int widths[4] = {cfg_.hidden, cfg_.heads * cfg_.head_dim, cfg_.hidden, Fp_};
    absmax_columns(x, cfg_.act, T, K, calib_dev_.as<float>() + calib_off_[which] + (size_t)layer * widths[which],
                   stream_);
  }

  // y[M, N] = x W^T for one linear. x16: 16-bit input; q: quantized input (xq_/xs_ or static scale). Returns how the
  // consumer reads y: finished (ScaledIn{}), or unscaled bf16 with the scales to apply (fp8 through cuBLASLt).
  ScaledIn linear(const DevLinear& L, const void* x16, const QuantOut& q, int M, void* y) {
    switch (L.precision) {
      case Precision::INT8_W8A8:
        return linear_8bit<int8_t>(L, q, M, y);
      case Precision::FP8_DYNAMIC:
      case Precision::FP8_STATIC:
        return linear_8bit<uint8_t>(L, q, M, y);
      default:
        gemm16(x16, L.w, M, L.N, L.K, y, cfg_.act);
        return {};
    }
  }

  // W8A8 linear on codes of type C (int8 / fp8-e4m3): the library kernel for M > 16 when built with cuBLASLt, else
  // our small-M kernel in chunks of kSmallMMax rows (per-token scales advance with the rows).
  // fp8 with M > 16 goes through the library with unit scales and a bf16 output, the scales left to the consumer
  // (ScaledIn): the library's fp32-output path plus our epilogue moved ~3x the bytes (gate_up at M = 2048: 575 us
  // against 348 us on the H100, results/kernels-h100-*); the cost is one bf16 rounding of the unscaled accumulator
  // (relative 2^-9, against e4m3's 2^-4 input steps).
  template <typename C>
  ScaledIn linear_8bit(const DevLinear& L, const QuantOut& q, int M, void* y) {
    constexpr bool kFp8 = std::is_same_v<C, uint8_t>;
    const bool per_tok = q.mode == QuantMode::Int8PerToken || q.mode == QuantMode::Fp8PerToken;
    const C* x = static_cast<const C*>(q.q);
    const C* w = static_cast<const C*>(L.w);
#ifdef QB_HAVE_CUBLASLT
    if (M > 16) {
      if constexpr (kFp8) {
        if (!fp8_epilogue_in_lt_) {
          gemm_fp8_lt_unscaled_bf16(*lt_, x, w, M, L.N, L.K, y, stream_);
          return ScaledIn{q.scale, L.w_scale, per_tok, true};
        }
        gemm_fp8_lt(*lt_, x, q.scale, per_tok, w, L.w_scale, true, M, L.N, L.K, y, cfg_.act, stream_);
      } else {
        gemm_int8_w8a8_lt(*lt_, x, q.scale, per_tok, w, L.w_scale, true, M, L.N, L.K, y, cfg_.act, stream_);
      }
      return {};
    }
#endif
    for (int m0 = 0; m0 < M; m0 += kSmallMMax) {
      const int m = std::min(kSmallMMax, M - m0);
      const C* xm = x + (size_t)m0 * L.K;
      const float* sa = per_tok ? q.scale + m0 : q.scale;
      void* ym = static_cast<uint16_t*>(y) + (size_t)m0 * L.N;
      if constexpr (kFp8)
        gemm_fp8_smallm(xm, sa, per_tok, w, L.w_scale, true, m, L.N, L.K, ym, cfg_.act, stream_);
      else
        gemm_int8_w8a8_smallm(xm, sa, per_tok, w, L.w_scale, true, m, L.N, L.K, ym, cfg_.act, stream_);
    }
    return {};
  }

  void gemm16(const void* x, const void* w, int M, int N, int K, void* y, ActDtype y_dtype) {
#ifdef QB_HAVE_CUBLASLT
    if (M > 16) {
      gemm_f16_lt(*lt_, x, w, cfg_.act, M, N, K, y, y_dtype, stream_);
      return;
    }
#endif
    const size_t ysz = y_dtype == ActDtype::F32 ? 4 : 2;
    for (int m0 = 0; m0 < M; m0 += kSmallMMax) {
      int m = std::min(kSmallMMax, M - m0);
      gemm_f16_smallm(static_cast<const uint16_t*>(x) + (size_t)m0 * K, w, cfg_.act, m, N, K,
                      static_cast<uint8_t*>(y) + (size_t)m0 * N * ysz, y_dtype, stream_);
    }
  }

  // Quantize a 16-bit activation for the next linear (no-op for 16-bit precisions / calibration).
  void quantize(const void* x, int T, int K, const QuantOut& q) {
    switch (q.mode) {
      case QuantMode::Int8PerToken:
        quant_per_token_int8(x, cfg_.act, T, K, static_cast<int8_t*>(q.q), q.scale, stream_);
        break;
      case QuantMode::Fp8PerToken:
        quant_per_token_fp8(x, cfg_.act, T, K, static_cast<uint8_t*>(q.q), q.scale, stream_);
        break;
      case QuantMode::Fp8Static:
        quant_static_fp8(x, cfg_.act, T, K, q.scale, static_cast<uint8_t*>(q.q), stream_);
        break;
      default:
        break;
    }
  }

  // Block timeline trace (trace.cuh): with QB_TRACE_FILE set, the fused decode linears and the decode attention of
  // a -DQB_TRACE build append one record per block; each decode graph replay writes the step's records to the file
  // (header {count, capacity}, then trace::Record; scripts/device/trace_summary.py reads it). A measurement aid:
  // the write synchronizes after every step.
  static const char* trace_file() {
    static const char* f = std::getenv("QB_TRACE_FILE");
    return f && *f ? f : nullptr;
  }
  static constexpr size_t kTraceRecords = 1 << 16;
  void ensure_trace() {
    if (!trace_file() || trace_ptr_) return;
    trace_.ensure(trace::kHeaderWords * 8 + kTraceRecords * sizeof(trace::Record));
    trace_ptr_ = trace_.as<unsigned long long>();
    const unsigned long long header[trace::kHeaderWords] = {0, kTraceRecords};
    check(cudaMemcpy(trace_ptr_, header, sizeof header, cudaMemcpyHostToDevice), "block trace");
  }
  void write_trace() {
    unsigned long long n = 0;
    check(cudaStreamSynchronize(stream_), "block trace");
    check(cudaMemcpy(&n, trace_ptr_, 8, cudaMemcpyDeviceToHost), "block trace");
    n = std::min<unsigned long long>(n, kTraceRecords);
    std::vector<unsigned char> host(trace::kHeaderWords * 8 + n * sizeof(trace::Record));
    check(cudaMemcpy(host.data(), trace_ptr_, host.size(), cudaMemcpyDeviceToHost), "block trace");
    std::memcpy(host.data(), &n, 8);
    FILE* fp = std::fopen(trace_file(), "wb");
    require(fp != nullptr, "block trace", std::string("cannot write QB_TRACE_FILE ") + trace_file());
    std::fwrite(host.data(), 1, host.size(), fp);
    std::fclose(fp);
  }

  // Paged attention of layer l over q in qkv_ (roped) and the cache, into attn_.
  void attention(int l, int T, int S, int max_q_len, int max_context, float* out_amax = nullptr) {
    const ModelConfig& c = cfg_;
    const StepMeta& m = cur_meta_;
    PagedAttentionArgs a;
    a.q = qkv_.p;
    a.ld_q = qkv_width();
    a.k_cache = layer_k(l);
    a.v_cache = layer_v(l);
    a.seq_starts = meta(m.seq_starts);
    a.positions = meta(m.positions);
    a.block_tables = meta(m.block_tables);
    a.max_blocks = cur_max_blocks_;
    a.T = T;
    a.S = S;
    a.H = c.heads;
    a.Hkv = c.kv_heads;
    a.Dh = c.head_dim;
    a.block_size = kBlockSize;
    a.scale = 1.0f / std::sqrt((float)c.head_dim);
    a.act = c.act;
    a.max_q_len = max_q_len;
    a.max_context = max_context;
    a.out = attn_.p;
    a.ld_out = c.heads * c.head_dim;
    a.workspace = attn_ws_.p;
    a.workspace_bytes = attn_ws_.bytes;
    a.tickets = attn_tickets_.as<int>();
    a.out_amax = out_amax;
    a.trace = trace_ptr_;
    a.trace_tag = l * 8 + 4;
    paged_attention(a, stream_);
  }

  // The decode path's fused linears (FusedLinear, cuda_ops.h) apply to one-row steps (batch-1 decode), outside
  // calibration and --profile-blocks (which time the unfused kernels). Batch-1 decode on the H100, fused vs unfused:
  // fp16 5.53 vs 5.70 ms, fp8-static 3.54 vs 3.97, fp8-dynamic 3.52 vs 4.08, int8-w8a8 3.51 vs 3.67
  // (results/gpu-h100-6f32610). The kernels take up to kFusedMMax rows, but their prologue works token by token
  // (a reduction pass per row and block), which made batches 2-8 slower than the unfused kernels (fp16 batch 4 6.53
  // vs 5.82 ms, int8 5.90 vs 3.74). QB_FUSED=0 turns them off (for comparisons), QB_FUSED=8 allows up to 8 rows.
  // 8-bit activations: o and down quantize their 16-bit input as they load it (QuantLoadResidual), with no staging
  // prologue after the PDL wait. The scale is static (fp8-static o), or per token from the absmax that the producer
  // publishes: the decode attention for o, gate_up's epilogue for down (fp8-static down reads gate_up's codes).
  // The absmax slots of layer l ([o | down] x kFusedMMax rows) are zeroed by that layer's QKV kernel.
  // QB_QLOAD (bits, for comparisons): 1 = down, 2 = o; default 3; 0 = the staged QuantResidual kernels.
  int qload_bits() const {
    static const int bits = env_int("QB_QLOAD", 3);
    const QuantMode mode = quant_mode();
    if (mode == QuantMode::None) return 0;
    return mode == QuantMode::Fp8Static ? bits & 2 : bits & 3;
  }
  float* layer_amax(int l, int which) const { return row_amax_.as<float>() + ((size_t)l * 2 + which) * kFusedMMax; }

  bool fused_ok(int T) const {
    static const int max_t = env_int("QB_FUSED", 1);
    const QuantMode mode = quant_mode();
    if (T > std::min(max_t, kFusedMMax) || calibrating_ || timer_.on()) return false;
    // The staged input rows of the ops run_layers_fused launches (o / down quantize in their prologue only with
    // 8-bit / dynamic activations).
    const bool q8 = mode != QuantMode::None, dyn = q8 && mode != QuantMode::Fp8Static;
    const int ql = qload_bits();
    const size_t smem[4] = {
        fused_linear_smem(FusedOp::NormRopeKV, mode, cfg_.hidden, T),
        q8 ? fused_linear_smem(FusedOp::QuantResidual, mode, cfg_.heads * cfg_.head_dim, T) : 0,  // o may stage
        fused_linear_smem(FusedOp::NormSiluMul, mode, cfg_.hidden, T),
        dyn && !(ql & 1) ? fused_linear_smem(FusedOp::QuantResidual, mode, Fp_, T) : 0};
    return *std::max_element(smem, smem + 4) <= kFusedSmemMax;
  }

  FusedLinear fused(const DevLinear& L, FusedOp op, QuantMode mode, int l, int which, const void* in) const {
    FusedLinear f;
    f.op = op;
    f.mode = mode;
    f.act = cfg_.act;
    f.w = L.w;
    f.w_scale = L.w_scale;
    f.N = L.N;
    f.K = L.K;
    f.in = in;
    if (mode == QuantMode::Fp8Static) f.in_scale = W_->static_scales + (size_t)l * 4 + which;
    f.eps = cfg_.eps;
    f.resid = resid_.p;
    f.trace = trace_ptr_;
    f.trace_tag = l * 8 + which;
    return f;
  }

  // run_layers with the fused linears: embed -> [NormRopeKV -> attention -> (Quant)Residual -> NormSiluMul ->
  // (Quant)Residual] x L -> final norm. The residual stream stays in resid_ (every Residual epilogue adds into it).
  void run_layers_fused(int T, int S, int max_q_len, int max_context) {
    const ModelConfig& c = cfg_;
    const StepMeta& m = cur_meta_;
    const QuantMode mode = quant_mode();
    const bool q8 = mode != QuantMode::None, is_static = mode == QuantMode::Fp8Static;
    embedding(W_->embed, meta(m.tokens), T, c.hidden, c.act, resid_.p, stream_);
    for (int l = 0; l < c.layers; ++l) {
      const DevLayer& L = W_->layers[l];
      FusedLinear f = fused(L.qkv, FusedOp::NormRopeKV, mode, l, 0, resid_.p);
      f.norm_w = L.ln1;
      f.qkv = qkv_.p;
      f.ld = qkv_width();
      f.positions = meta(m.positions);
      f.slots = meta(m.slots);
      f.H = c.heads;
      f.Hkv = c.kv_heads;
      f.Dh = c.head_dim;
      f.cos_tab = W_->rope_cos;
      f.sin_tab = W_->rope_sin;
      f.k_cache = layer_k(l);
      f.v_cache = layer_v(l);
      const int ql = qload_bits();
      // o's per-token absmax comes from the row-wise decode attention: steps with prefill rows (QB_FUSED > 1 lets a
      // short prompt through here) may take the tensor-core kernel, which publishes none, so they stage o's input.
      const bool qload_o = (ql & 2) && (is_static || max_q_len == 1), qload = ql & 1,
                 o_amax = qload_o && !is_static;
      if (ql) {
        f.zero_amax = layer_amax(l, 0);
        f.zero_n = 2 * kFusedMMax;
      }
      linear_fused_smallm(f, T, stream_);
      attention(l, T, S, max_q_len, max_context, o_amax ? layer_amax(l, 0) : nullptr);
      f = fused(L.o, qload_o ? FusedOp::QuantLoadResidual : q8 ? FusedOp::QuantResidual : FusedOp::Residual, mode, l,
                1, attn_.p);
      if (o_amax) f.in_amax = layer_amax(l, 0);
      linear_fused_smallm(f, T, stream_);
      f = fused(L.gate_up, FusedOp::NormSiluMul, mode, l, 2, resid_.p);
      f.norm_w = L.ln2;
      if (is_static) {  // the down projection's input codes, written by the epilogue
        f.hq = xq_.p;
        f.hq_scale = W_->static_scales + (size_t)l * 4 + 3;
      } else {
        f.hmid = hmid_.p;
        if (qload) f.out_amax = layer_amax(l, 1);
      }
      linear_fused_smallm(f, T, stream_);
      const bool dyn = q8 && !is_static;
      const FusedOp down_op = qload ? FusedOp::QuantLoadResidual : dyn ? FusedOp::QuantResidual : FusedOp::Residual;
      f = fused(L.down, down_op, mode, l, 3, is_static ? xq_.p : hmid_.p);
      if (qload) f.in_amax = layer_amax(l, 1);
      linear_fused_smallm(f, T, stream_);
    }
    rmsnorm_residual_quant(resid_.p, nullptr, W_->final_norm, c.act, T, c.hidden, c.eps, normed_.p, QuantOut{},
                           stream_);
  }

  // Every layer, for T rows (device metadata already uploaded). Leaves the final-norm output in normed_.
  void run_layers(int T, int S, int max_q_len, int max_context) {
    const ModelConfig& c = cfg_;
    const int D = c.hidden, qd = c.heads * c.head_dim;
    ensure_workspace(T, max_context);
    ensure_trace();
    if (fused_ok(T)) {
      run_layers_fused(T, S, max_q_len, max_context);
      return;
    }
    const StepMeta& m = cur_meta_;
    embedding(W_->embed, meta(m.tokens), T, D, c.act, resid_.p, stream_);
    {
      QuantOut q = quant_out(0, 0);
      rmsnorm_residual_quant(resid_.p, nullptr, W_->layers[0].ln1, c.act, T, D, c.eps,
                             q.mode == QuantMode::None ? normed_.p : nullptr, q, stream_);
    }
    for (int l = 0; l < c.layers; ++l) {
      const DevLayer& L = W_->layers[l];
      // ---- attention block (incl. QKV and O projections) ----
      timer_.mark(BlockTimer::Attention, stream_);
      record(0, l, normed_.p, T, D);
      const ScaledIn qkv_in = linear(L.qkv, normed_.p, quant_out(l, 0), T, qkv_.p);
      rope_qkv_kv_write(qkv_.p, qkv_width(), c.act, meta(m.positions), meta(m.slots), T, c.heads, c.kv_heads,
                        c.head_dim, W_->rope_cos, W_->rope_sin, layer_k(l), layer_v(l), kBlockSize, stream_, qkv_in);
      attention(l, T, S, max_q_len, max_context);
      record(1, l, attn_.p, T, qd);
      QuantOut qo = quant_out(l, 1);
      timer_.mark(BlockTimer::Quant, stream_);
      quantize(attn_.p, T, qd, qo);
      timer_.mark(BlockTimer::Attention, stream_);
      const ScaledIn o_in = linear(L.o, attn_.p, qo, T, branch_.p);

      // ---- MLP block ----
      timer_.mark(BlockTimer::Mlp, stream_);
      QuantOut qm = quant_out(l, 2);
      rmsnorm_residual_quant(branch_.p, resid_.p, L.ln2, c.act, T, D, c.eps,
                             qm.mode == QuantMode::None ? normed_.p : nullptr, qm, stream_, o_in);
      record(2, l, normed_.p, T, D);
      const ScaledIn g_in = linear(L.gate_up, normed_.p, qm, T, gu_.p);
      ScaledIn u_in = g_in;
      if (u_in.s_a) u_in.s_w += Fp_;  // u's columns start at Fp_ (per-channel weight scales)
      QuantOut qd_ = quant_out(l, 3);
      silu_mul_quant(gu_.p, static_cast<uint16_t*>(gu_.p) + Fp_, 2 * Fp_, c.act, T, Fp_,
                     qd_.mode == QuantMode::None ? hmid_.p : nullptr, qd_, stream_, g_in, u_in);
      record(3, l, hmid_.p, T, Fp_);
      const ScaledIn down_in = linear(L.down, hmid_.p, qd_, T, branch_.p);
      const bool last = l + 1 == c.layers;
      QuantOut qn = last ? QuantOut{} : quant_out(l + 1, 0);
      rmsnorm_residual_quant(branch_.p, resid_.p, last ? W_->final_norm : W_->layers[l + 1].ln1, c.act, T, D, c.eps,
                             qn.mode == QuantMode::None ? normed_.p : nullptr, qn, stream_, down_in);
    }
    timer_.mark(BlockTimer::Other, stream_);
  }

  // lm_head for the rows that need logits, chunked; sampling and log-prob gathering on the GPU.
  void run_head(const Batch& b, const Step& st) {
    const int V = cfg_.vocab, D = cfg_.hidden;
    const int R = st.R;
    const size_t ns = b.sample_rows.size(), ng = b.gather_rows.size(), nl = b.logit_rows.size();
    if (R == 0) return;
    sampled_.ensure(std::max<size_t>(ns, 1) * 8 + 16);
    gathered_.ensure(std::max<size_t>(ng, 1) * 5 + 16);
    const int chunk = st.chunk_rows;
    xrows_.ensure((size_t)std::min(chunk, R) * D * 2);
    logits_.ensure((size_t)std::min(chunk, R) * V * 4);
    if (nl) logits_host_.ensure(nl * (size_t)V * 4);
    for (int r0 = 0; r0 < R; r0 += chunk) {
      const int rc = std::min(chunk, R - r0);
      gather_rows(normed_.p, meta(cur_meta_.rows) + r0, rc, D, cfg_.act, xrows_.p, stream_);
      gemm16(xrows_.p, W_->lm_head, rc, V, D, logits_.p, ActDtype::F32);
      // Entries whose row falls in this chunk: rows are sorted, so the local indices [r0, r0 + rc) select them.
      head_entries(b, st, r0, rc);
    }
  }

  // Sampling / gathering / logits copy for the entries whose logits row lies in chunk [r0, r0 + rc).
  void head_entries(const Batch& b, const Step& st, int r0, int rc) {
    const int V = cfg_.vocab;
    const float* chunk_logits = logits_.as<float>() - (size_t)r0 * V;  // indexable by global local-row index
    const size_t ns = b.sample_rows.size(), ng = b.gather_rows.size();
    auto in_chunk = [&](int row) {
      int li = (int)(std::lower_bound(st.rows.begin(), st.rows.end(), row) - st.rows.begin());
      return li >= r0 && li < r0 + rc;
    };
    if (ns) {
      if (r0 == 0 && r0 + rc >= st.R) {
        run_sampling(chunk_logits, 0, (int)ns, st);
      } else {
        for (size_t i = 0; i < ns; ++i)
          if (in_chunk(b.sample_rows[i])) run_sampling(chunk_logits, (int)i, 1, st);
      }
    }
    if (ng) {
      const int32_t* lp_idx = meta(st.meta.gather_idx);
      if (r0 == 0 && r0 + rc >= st.R) {
        gather_logprob_rows(chunk_logits, V, lp_idx, meta(st.meta.gather_targets), (int)ng, gathered_.as<float>(),
                            gathered_.as<uint8_t>() + ng * 4 + 8, stream_);
      } else {
        for (size_t i = 0; i < ng; ++i)
          if (in_chunk(b.gather_rows[i]))
            gather_logprob_rows(chunk_logits, V, lp_idx + i, meta(st.meta.gather_targets) + i, 1,
                                gathered_.as<float>() + i, gathered_.as<uint8_t>() + ng * 4 + 8 + i, stream_);
      }
    }
    for (size_t i = 0; i < b.logit_rows.size(); ++i) {
      if (!in_chunk(b.logit_rows[i])) continue;
      int li = (int)(std::lower_bound(st.rows.begin(), st.rows.end(), b.logit_rows[i]) - st.rows.begin());
      check(cudaMemcpyAsync(static_cast<float*>(logits_host_.p) + i * (size_t)V, chunk_logits + (size_t)li * V,
                            (size_t)V * 4, cudaMemcpyDeviceToHost, stream_),
            "download logits");
    }
  }

  void run_sampling(const float* logits, int first, int n, const Step& st) {
    const int V = cfg_.vocab;
    size_t ws = sample_rows_workspace_bytes(n, V);
    sample_ws_.ensure(ws + 16);
    const StepMeta& m = st.meta;
    sample_rows(logits, V, meta(m.sample_idx) + first, n, reinterpret_cast<const float*>(meta(m.temperature)) + first,
                reinterpret_cast<const float*>(meta(m.top_p)) + first,
                reinterpret_cast<const uint32_t*>(meta(m.seeds)) + 3 * first, sampled_.as<int32_t>() + first,
                reinterpret_cast<float*>(sampled_.as<int32_t>() + sampled_cap()) + first, sample_ws_.p, sample_ws_.bytes,
                stream_);
  }
  size_t sampled_cap() const { return sampled_.bytes / 8; }

  // Copy results to the host (one sync).
  void collect(const Batch& b, StepResult& R) {
    const size_t ns = b.sample_rows.size(), ng = b.gather_rows.size(), nl = b.logit_rows.size();
    uint8_t* h = static_cast<uint8_t*>(out_host_.ensure(ns * 8 + ng * 5 + 64));
    if (ns) {
      check(cudaMemcpyAsync(h, sampled_.p, ns * 4, cudaMemcpyDeviceToHost, stream_), "download sampled tokens");
      check(cudaMemcpyAsync(h + ns * 4, sampled_.as<int32_t>() + sampled_cap(), ns * 4, cudaMemcpyDeviceToHost,
                            stream_),
            "download sampled log-probs");
    }
    if (ng) {
      check(cudaMemcpyAsync(h + ns * 8, gathered_.p, ng * 4, cudaMemcpyDeviceToHost, stream_), "download log-probs");
      check(cudaMemcpyAsync(h + ns * 8 + ng * 4, gathered_.as<uint8_t>() + ng * 4 + 8, ng, cudaMemcpyDeviceToHost,
                            stream_),
            "download log-probs");
    }
    check(cudaStreamSynchronize(stream_), "forward step");
    R.sampled.resize(ns);
    R.sampled_logprob.resize(ns);
    std::memcpy(R.sampled.data(), h, ns * 4);
    std::memcpy(R.sampled_logprob.data(), h + ns * 4, ns * 4);
    R.gather_logprob.resize(ng);
    R.gather_is_argmax.resize(ng);
    std::memcpy(R.gather_logprob.data(), h + ns * 8, ng * 4);
    std::memcpy(R.gather_is_argmax.data(), h + ns * 8 + ng * 4, ng);
    R.logits.resize(nl * (size_t)cfg_.vocab);
    if (nl) std::memcpy(R.logits.data(), logits_host_.p, R.logits.size() * 4);
  }

  // ---- CUDA graphs for decode-only steps, per batch-size bucket ----
  // The graph holds every kernel of the step at fixed device addresses; per-step contents (tokens, positions, slots,
  // block tables, sampling parameters) live in the metadata buffer, refreshed by a copy before each replay. Launch
  // shapes depend on the bucket size and the bounds (max_blocks, max_context = the table's width) only.
  struct Graph {
    cudaGraphExec_t exec = nullptr;
    uint64_t generation = 0;  // g_buffer_generation (+ cuBLASLt scratch moves) at capture
  };
  static int bucket_of(int T) {
    int b = 1;
    while (b < T) b *= 2;
    return b;
  }
  int graph_max_blocks() const { return (cfg_.max_pos + kBlockSize - 1) / kBlockSize; }
  uint64_t generation() const {
#ifdef QB_HAVE_CUBLASLT
    return g_buffer_generation + lt_->scratch_generation();
#else
    return g_buffer_generation;
#endif
  }
  // A decode step as a graph over the padded bucket: dummy rows write no KV (slot -1), attend to position 0 of block
  // 0 and sample greedily; their outputs are dropped.
  void run_decode_graph(const Batch& b, Step& st) {
    const int Tb = bucket_of(st.T), mb = graph_max_blocks();
    upload_meta(b, st, Tb, mb);
    Step pst = st;
    pst.T = pst.R = Tb;
    pst.S = st.S + (Tb - st.T);
    pst.chunk_rows = Tb;  // one chunk: Tb * V * 4 bytes fit the logits scratch for Tb <= kMaxGraphBatch (checked)
    pst.rows.resize(Tb);
    for (int i = 0; i < Tb; ++i) pst.rows[i] = i;
    Batch pb;
    pb.sample_rows = pst.rows;
    Graph& g = graphs_[Tb];
    if (g.exec && g.generation == generation()) {
      if (trace_ptr_) check(cudaMemsetAsync(trace_ptr_, 0, 8, stream_), "block trace");
      check(cudaGraphLaunch(g.exec, stream_), "cudaGraphLaunch (decode step)");
      if (trace_ptr_) write_trace();
      return;
    }
    // First sight of this bucket (or buffers moved): run eagerly once, which sizes every buffer, then capture.
    run_layers(Tb, pst.S, 1, mb * kBlockSize);
    run_head(pb, pst);
    check(cudaStreamSynchronize(stream_), "decode step");
    if (g.exec) cudaGraphExecDestroy(g.exec);
    g.exec = nullptr;
    const uint64_t gen = generation();
    cudaGraph_t graph = nullptr;
    check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
    try {
      run_layers(Tb, pst.S, 1, mb * kBlockSize);
      run_head(pb, pst);
    } catch (...) {
      cudaStreamEndCapture(stream_, &graph);
      if (graph) cudaGraphDestroy(graph);
      throw;
    }
    check(cudaStreamEndCapture(stream_, &graph), "cudaStreamEndCapture");
    if (gen != generation()) {  // a buffer moved during capture: keep the eager result, capture next time
      cudaGraphDestroy(graph);
      return;
    }
    cudaError_t e = cudaGraphInstantiate(&g.exec, graph, 0);
    cudaGraphDestroy(graph);
    check(e, "cudaGraphInstantiate (decode step)");
    g.generation = gen;
  }
  void graphs_clear() {
    for (auto& kv : graphs_)
      if (kv.second.exec) cudaGraphExecDestroy(kv.second.exec);
    graphs_.clear();
  }

  size_t kv_layer_bytes() const { return (size_t)num_blocks_ * kBlockSize * cfg_.kv_heads * cfg_.head_dim * 2; }
  void* layer_k(int l) const { return static_cast<uint8_t*>(k_cache_) + (size_t)l * kv_layer_bytes(); }
  void* layer_v(int l) const { return static_cast<uint8_t*>(v_cache_) + (size_t)l * kv_layer_bytes(); }

  int dev_ = 0;
  cudaDeviceProp prop_{};
  cudaStream_t stream_ = nullptr;
#ifdef QB_HAVE_CUBLASLT
  std::unique_ptr<LtContext> lt_;
#endif
  SynthSource synth_;
  std::unique_ptr<DevWeights> W_;
  int Fp_ = 0;
  void* k_cache_ = nullptr;
  void* v_cache_ = nullptr;
  bool calibrating_ = false;
  GrowBuf calib_dev_{"calibration statistics"};
  size_t calib_off_[5] = {0, 0, 0, 0, 0};
  GrowBuf resid_{"residual"}, normed_{"normed activations"}, branch_{"branch activations"}, qkv_{"qkv"},
      attn_{"attention output"}, gu_{"gate_up output"}, hmid_{"mlp activations"}, xq_{"quantized activations"},
      xs_{"activation scales"}, row_amax_{"fused activation absmax"}, attn_ws_{"attention workspace"},
      attn_tickets_{"attention tickets"}, xrows_{"lm_head rows"}, logits_{"logits"},
      sample_ws_{"sampling workspace"}, sampled_{"sampled tokens"}, gathered_{"gathered log-probs"},
      meta_dev_{"step metadata"}, trace_{"block trace"};
  unsigned long long* trace_ptr_ = nullptr;  // QB_TRACE_FILE: the block timeline trace buffer (trace.cuh)
  PinnedBuf meta_host_, out_host_, logits_host_;
  StepMeta cur_meta_{};
  int cur_max_blocks_ = 1;
  BlockTimer timer_;
  std::map<int, Graph> graphs_;
  bool no_graphs_ = std::getenv("QB_CUDA_GRAPHS") && std::string(std::getenv("QB_CUDA_GRAPHS")) == "0";
  // QB_FP8_LT_EPILOGUE=1: the previous fp8 path (library fp32 output + our epilogue kernel), for comparisons.
  bool fp8_epilogue_in_lt_ = std::getenv("QB_FP8_LT_EPILOGUE") && std::string(std::getenv("QB_FP8_LT_EPILOGUE")) == "1";
};

}  // namespace

std::unique_ptr<Model> create_cuda_model(const ModelConfig& cfg) { return std::make_unique<CudaModel>(cfg); }

}  // namespace qb
