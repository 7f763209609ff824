// Llama model configuration and precision enum shared by the CPU and CUDA models.
#pragma once
#include <stdexcept>
#include <string>

#include "common/linear.h"
#include "common/numerics.h"

namespace qb {

// Options of the CUDA backend: typed, set by the engine (native/js NativeModelConfig.cuda) and recorded in its
// provenance. The CPU reference ignores them.
struct CudaOptions {
  bool pdl = true;           // programmatic dependent launch between the step's kernels
  bool cuda_graphs = true;   // decode-only steps replay a CUDA graph per batch-size bucket
  bool fused_decode = true;  // one-row steps run the fused decode linears (4 kernels + attention per layer)
  bool gemm_tuning = true;   // a decode graph bucket's library GEMMs use the fastest of cuBLASLt's top heuristics
  std::string trace_file;    // a -DQB_TRACE build writes the block timeline trace here after each graph replay
};

// KV-cache dtype (vLLM's --kv-cache-dtype): Act stores K and V in the activation dtype; Fp8 stores E4M3 codes of
// x / scale with a per-layer k_scale / v_scale (RNE, saturating at +-448), read back as code * scale.
enum class KvDtype { Act, Fp8 };

// Attention dtype: Act computes attention in fp32 from the cache's values; Fp8 is FlashAttention-3's FP8 path (what
// vLLM's FA3 backend runs with an FP8 cache, prefills and decodes alike), which needs KvDtype::Fp8: Q in e4m3 per row
// and head, P = 2^8 exp(s - max) in e4m3 (FA3's max offset of 8), P V over the V codes (twin: cpu::attention_paged
// with fp8_attn). Every row follows it, so a row's numerics do not depend on how the step batched it (a prefix-shared
// or chunked prefill, a decode). The CUDA backend does not run Fp8 yet (native/dev/prefill_attention v19).
enum class AttnDtype { Act, Fp8 };

struct ModelConfig {
  int hidden = 0, inter = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0, vocab = 0;
  float eps = 1e-5f, rope_theta = 10000.0f;
  float rope_factor = 0.0f, rope_low = 1.0f, rope_high = 4.0f;  // llama3 scaling; factor 0 = none
  int rope_orig_max = 8192;
  int max_pos = 8192;  // rope table length
  bool tie = false;
  ActDtype act = ActDtype::F16;
  KvDtype kv = KvDtype::Act;
  AttnDtype attn_dtype = AttnDtype::Act;
  int threads = 1;
  CudaOptions cuda;
};

enum class Precision { F32, F16, BF16, INT8_W8A8, FP8_DYNAMIC, FP8_STATIC };

inline bool is_quantized(Precision p) {
  return p == Precision::INT8_W8A8 || p == Precision::FP8_DYNAMIC || p == Precision::FP8_STATIC;
}

// Errors carry a stable code; the binding turns them into JS errors with .code set.
struct QbError : std::runtime_error {
  std::string code;
  QbError(std::string c, const std::string& msg) : std::runtime_error(msg), code(std::move(c)) {}
};

Precision parse_precision(const std::string& s);
KvDtype parse_kv_dtype(const std::string& s);  // "auto" | "fp8"; throws QbError("BAD_CONFIG")
AttnDtype parse_attn_dtype(const std::string& s);  // "auto" | "fp8"; throws QbError("BAD_CONFIG")
// Bytes of one cached K or V element.
inline size_t kv_elt_bytes(const ModelConfig& c) {
  return c.kv == KvDtype::Fp8 ? 1 : (c.act == ActDtype::F32 ? 4 : 2);
}
// Bytes of one KV block of `block_size` tokens: K and V of every layer.
inline size_t kv_block_bytes(const ModelConfig& c, int block_size) {
  return 2ull * c.layers * block_size * c.kv_heads * c.head_dim * kv_elt_bytes(c);
}
const char* precision_name(Precision p);

}  // namespace qb
