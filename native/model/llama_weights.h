// Prepared Llama weights for one precision: what a backend runs (the CPU model uses them directly; the CUDA model
// uploads them). Built from the raw TensorStore by prepare_weights().
#pragma once
#include <map>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/tensor_store.h"

namespace qb {

struct LinearWeights {
  int N = 0, K = 0;
  Precision precision = Precision::F16;
  std::vector<float> w;          // unquantized: [N, K] values rounded to the weight dtype
  std::vector<int8_t> wq_i8;     // int8-w8a8: [N, K]
  std::vector<uint8_t> wq_f8;    // fp8: [N, K] e4m3 codes
  std::vector<float> w_scale;    // quantized: [N] per-output-channel scale (per-tensor: N copies of one value)
  bool w_per_tensor = false;     // how the scale was produced (for export)
  float in_scale = 0.0f;         // fp8-static: per-tensor activation scale
};

struct LayerWeights {
  std::vector<float> ln1, ln2;   // norm weights (SmoothQuant folded in for int8-w8a8), rounded to the act dtype
  LinearWeights q, k, v, o, gate, up, down;
  float attn_in_scale = 0, mlp_in_scale = 0;  // fp8-static: shared input scale of q/k/v and gate/up (max of shards)
};

struct LlamaWeights {
  Precision precision = Precision::F16;
  std::vector<float> embed;      // [V, D] rounded to act dtype
  std::vector<float> lm_head;    // [V, D] (copy of embed when tied)
  std::vector<float> final_norm;
  std::vector<LayerWeights> layers;
  std::vector<float> rope_cos, rope_sin;  // [max_pos, head_dim/2]
  std::vector<float> k_scale, v_scale;    // [layers] FP8 KV-cache scales (1.0 unless the checkpoint has them)
};

struct PrepareOptions {
  float smooth_alpha = -1.0f;                          // < 0: no SmoothQuant
  std::map<std::string, std::vector<float>> calib;     // "attn_in","o_in","mlp_in","down_in" -> [layers * K] absmax
  bool prequantized = false;                           // weights come as codes + scales from the store
};

// HF module names of a layer's seven linears, in the order q, k, v, o, gate, up, down.
extern const char* const kProjNames[7];
// HF tensor names of a Llama checkpoint, with .weight_scale / .input_scale for quantized linears when asked.
std::vector<std::string> llama_tensor_names(const ModelConfig& cfg, bool weight_scales, bool input_scales);
// Names of the HF tensors a Llama checkpoint must hold.
inline std::vector<std::string> required_tensor_names(const ModelConfig& cfg, bool prequantized) {
  return llama_tensor_names(cfg, prequantized, false);
}
std::string layer_prefix(int i);

LlamaWeights prepare_weights(const ModelConfig& cfg, const TensorStore& store, Precision p, const PrepareOptions& opt);

// FP8 KV-cache scales per layer: the tensors model.layers.{i}.self_attn.k_scale / .v_scale (which = "k" / "v") when
// present (one positive finite value each; all layers or none), else 1.0 (vLLM's default).
std::vector<float> kv_cache_scales(const ModelConfig& cfg, const TensorStore& st, const char* which);

// Llama RoPE tables (plain, or llama3 frequency scaling when cfg.rope_factor > 0).
void rope_tables(const ModelConfig& cfg, std::vector<float>& cos_tab, std::vector<float>& sin_tab);

// Seeded synthetic weights for every required tensor, stored as F32 (CPU) — the values are defined by
// synth_value() so a GPU generator reproduces them exactly.
void synthesize_weights(const ModelConfig& cfg, TensorStore& store, uint64_t seed, int outlier_channels,
                        float outlier_gain);
float synth_value(uint64_t seed, uint64_t tensor_hash, uint64_t index, float amplitude);
uint64_t name_hash(const std::string& s);
// The pieces of synthesize_weights(), for backends that generate the matrices themselves (the CUDA model):
// matrix values are synth_value(seed, name_hash(name), i, synth_matrix_amplitude(cfg, name)); norms are small.
float synth_matrix_amplitude(const ModelConfig& cfg, const std::string& name);
std::vector<int> synth_outlier_channels(const ModelConfig& cfg, uint64_t seed, int outlier_channels);
std::vector<float> synth_norm(const ModelConfig& cfg, const std::string& name, uint64_t seed,
                              const std::vector<int>& outliers, float outlier_gain);

// Pieces of prepare_weights() shared with the CUDA model's on-GPU preparation.
void proj_shape(const ModelConfig& c, int j, int& N, int& K);  // j indexes kProjNames
const std::vector<float>& calibration_of(const PrepareOptions& opt, const char* key, const ModelConfig& cfg, int K);
float static_fp8_input_scale(const std::vector<float>& absmax, int layer, int K);
// A compressed-tensors linear (codes, weight_scale, input_scale for fp8-static) with its checks.
LinearWeights load_prequantized(const TensorStore& st, const std::string& base, int N, int K, Precision p);
// Throws DTYPE_SHAPE naming the tensor when its shape differs from `shape`.
void expect_tensor_shape(const std::string& name, const HostTensor& t, std::vector<int64_t> shape);

}  // namespace qb
