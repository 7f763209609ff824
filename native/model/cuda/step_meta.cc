// CudaModel: the step plan, its packed metadata (one upload per step) and the workspace sizes.
#include "model/cuda/cuda_model_impl.h"

namespace qb::cuda_model {

size_t CudaModel::workspace_estimate(int T) const {
  const size_t D = cfg_.hidden, qd = (size_t)cfg_.heads * cfg_.head_dim, F = (cfg_.inter + 15) / 16 * 16;
  size_t per_tok = 2 * (3 * D + qkv_width() + qd + 3 * F) + std::max({D, qd, F}) + 64;
  size_t lt = (size_t)T * 2 * F * 4;  // fp32 scratch of the library fp8 / int8 path (gate_up)
  // logits: chunks of kLogitsBytes, or one chunk of a decode graph's bucket
  const size_t logits = std::max(kLogitsBytes, (size_t)decode_graph_bucket(std::min(T, kMaxGraphBatch)) * cfg_.vocab * 4);
  return (size_t)T * per_tok + lt + logits + paged_attention_workspace_bytes(T, cfg_.heads, cfg_.head_dim,
                                                                                    cfg_.max_pos) +
         (256ull << 20);
}

CudaModel::Step CudaModel::plan_step(const Batch& b) {
  Step st;
  st.T = (int)b.tokens.size();
  st.S = (int)b.seq_starts.size() - 1;
  st.slots.resize(st.T);
  st.decode_only = true;
  for (int s = 0; s < st.S; ++s) {
    int n = b.seq_starts[s + 1] - b.seq_starts[s];
    st.max_q_len = std::max(st.max_q_len, n);
    if (n != 1) st.decode_only = false;
    for (int i = b.seq_starts[s]; i < b.seq_starts[s + 1]; ++i) {
      int p = b.positions[i];
      st.max_context = std::max(st.max_context, p + 1);
      st.slots[i] = b.block_tables[(size_t)s * b.max_blocks + p / kBlockSize] * kBlockSize + p % kBlockSize;
    }
  }
  for (auto* v : {&b.sample_rows, &b.gather_rows, &b.logit_rows}) st.rows.insert(st.rows.end(), v->begin(), v->end());
  std::sort(st.rows.begin(), st.rows.end());
  st.rows.erase(std::unique(st.rows.begin(), st.rows.end()), st.rows.end());
  st.R = (int)st.rows.size();
  st.chunk_rows = (int)std::max<size_t>(1, std::min<size_t>(std::max(st.R, 1), kLogitsBytes / ((size_t)cfg_.vocab * 4)));
  return st;
}

void CudaModel::upload_meta(const Batch& b, Step& st, int T_pad, int mb) {
  const int T = st.T, S = st.S, S_pad = S + (T_pad - T);
  const int copy_cols = std::min(mb, b.max_blocks);
  StepMeta& m = st.meta;
  size_t o = 0;
  auto take = [&](size_t n) {
    size_t r = o;
    o += (n + 3) / 4 * 4;  // 16-byte aligned sections
    return r;
  };
  m.tokens = take(T_pad);
  m.positions = take(T_pad);
  m.slots = take(T_pad);
  m.seq_starts = take(S_pad + 1);
  m.block_tables = take((size_t)S_pad * mb);
  m.rows = take(std::max(st.R, T_pad));
  size_t ns = std::max<size_t>(b.sample_rows.size(), T_pad), ng = b.gather_rows.size();
  m.sample_idx = take(ns);
  m.temperature = take(ns);
  m.top_p = take(ns);
  m.seeds = take(3 * ns);
  m.gather_idx = take(ng);
  m.gather_targets = take(ng);
  const bool sourced = !b.token_sources.empty();
  m.token_sources = take(sourced ? T_pad : 0);
  m.total = o;
  // Staging of the step's slot: the step submitted before this one may still be waiting for its copy.
  int32_t* h = static_cast<int32_t*>(meta_host_[slot_].ensure(o * 4));
  std::memset(h, 0, o * 4);
  std::copy(b.tokens.begin(), b.tokens.end(), h + m.tokens);
  std::copy(b.positions.begin(), b.positions.end(), h + m.positions);
  std::copy(st.slots.begin(), st.slots.end(), h + m.slots);
  for (int i = T; i < T_pad; ++i) h[m.slots + i] = -1;  // padding rows: no KV write, position 0, block 0
  std::copy(b.seq_starts.begin(), b.seq_starts.end(), h + m.seq_starts);
  for (int s = S; s < S_pad; ++s) h[m.seq_starts + s + 1] = h[m.seq_starts + s] + 1;
  for (int s = 0; s < S; ++s)
    std::copy(b.block_tables.begin() + (size_t)s * b.max_blocks,
              b.block_tables.begin() + (size_t)s * b.max_blocks + copy_cols, h + m.block_tables + (size_t)s * mb);
  std::copy(st.rows.begin(), st.rows.end(), h + m.rows);
  for (int i = st.R; i < T_pad && T_pad > T; ++i) h[m.rows + i] = i;  // graph buckets: every padded row sampled
  auto local = [&](int row) { return (int32_t)(std::lower_bound(st.rows.begin(), st.rows.end(), row) - st.rows.begin()); };
  for (size_t i = 0; i < b.sample_rows.size(); ++i) {
    h[m.sample_idx + i] = local(b.sample_rows[i]);
    std::memcpy(&h[m.temperature + i], &b.temperature[i], 4);
    std::memcpy(&h[m.top_p + i], &b.top_p[i], 4);
    std::memcpy(&h[m.seeds + 3 * i], &b.seeds[3 * i], 12);
  }
  for (size_t i = b.sample_rows.size(); i < (size_t)T_pad && T_pad > T; ++i) {
    h[m.sample_idx + i] = (int32_t)i;  // padding rows: greedy, discarded
    float one = 1.0f;
    std::memcpy(&h[m.top_p + i], &one, 4);
  }
  for (size_t i = 0; i < ng; ++i) {
    h[m.gather_idx + i] = local(b.gather_rows[i]);
    h[m.gather_targets + i] = b.gather_targets[i];
  }
  if (sourced) {
    std::copy(b.token_sources.begin(), b.token_sources.end(), h + m.token_sources);
    for (int i = T; i < T_pad; ++i) h[m.token_sources + i] = -1;
  }
  meta_dev_.ensure(o * 4);
  check(cudaMemcpyAsync(meta_dev_.p, h, o * 4, cudaMemcpyHostToDevice, stream_), "upload step metadata");
  // The previous step's samples are still in sampled_ (this step's sampling, later on the stream, overwrites them).
  if (sourced)
    tokens_from_samples(static_cast<int32_t*>(meta_dev_.p) + m.tokens, static_cast<const int32_t*>(meta_dev_.p) +
                        m.token_sources, sampled_.as<int32_t>(), T, stream_);
  cur_meta_ = m;
  cur_max_blocks_ = mb;
}

void CudaModel::ensure_workspace(int T, int max_context) {
  const size_t D = cfg_.hidden, qd = (size_t)cfg_.heads * cfg_.head_dim;
  resid_.ensure((size_t)T * D * 2);
  normed_.ensure((size_t)T * D * 2);
  branch_.ensure((size_t)T * D * 2);
  qkv_.ensure((size_t)T * qkv_width() * 2);
  attn_.ensure((size_t)T * qd * 2);
  gu_.ensure((size_t)T * 2 * Fp_ * 2);
  hmid_.ensure((size_t)T * Fp_ * 2);
  xq_.ensure((size_t)T * std::max({D, qd, (size_t)Fp_}) + 16);
  xs_.ensure(2 * ((size_t)T * 4 + 16));  // two halves: see quant_out
  row_amax_.ensure((size_t)cfg_.layers * 2 * kFusedMMax * 4);
  attn_ws_.ensure(paged_attention_workspace_bytes(T, cfg_.heads, cfg_.head_dim, max_context));
  const void* before = attn_tickets_.p;
  attn_tickets_.ensure((size_t)T * cfg_.heads * sizeof(int));
  if (attn_tickets_.p != before)  // new tickets start at zero (never inside a capture: see GrowBuf)
    check(cudaMemsetAsync(attn_tickets_.p, 0, attn_tickets_.bytes, stream_), "attention tickets");
}

}  // namespace qb::cuda_model
