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
  std::string trace_file;    // a -DQB_TRACE build writes the block timeline trace here after each graph replay
};

struct ModelConfig {
  int hidden = 0, inter = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0, vocab = 0;
  float eps = 1e-5f, rope_theta = 10000.0f;
  float rope_factor = 0.0f, rope_low = 1.0f, rope_high = 4.0f;  // llama3 scaling; factor 0 = none
  int rope_orig_max = 8192;
  int max_pos = 8192;  // rope table length
  bool tie = false;
  ActDtype act = ActDtype::F16;
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
const char* precision_name(Precision p);

}  // namespace qb
