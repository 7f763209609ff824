// Prepares the CUDA model's weights on the GPU, mirroring prepare_weights() (model/llama_weights.cc) step for step:
// 16-bit rounding, SmoothQuant folding (int8-w8a8), per-channel / per-tensor quantization, static input scales.
// Raw fp32 matrices are either generated on the GPU (synthetic: synth_value's twin, no host copy) or uploaded one
// at a time from the host store. Linears are written into fused buffers: q|k|v and gate|up (intermediate size padded
// to a multiple of 16 with zero rows / columns, which leaves every output unchanged).
#include "model/cuda/cuda_model_weights.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>

#include "schemes/weight_quant.h"
#include "kernels/common/cuda_check.h"
#include "kernels/weights_prep/weights_prep.h"

namespace qb::cuda {

DevWeights::~DevWeights() {
  for (void* p : allocations) cudaFree(p);
}

void* DevWeights::alloc(size_t n, const char* what) {
  void* p = device_alloc(n, what);
  allocations.push_back(p);
  bytes += n;
  return p;
}

namespace {

size_t elem_bytes(Precision p) { return is_quantized(p) ? 1 : 2; }

// Host fp32 values -> device act-dtype bits (values rounded like round_act).
void upload_act(const std::vector<float>& v, ActDtype act, void* dst, cudaStream_t st) {
  std::vector<uint16_t> bits(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    bits[i] = act == ActDtype::BF16 ? f32_to_bf16_bits(v[i]) : f32_to_f16_bits(v[i]);
  check(cudaMemcpyAsync(dst, bits.data(), bits.size() * 2, cudaMemcpyHostToDevice, st), "upload weights");
  check(cudaStreamSynchronize(st), "upload weights");
}

template <typename T>
T* upload_vec(DevWeights& W, const std::vector<T>& v, const char* what, cudaStream_t st) {
  T* p = static_cast<T*>(W.alloc(v.size() * sizeof(T), what));
  check(cudaMemcpyAsync(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice, st), what);
  check(cudaStreamSynchronize(st), what);
  return p;
}

// Raw fp32 matrices and norm vectors, from the GPU generator or the host store.
class RawSource {
 public:
  RawSource(const ModelConfig& cfg, const TensorStore& store, const SynthSource& synth, cudaStream_t st)
      : cfg_(cfg), store_(store), synth_(synth), st_(st) {
    if (synth_.enabled) outliers_ = synth_outlier_channels(cfg, synth.seed, synth.outlier_channels);
  }

  // Rows [r0, r0 + rows) of the [N, K] tensor `name` into dst (device fp32, rows * K).
  void matrix_rows(const std::string& name, int N, int K, int r0, int rows, float* dst) {
    const size_t n = (size_t)rows * K;
    if (synth_.enabled) {
      synth_fill_f32(dst, n, synth_.seed, name_hash(name), synth_matrix_amplitude(cfg_, name), (uint64_t)r0 * K, st_);
      return;
    }
    const HostTensor& t = store_.get(name);
    expect_tensor_shape(name, t, {N, K});
    if (cached_name_ != name) {
      cached_ = t.to_float();
      cached_name_ = name;
    }
    check(cudaMemcpyAsync(dst, cached_.data() + (size_t)r0 * K, n * 4, cudaMemcpyHostToDevice, st_), "upload weights");
    check(cudaStreamSynchronize(st_), "upload weights");
  }
  void matrix(const std::string& name, int N, int K, float* dst) { matrix_rows(name, N, K, 0, N, dst); }

  std::vector<float> vector(const std::string& name, int n) {
    if (synth_.enabled) return synth_norm(cfg_, name, synth_.seed, outliers_, synth_.outlier_gain);
    const HostTensor& t = store_.get(name);
    expect_tensor_shape(name, t, {n});
    return t.to_float();
  }
  void release() {
    cached_.clear();
    cached_.shrink_to_fit();
    cached_name_.clear();
  }

 private:
  const ModelConfig& cfg_;
  const TensorStore& store_;
  SynthSource synth_;
  cudaStream_t st_;
  std::vector<int> outliers_;
  std::vector<float> cached_;
  std::string cached_name_;
};

struct Scratch {
  float* p = nullptr;
  explicit Scratch(size_t n) : p(static_cast<float*>(device_alloc(std::max<size_t>(n, 1) * 4, "weight preparation scratch"))) {}
  ~Scratch() { cudaFree(p); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

// A [V, D] 16-bit table (embedding / lm_head), converted in row chunks through `tmp` (capacity tmp_n floats).
void* make_table(DevWeights& W, RawSource& src, const std::string& name, const ModelConfig& c, float* tmp,
                 size_t tmp_n, cudaStream_t st) {
  void* dst = W.alloc((size_t)c.vocab * c.hidden * 2, name.c_str());
  const int chunk = (int)std::max<size_t>(1, tmp_n / c.hidden);
  for (int r0 = 0; r0 < c.vocab; r0 += chunk) {
    int rows = std::min(chunk, c.vocab - r0);
    src.matrix_rows(name, c.vocab, c.hidden, r0, rows, tmp);
    f32_to_act_rows(tmp, rows, c.hidden, static_cast<uint8_t*>(dst) + (size_t)r0 * c.hidden * 2, c.hidden, c.act, st);
  }
  check(cudaStreamSynchronize(st), name.c_str());
  src.release();
  return dst;
}

// One fused linear's storage: total rows N, padded inner size K; codes zeroed, scales 1 (padding rows stay inert).
DevLinear alloc_linear(DevWeights& W, Precision p, int N, int K, const char* what, cudaStream_t st) {
  DevLinear L;
  L.N = N;
  L.K = K;
  L.precision = p;
  size_t bytes = (size_t)N * K * elem_bytes(p);
  L.w = W.alloc(bytes, what);
  check(cudaMemsetAsync(L.w, 0, bytes, st), what);
  if (is_quantized(p)) {
    L.w_scale = static_cast<float*>(W.alloc((size_t)N * 4, what));
    fill_f32(L.w_scale, N, 1.0f, st);
  }
  return L;
}

// prepare_weights' make_linear(), writing rows [row0, row0 + N) of the fused linear from raw fp32 values.
void write_linear(DevLinear& L, int row0, float* raw, int N, int K, ActDtype act, float* absmax_tmp, cudaStream_t st) {
  uint8_t* base = static_cast<uint8_t*>(L.w) + (size_t)row0 * L.K * elem_bytes(L.precision);
  switch (L.precision) {
    case Precision::INT8_W8A8:
      quant_weight_rows_int8(raw, N, K, reinterpret_cast<int8_t*>(base), L.K, L.w_scale + row0, st);
      break;
    case Precision::FP8_DYNAMIC:
      quant_weight_rows_fp8(raw, N, K, base, L.K, L.w_scale + row0, st);
      break;
    case Precision::FP8_STATIC:
      check(cudaMemsetAsync(absmax_tmp, 0, 4, st), "fp8 per-tensor absmax");
      absmax_all_f32(raw, (size_t)N * K, absmax_tmp, st);
      quant_weight_tensor_fp8(raw, N, K, absmax_tmp, base, L.K, L.w_scale + row0, st);
      break;
    default:
      f32_to_act_rows(raw, N, K, base, L.K, act, st);
  }
}

// A compressed-tensors linear: codes and scales uploaded as stored (host checks in load_prequantized()).
void write_prequantized(DevLinear& L, int row0, const LinearWeights& h, cudaStream_t st) {
  uint8_t* base = static_cast<uint8_t*>(L.w) + (size_t)row0 * L.K;
  const void* codes = h.precision == Precision::INT8_W8A8 ? (const void*)h.wq_i8.data() : (const void*)h.wq_f8.data();
  check(cudaMemcpy2DAsync(base, L.K, codes, h.K, h.K, h.N, cudaMemcpyHostToDevice, st), "upload quantized weights");
  check(cudaMemcpyAsync(L.w_scale + row0, h.w_scale.data(), h.N * 4, cudaMemcpyHostToDevice, st),
        "upload weight scales");
  check(cudaStreamSynchronize(st), "upload quantized weights");
}

}  // namespace

void prepare_device_weights(const ModelConfig& c, const TensorStore& store, const SynthSource& synth, Precision p,
                            const PrepareOptions& opt, DevWeights& W, cudaStream_t st) {
  if (opt.prequantized && !is_quantized(p))
    throw QbError("UNSUPPORTED_QUANT", std::string("a quantized checkpoint cannot run as ") + precision_name(p));
  if (!synth.enabled)
    for (auto& n : required_tensor_names(c, opt.prequantized)) store.get(n);  // missing -> typed error
  const ActDtype act = c.act;
  const int D = c.hidden, qd = c.heads * c.head_dim, kvd = c.kv_heads * c.head_dim;
  const int F = c.inter, Fp = (F + 15) / 16 * 16;
  W.precision = p;
  W.inter_padded = Fp;
  RawSource src(c, store, synth, st);

  // Raw fp32 buffers: one per projection of a layer (SmoothQuant needs a group at once), sized for the largest.
  int Ns[7], Ks[7];
  size_t biggest = 0;
  for (int j = 0; j < 7; ++j) {
    proj_shape(c, j, Ns[j], Ks[j]);
    biggest = std::max(biggest, (size_t)Ns[j] * Ks[j]);
  }
  const size_t table_chunk = std::max<size_t>(biggest, (size_t)D * 64);
  float* absmax_tmp = static_cast<float*>(W.alloc(4 * (size_t)D + 16, "weight preparation statistics"));

  {
    Scratch tmp(table_chunk);
    W.embed = make_table(W, src, "model.embed_tokens.weight", c, tmp.p, table_chunk, st);
    W.lm_head = c.tie ? W.embed : make_table(W, src, "lm_head.weight", c, tmp.p, table_chunk, st);
  }
  {
    std::vector<float> fn = src.vector("model.norm.weight", D);
    W.final_norm = W.alloc((size_t)D * 2, "final norm");
    upload_act(fn, act, W.final_norm, st);
    std::vector<float> cs, sn;
    rope_tables(c, cs, sn);
    W.rope_cos = upload_vec(W, cs, "rope cos table", st);
    W.rope_sin = upload_vec(W, sn, "rope sin table", st);
  }
  W.k_scale = kv_cache_scales(c, store, "k");
  W.v_scale = kv_cache_scales(c, store, "v");

  const bool smooth = p == Precision::INT8_W8A8 && !opt.prequantized && opt.smooth_alpha >= 0;
  std::vector<float> statics((size_t)c.layers * 4, 0.0f);
  std::vector<std::unique_ptr<Scratch>> raw;
  if (!opt.prequantized)
    for (int j = 0; j < 7; ++j) raw.push_back(std::make_unique<Scratch>((size_t)Ns[j] * Ks[j]));

  W.layers.resize(c.layers);
  for (int i = 0; i < c.layers; ++i) {
    const std::string pre = layer_prefix(i);
    DevLayer& L = W.layers[i];
    std::vector<float> ln1v = src.vector(pre + "input_layernorm.weight", D);
    std::vector<float> ln2v = src.vector(pre + "post_attention_layernorm.weight", D);
    L.qkv = alloc_linear(W, p, qd + 2 * kvd, D, "qkv weights", st);
    L.o = alloc_linear(W, p, D, qd, "o weights", st);
    L.gate_up = alloc_linear(W, p, 2 * Fp, D, "gate_up weights", st);
    L.down = alloc_linear(W, p, D, Fp, "down weights", st);
    DevLinear* dest[7] = {&L.qkv, &L.qkv, &L.qkv, &L.o, &L.gate_up, &L.gate_up, &L.down};
    const int row0[7] = {0, qd, qd + kvd, 0, 0, Fp, 0};

    if (opt.prequantized) {
      for (int j = 0; j < 7; ++j) {
        LinearWeights h = load_prequantized(store, pre + kProjNames[j], Ns[j], Ks[j], p);
        write_prequantized(*dest[j], row0[j], h, st);
        if (p == Precision::FP8_STATIC) {
          const int slot = j <= 2 ? 0 : j == 3 ? 1 : j <= 5 ? 2 : 3;
          statics[(size_t)i * 4 + slot] = std::max(statics[(size_t)i * 4 + slot], h.in_scale);  // max over shards
        }
      }
    } else {
      for (int j = 0; j < 7; ++j) src.matrix(pre + kProjNames[j] + ".weight", Ns[j], Ks[j], raw[j]->p);
      src.release();
      if (smooth) {
        // Fold s into the norm (x / s) and the consuming linears' columns (W * s), as prepare_weights does.
        auto fold = [&](const char* key, std::vector<float>& lnv, std::initializer_list<int> group) {
          const auto& a = calibration_of(opt, key, c, D);
          std::vector<float> act_max(a.begin() + (size_t)i * D, a.begin() + (size_t)(i + 1) * D);
          check(cudaMemsetAsync(absmax_tmp, 0, (size_t)D * 4, st), "SmoothQuant statistics");
          for (int j : group) absmax_columns_f32(raw[j]->p, Ns[j], D, absmax_tmp, st);
          std::vector<float> wmax(D);
          check(cudaMemcpyAsync(wmax.data(), absmax_tmp, (size_t)D * 4, cudaMemcpyDeviceToHost, st), "SmoothQuant");
          check(cudaStreamSynchronize(st), "SmoothQuant statistics");
          std::vector<float> s = smoothquant_factors_from_wmax(act_max, wmax, opt.smooth_alpha);
          for (int k = 0; k < D; ++k) lnv[k] /= s[k];
          check(cudaMemcpyAsync(absmax_tmp, s.data(), (size_t)D * 4, cudaMemcpyHostToDevice, st), "SmoothQuant");
          for (int j : group) scale_columns_f32(raw[j]->p, Ns[j], D, absmax_tmp, st);
          check(cudaStreamSynchronize(st), "SmoothQuant folding");
        };
        fold("attn_in", ln1v, {0, 1, 2});
        fold("mlp_in", ln2v, {4, 5});
      }
      for (int j = 0; j < 7; ++j) {
        write_linear(*dest[j], row0[j], raw[j]->p, Ns[j], Ks[j], act, absmax_tmp + D, st);
        check(cudaStreamSynchronize(st), "weight quantization");  // absmax_tmp is reused
      }
      if (p == Precision::FP8_STATIC) {
        statics[(size_t)i * 4 + 0] = static_fp8_input_scale(calibration_of(opt, "attn_in", c, D), i, D);
        statics[(size_t)i * 4 + 1] = static_fp8_input_scale(calibration_of(opt, "o_in", c, qd), i, qd);
        statics[(size_t)i * 4 + 2] = static_fp8_input_scale(calibration_of(opt, "mlp_in", c, D), i, D);
        statics[(size_t)i * 4 + 3] = static_fp8_input_scale(calibration_of(opt, "down_in", c, F), i, F);
      }
    }
    L.ln1 = W.alloc((size_t)D * 2, "norm weights");
    L.ln2 = W.alloc((size_t)D * 2, "norm weights");
    upload_act(ln1v, act, L.ln1, st);
    upload_act(ln2v, act, L.ln2, st);
  }
  W.static_scales = upload_vec(W, statics, "static input scales", st);
  check(cudaStreamSynchronize(st), "weight preparation");
}

}  // namespace qb::cuda
