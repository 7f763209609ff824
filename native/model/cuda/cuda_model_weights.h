// The CUDA model's resident weights: fused linears (q|k|v, gate|up) in device memory, prepared on the GPU from the
// host store (real checkpoints) or generated there (synthetic), with the same semantics as prepare_weights().
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "model/llama_weights.h"
#include "model/model.h"

namespace qb::cuda {

struct DevLinear {
  int N = 0, K = 0;  // K: padded inner size = the row stride of w
  Precision precision = Precision::F16;
  void* w = nullptr;          // [N, K]: act dtype (16-bit) or int8 / fp8-e4m3 codes
  float* w_scale = nullptr;   // [N] per output channel (per-tensor scales repeated), quantized only
};

struct DevLayer {
  void* ln1 = nullptr;  // [D] act (SmoothQuant folded in for int8-w8a8)
  void* ln2 = nullptr;
  DevLinear qkv, o, gate_up, down;
};

// Owns every device allocation of one prepared model.
struct DevWeights {
  Precision precision = Precision::F16;
  int inter_padded = 0;  // intermediate size rounded up to 16 (zero rows / columns; results unchanged)
  void* embed = nullptr;     // [V, D] act
  void* lm_head = nullptr;   // [V, D] act (== embed when tied)
  void* final_norm = nullptr;
  float* rope_cos = nullptr;  // [max_pos, Dh/2]
  float* rope_sin = nullptr;
  float* static_scales = nullptr;  // [layers, 4]: attn_in, o_in, mlp_in, down_in (fp8-static)
  std::vector<float> k_scale, v_scale;  // [layers] FP8 KV-cache scales (host; kernel arguments)
  std::vector<DevLayer> layers;
  std::vector<void*> allocations;
  size_t bytes = 0;

  DevWeights() = default;
  DevWeights(const DevWeights&) = delete;
  DevWeights& operator=(const DevWeights&) = delete;
  ~DevWeights();
  void* alloc(size_t bytes, const char* what);
};

struct SynthSource {
  bool enabled = false;
  uint64_t seed = 0;
  int outlier_channels = 0;
  float outlier_gain = 1.0f;
};

// Prepares weights for precision p on the current device (stream-ordered on `stream`, synchronised on return).
// Synthetic models are generated on the GPU; otherwise tensors come from `store`.
void prepare_device_weights(const ModelConfig& cfg, const TensorStore& store, const SynthSource& synth, Precision p,
                            const PrepareOptions& opt, DevWeights& W, cudaStream_t stream);

}  // namespace qb::cuda
