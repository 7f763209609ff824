// The Llama forward on the CUDA backend: the same Model interface and semantics as the CPU reference
// (cpu/llama_cpu.cc), one varlen step (prefill chunks + decodes) over a paged KV cache, using our kernels:
//   embed -> [rmsnorm(+quant) -> qkv GEMM -> rope + KV write -> paged attention -> (quant) o GEMM
//             -> residual + rmsnorm(+quant) -> gate_up GEMM -> silu*mul(+quant) -> down GEMM] x L
//   -> residual + final rmsnorm -> lm_head (16-bit, rows that need logits only) -> sample / gather on the GPU.
// Only token ids and the requested log-probs (and logits rows when asked) come back to the host.
// Decode-only steps run as CUDA graphs captured per batch-size bucket (decode_graphs.cc). The class and the map of
// its files: cuda_model_impl.h.
#include <cuda_profiler_api.h>

#include "model/cuda/cuda_model_impl.h"

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

namespace cuda_model {

void CudaModel::synthesize(uint64_t seed, int outlier_channels, float outlier_gain) {
  synth_.enabled = true;
  synth_.seed = seed;
  synth_.outlier_channels = outlier_channels;
  synth_.outlier_gain = outlier_gain;
  store_.clear();
}

void CudaModel::finalize(Precision p, const PrepareOptions& opt) {
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

int CudaModel::suggest_kv_blocks(double utilization, int max_tokens) {
  size_t fr = 0, tot = 0;
  check(cudaMemGetInfo(&fr, &tot), "cudaMemGetInfo");
  const double budget = utilization * (double)tot - (double)(tot - fr) - (double)workspace_estimate(max_tokens);
  const double per_block = (double)kv_block_bytes();
  return budget > per_block ? (int)std::min(budget / per_block, 2e9) : 0;
}

void CudaModel::allocate_kv_cache(int num_blocks) {
  graphs_clear();
  if (k_cache_) cudaFree(k_cache_);
  if (v_cache_) cudaFree(v_cache_);
  k_cache_ = v_cache_ = nullptr;
  size_t half = (size_t)num_blocks * kv_block_bytes() / 2;
  k_cache_ = device_alloc(half, "KV cache (keys)");
  v_cache_ = device_alloc(half, "KV cache (values)");
  num_blocks_ = num_blocks;
}

void CudaModel::fill_kv_random(uint64_t seed) {
  if (!k_cache_) throw QbError("NOT_READY", "the KV cache is not allocated");
  const size_t n = (size_t)num_blocks_ * kBlockSize * cfg_.kv_heads * cfg_.head_dim * cfg_.layers;
  const FillKind kind =
      cfg_.kv == KvDtype::Fp8 ? FillKind::Fp8 : cfg_.act == ActDtype::BF16 ? FillKind::BF16 : FillKind::F16;
  fill_random(k_cache_, n, kind, seed, 1.0f, stream_);
  fill_random(v_cache_, n, kind, seed + 1, 1.0f, stream_);
  check(cudaStreamSynchronize(stream_), "fill_kv_random");
}

void CudaModel::set_calibration(bool on) {
  calibrating_ = on;
  if (on && !calib_dev_.p) {
    const int qd = cfg_.heads * cfg_.head_dim;
    calib_off_[0] = 0;
    calib_off_[1] = calib_off_[0] + (size_t)cfg_.layers * cfg_.hidden;
    calib_off_[2] = calib_off_[1] + (size_t)cfg_.layers * qd;
    calib_off_[3] = calib_off_[2] + (size_t)cfg_.layers * cfg_.hidden;
    calib_off_[4] = calib_off_[3] + (size_t)cfg_.layers * Fp_;
    calib_off_[5] = calib_off_[4] + (size_t)cfg_.layers * qkv_width();
    calib_dev_.ensure(calib_off_[5] * 4);
    check(cudaMemset(calib_dev_.p, 0, calib_off_[5] * 4), "calibration statistics");
  }
}

std::map<std::string, std::vector<float>> CudaModel::calibration_stats() const {
  std::map<std::string, std::vector<float>> out;
  if (!calib_dev_.p) return out;
  check(cudaStreamSynchronize(stream_), "calibration statistics");
  std::vector<float> all(calib_off_[5]);
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
  const int kvd = cfg_.kv_heads * cfg_.head_dim;
  auto& kc = out["k_cache"];
  auto& vc = out["v_cache"];
  for (int l = 0; l < cfg_.layers; ++l) {
    const float* row = all.data() + calib_off_[4] + (size_t)l * qkv_width();
    kc.insert(kc.end(), row + qd, row + qd + kvd);
    vc.insert(vc.end(), row + qd + kvd, row + qd + 2 * kvd);
  }
  return out;
}

const LlamaWeights& CudaModel::weights() const {
  throw QbError("UNSUPPORTED_ON_CUDA",
                "prepared weights live on the GPU; export / inspect them with device 'cpu' (pnpm quantize runs there)");
}

StepResult CudaModel::forward(const Batch& b) {
  if (!inflight_.empty()) throw QbError("BAD_STATE", "forward() with submitted steps not finished: call finish() first");
  submit(b);
  return finish();
}

void CudaModel::submit(const Batch& b) {
  if (!W_) throw QbError("NOT_READY", "model weights are not prepared: call finalize() first");
  if (!k_cache_) throw QbError("NOT_READY", "the KV cache is not allocated: call allocate_kv_cache() first");
  if (inflight_.size() >= kMaxInFlight)
    throw QbError("BAD_STATE", std::to_string(kMaxInFlight) + " steps submitted and not finished: call finish() first");
  validate_batch(b, cfg_, num_blocks_);
  validate_token_sources(b, prev_samples_);
  InFlight f;
  f.t0 = Clock::now();
  f.slot = slot_ = (int)(submitted_++ % 2);
  f.ns = b.sample_rows.size();
  f.ng = b.gather_rows.size();
  Step st = plan_step(b);
  bool graphable = !b.profile && !calibrating_ && cfg_.cuda.cuda_graphs && st.decode_only && st.T <= kMaxGraphBatch &&
                   b.gather_rows.empty() && b.logit_rows.empty() && b.sample_rows.size() == (size_t)st.T &&
                   st.max_context <= graph_max_blocks() * kBlockSize;
  for (int i = 0; graphable && i < st.T; ++i) graphable = b.sample_rows[i] == i;
  // Every buffer this step grows, grown before its layers are queued (growing synchronizes the device). The head's
  // buffers come after upload_meta: sampled_ still holds the previous step's samples, which upload_meta's
  // tokens_from_samples reads, and a grown buffer starts empty.
  out_host_[f.slot].ensure(f.ns * 8 + f.ng * 5 + 64);
  if (graphable) {
    run_decode_graph(b, st);
  } else {
    ensure_workspace(st.T, st.max_context);
    upload_meta(b, st, st.T, std::max(1, b.max_blocks));
    ensure_head(b, st);
    if (b.profile) timer_.start(stream_);
    run_layers(st.T, st.S, st.max_q_len, st.max_context);
    run_head(b, st);
    timer_.mark(BlockTimer::Other, stream_);
  }
  collect_queue(b, f.slot);
  check(cudaEventRecord(done_ev_[f.slot], stream_), "cudaEventRecord (step done)");
  prev_samples_ = f.ns;
  if (b.profile || !b.logit_rows.empty()) {  // block timings and logits are read here, before the next step
    check(cudaEventSynchronize(done_ev_[f.slot]), "forward step");
    collect_read(f.ns, f.ng, f.slot, f.result);
    f.result.logits.resize(b.logit_rows.size() * (size_t)cfg_.vocab);
    if (!f.result.logits.empty()) std::memcpy(f.result.logits.data(), logits_host_.p, f.result.logits.size() * 4);
    if (b.profile) {
      double ms[BlockTimer::kBlocks];
      timer_.finish(ms);
      f.result.ms_attention = ms[BlockTimer::Attention];
      f.result.ms_mlp = ms[BlockTimer::Mlp];
      f.result.ms_quant = ms[BlockTimer::Quant];
      f.result.ms_other = ms[BlockTimer::Other];
    }
    f.result.ms_total = std::chrono::duration<double, std::milli>(Clock::now() - f.t0).count();
    f.ready = true;
  }
  inflight_.push_back(std::move(f));
}

StepResult CudaModel::finish() {
  if (inflight_.empty()) throw QbError("BAD_STATE", "finish() without a submitted step");
  InFlight f = std::move(inflight_.front());
  inflight_.pop_front();
  if (f.ready) return std::move(f.result);
  check(cudaEventSynchronize(done_ev_[f.slot]), "forward step");
  StepResult R;
  collect_read(f.ns, f.ng, f.slot, R);
  R.ms_total = std::chrono::duration<double, std::milli>(Clock::now() - f.t0).count();
  return R;
}

}  // namespace cuda_model

std::unique_ptr<Model> create_cuda_model(const ModelConfig& cfg) { return std::make_unique<cuda_model::CudaModel>(cfg); }

}  // namespace qb
