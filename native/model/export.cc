#include "model/export.h"

#include <cstring>

namespace qb {
namespace {
const char* const* kProj = kProjNames;

const LinearWeights& linear_of(const LayerWeights& L, int j) {
  const LinearWeights* a[7] = {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down};
  return *a[j];
}

HostTensor act_tensor(const std::vector<float>& v, std::vector<int64_t> shape, ActDtype act) {
  HostTensor t;
  t.shape = std::move(shape);
  if (act == ActDtype::F32) {
    t.dtype = DType::F32;
    t.bytes.resize(v.size() * 4);
    std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
    return t;
  }
  t.dtype = act == ActDtype::F16 ? DType::F16 : DType::BF16;
  t.bytes.resize(v.size() * 2);
  for (size_t i = 0; i < v.size(); ++i) {
    uint16_t h = act == ActDtype::F16 ? f32_to_f16_bits(v[i]) : f32_to_bf16_bits(v[i]);
    std::memcpy(&t.bytes[2 * i], &h, 2);
  }
  return t;
}

HostTensor f32_tensor(const std::vector<float>& v, std::vector<int64_t> shape) {
  HostTensor t;
  t.dtype = DType::F32;
  t.shape = std::move(shape);
  t.bytes.resize(v.size() * 4);
  std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
  return t;
}
}  // namespace

std::vector<std::string> export_names(const ModelConfig& cfg, const LlamaWeights& W) {
  return llama_tensor_names(cfg, is_quantized(W.precision), W.precision == Precision::FP8_STATIC);
}

HostTensor export_tensor(const ModelConfig& cfg, const LlamaWeights& W, const std::string& name) {
  ActDtype act = cfg.act;
  if (name == "model.embed_tokens.weight") return act_tensor(W.embed, {cfg.vocab, cfg.hidden}, act);
  if (name == "lm_head.weight") return act_tensor(W.lm_head, {cfg.vocab, cfg.hidden}, act);
  if (name == "model.norm.weight") return act_tensor(W.final_norm, {cfg.hidden}, act);
  for (int i = 0; i < cfg.layers; ++i) {
    std::string p = layer_prefix(i);
    if (name.compare(0, p.size(), p) != 0) continue;
    std::string rest = name.substr(p.size());
    const LayerWeights& L = W.layers[i];
    if (rest == "input_layernorm.weight") return act_tensor(L.ln1, {cfg.hidden}, act);
    if (rest == "post_attention_layernorm.weight") return act_tensor(L.ln2, {cfg.hidden}, act);
    for (int j = 0; j < 7; ++j) {
      std::string base = kProj[j];
      if (rest.compare(0, base.size() + 1, base + ".") != 0) continue;
      std::string what = rest.substr(base.size() + 1);
      const LinearWeights& lin = linear_of(L, j);
      if (what == "weight") {
        if (lin.precision == Precision::INT8_W8A8) {
          HostTensor t;
          t.dtype = DType::I8;
          t.shape = {lin.N, lin.K};
          t.bytes.assign((const uint8_t*)lin.wq_i8.data(), (const uint8_t*)lin.wq_i8.data() + lin.wq_i8.size());
          return t;
        }
        if (!lin.wq_f8.empty()) {
          HostTensor t;
          t.dtype = DType::F8_E4M3;
          t.shape = {lin.N, lin.K};
          t.bytes = lin.wq_f8;
          return t;
        }
        return act_tensor(lin.w, {lin.N, lin.K}, act);
      }
      if (what == "weight_scale" && !lin.w_scale.empty()) {
        if (lin.w_per_tensor) return f32_tensor({lin.w_scale[0]}, {1});
        return f32_tensor(lin.w_scale, {lin.N, 1});
      }
      if (what == "input_scale" && lin.in_scale > 0) return f32_tensor({lin.in_scale}, {1});
    }
  }
  throw QbError("MISSING_TENSOR", "no exportable tensor named '" + name + "'");
}

}  // namespace qb
