// CUDA attention-path kernels (sm_90a): RoPE fused with the paged KV-cache write, and causal GQA attention over the
// paged cache for a varlen batch (prefill chunks and decodes in one launch). Twins: cpu::rope, cpu::kv_cache_write,
// cpu::attention_paged (kernels/reference.h). KV cache layout as the CPU's: [num_blocks, block_size, Hkv, Dh], act dtype.
//
// CUDA-graph rule: launch configurations depend only on the integer arguments (T, S, H, Hkv, Dh, bounds); every
// per-step value (positions, slots, seq_starts, block tables) is read from device arrays, so one graph captured for
// a batch shape replays correctly for any contents within the bounds.
#pragma once
#include "kernels/cuda_ops.h"

namespace qb::cuda {

// qkv: [T, ld] in act (F16/BF16); row t holds q [H*Dh] | k [Hkv*Dh] | v [Hkv*Dh] (the fused QKV GEMM output).
// Applies RoPE (rotate-half, HF Llama) in place to the q and k parts using cos/sin tables [max_pos, Dh/2] (fp32,
// device) at positions[t], rounding to act like cpu::rope; then writes k (rotated) and v to the caches at slot
// slot_mapping[t] (= block * block_size + offset); a negative slot skips the cache write for that row.
// qin: qkv may be an unscaled linear output (ScaledIn, cuda_ops.h): q and k are rotated from, and written back as,
// finished act values; v is finished as it is copied to the cache (the v part of qkv is left as it was).
// kv.fp8: the caches hold FP8 codes of the finished (act-rounded) k and v divided by kv.k_scale / kv.v_scale
// (twin: cpu::kv_cache_write_fp8); qkv itself keeps the act values.
void rope_qkv_kv_write(void* qkv, int ld, ActDtype act, const int32_t* positions, const int32_t* slot_mapping, int T,
                       int H, int Hkv, int Dh, const float* cos_tab, const float* sin_tab, void* k_cache,
                       void* v_cache, int block_size, cudaStream_t stream, const ScaledIn& qin = {},
                       const KvCacheFormat& kv = {});

// Which kernel takes the decode rows (one-row sequences): Auto = the tensor-core kernel from a batch of
// decode_tc_min_rows() rows where it applies (Dh 64 / 128, H / Hkv <= 8, block size 16), else the row-wise one (whose
// latency path is tuned for batch 1). The others force a kernel (the kernel checks and benchmarks run both); the model
// always uses Auto.
enum class DecodeKernel { Auto, RowWise, TensorCore };
// H200, one layer of Llama-3.1-8B heads (results/gpu-h200-decode-scale-*/bench_attention): the tensor-core kernel is
// faster from batch 16 with 16-bit KV (B=16 ctx 2048: 68.8 vs 76.5 us) and from batch 2 with FP8 KV, whose row-wise
// loads are half as wide (B=16 ctx 2048: 35.3 vs 69.4 us); batch 1 keeps the row-wise kernel (ctx 128: 6.8 vs 10.0 us).
inline int decode_tc_min_rows(bool kv_fp8) { return kv_fp8 ? 2 : 16; }

struct PagedAttentionArgs {
  const void* q = nullptr;  // [T, ld_q] act; head h of row t at q + t*ld_q + h*Dh (may point into the qkv buffer)
  int ld_q = 0;
  const void* k_cache = nullptr;  // [num_blocks, block_size, Hkv, Dh]: act values, or FP8 codes with kv.fp8
  const void* v_cache = nullptr;
  KvCacheFormat kv;  // fp8: scores use code * kv.k_scale, outputs code * kv.v_scale (scales folded in fp32)
  const int32_t* seq_starts = nullptr;    // [S+1] device: seq s owns rows [seq_starts[s], seq_starts[s+1])
  const int32_t* positions = nullptr;     // [T] device: row i attends to cache positions 0..positions[i]
  const int32_t* block_tables = nullptr;  // [S, max_blocks] device
  int max_blocks = 0;
  int T = 0, S = 0, H = 0, Hkv = 0, Dh = 0, block_size = 16;
  float scale = 0;  // softmax scale, 1/sqrt(Dh)
  ActDtype act = ActDtype::F16;
  int max_q_len = 1;    // upper bound on rows per sequence in this batch (grid sizing only)
  int max_context = 1;  // upper bound on positions[i] + 1 (grid sizing only)
  void* out = nullptr;  // [T, ld_out] act; head h of row t at out + t*ld_out + h*Dh
  int ld_out = 0;
  // [T] fp32: each row's absmax over its H*Dh outputs, folded in with atomicMax (zero it before; NaN is dropped):
  // a QuantLoadResidual o projection's in_amax. Decode batches only (the row-wise kernels: max_q_len 1, or Dh not
  // 64 / 128).
  float* out_amax = nullptr;
  void* workspace = nullptr;  // split-context scratch, at least paged_attention_workspace_bytes(...)
  size_t workspace_bytes = 0;
  int* tickets = nullptr;  // [T * H] int32, zero before the first call (the kernels leave it zero); needed with
                           // the workspace (the last split of a row merges the others)
  unsigned long long* trace = nullptr;  // block timeline trace (trace.cuh; only a -DQB_TRACE build writes it)
  int trace_tag = 0;
  DecodeKernel decode_kernel = DecodeKernel::Auto;
};
size_t paged_attention_workspace_bytes(int T, int H, int Dh, int max_context);
void paged_attention(const PagedAttentionArgs& a, cudaStream_t stream);

}  // namespace qb::cuda
