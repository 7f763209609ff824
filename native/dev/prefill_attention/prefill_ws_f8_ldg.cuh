// v15 (session 18, not yet run): v13's FP8-cache launch (kernels/attention/attention_paged_prefill_ws.cuh,
// prefill_ws_f8_kernel) without the staging buffers. Session 18's ncu of v13 in fp16 (results/gpu-h200-session18,
// call 7): with an FP8 cache the shared-memory LSU pipe runs at 52 % of its peak against 23 % with a 16-bit cache — the
// producer warpgroup's staging reads (32 KiB a tile, after TMA wrote them) and its 16-bit stage writes (64 KiB) beside
// the consumers' wgmma operand reads — and the tensor pipe is busy 24.8 % of the time against 36.1 %.
// Here the producer threads load their codes from global memory (L2) straight into registers — thread t the 16-code
// column chunk t % 8 of rows t / 8 + 16 i, i = 0..7, of K and of V, each row's cache page looked up in the block table —
// decode them exactly (e4m3 -> f16 / bf16) into the 16-bit stage, zeros at and past kv_len (the loads are skipped
// there), and publish the stage as v13 does (proxy fence, the producers' barrier, thread 0's arrival on full). The next
// tile's loads are issued right after publishing, so they fly while the producer waits for a free stage. Shared memory:
// v13's 16-bit layout (160 KiB), no staging buffers; 64 registers of each producer thread hold a tile's codes.
// What it computes: the same as v13 (the consumers are v13's ws_consume; twin cpu::attention_paged).
#pragma once
#include "kernels/attention/attention_paged_prefill_ws.cuh"

namespace qb::cuda::attn::prefill::ws {

constexpr int kLdgRows = BN / 16;  // rows of a tile per producer thread (8), 16 apart

// Thread t's codes of tile j, rows t / 8 + 16 (i0 + i) for i < R, column chunk t % 8 (16 codes), K then V; zeros where
// the row is at or past kv_len (no load).
template <int R = kLdgRows>
__device__ __forceinline__ void load_codes(const PfParams& p, const int32_t* bt, int kvh, int j, int kv_len, int t,
                                           uint4 (&k)[R], uint4 (&v)[R], int i0 = 0) {
  const size_t row_bytes = (size_t)p.Hkv * DH;
  const size_t col = (size_t)kvh * DH + (t % 8) * 16;
  const uint8_t* kc = static_cast<const uint8_t*>(p.kc);
  const uint8_t* vc = static_cast<const uint8_t*>(p.vc);
#pragma unroll
  for (int i = 0; i < R; ++i) {
    const int pos = j * BN + t / 8 + 16 * (i0 + i);
    if (pos < kv_len) {
      const size_t tok = (size_t)__ldg(bt + pos / p.bs) * p.bs + pos % p.bs;
      k[i] = dev::ldg16(kc + tok * row_bytes + col);
      v[i] = dev::ldg16(vc + tok * row_bytes + col);
    } else {
      k[i] = v[i] = make_uint4(0, 0, 0, 0);
    }
  }
}

// v15's producer warpgroup (t = threadIdx.x, 0..127): every tile's codes from L2 into registers, decoded into the
// 16-bit stage, published, and the next tile's loads issued while the stage frees (v17 and v18 use it too). S: the
// stages of the ring (3 in v18). R: rows a thread holds at once (8: the whole tile, one pass; 4: two passes, the second
// loaded after the first is stored — v18's FP8 producer, which gives its registers to the consumers).
template <ActDtype A, int S = kStages, int R = kLdgRows>
__device__ __forceinline__ void ws_produce_ldg(const PfParams& p, const WsBlock& b, uint8_t* sK, uint8_t* sV,
                                               uint64_t* full, uint64_t* empty) {
  static_assert(kLdgRows % R == 0, "R divides the rows a thread decodes");
  const int t = threadIdx.x, kvh = b.h / (p.H / p.Hkv);
  const int32_t* bt = p.bt + (size_t)b.s * p.max_blocks;
  const int c16 = t % 8, col = 16 * c16, pn = col >> 6, ch = (col & 63) >> 3;
  uint4 k[R], v[R];
  if (b.nkv > 0) load_codes<R>(p, bt, kvh, 0, b.kv_len, t, k, v);
  for (int j = 0; j < b.nkv; ++j) {
    const int st = j % S;
    if (j >= S) tma::mbar_wait(&empty[st], ((j / S) - 1) & 1);  // both consumers done with tile j - S
    uint8_t* kt = sK + st * kStage;
    uint8_t* vt = sV + st * kStage;
#pragma unroll
    for (int pass = 0; pass < kLdgRows / R; ++pass) {
      if (pass > 0) load_codes<R>(p, bt, kvh, j, b.kv_len, t, k, v, pass * R);
#pragma unroll
      for (int i = 0; i < R; ++i) {
        const int r = t / 8 + 16 * (pass * R + i);
        const int o0 = pn * kPanelN + r * 128 + ((ch ^ (r & 7)) << 4), o1 = pn * kPanelN + r * 128 + (((ch + 1) ^ (r & 7)) << 4);
        uint4 lo, hi;
        decode16_fp8<A>(k[i], lo, hi);  // zero codes decode to zeros
        *reinterpret_cast<uint4*>(kt + o0) = lo;
        *reinterpret_cast<uint4*>(kt + o1) = hi;
        decode16_fp8<A>(v[i], lo, hi);
        *reinterpret_cast<uint4*>(vt + o0) = lo;
        *reinterpret_cast<uint4*>(vt + o1) = hi;
      }
    }
    wg::proxy_fence();   // the decoded tile to the async proxy the consumers' wgmma read through
    named_sync(4, 128);  // every producer's part done
    if (t == 0) mbar_arrive(&full[st]);
    if (j + 1 < b.nkv) load_codes<R>(p, bt, kvh, j + 1, b.kv_len, t, k, v);  // in flight while the next stage frees
  }
}

template <ActDtype A, GridOrder O>
__global__ void __launch_bounds__(kThreads, 1) prefill_ws_f8_ldg_kernel(PfParams p) {
  extern __shared__ uint8_t smem_raw[];
  __shared__ __align__(8) uint64_t full[kStages], empty[kStages];
  uint8_t* sQ = wg::aligned_smem(smem_raw);
  uint8_t* sK = sQ + 2 * 2 * kPanel;
  uint8_t* sV = sK + kStages * kStage;
  WsBlock b;
  if (!ws_setup<O>(p, full, empty, 1, b)) return;  // full: thread 0's arrival after the producers' barrier
  const int wgi = threadIdx.x / 128;
  if (wgi > 0) {
    ws_consume<A, false>(p, b, wgi - 1, sQ, sK, sV, full, empty, p.v_scale);
    return;
  }
  ws_produce_ldg<A>(p, b, sK, sV, full, empty);  // ---- producer warpgroup ----
}

template <ActDtype A, GridOrder O = GridOrder::HeadsInner>
void launch_ws_f8_ldg(const PfParams& pp, cudaStream_t stream) {
  const char* name = "prefill ws f8 ldg (v15)";
  require(pp.bs > 0, name, "the cache block size must be positive");
  allow_dynamic_smem<prefill_ws_f8_ldg_kernel<A, O>>(kSmemBytes, name);
  prefill_ws_f8_ldg_kernel<A, O><<<prefill_grid<O>(prefill_tiles(pp, BM), pp.H), kThreads, kSmemBytes, stream>>>(pp);
  check_launch(name);
}

}  // namespace qb::cuda::attn::prefill::ws
