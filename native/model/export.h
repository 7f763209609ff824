// Export prepared weights under HF / compressed-tensors names (what `pnpm quantize` writes).
#pragma once
#include <string>
#include <vector>

#include "model/llama_weights.h"
#include "model/tensor_store.h"

namespace qb {
std::vector<std::string> export_names(const ModelConfig& cfg, const LlamaWeights& W);
HostTensor export_tensor(const ModelConfig& cfg, const LlamaWeights& W, const std::string& name);
}  // namespace qb
