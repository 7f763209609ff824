// The Llama forward on the CPU reference backend: one varlen step (prefill chunks + decodes) over a paged KV cache.
// Reads top to bottom like the model: embed -> [norm -> qkv -> rope -> attention -> o -> norm -> mlp] x L -> logits.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <set>

#include "model/model.h"
#include "schemes/scheme.h"
#include "kernels/reference.h"

namespace qb {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// A [T, K] activation quantized once and shared by the linears that consume it.
struct QuantInput {
  std::vector<int8_t> i8;
  std::vector<uint8_t> f8;
  std::vector<float> scale;  // per token, or one value (static)
  bool per_token = true;
};

class CpuModel final : public Model {
 public:
  explicit CpuModel(const ModelConfig& cfg) : Model(cfg) { cpu::set_num_threads(std::max(1, cfg.threads)); }

  void finalize(Precision p, const PrepareOptions& opt) override {
    double bytes = 4.0 * ((double)cfg_.vocab * cfg_.hidden * (cfg_.tie ? 1 : 2) +
                          (double)cfg_.layers * ((double)cfg_.hidden * (cfg_.heads + 2 * cfg_.kv_heads) * cfg_.head_dim +
                                                 (double)cfg_.heads * cfg_.head_dim * cfg_.hidden +
                                                 3.0 * cfg_.hidden * cfg_.inter));
    if (bytes > 12e9)
      throw QbError("TOO_BIG_FOR_CPU", "this model needs about " + std::to_string((long)(bytes / 1e9)) +
                                           " GB as fp32 on the CPU backend; run it with device 'cuda'");
    W_ = prepare_weights(cfg_, store_, p, opt);
    prepared_ = true;
  }

  void allocate_kv_cache(int num_blocks) override {
    size_t per_layer = (size_t)num_blocks * kBlockSize * cfg_.kv_heads * cfg_.head_dim;
    k_cache_.assign(cfg_.layers, std::vector<float>(per_layer, 0.0f));
    v_cache_.assign(cfg_.layers, std::vector<float>(per_layer, 0.0f));
    num_blocks_ = num_blocks;
  }

  void fill_kv_random(uint64_t seed) override {
    uint64_t x = seed;
    for (auto* caches : {&k_cache_, &v_cache_})
      for (auto& layer : *caches)
        for (auto& v : layer) {
          x = x * 6364136223846793005ull + 1442695040888963407ull;
          v = round_act(((float)(x >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f), cfg_.act);
          if (cfg_.kv == KvDtype::Fp8) v = cpu::kv_fp8_roundtrip(v, 1.0f);
        }
  }

  void set_calibration(bool on) override {
    calibrating_ = on;
    if (on && calib_.empty()) {
      int qd = cfg_.heads * cfg_.head_dim;
      calib_["attn_in"].assign((size_t)cfg_.layers * cfg_.hidden, 0.0f);
      calib_["o_in"].assign((size_t)cfg_.layers * qd, 0.0f);
      calib_["mlp_in"].assign((size_t)cfg_.layers * cfg_.hidden, 0.0f);
      calib_["down_in"].assign((size_t)cfg_.layers * cfg_.inter, 0.0f);
      calib_["k_cache"].assign((size_t)cfg_.layers * cfg_.kv_heads * cfg_.head_dim, 0.0f);
      calib_["v_cache"].assign((size_t)cfg_.layers * cfg_.kv_heads * cfg_.head_dim, 0.0f);
    }
  }
  std::map<std::string, std::vector<float>> calibration_stats() const override { return calib_; }
  const LlamaWeights& weights() const override { return W_; }
  std::string device_name() const override { return "cpu"; }

  StepResult forward(const Batch& b) override {
    if (!prepared_) throw QbError("NOT_READY", "model weights are not prepared: call finalize() first");
    validate_batch(b, cfg_, num_blocks_);
    const ModelConfig& c = cfg_;
    const ActDtype act = c.act;
    const int T = (int)b.tokens.size(), S = (int)b.seq_starts.size() - 1;
    const int D = c.hidden, F = c.inter, Dh = c.head_dim, H = c.heads, Hkv = c.kv_heads;
    const int qd = H * Dh, kvd = Hkv * Dh;
    StepResult R;
    auto t_step = Clock::now();
    double t_attn = 0, t_mlp = 0, q_attn = 0, q_mlp = 0;

    // slot of each token in the paged cache
    std::vector<int32_t> slots(T);
    for (int s = 0; s < S; ++s)
      for (int i = b.seq_starts[s]; i < b.seq_starts[s + 1]; ++i) {
        int p = b.positions[i];
        slots[i] = b.block_tables[(size_t)s * b.max_blocks + p / kBlockSize] * kBlockSize + p % kBlockSize;
      }

    std::vector<float> resid((size_t)T * D), normed((size_t)T * D), branch((size_t)T * D);
    std::vector<float> q((size_t)T * qd), k((size_t)T * kvd), v((size_t)T * kvd), attn((size_t)T * qd);
    std::vector<float> gate((size_t)T * F), up((size_t)T * F), hmid((size_t)T * F);
    QuantInput qi;

    cpu::embedding(W_.embed.data(), b.tokens.data(), T, D, resid.data(), act);
    cpu::rmsnorm_residual(resid.data(), nullptr, W_.layers[0].ln1.data(), T, D, c.eps, normed.data(), act);

    for (int l = 0; l < c.layers; ++l) {
      const LayerWeights& L = W_.layers[l];
      // ---- attention block (incl. QKV and O projections) ----
      auto t0 = Clock::now();
      record("attn_in", l, normed.data(), T, D);
      q_attn += quantize(normed.data(), T, D, L.attn_in_scale, qi);
      linear(L.q, normed.data(), qi, T, q.data());
      linear(L.k, normed.data(), qi, T, k.data());
      linear(L.v, normed.data(), qi, T, v.data());
      cpu::rope(q.data(), b.positions.data(), T, H, Dh, W_.rope_cos.data(), W_.rope_sin.data(), act);
      cpu::rope(k.data(), b.positions.data(), T, Hkv, Dh, W_.rope_cos.data(), W_.rope_sin.data(), act);
      record("k_cache", l, k.data(), T, kvd);
      record("v_cache", l, v.data(), T, kvd);
      if (c.kv == KvDtype::Fp8)
        cpu::kv_cache_write_fp8(k.data(), v.data(), slots.data(), T, Hkv, Dh, W_.k_scale[l], W_.v_scale[l],
                                k_cache_[l].data(), v_cache_[l].data(), kBlockSize);
      else
        cpu::kv_cache_write(k.data(), v.data(), slots.data(), T, Hkv, Dh, k_cache_[l].data(), v_cache_[l].data(),
                            kBlockSize);
      cpu::attention_paged(q.data(), k_cache_[l].data(), v_cache_[l].data(), b.seq_starts.data(), S,
                           b.positions.data(), b.block_tables.data(), b.max_blocks, H, Hkv, Dh, kBlockSize,
                           1.0f / std::sqrt((float)Dh), attn.data(), act, c.attn_dtype == AttnDtype::Fp8);
      record("o_in", l, attn.data(), T, qd);
      q_attn += quantize(attn.data(), T, qd, L.o.in_scale, qi);
      linear(L.o, attn.data(), qi, T, branch.data());
      t_attn += ms_since(t0);

      // ---- MLP block ----
      auto t1 = Clock::now();
      cpu::rmsnorm_residual(branch.data(), resid.data(), L.ln2.data(), T, D, c.eps, normed.data(), act);
      record("mlp_in", l, normed.data(), T, D);
      q_mlp += quantize(normed.data(), T, D, L.mlp_in_scale, qi);
      linear(L.gate, normed.data(), qi, T, gate.data());
      linear(L.up, normed.data(), qi, T, up.data());
      cpu::silu_mul(gate.data(), up.data(), T, F, hmid.data(), act);
      record("down_in", l, hmid.data(), T, F);
      q_mlp += quantize(hmid.data(), T, F, L.down.in_scale, qi);
      linear(L.down, hmid.data(), qi, T, branch.data());
      const std::vector<float>& next_norm = l + 1 < c.layers ? W_.layers[l + 1].ln1 : W_.final_norm;
      cpu::rmsnorm_residual(branch.data(), resid.data(), next_norm.data(), T, D, c.eps, normed.data(), act);
      t_mlp += ms_since(t1);
    }

    // ---- logits only for the rows that need them ----
    std::vector<int32_t> rows;
    for (auto* v2 : {&b.sample_rows, &b.gather_rows, &b.logit_rows}) rows.insert(rows.end(), v2->begin(), v2->end());
    std::sort(rows.begin(), rows.end());
    rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
    std::vector<float> x_rows(rows.size() * (size_t)D), logits(rows.size() * (size_t)c.vocab);
    for (size_t r = 0; r < rows.size(); ++r)
      std::memcpy(&x_rows[r * D], &normed[(size_t)rows[r] * D], sizeof(float) * D);
    if (!rows.empty())
      cpu::gemm_f_out_f32(x_rows.data(), W_.lm_head.data(), (int)rows.size(), c.vocab, D, logits.data());
    auto row_logits = [&](int row) {
      size_t r = std::lower_bound(rows.begin(), rows.end(), row) - rows.begin();
      return &logits[r * c.vocab];
    };
    size_t ns = b.sample_rows.size();
    R.sampled.resize(ns);
    R.sampled_logprob.resize(ns);
    for (size_t i = 0; i < ns; ++i) {
      uint64_t seed = ((uint64_t)b.seeds[3 * i + 1] << 32) | b.seeds[3 * i];
      R.sampled[i] = cpu::sample_row(row_logits(b.sample_rows[i]), c.vocab, b.temperature[i], b.top_p[i], seed,
                                     b.seeds[3 * i + 2], &R.sampled_logprob[i]);
    }
    size_t ng = b.gather_rows.size();
    R.gather_logprob.resize(ng);
    R.gather_is_argmax.resize(ng);
    for (size_t i = 0; i < ng; ++i) {
      bool am = false;
      R.gather_logprob[i] = cpu::gather_logprob(row_logits(b.gather_rows[i]), c.vocab, b.gather_targets[i], &am);
      R.gather_is_argmax[i] = am;
    }
    R.logits.resize(b.logit_rows.size() * (size_t)c.vocab);
    for (size_t i = 0; i < b.logit_rows.size(); ++i)
      std::memcpy(&R.logits[i * c.vocab], row_logits(b.logit_rows[i]), sizeof(float) * c.vocab);

    R.ms_total = ms_since(t_step);
    // Blocks: attention (incl. QKV/O projections), MLP, activation quantization (taken out of both), other.
    R.ms_quant = q_attn + q_mlp;
    R.ms_attention = t_attn - q_attn;
    R.ms_mlp = t_mlp - q_mlp;
    R.ms_other = std::max(0.0, R.ms_total - t_attn - t_mlp);
    return R;
  }

 private:
  // Quantize x [T, K] once for the linears that consume it (no-op for 16-bit precisions). Returns ms spent.
  double quantize(const float* x, int T, int K, float static_scale, QuantInput& qi) {
    auto t0 = Clock::now();
    const Scheme& sc = scheme_of(W_.precision);
    if (!sc.quantized()) return 0;
    qi.per_token = sc.dynamic_act();
    if (sc.codes == Codes::Int8) {
      qi.i8.resize((size_t)T * K);
      qi.scale.resize(T);
      cpu::quant_per_token_int8(x, T, K, qi.i8.data(), qi.scale.data());
    } else if (sc.dynamic_act()) {
      qi.f8.resize((size_t)T * K);
      qi.scale.resize(T);
      cpu::quant_per_token_fp8(x, T, K, qi.f8.data(), qi.scale.data());
    } else {
      qi.f8.resize((size_t)T * K);
      qi.scale.assign(1, static_scale);
      cpu::quant_static_fp8(x, T, K, static_scale, qi.f8.data());
    }
    return ms_since(t0);
  }

  void linear(const LinearWeights& L, const float* x, const QuantInput& qi, int T, float* y) {
    switch (scheme_of(L.precision).codes) {
      case Codes::Int8:
        cpu::gemm_int8_w8a8(qi.i8.data(), qi.scale.data(), qi.per_token, L.wq_i8.data(), L.w_scale.data(), T, L.N, L.K,
                            y, cfg_.act);
        break;
      case Codes::Fp8:
        cpu::gemm_fp8(qi.f8.data(), qi.scale.data(), qi.per_token, L.wq_f8.data(), L.w_scale.data(), T, L.N, L.K, y,
                      cfg_.act);
        break;
      default:
        cpu::gemm_f(x, L.w.data(), T, L.N, L.K, y, cfg_.act);
    }
  }

  void record(const char* key, int layer, const float* x, int T, int K) {
    if (!calibrating_) return;
    float* m = &calib_[key][(size_t)layer * K];
    for (int t = 0; t < T; ++t)
      for (int kk = 0; kk < K; ++kk) m[kk] = std::fmax(m[kk], std::fabs(x[(size_t)t * K + kk]));
  }

  LlamaWeights W_;
  bool prepared_ = false;
  std::vector<std::vector<float>> k_cache_, v_cache_;
  bool calibrating_ = false;
  std::map<std::string, std::vector<float>> calib_;
};

}  // namespace

std::unique_ptr<Model> create_cpu_model(const ModelConfig& cfg) { return std::make_unique<CpuModel>(cfg); }

}  // namespace qb
