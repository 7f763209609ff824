// The model interface both backends implement (CPU reference now, CUDA next): load, prepare, run a varlen step.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/llama_weights.h"
#include "model/tensor_store.h"

namespace qb {

// One step's varlen batch (mixed prefill chunks and decodes), see native/js/index.ts NativeBatch.
struct Batch {
  std::vector<int32_t> tokens, positions, seq_starts, context_lens, block_tables;
  int max_blocks = 0;
  std::vector<int32_t> sample_rows;
  std::vector<float> temperature, top_p;
  std::vector<uint32_t> seeds;  // [3 * n]: seed lo, seed hi, counter
  std::vector<int32_t> gather_rows, gather_targets;
  std::vector<int32_t> logit_rows;
  bool profile = false;
};

struct StepResult {
  std::vector<int32_t> sampled;
  std::vector<float> sampled_logprob;
  std::vector<float> gather_logprob;
  std::vector<uint8_t> gather_is_argmax;
  std::vector<float> logits;  // [logit_rows * vocab]
  // --profile-blocks: milliseconds by block
  double ms_attention = 0, ms_mlp = 0, ms_quant = 0, ms_other = 0, ms_total = 0;
};

class Model {
 public:
  explicit Model(const ModelConfig& cfg) : cfg_(cfg) {}
  virtual ~Model() = default;
  const ModelConfig& config() const { return cfg_; }
  TensorStore& store() { return store_; }

  // Seeded synthetic weights (the CPU fills the host store; the CUDA model generates them on the GPU at finalize).
  virtual void synthesize(uint64_t seed, int outlier_channels, float outlier_gain) {
    synthesize_weights(cfg_, store_, seed, outlier_channels, outlier_gain);
  }
  virtual void finalize(Precision p, const PrepareOptions& opt) = 0;
  // KV blocks that fit in `utilization` of device memory after the weights and a workspace for max_tokens tokens
  // per step (0: the backend has no memory limit to size from; the caller picks).
  virtual int suggest_kv_blocks(double utilization, int max_tokens) { return 0; }
  virtual void allocate_kv_cache(int num_blocks) = 0;
  // Timing runs: fill the whole KV cache with seeded random values (never time attention on zeros / garbage).
  virtual void fill_kv_random(uint64_t seed) = 0;
  virtual StepResult forward(const Batch& b) = 0;
  virtual void set_calibration(bool on) = 0;
  virtual std::map<std::string, std::vector<float>> calibration_stats() const = 0;
  virtual const LlamaWeights& weights() const = 0;
  virtual std::string device_name() const = 0;
  int num_kv_blocks() const { return num_blocks_; }
  static constexpr int kBlockSize = 16;

 protected:
  ModelConfig cfg_;
  TensorStore store_;
  int num_blocks_ = 0;
};

std::unique_ptr<Model> create_cpu_model(const ModelConfig& cfg);

// Validates a batch against the model (shapes, block tables, positions); throws QbError("BAD_BATCH").
void validate_batch(const Batch& b, const ModelConfig& cfg, int num_blocks);

}  // namespace qb
