// Tensor-core paged attention (flash-attention-2 style) for the sequences of a batch with more than one row (prefill
// chunks, possibly continuing an earlier prefill at position > 0). Twin: cpu::attention_paged.
//
// One block (4 warps, two row tiles of 16 each) per (tile of BM = 128 consecutive rows of one sequence, query head).
// Q sits in swizzled shared memory (ldmatrix fragments each k step); K/V tiles of BN = 32 positions are gathered from
// the paged cache with cp.async into swizzled shared memory (double-buffered), positions past the tile's last needed
// position are zero-filled. S = Q K^T and O += P V with mma.sync m16n8k16 (f16/bf16 in, fp32 accumulate); online
// softmax in fp32 (exp2 domain), P rounded to the act dtype for the PV product (the softmax sum uses the rounded P, so
// the weights stay a convex combination).
// Causal mask per row from positions[] (any positions; no contiguity assumed), applied only on tiles that need it.
// Grid: x = H, y = ceil(T/BM) + S (an upper bound on the tiles of all sequences), every head's heaviest tiles launched
// first (GridOrder::HeadsInner; one head's tiles after another left the last heads' longest tiles to finish alone:
// H200, one layer of Llama-3.1-8B's heads, 1 x 2048 with an FP8 cache 297 -> 208 us); a block maps its index to
// (sequence, tile) with a warp scan over seq_starts and exits when beyond the batch's tiles.
// Head dim 128 runs the warp-specialized warpgroup-MMA kernel instead where the cache block size is a power of 2 in
// [8, 128] (attention_paged_prefill_ws.cuh: FlashAttention-3's producer / consumer warpgroups, 128 x 128 tiles, K/V by
// TMA, an FP8 cache decoded by the producers; same semantics; H200, bf16, one layer, 1 x 2048: 144 -> 116 us with a
// 16-bit cache, 208 -> 174 us with an FP8 cache), and other block sizes the one-warpgroup wgmma kernel (16-bit cache,
// attention_paged_prefill_wgmma.cuh, K/V by cp.async) or the mma.sync kernel below (FP8 cache).
// FP8 KV cache (F8) in the mma.sync kernel: the K/V tiles' codes are gathered with cp.async into a double-buffered
// 8-bit staging area and decoded (exactly: e4m3 -> f16 / bf16) into one 16-bit K/V tile before the products; k_scale
// is folded into the score scale and v_scale into the final normalization (fp32).
#include "kernels/attention/attention_paged_prefill.cuh"
#include "kernels/attention/attention_paged_prefill_ws.cuh"

namespace qb::cuda::attn {

using prefill::PfParams;
using prefill::PrefillTile;

// The product's tile (PrefillTile in attention_paged_prefill.cuh): 128 rows per block, 32 cache positions per K/V
// tile, 4 warps of two row tiles of 16 (each K/V fragment read from shared memory feeds both), Q fragments re-read from shared memory
// every k step (registers for the two accumulators instead), two blocks per SM: FlashAttention-2's tile for head
// dim 128. Measured against the former 64 x 64, one row tile per warp, Q in registers (native/dev/prefill_attention):
// H200, bf16, Llama-3.1-8B heads, one layer: 8 x 2048 rows 1686 -> 1418 us, 1 x 8192 3151 -> 2695 us, a 2048-row
// chunk after 6144 positions 1417 -> 1182 us (FP8 KV 1888 -> 1426), 1 x 2048 259 -> 254 us (FP8 KV 333 -> 297).
using ProductTile = PrefillTile<128, 32, 4, 2, false>;
template <ActDtype A, int DH, bool F8>
constexpr auto launch = prefill::launch_prefill<A, DH, F8, ProductTile>;
// Head dim 128: the warp-specialized kernel where the cache block size allows (a power of 2 in [8, 128]), else the
// one-warpgroup wgmma kernel (16-bit cache) or the mma.sync one (FP8 cache).
template <ActDtype A>
void launch_dh128_16bit(const PfParams& pp, cudaStream_t stream) {
  if (prefill::ws::block_size_ok(pp.bs)) prefill::ws::launch_ws<A>(pp, stream);
  else prefill::wg::launch_wgmma<A>(pp, stream);
}
template <ActDtype A>
void launch_dh128_fp8(const PfParams& pp, cudaStream_t stream) {
  if (prefill::ws::block_size_ok(pp.bs)) prefill::ws::launch_ws_f8<A>(pp, stream);
  else launch<A, 128, true>(pp, stream);
}

void launch_prefill_tc(const PagedAttentionArgs& a, cudaStream_t stream) {
  require(a.ld_out % 2 == 0, "paged_attention", "ld_out must be even");
  require(a.H <= 65535, "paged_attention", "H too large");
  PfParams pp;
  pp.q = static_cast<const uint16_t*>(a.q);
  pp.ld_q = a.ld_q;
  pp.kc = a.k_cache;
  pp.vc = a.v_cache;
  pp.v_scale = a.kv.fp8 ? a.kv.v_scale : 1.0f;
  pp.seq_starts = a.seq_starts;
  pp.positions = a.positions;
  pp.bt = a.block_tables;
  pp.max_blocks = a.max_blocks;
  pp.T = a.T;
  pp.S = a.S;
  pp.H = a.H;
  pp.Hkv = a.Hkv;
  pp.bs = a.block_size;
  pp.scale_log2 = a.scale * 1.4426950408889634f * (a.kv.fp8 ? a.kv.k_scale : 1.0f);
  pp.out = static_cast<uint16_t*>(a.out);
  pp.ld_out = a.ld_out;
  using L = void (*)(const PfParams&, cudaStream_t);
  const L table[2][2][2] = {{{launch<ActDtype::F16, 64, false>, launch<ActDtype::F16, 64, true>},
                             {launch_dh128_16bit<ActDtype::F16>, launch_dh128_fp8<ActDtype::F16>}},
                            {{launch<ActDtype::BF16, 64, false>, launch<ActDtype::BF16, 64, true>},
                             {launch_dh128_16bit<ActDtype::BF16>, launch_dh128_fp8<ActDtype::BF16>}}};
  table[a.act == ActDtype::BF16][a.Dh == 128][a.kv.fp8](pp, stream);
}

}  // namespace qb::cuda::attn
