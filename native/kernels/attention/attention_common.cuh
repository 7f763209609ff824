// Shared pieces of the paged-attention kernels (attention_paged*.cu): launch planning from the integer arguments only
// (CUDA-graph rule, cuda_attention.h), sequence lookup, and the internal launchers behind paged_attention().
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/attention/attention.h"

namespace qb::cuda::attn {

// Split-context ("flash-decoding") plan of the row-wise kernel: a function of integer arguments only.
// `units` = rows x head-groups (blocks without splitting). Non-increasing in `units`, so the workspace bound
// (paged_attention_workspace_bytes, which does not know Hkv) takes units = T.
constexpr int kTargetBlocks = 528;  // 132 SMs x 4 resident blocks of 128 threads
constexpr int kMaxSplits = 32;
constexpr int kMinSplitLen = 32;  // positions per split at least
struct SplitPlan {
  int splits = 1, split_len = 1;
};
inline SplitPlan plan_splits(long units, int max_context) {
  SplitPlan p;
  max_context = std::max(1, max_context);
  long want = (kTargetBlocks + units - 1) / std::max(1L, units);
  long by_len = (max_context + kMinSplitLen - 1) / kMinSplitLen;
  int s = (int)std::max(1L, std::min<long>({want, by_len, (long)kMaxSplits}));
  int len = (max_context + s - 1) / s;
  len = (len + 15) / 16 * 16;
  p.split_len = len;
  p.splits = (max_context + len - 1) / len;
  return p;
}

// Head-chunk of the row-wise kernel: the largest of 8 (4 for Dh 128: 8 spills registers), 4, 2, 1 dividing the GQA
// group (H / Hkv); for Dh < 64 always 1 (small models: keep the instantiation count down).
inline int head_chunk(int H, int Hkv, int Dh) {
  int G = H / Hkv;
  if (Dh < 64) return 1;
  for (int c : {8, 4, 2})
    if (G % c == 0 && !(Dh == 128 && c == 8)) return c;
  return 1;
}

// Tensor-core prefill path is used for these head dims when some sequence may have more than one row.
inline bool use_tc_path(int Dh, int max_q_len) { return (Dh == 64 || Dh == 128) && max_q_len > 1; }

// Largest s in [0, S) with seq_starts[s] <= t (seq_starts non-decreasing, seq_starts[0] <= t).
__device__ __forceinline__ int find_seq(const int32_t* __restrict__ seq_starts, int S, int t) {
  int lo = 0, hi = S - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) >> 1;
    if (__ldg(seq_starts + mid) <= t)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

// Row-wise split-KV kernel (its last split merges): every row of the batch, or with only_single the rows of one-row sequences.
void launch_rowwise(const PagedAttentionArgs& a, bool only_single, cudaStream_t stream);
// Tensor-core split-KV kernel for the same rows (attention_paged_decode_tc.cu), where decode_tc_supported().
bool decode_tc_supported(const PagedAttentionArgs& a);
void launch_decode_tc(const PagedAttentionArgs& a, bool only_single, cudaStream_t stream);
inline bool use_decode_tc(const PagedAttentionArgs& a) {
  if (a.decode_kernel == DecodeKernel::RowWise || !decode_tc_supported(a)) return false;
  return a.decode_kernel == DecodeKernel::TensorCore || a.T >= decode_tc_min_rows(a.kv.fp8);
}
// Tensor-core (mma.sync) kernel for the sequences with more than one row (Dh 64 or 128).
void launch_prefill_tc(const PagedAttentionArgs& a, cudaStream_t stream);

}  // namespace qb::cuda::attn
