// paged_attention(): argument checks and the choice of kernels, from the integer arguments only (CUDA-graph rule).
//   Dh 64/128 and max_q_len > 1: the tensor-core kernel (attention_paged_prefill.cu) takes every sequence with more
//     than one row; the row-wise split-KV kernel (attention_paged_decode.cu) takes the one-row sequences (decodes) of
//     the same batch. It is left out when T == S * max_q_len (then every sequence has max_q_len > 1 rows).
//   otherwise (decode-only batches, or Dh 8/16/32): the decode kernel takes every row.
//   The decode rows go to the tensor-core decode kernel (attention_paged_decode_tc.cu) from decode_tc_min_rows() rows
//   where it applies, else to the row-wise one (attn::use_decode_tc; PagedAttentionArgs::decode_kernel forces one).
#include <string>

#include "kernels/attention/attention_common.cuh"

namespace qb::cuda {

size_t paged_attention_workspace_bytes(int T, int H, int Dh, int max_context) {
  if (T <= 0 || H <= 0 || Dh <= 0) return 0;
  // Upper bound over Hkv: the split plan is non-increasing in its unit count (>= T).
  const attn::SplitPlan plan = attn::plan_splits(T, max_context);
  if (plan.splits <= 1) return 0;
  const size_t ml_bytes = ((size_t)plan.splits * T * H * sizeof(float2) + 255) / 256 * 256;
  return ml_bytes + (size_t)plan.splits * T * H * Dh * sizeof(float);
}

void paged_attention(const PagedAttentionArgs& a, cudaStream_t stream) {
  const char* name = "paged_attention";
  require(a.act == ActDtype::F16 || a.act == ActDtype::BF16, name, "act must be F16 or BF16");
  require(a.Dh == 8 || a.Dh == 16 || a.Dh == 32 || a.Dh == 64 || a.Dh == 128, name,
          "Dh must be 8, 16, 32, 64 or 128");
  require(a.H > 0 && a.Hkv > 0 && a.H % a.Hkv == 0, name, "H must be a positive multiple of Hkv");
  require(a.T >= 0 && a.S >= 1, name, "need T >= 0 and S >= 1");
  require(a.block_size > 0 && a.max_blocks > 0, name, "block_size and max_blocks must be positive");
  require(a.max_q_len >= 1 && a.max_context >= 1, name, "max_q_len and max_context must be >= 1");
  require(a.ld_q >= a.H * a.Dh && a.ld_q % 8 == 0, name, "ld_q must be >= H*Dh and a multiple of 8");
  require(a.ld_out >= a.H * a.Dh && a.ld_out % 2 == 0, name, "ld_out must be >= H*Dh and even");
  for (const void* p : {a.q, a.k_cache, a.v_cache, (const void*)a.out})
    require(p != nullptr && (uintptr_t)p % 16 == 0, name, "q, caches and out must be non-null and 16-byte aligned");
  require(a.seq_starts && a.positions && a.block_tables, name, "null seq_starts/positions/block_tables");
  require(a.scale > 0.f, name, "scale must be positive");
  require(!a.out_amax || !attn::use_tc_path(a.Dh, a.max_q_len), name,
          "out_amax is written by the row-wise (decode) kernels only: max_q_len must be 1 for Dh 64 / 128");
  if (a.T == 0) return;
  require(a.decode_kernel != DecodeKernel::TensorCore || attn::decode_tc_supported(a), name,
          "the tensor-core decode kernel needs Dh 64 or 128, H / Hkv <= 8 and block_size 16");
  const bool tc = attn::use_decode_tc(a);
  auto decode_rows = [&](bool only_single) {
    if (tc)
      attn::launch_decode_tc(a, only_single, stream);
    else
      attn::launch_rowwise(a, only_single, stream);
  };
  if (attn::use_tc_path(a.Dh, a.max_q_len)) {
    attn::launch_prefill_tc(a, stream);
    if ((long)a.T != (long)a.S * a.max_q_len) decode_rows(/*only_single=*/true);
  } else {
    decode_rows(/*only_single=*/false);
  }
}

}  // namespace qb::cuda
