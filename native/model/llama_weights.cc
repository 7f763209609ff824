#include "model/llama_weights.h"

#include <algorithm>
#include <cmath>

#include "common/synth.h"
#include "schemes/weight_quant.h"

namespace qb {

Precision parse_precision(const std::string& s) {
  if (s == "fp32") return Precision::F32;
  if (s == "fp16") return Precision::F16;
  if (s == "bf16") return Precision::BF16;
  if (s == "int8-w8a8") return Precision::INT8_W8A8;
  if (s == "fp8-dynamic") return Precision::FP8_DYNAMIC;
  if (s == "fp8-static") return Precision::FP8_STATIC;
  throw QbError("UNKNOWN_PRECISION", "unknown precision '" + s +
                                         "' (use one of fp32, fp16, bf16, int8-w8a8, fp8-dynamic, fp8-static)");
}
const char* precision_name(Precision p) {
  switch (p) {
    case Precision::F32: return "fp32";
    case Precision::F16: return "fp16";
    case Precision::BF16: return "bf16";
    case Precision::INT8_W8A8: return "int8-w8a8";
    case Precision::FP8_DYNAMIC: return "fp8-dynamic";
    case Precision::FP8_STATIC: return "fp8-static";
  }
  return "?";
}
KvDtype parse_kv_dtype(const std::string& s) {
  if (s == "auto") return KvDtype::Act;
  if (s == "fp8") return KvDtype::Fp8;
  throw QbError("BAD_CONFIG", "unknown kvCacheDtype '" + s + "' (use auto or fp8)");
}
AttnDtype parse_attn_dtype(const std::string& s) {
  if (s == "auto") return AttnDtype::Act;
  if (s == "fp8") return AttnDtype::Fp8;
  throw QbError("BAD_CONFIG", "unknown attentionDtype '" + s + "' (use auto or fp8)");
}

std::string layer_prefix(int i) { return "model.layers." + std::to_string(i) + "."; }

const char* const kProjNames[7] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                   "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
static const char* const* kProj = kProjNames;

std::vector<std::string> llama_tensor_names(const ModelConfig& cfg, bool weight_scales, bool input_scales) {
  std::vector<std::string> n = {"model.embed_tokens.weight", "model.norm.weight"};
  if (!cfg.tie) n.push_back("lm_head.weight");
  for (int i = 0; i < cfg.layers; ++i) {
    std::string p = layer_prefix(i);
    n.push_back(p + "input_layernorm.weight");
    n.push_back(p + "post_attention_layernorm.weight");
    for (int j = 0; j < 7; ++j) {
      n.push_back(p + kProj[j] + ".weight");
      if (weight_scales) n.push_back(p + kProj[j] + ".weight_scale");
      if (input_scales) n.push_back(p + kProj[j] + ".input_scale");
    }
  }
  return n;
}

namespace {

void proj_shape_impl(const ModelConfig& c, int j, int& N, int& K) {
  int qd = c.heads * c.head_dim, kvd = c.kv_heads * c.head_dim;
  switch (j) {
    case 0: N = qd; K = c.hidden; break;
    case 1: case 2: N = kvd; K = c.hidden; break;
    case 3: N = c.hidden; K = qd; break;
    case 4: case 5: N = c.inter; K = c.hidden; break;
    default: N = c.hidden; K = c.inter; break;
  }
}

void expect_shape(const std::string& name, const HostTensor& t, std::vector<int64_t> shape) {
  if (t.shape != shape) {
    std::string got, want;
    for (auto d : t.shape) got += std::to_string(d) + ",";
    for (auto d : shape) want += std::to_string(d) + ",";
    throw QbError("DTYPE_SHAPE", "tensor '" + name + "' has shape [" + got + "] but the config implies [" + want +
                                     "]: the checkpoint does not match config.json");
  }
}

std::vector<float> rounded(std::vector<float> v, ActDtype act) {
  for (auto& x : v) x = round_act(x, act);
  return v;
}

// Prepare a linear from 16-bit master weights, quantizing to p.
LinearWeights make_linear(std::vector<float> w, int N, int K, Precision p, ActDtype act) {
  LinearWeights L;
  L.N = N;
  L.K = K;
  L.precision = p;
  switch (p) {
    case Precision::INT8_W8A8:
      L.wq_i8.resize((size_t)N * K);
      L.w_scale.resize(N);
      quant_weight_int8_per_channel(w.data(), N, K, L.wq_i8.data(), L.w_scale.data());
      break;
    case Precision::FP8_DYNAMIC:
      L.wq_f8.resize((size_t)N * K);
      L.w_scale.resize(N);
      quant_weight_fp8_per_channel(w.data(), N, K, L.wq_f8.data(), L.w_scale.data());
      break;
    case Precision::FP8_STATIC: {
      L.wq_f8.resize((size_t)N * K);
      float s = quant_weight_fp8_per_tensor(w.data(), N, K, L.wq_f8.data());
      L.w_scale.assign(N, s);
      L.w_per_tensor = true;
      break;
    }
    default:
      L.w = rounded(std::move(w), act);
  }
  return L;
}

float scalar_of(const std::string& name, const HostTensor& t) {
  if (t.numel() != 1) throw QbError("DTYPE_SHAPE", "tensor '" + name + "' must hold one value (per-tensor scale)");
  float v = t.to_float()[0];
  if (!(v > 0) || !std::isfinite(v))
    throw QbError("BAD_SCALE", "tensor '" + name + "' holds scale " + std::to_string(v) + ": scales must be positive");
  return v;
}

// Linear from a compressed-tensors checkpoint: codes + scales as stored.
LinearWeights load_prequantized_impl(const TensorStore& st, const std::string& base, int N, int K, Precision p) {
  LinearWeights L;
  L.N = N;
  L.K = K;
  L.precision = p;
  const HostTensor& w = st.get(base + ".weight");
  expect_shape(base + ".weight", w, {N, K});
  DType want = p == Precision::INT8_W8A8 ? DType::I8 : DType::F8_E4M3;
  if (w.dtype != want)
    throw QbError("DTYPE_SHAPE", "tensor '" + base + ".weight' is " + dtype_name(w.dtype) + " but " +
                                     precision_name(p) + " needs " + dtype_name(want));
  if (want == DType::I8)
    L.wq_i8.assign((const int8_t*)w.bytes.data(), (const int8_t*)w.bytes.data() + w.bytes.size());
  else
    L.wq_f8 = w.bytes;
  const HostTensor& s = st.get(base + ".weight_scale");
  auto sv = s.to_float();
  if (sv.size() == 1) {
    L.w_scale.assign(N, scalar_of(base + ".weight_scale", s));
    L.w_per_tensor = true;
  } else if ((int)sv.size() == N) {
    for (size_t i = 0; i < sv.size(); ++i)
      if (!(sv[i] > 0) || !std::isfinite(sv[i]))
        throw QbError("BAD_SCALE", "tensor '" + base + ".weight_scale' holds a non-positive scale at channel " +
                                       std::to_string(i));
    L.w_scale = sv;
  } else {
    throw QbError("DTYPE_SHAPE", "tensor '" + base + ".weight_scale' has " + std::to_string(sv.size()) +
                                     " values; expected 1 (per-tensor) or " + std::to_string(N) + " (per-channel)");
  }
  if (p == Precision::FP8_STATIC) L.in_scale = scalar_of(base + ".input_scale", st.get(base + ".input_scale"));
  return L;
}

const std::vector<float>& calib_of(const PrepareOptions& opt, const char* key, const ModelConfig& cfg, int K) {
  auto it = opt.calib.find(key);
  if (it == opt.calib.end())
    throw QbError("NEEDS_CALIBRATION", std::string("calibration statistics '") + key +
                                           "' are missing: fp8-static and SmoothQuant need calibration text "
                                           "(pass --calib FILE, or load a checkpoint that carries the scales)");
  if (it->second.size() != (size_t)cfg.layers * K)
    throw QbError("NEEDS_CALIBRATION", std::string("calibration statistics '") + key + "' have the wrong size");
  return it->second;
}

float static_scale(const std::vector<float>& absmax, int layer, int K) {
  float m = 0;
  for (int k = 0; k < K; ++k) m = std::fmax(m, absmax[(size_t)layer * K + k]);
  return fp8_scale_from_absmax(m);
}

}  // namespace

void proj_shape(const ModelConfig& c, int j, int& N, int& K) { proj_shape_impl(c, j, N, K); }
LinearWeights load_prequantized(const TensorStore& st, const std::string& base, int N, int K, Precision p) {
  return load_prequantized_impl(st, base, N, K, p);
}
void expect_tensor_shape(const std::string& name, const HostTensor& t, std::vector<int64_t> shape) {
  expect_shape(name, t, std::move(shape));
}
const std::vector<float>& calibration_of(const PrepareOptions& opt, const char* key, const ModelConfig& cfg, int K) {
  return calib_of(opt, key, cfg, K);
}
float static_fp8_input_scale(const std::vector<float>& absmax, int layer, int K) { return static_scale(absmax, layer, K); }

void rope_tables(const ModelConfig& cfg, std::vector<float>& cos_tab, std::vector<float>& sin_tab) {
  int half = cfg.head_dim / 2;
  std::vector<double> inv(half);
  for (int i = 0; i < half; ++i) {
    double f = 1.0 / std::pow((double)cfg.rope_theta, (2.0 * i) / cfg.head_dim);
    if (cfg.rope_factor > 0) {
      double low_wl = cfg.rope_orig_max / cfg.rope_low, high_wl = cfg.rope_orig_max / cfg.rope_high;
      double wl = 2 * M_PI / f;
      if (wl > low_wl) {
        f = f / cfg.rope_factor;
      } else if (wl >= high_wl) {  // medium band: interpolate
        double smooth = (cfg.rope_orig_max / wl - cfg.rope_low) / (cfg.rope_high - cfg.rope_low);
        f = (1 - smooth) * f / cfg.rope_factor + smooth * f;
      }
    }
    inv[i] = (float)f;  // frequencies in fp32, as HF computes them
  }
  cos_tab.resize((size_t)cfg.max_pos * half);
  sin_tab.resize((size_t)cfg.max_pos * half);
  for (int p = 0; p < cfg.max_pos; ++p)
    for (int i = 0; i < half; ++i) {
      float ang = (float)p * (float)inv[i];  // fp32 angle, as HF
      cos_tab[(size_t)p * half + i] = (float)std::cos((double)ang);
      sin_tab[(size_t)p * half + i] = (float)std::sin((double)ang);
    }
}

std::vector<float> kv_cache_scales(const ModelConfig& cfg, const TensorStore& st, const char* which) {
  std::vector<float> s(cfg.layers, 1.0f);
  int found = 0;
  for (int i = 0; i < cfg.layers; ++i) {
    const std::string name = layer_prefix(i) + "self_attn." + which + "_scale";
    if (!st.has(name)) continue;
    s[i] = scalar_of(name, st.get(name));
    ++found;
  }
  if (found != 0 && found != cfg.layers)
    throw QbError("MISSING_TENSOR", std::string("the checkpoint has self_attn.") + which + "_scale for " +
                                        std::to_string(found) + " of " + std::to_string(cfg.layers) +
                                        " layers: KV-cache scales must be given for every layer or none");
  return s;
}

LlamaWeights prepare_weights(const ModelConfig& cfg, const TensorStore& st, Precision p, const PrepareOptions& opt) {
  if (opt.prequantized && !is_quantized(p))
    throw QbError("UNSUPPORTED_QUANT", std::string("a quantized checkpoint cannot run as ") + precision_name(p));
  for (auto& n : required_tensor_names(cfg, opt.prequantized)) st.get(n);  // missing -> typed error
  ActDtype act = cfg.act;
  LlamaWeights W;
  W.precision = p;
  const HostTensor& emb = st.get("model.embed_tokens.weight");
  expect_shape("model.embed_tokens.weight", emb, {cfg.vocab, cfg.hidden});
  W.embed = rounded(emb.to_float(), act);
  if (cfg.tie) {
    W.lm_head = W.embed;
  } else {
    const HostTensor& lm = st.get("lm_head.weight");
    expect_shape("lm_head.weight", lm, {cfg.vocab, cfg.hidden});
    W.lm_head = rounded(lm.to_float(), act);
  }
  const HostTensor& fn = st.get("model.norm.weight");
  expect_shape("model.norm.weight", fn, {cfg.hidden});
  W.final_norm = rounded(fn.to_float(), act);
  rope_tables(cfg, W.rope_cos, W.rope_sin);
  W.k_scale = kv_cache_scales(cfg, st, "k");
  W.v_scale = kv_cache_scales(cfg, st, "v");

  bool smooth = p == Precision::INT8_W8A8 && !opt.prequantized && opt.smooth_alpha >= 0;
  W.layers.resize(cfg.layers);
  for (int i = 0; i < cfg.layers; ++i) {
    std::string pre = layer_prefix(i);
    LayerWeights& L = W.layers[i];
    const HostTensor& ln1 = st.get(pre + "input_layernorm.weight");
    const HostTensor& ln2 = st.get(pre + "post_attention_layernorm.weight");
    expect_shape(pre + "input_layernorm.weight", ln1, {cfg.hidden});
    expect_shape(pre + "post_attention_layernorm.weight", ln2, {cfg.hidden});
    std::vector<float> ln1v = ln1.to_float(), ln2v = ln2.to_float();
    LinearWeights* lin[7] = {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down};
    if (opt.prequantized) {
      for (int j = 0; j < 7; ++j) {
        int N, K;
        proj_shape_impl(cfg, j, N, K);
        *lin[j] = load_prequantized_impl(st, pre + kProj[j], N, K, p);
      }
    } else {
      std::vector<float> w[7];
      int Ns[7], Ks[7];
      for (int j = 0; j < 7; ++j) {
        proj_shape_impl(cfg, j, Ns[j], Ks[j]);
        const std::string name = pre + kProj[j] + ".weight";
        const HostTensor& t = st.get(name);
        expect_shape(name, t, {Ns[j], Ks[j]});
        w[j] = t.to_float();
      }
      if (smooth) {
        // Fold s into the norm (x / s) and the consuming linears' columns (W * s).
        auto fold = [&](const char* key, std::vector<float>& lnv, std::initializer_list<int> group) {
          const auto& a = calib_of(opt, key, cfg, cfg.hidden);
          std::vector<float> act_max(a.begin() + (size_t)i * cfg.hidden, a.begin() + (size_t)(i + 1) * cfg.hidden);
          std::vector<const float*> ws;
          std::vector<int> rows;
          for (int j : group) {
            ws.push_back(w[j].data());
            rows.push_back(Ns[j]);
          }
          auto s = smoothquant_factors(act_max, ws, rows, cfg.hidden, opt.smooth_alpha);
          for (int k = 0; k < cfg.hidden; ++k) lnv[k] /= s[k];
          for (int j : group)
            for (int n = 0; n < Ns[j]; ++n)
              for (int k = 0; k < cfg.hidden; ++k) w[j][(size_t)n * cfg.hidden + k] *= s[k];
        };
        fold("attn_in", ln1v, {0, 1, 2});
        fold("mlp_in", ln2v, {4, 5});
      }
      for (int j = 0; j < 7; ++j) *lin[j] = make_linear(std::move(w[j]), Ns[j], Ks[j], p, act);
      if (p == Precision::FP8_STATIC) {
        int qd = cfg.heads * cfg.head_dim;
        float s_attn = static_scale(calib_of(opt, "attn_in", cfg, cfg.hidden), i, cfg.hidden);
        float s_o = static_scale(calib_of(opt, "o_in", cfg, qd), i, qd);
        float s_mlp = static_scale(calib_of(opt, "mlp_in", cfg, cfg.hidden), i, cfg.hidden);
        float s_down = static_scale(calib_of(opt, "down_in", cfg, cfg.inter), i, cfg.inter);
        L.q.in_scale = L.k.in_scale = L.v.in_scale = s_attn;
        L.o.in_scale = s_o;
        L.gate.in_scale = L.up.in_scale = s_mlp;
        L.down.in_scale = s_down;
      }
    }
    L.ln1 = rounded(std::move(ln1v), act);
    L.ln2 = rounded(std::move(ln2v), act);
    // Linears sharing an input share one static scale: the max over the shards (as vLLM does for fused layers).
    L.attn_in_scale = std::max({L.q.in_scale, L.k.in_scale, L.v.in_scale});
    L.mlp_in_scale = std::max(L.gate.in_scale, L.up.in_scale);
  }
  return W;
}

// ---------------------------------------------------------------------------------------------------------------
// Synthetic weights

uint64_t name_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

float synth_value(uint64_t seed, uint64_t tensor_hash, uint64_t index, float amplitude) {
  return synth_uniform(seed, tensor_hash, index, amplitude);
}

std::vector<int> synth_outlier_channels(const ModelConfig& cfg, uint64_t seed, int outlier_channels) {
  std::vector<int> outliers;
  for (int j = 0; j < outlier_channels && j < cfg.hidden; ++j) {
    int c = (int)(synth_mix64(seed ^ 0x6f75746c696572ull ^ (uint64_t)j) % (uint64_t)cfg.hidden);
    if (std::find(outliers.begin(), outliers.end(), c) == outliers.end()) outliers.push_back(c);
  }
  return outliers;
}

std::vector<float> synth_norm(const ModelConfig& cfg, const std::string& name, uint64_t seed,
                              const std::vector<int>& outliers, float outlier_gain) {
  std::vector<float> v(cfg.hidden);
  uint64_t h = name_hash(name);
  for (int i = 0; i < cfg.hidden; ++i) v[i] = 1.0f + synth_value(seed, h, i, 0.1f);
  for (int c : outliers) v[c] = outlier_gain;
  return v;
}

float synth_matrix_amplitude(const ModelConfig& cfg, const std::string& name) {
  const float sqrt3 = 1.7320508f;
  if (name == "model.embed_tokens.weight") return 1.0f * sqrt3;
  if (name == "lm_head.weight") return 1.0f / std::sqrt((float)cfg.hidden) * sqrt3;
  for (int j = 0; j < 7; ++j) {
    std::string suffix = std::string(kProj[j]) + ".weight";
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      int N, K;
      proj_shape(cfg, j, N, K);
      // Residual-branch outputs (o, down) are scaled down so the residual stream stays O(1) over many layers.
      float sd = 1.0f / std::sqrt((float)K) * ((j == 3 || j == 6) ? 1.0f / std::sqrt(2.0f * cfg.layers) : 1.0f);
      return sd * sqrt3;
    }
  }
  throw QbError("BAD_CONFIG", "no synthetic rule for tensor '" + name + "'");
}

void synthesize_weights(const ModelConfig& cfg, TensorStore& st, uint64_t seed, int outlier_channels,
                        float outlier_gain) {
  auto fill = [&](const std::string& name, std::vector<int64_t> shape) {
    size_t n = 1;
    for (auto d : shape) n *= (size_t)d;
    std::vector<float> v(n);
    uint64_t h = name_hash(name);
    float a = synth_matrix_amplitude(cfg, name);
    for (size_t i = 0; i < n; ++i) v[i] = synth_value(seed, h, i, a);
    st.set_float(name, shape, std::move(v));
  };
  // Outlier channels: a few hidden channels whose norm gains are large, as trained LLMs have.
  std::vector<int> outliers = synth_outlier_channels(cfg, seed, outlier_channels);
  auto norm = [&](const std::string& name) {
    st.set_float(name, {cfg.hidden}, synth_norm(cfg, name, seed, outliers, outlier_gain));
  };
  fill("model.embed_tokens.weight", {cfg.vocab, cfg.hidden});
  if (!cfg.tie) fill("lm_head.weight", {cfg.vocab, cfg.hidden});
  norm("model.norm.weight");
  for (int i = 0; i < cfg.layers; ++i) {
    std::string pre = layer_prefix(i);
    norm(pre + "input_layernorm.weight");
    norm(pre + "post_attention_layernorm.weight");
    for (int j = 0; j < 7; ++j) {
      int N, K;
      proj_shape(cfg, j, N, K);
      fill(pre + kProj[j] + ".weight", {N, K});
    }
  }
}

}  // namespace qb
