// The model interface both backends implement (CPU reference now, CUDA next): load, prepare, run a varlen step.
#pragma once
#include <cstdint>
#include <deque>
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
  // Async scheduling: empty, or [T] with j >= 0 where token i is entry j of the previous submitted step's sampled
  // tokens (its value in `tokens` is then a placeholder), -1 where `tokens` holds it. Only through Model::submit.
  std::vector<int32_t> token_sources;
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
  // One step, synchronously. Batch::token_sources must be empty (use submit).
  virtual StepResult forward(const Batch& b) = 0;
  // Async steps (the engine's async scheduling): submit() starts a step and returns; finish() waits for the oldest
  // submitted step and returns its result (first in, first out; at most kMaxInFlight submitted and not finished).
  // A step's token_sources index the sampled tokens of the step submitted just before it. This default runs the step
  // inside submit() (the CPU backend); the CUDA backend returns once the step is queued on its stream.
  virtual void submit(const Batch& b);
  virtual StepResult finish();
  virtual size_t in_flight() const { return done_.size(); }
  static constexpr size_t kMaxInFlight = 2;
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
  // submit() default: finished results not yet returned by finish(), and the last submitted step's samples.
  std::deque<StepResult> done_;
  std::vector<int32_t> last_sampled_;
};

// Checks Batch::token_sources against the previous submitted step's sample count (prev_samples); throws BAD_BATCH.
void validate_token_sources(const Batch& b, size_t prev_samples);

std::unique_ptr<Model> create_cpu_model(const ModelConfig& cfg);

// Validates a batch against the model (shapes, block tables, positions); throws QbError("BAD_BATCH").
void validate_batch(const Batch& b, const ModelConfig& cfg, int num_blocks);

}  // namespace qb
