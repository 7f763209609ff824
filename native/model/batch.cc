#include <string>

#include "model/model.h"

namespace qb {

void validate_batch(const Batch& b, const ModelConfig& cfg, int num_blocks) {
  auto bad = [](const std::string& m) { throw QbError("BAD_BATCH", m); };
  size_t T = b.tokens.size();
  if (T == 0) bad("empty batch");
  if (b.positions.size() != T) bad("positions must have one entry per token");
  if (b.seq_starts.size() < 2 || b.seq_starts.front() != 0 || (size_t)b.seq_starts.back() != T)
    bad("seqStarts must start at 0 and end at the token count");
  size_t S = b.seq_starts.size() - 1;
  if (b.context_lens.size() != S) bad("contextLens must have one entry per sequence");
  if (b.max_blocks <= 0 || b.block_tables.size() != S * (size_t)b.max_blocks)
    bad("blockTables must be [sequences * maxBlocksPerSeq]");
  if (num_blocks <= 0) bad("no KV cache: call allocateKvCache first");
  for (size_t s = 0; s < S; ++s) {
    int a = b.seq_starts[s], e = b.seq_starts[s + 1];
    if (e <= a) bad("sequence " + std::to_string(s) + " has no tokens in this step");
    if (b.context_lens[s] > b.max_blocks * Model::kBlockSize) bad("context longer than the block table");
    for (int i = a; i < e; ++i) {
      int p = b.positions[i];
      if (p < 0 || p >= cfg.max_pos)
        bad("position " + std::to_string(p) + " outside 0.." + std::to_string(cfg.max_pos - 1));
      if (p >= b.context_lens[s]) bad("position beyond the sequence's context length");
      int blk = b.block_tables[s * b.max_blocks + p / Model::kBlockSize];
      if (blk < 0 || blk >= num_blocks) bad("block table entry out of range for position " + std::to_string(p));
      int tok = b.tokens[i];
      if (tok < 0 || tok >= cfg.vocab) bad("token id " + std::to_string(tok) + " outside the vocabulary");
    }
  }
  auto rows_ok = [&](const std::vector<int32_t>& r, const char* what) {
    for (int x : r)
      if (x < 0 || (size_t)x >= T) bad(std::string(what) + " row out of range");
  };
  rows_ok(b.sample_rows, "sample");
  rows_ok(b.gather_rows, "gather");
  rows_ok(b.logit_rows, "logit");
  size_t ns = b.sample_rows.size();
  if (b.temperature.size() != ns || b.top_p.size() != ns || b.seeds.size() != 3 * ns)
    bad("temperature/topP/seeds must match sampleRows");
  if (b.gather_targets.size() != b.gather_rows.size()) bad("gatherTargets must match gatherRows");
  for (int t : b.gather_targets)
    if (t < 0 || t >= cfg.vocab) bad("gather target outside the vocabulary");
  if (!b.token_sources.empty() && b.token_sources.size() != T) bad("tokenSources must have one entry per token");
}

void validate_token_sources(const Batch& b, size_t prev_samples) {
  if (!b.token_sources.empty() && b.token_sources.size() != b.tokens.size())
    throw QbError("BAD_BATCH", "tokenSources must have one entry per token");
  for (int32_t j : b.token_sources)
    if (j < -1 || (j >= 0 && (size_t)j >= prev_samples))
      throw QbError("BAD_BATCH", "token source " + std::to_string(j) + " outside the previous step's " +
                                     std::to_string(prev_samples) + " sampled tokens");
}

void Model::submit(const Batch& b) {
  if (done_.size() >= kMaxInFlight)
    throw QbError("BAD_STATE", std::to_string(kMaxInFlight) + " steps submitted and not finished: call finish() first");
  validate_token_sources(b, last_sampled_.size());
  if (b.token_sources.empty()) {
    done_.push_back(forward(b));
  } else {
    Batch c = b;
    for (size_t i = 0; i < c.tokens.size(); ++i)
      if (c.token_sources[i] >= 0) c.tokens[i] = last_sampled_[c.token_sources[i]];
    c.token_sources.clear();
    done_.push_back(forward(c));
  }
  last_sampled_ = done_.back().sampled;
}

StepResult Model::finish() {
  if (done_.empty()) throw QbError("BAD_STATE", "finish() without a submitted step");
  StepResult r = std::move(done_.front());
  done_.pop_front();
  return r;
}

}  // namespace qb
