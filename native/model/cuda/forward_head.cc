// CudaModel: lm_head over the rows that need logits, sampling and log-prob gathering on the GPU, results to the host.
#include "model/cuda/cuda_model_impl.h"

namespace qb::cuda_model {

void CudaModel::ensure_head(const Batch& b, const Step& st) {
  const int V = cfg_.vocab, D = cfg_.hidden;
  const int R = st.R;
  const size_t ns = b.sample_rows.size(), ng = b.gather_rows.size(), nl = b.logit_rows.size();
  if (R == 0) return;
  sampled_.ensure(std::max<size_t>(ns, 1) * 8 + 16);
  gathered_.ensure(std::max<size_t>(ng, 1) * 5 + 16);
  xrows_.ensure((size_t)std::min(st.chunk_rows, R) * D * 2);
  logits_.ensure((size_t)std::min(st.chunk_rows, R) * V * 4);
  if (nl) logits_host_.ensure(nl * (size_t)V * 4);
  if (ns) sample_ws_.ensure(sample_rows_workspace_bytes((int)ns, V) + 16);
}

void CudaModel::run_head(const Batch& b, const Step& st) {
  const int V = cfg_.vocab, D = cfg_.hidden;
  const int R = st.R;
  if (R == 0) return;
  ensure_head(b, st);
  const int chunk = st.chunk_rows;
  for (int r0 = 0; r0 < R; r0 += chunk) {
    const int rc = std::min(chunk, R - r0);
    gather_rows(normed_.p, meta(cur_meta_.rows) + r0, rc, D, cfg_.act, xrows_.p, stream_);
    gemm16(xrows_.p, W_->lm_head, rc, V, D, logits_.p, ActDtype::F32);
    // Entries whose row falls in this chunk: rows are sorted, so the local indices [r0, r0 + rc) select them.
    head_entries(b, st, r0, rc);
  }
}

void CudaModel::head_entries(const Batch& b, const Step& st, int r0, int rc) {
  const int V = cfg_.vocab;
  const float* chunk_logits = logits_.as<float>() - (size_t)r0 * V;  // indexable by global local-row index
  const size_t ns = b.sample_rows.size(), ng = b.gather_rows.size();
  auto in_chunk = [&](int row) {
    int li = (int)(std::lower_bound(st.rows.begin(), st.rows.end(), row) - st.rows.begin());
    return li >= r0 && li < r0 + rc;
  };
  if (ns) {
    if (r0 == 0 && r0 + rc >= st.R) {
      run_sampling(chunk_logits, 0, (int)ns, st);
    } else {  // one launch per run of consecutive entries in this chunk (the engine's sample rows are sorted)
      for (size_t i = 0; i < ns;) {
        if (!in_chunk(b.sample_rows[i])) {
          ++i;
          continue;
        }
        size_t j = i + 1;
        while (j < ns && in_chunk(b.sample_rows[j])) ++j;
        run_sampling(chunk_logits, (int)i, (int)(j - i), st);
        i = j;
      }
    }
  }
  if (ng) {
    const int32_t* lp_idx = meta(st.meta.gather_idx);
    if (r0 == 0 && r0 + rc >= st.R) {
      gather_logprob_rows(chunk_logits, V, lp_idx, meta(st.meta.gather_targets), (int)ng, gathered_.as<float>(),
                          gathered_.as<uint8_t>() + ng * 4 + 8, stream_);
    } else {
      for (size_t i = 0; i < ng; ++i)
        if (in_chunk(b.gather_rows[i]))
          gather_logprob_rows(chunk_logits, V, lp_idx + i, meta(st.meta.gather_targets) + i, 1,
                              gathered_.as<float>() + i, gathered_.as<uint8_t>() + ng * 4 + 8 + i, stream_);
    }
  }
  for (size_t i = 0; i < b.logit_rows.size(); ++i) {
    if (!in_chunk(b.logit_rows[i])) continue;
    int li = (int)(std::lower_bound(st.rows.begin(), st.rows.end(), b.logit_rows[i]) - st.rows.begin());
    check(cudaMemcpyAsync(static_cast<float*>(logits_host_.p) + i * (size_t)V, chunk_logits + (size_t)li * V,
                          (size_t)V * 4, cudaMemcpyDeviceToHost, stream_),
          "download logits");
  }
}

void CudaModel::run_sampling(const float* logits, int first, int n, const Step& st) {
  const int V = cfg_.vocab;
  size_t ws = sample_rows_workspace_bytes(n, V);
  sample_ws_.ensure(ws + 16);
  const StepMeta& m = st.meta;
  sample_rows(logits, V, meta(m.sample_idx) + first, n, reinterpret_cast<const float*>(meta(m.temperature)) + first,
              reinterpret_cast<const float*>(meta(m.top_p)) + first,
              reinterpret_cast<const uint32_t*>(meta(m.seeds)) + 3 * first, sampled_.as<int32_t>() + first,
              reinterpret_cast<float*>(sampled_.as<int32_t>() + sampled_cap()) + first, sample_ws_.p, sample_ws_.bytes,
              stream_);
}

void CudaModel::collect_queue(const Batch& b, int slot) {
  const size_t ns = b.sample_rows.size(), ng = b.gather_rows.size();
  uint8_t* h = static_cast<uint8_t*>(out_host_[slot].ensure(ns * 8 + ng * 5 + 64));
  if (ns) {
    check(cudaMemcpyAsync(h, sampled_.p, ns * 4, cudaMemcpyDeviceToHost, stream_), "download sampled tokens");
    check(cudaMemcpyAsync(h + ns * 4, sampled_.as<int32_t>() + sampled_cap(), ns * 4, cudaMemcpyDeviceToHost,
                          stream_),
          "download sampled log-probs");
  }
  if (ng) {
    check(cudaMemcpyAsync(h + ns * 8, gathered_.p, ng * 4, cudaMemcpyDeviceToHost, stream_), "download log-probs");
    check(cudaMemcpyAsync(h + ns * 8 + ng * 4, gathered_.as<uint8_t>() + ng * 4 + 8, ng, cudaMemcpyDeviceToHost,
                          stream_),
          "download log-probs");
  }
}

void CudaModel::collect_read(size_t ns, size_t ng, int slot, StepResult& R) {
  const uint8_t* h = static_cast<const uint8_t*>(out_host_[slot].p);
  R.sampled.resize(ns);
  R.sampled_logprob.resize(ns);
  R.gather_logprob.resize(ng);
  R.gather_is_argmax.resize(ng);
  if (ns) {
    std::memcpy(R.sampled.data(), h, ns * 4);
    std::memcpy(R.sampled_logprob.data(), h + ns * 4, ns * 4);
  }
  if (ng) {
    std::memcpy(R.gather_logprob.data(), h + ns * 8, ng * 4);
    std::memcpy(R.gather_is_argmax.data(), h + ns * 8 + ng * 4, ng);
  }
}

}  // namespace qb::cuda_model
