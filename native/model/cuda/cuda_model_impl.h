// The CUDA model's class (CudaModel): the same Model interface and semantics as the CPU reference
// (model/cpu/llama_cpu.cc), one varlen step (prefill chunks + decodes) over a paged KV cache. Its definitions:
//   cuda_model.cc      construction, weights, KV cache, calibration, forward()
//   step_meta.cc       the step's plan, packed metadata upload, workspace sizes
//   forward_layers.cc  the layers: unfused (any batch) and fused (one-row decode) forwards, linears, attention
//   forward_head.cc    lm_head, sampling, log-prob gathering, results to the host
//   decode_graphs.cc   CUDA graphs of decode-only steps per batch bucket
//   block_trace.cc     the block timeline trace (measurement builds)
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "common/linear.h"
#include "kernels/attention/attention.h"
#include "kernels/common/cuda_check.h"
#include "kernels/common/pdl.h"
#include "kernels/common/trace.cuh"
#include "kernels/cuda_ops.h"
#include "kernels/sampling/sampling.h"
#include "model/cuda/block_timer.h"
#include "model/cuda/graph_buckets.h"
#include "model/cuda/cuda_model.h"
#include "model/cuda/cuda_model_weights.h"
#include "model/cuda/device_buffers.h"
#include "schemes/scheme.h"
#ifdef QB_HAVE_CUBLASLT
#include "kernels/gemm/gemm_lt.h"
#endif

namespace qb::cuda_model {

using namespace qb::cuda;
using Clock = std::chrono::steady_clock;

// Per-step metadata, packed into one pinned host block and copied to the device in one transfer.
struct StepMeta {
  // offsets (in 4-byte words) into the packed block
  size_t tokens, positions, slots, seq_starts, block_tables, rows, sample_idx, temperature, top_p, seeds,
      gather_idx, gather_targets, token_sources, total;
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
    for (cudaEvent_t& e : done_ev_) check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
    set_pdl_enabled(cfg.cuda.pdl);
#ifdef QB_HAVE_CUBLASLT
    lt_ = std::make_unique<LtContext>();
#endif
  }
  ~CudaModel() override {
    graphs_clear();
    if (k_cache_) cudaFree(k_cache_);
    if (v_cache_) cudaFree(v_cache_);
    if (stream_) cudaStreamSynchronize(stream_);
    for (cudaEvent_t e : done_ev_)
      if (e) cudaEventDestroy(e);
    if (stream_) cudaStreamDestroy(stream_);
  }

  std::string device_name() const override { return prop_.name; }

  void synthesize(uint64_t seed, int outlier_channels, float outlier_gain) override;

  void finalize(Precision p, const PrepareOptions& opt) override;

  int suggest_kv_blocks(double utilization, int max_tokens) override;

  void allocate_kv_cache(int num_blocks) override;

  void fill_kv_random(uint64_t seed) override;

  void set_calibration(bool on) override;

  std::map<std::string, std::vector<float>> calibration_stats() const override;

  const LlamaWeights& weights() const override;

  StepResult forward(const Batch& b) override;
  // The step is queued on the stream (metadata upload, the token copy of Batch::token_sources, the layers or the
  // decode graph, sampling, the copy of the results into pinned buffer `slot`) and submit() returns; finish() waits
  // for its event. Steps that time blocks (profile) or return logits finish inside submit().
  void submit(const Batch& b) override;
  StepResult finish() override;
  size_t in_flight() const override { return inflight_.size(); }

 private:
  // Largest decode batch replayed as a graph (buckets: graph_buckets.h): the engine's max batch goes up to 2048.
  static constexpr int kMaxGraphBatch = 2048;
  static constexpr size_t kLogitsBytes = 256ull << 20;  // logits scratch per chunk of rows

  struct Step {
    int T = 0, S = 0, max_q_len = 1, max_context = 1;
    bool decode_only = false;
    std::vector<int32_t> slots, rows;  // rows: sorted unique rows that need logits
    int R = 0, chunk_rows = 0;
    StepMeta meta{};
  };

  size_t kv_block_bytes() const { return qb::kv_block_bytes(cfg_, kBlockSize); }  // k + v of every layer
  // How layer l's cache stores K and V (the checkpoint's or unit FP8 scales with KvDtype::Fp8).
  KvCacheFormat kv_format(int l) const {
    KvCacheFormat f;
    f.fp8 = cfg_.kv == KvDtype::Fp8;
    if (f.fp8) {
      f.k_scale = W_->k_scale[l];
      f.v_scale = W_->v_scale[l];
    }
    return f;
  }
  int qkv_width() const { return (cfg_.heads + 2 * cfg_.kv_heads) * cfg_.head_dim; }

  size_t workspace_estimate(int T) const;

  Step plan_step(const Batch& b);

  // Packs the step's metadata (padded to T_pad rows / S_pad sequences and block tables mb wide for graph buckets,
  // so the layout depends on the bucket only) and uploads it.
  void upload_meta(const Batch& b, Step& st, int T_pad, int mb);
  const int32_t* meta(size_t off) const { return meta_dev_.as<int32_t>() + off; }

  void ensure_workspace(int T, int max_context);

  // How the precision's scheme quantizes the linears' inputs (the kernels' QuantMode).
  QuantMode quant_mode() const {
    const Scheme& sc = scheme_of(W_->precision);
    if (!sc.quantized()) return QuantMode::None;
    if (sc.codes == Codes::Int8) return sc.static_act() ? QuantMode::Int8Static : QuantMode::Int8PerToken;
    return sc.static_act() ? QuantMode::Fp8Static : QuantMode::Fp8PerToken;
  }
  // The quantized input for a linear: per-token scales in xs_, or the layer's static scale. Per-token scales alternate
  // between xs_'s halves (qkv, gate_up: first; o, down: second): a consumer that finishes an unscaled linear output
  // (ScaledIn) reads that linear's input scales while it writes the next linear's.
  QuantOut quant_out(int layer, Linear linear);

  void record(Linear linear, int layer, const void* x, int T, int K);

  // y[M, N] = x W^T for one linear. x16: 16-bit input; q: quantized input (xq_/xs_ or static scale). Returns how the
  // consumer reads y: finished (ScaledIn{}), unscaled bf16 with the scales to apply (fp8 through cuBLASLt), or the
  // int32 accumulators in the cuBLASLt scratch with the scales (int8 through cuBLASLt; y is then not written).
  ScaledIn linear(const DevLinear& L, const void* x16, const QuantOut& q, int M, void* y);

  // W8A8 linear on codes of type C (int8 / fp8-e4m3): the library kernel for M > 16 when built with cuBLASLt, else
  // our small-M kernel in chunks of kSmallMMax rows (per-token scales advance with the rows).
  // fp8 with M > 16 goes through the library with unit scales and a bf16 output, the scales left to the consumer
  // (ScaledIn): the library's fp32-output path plus an epilogue kernel moves ~3x the bytes; the cost is one bf16
  // rounding of the unscaled accumulator (relative 2^-9, against e4m3's 2^-4 input steps). int8 with M > 16: the
  // library's int32 accumulators, finished by the consumer as it loads them (ScaledIn::acc: exact, the same bits as
  // the epilogue kernel, which took 8.4 of a 2048-token prefill's 36.7 ms of kernels on the H200, session 16).
  template <typename C>
  ScaledIn linear_8bit(const DevLinear& L, const QuantOut& q, int M, void* y);

  void gemm16(const void* x, const void* w, int M, int N, int K, void* y, ActDtype y_dtype);

  // Quantize a 16-bit activation for the next linear (no-op for 16-bit precisions / calibration).
  void quantize(const void* x, int T, int K, const QuantOut& q);

  // Block timeline trace (trace.cuh): with the trace_file option set, the fused decode linears and the decode attention of
  // a -DQB_TRACE build append one record per block; each decode graph replay writes the step's records to the file
  // (header {count, capacity}, then trace::Record; scripts/device/trace_summary.py reads it). A measurement aid:
  // the write synchronizes after every step.
  const char* trace_file() const { return cfg_.cuda.trace_file.empty() ? nullptr : cfg_.cuda.trace_file.c_str(); }
  static constexpr size_t kTraceRecords = 1 << 16;
  void ensure_trace();
  void write_trace();

  // Paged attention of layer l over q in qkv_ (roped) and the cache, into attn_.
  void attention(int l, int T, int S, int max_q_len, int max_context, float* out_amax = nullptr);

  // The decode path's fused linears (FusedLinear, gemm_fused.h) apply to one-row steps (batch-1 decode), outside
  // calibration and --profile-blocks (which time the unfused kernels), unless the fused_decode option is off. Their
  // prologue works token by token, which made steps of 2-8 rows slower than the unfused kernels (perf notes).
  // 8-bit activations: o and down quantize their 16-bit input as they load it (QuantLoadResidual), with no staging
  // prologue after the PDL wait. The scale is static (fp8-static o), or per token from the absmax that the producer
  // publishes: the decode attention for o, gate_up's epilogue for down (fp8-static down reads gate_up's codes).
  // The absmax slots of layer l ([o | down] x kFusedMMax rows) are zeroed by that layer's QKV kernel.
  float* layer_amax(int l, int which) const { return row_amax_.as<float>() + ((size_t)l * 2 + which) * kFusedMMax; }

  bool fused_ok(int T) const;

  FusedLinear fused(const DevLinear& L, FusedOp op, QuantMode mode, int l, Linear which, const void* in) const;

  // run_layers with the fused linears: embed -> [NormRopeKV -> attention -> (QuantLoad)Residual -> NormSiluMul ->
  // (QuantLoad)Residual] x L -> final norm. The residual stream stays in resid_ (every Residual epilogue adds into it).
  void run_layers_fused(int T, int S, int max_q_len, int max_context);

  // Every layer, for T rows (device metadata already uploaded). Leaves the final-norm output in normed_.
  void run_layers(int T, int S, int max_q_len, int max_context);

  // lm_head for the rows that need logits, chunked; sampling and log-prob gathering on the GPU.
  void run_head(const Batch& b, const Step& st);
  // The buffers run_head uses, grown before the step's layers are queued (submit; after upload_meta, whose
  // tokens_from_samples reads the previous step's samples from sampled_): growing a buffer synchronizes the device
  // (GrowBuf), which after the step's layers would hold the previous step's results back until this step ends (async
  // scheduling: its first tokens came ~150-300 ms late while the prefill steps grew the buffers).
  void ensure_head(const Batch& b, const Step& st);

  // Sampling / gathering / logits copy for the entries whose logits row lies in chunk [r0, r0 + rc).
  void head_entries(const Batch& b, const Step& st, int r0, int rc);

  void run_sampling(const float* logits, int first, int n, const Step& st);
  size_t sampled_cap() const { return sampled_.bytes / 8; }

  // Queue the copy of the step's results into pinned buffer `slot` (collect_queue), then read them once the step's
  // event has completed (collect_read).
  void collect_queue(const Batch& b, int slot);
  void collect_read(size_t ns, size_t ng, int slot, StepResult& R);
  // A submitted step: which pinned buffers hold its results, how many, when it started; `ready` when finished early.
  struct InFlight {
    int slot = 0;
    size_t ns = 0, ng = 0;
    std::chrono::steady_clock::time_point t0;
    bool ready = false;
    StepResult result;
  };
  std::deque<InFlight> inflight_;
  uint64_t submitted_ = 0;     // steps submitted: slot = submitted_ % 2 (metadata staging and results)
  size_t prev_samples_ = 0;    // sampled tokens of the step submitted last (Batch::token_sources bound)
  cudaEvent_t done_ev_[2] = {nullptr, nullptr};
  int slot_ = 0;               // the slot of the step being queued

  // ---- CUDA graphs for decode-only steps, per batch-size bucket ----
  // The graph holds every kernel of the step at fixed device addresses; per-step contents (tokens, positions, slots,
  // block tables, sampling parameters) live in the metadata buffer, refreshed by a copy before each replay. Launch
  // shapes depend on the bucket size and the bounds (max_blocks, max_context = the table's width) only.
  struct Graph {
    cudaGraphExec_t exec = nullptr;
    uint64_t generation = 0;  // g_buffer_generation (+ cuBLASLt scratch moves) at capture
  };
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
  void run_decode_graph(const Batch& b, Step& st);
  void graphs_clear();

  size_t kv_layer_bytes() const {
    return (size_t)num_blocks_ * kBlockSize * cfg_.kv_heads * cfg_.head_dim * kv_elt_bytes(cfg_);
  }
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
  // Calibration regions: the four linears' inputs (Linear order), then the roped qkv rows ([layers, qkv_width]:
  // the k and v columns are the 'k_cache' / 'v_cache' statistics), then the end.
  size_t calib_off_[6] = {0, 0, 0, 0, 0, 0};
  GrowBuf resid_{"residual"}, normed_{"normed activations"}, branch_{"branch activations"}, qkv_{"qkv"},
      attn_{"attention output"}, gu_{"gate_up output"}, hmid_{"mlp activations"}, xq_{"quantized activations"},
      xs_{"activation scales"}, row_amax_{"fused activation absmax"}, attn_ws_{"attention workspace"},
      attn_tickets_{"attention tickets"}, xrows_{"lm_head rows"}, logits_{"logits"},
      sample_ws_{"sampling workspace"}, sampled_{"sampled tokens"}, gathered_{"gathered log-probs"},
      meta_dev_{"step metadata"}, trace_{"block trace"};
  unsigned long long* trace_ptr_ = nullptr;  // the block timeline trace buffer (trace.cuh; trace_file option)
  PinnedBuf meta_host_[2], out_host_[2], logits_host_;  // [2]: two steps in flight (submit / finish)
  StepMeta cur_meta_{};
  int cur_max_blocks_ = 1;
  BlockTimer timer_;
  std::map<int, Graph> graphs_;
};

}  // namespace qb::cuda_model
