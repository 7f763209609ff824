// v16 / v16b (session 19, not yet run): v13 (kernels/attention/attention_paged_prefill_ws.cuh) with FlashAttention-3's
// ping-pong of the two consumer warpgroups: their tensor-core work is ordered on two named barriers so that one
// consumer's softmax runs while the other's GEMMs do. In v13 both consumers wait on the same stage, issue S together
// and then do their softmax together, leaving the tensor cores idle meanwhile: session 18's ncu of v13 (fp16, 1 x 2048,
// 16-bit cache) had the tensor pipe busy 36 % of the time.
// Consumer c (0 / 1) on each stage of the block: waits for its turn (bar.sync 5 + c, 256 threads: its own 128 and the
// other consumer's 128 arrivals), issues S = Q K^T, hands the turn over (bar.arrive 5 + (1 - c), 256), and goes on
// with the softmax and P V (v16); v16b hands the turn over after issuing P V instead, so each consumer's S and P V run
// back to back and the other's softmax lies under them. Consumer 1 gives consumer 0 the first turn before its loop and
// skips its last hand-over, so both barriers see as many arrivals as waits; both consumers take every turn of the
// block's tiles, also for tiles their rows do not need (then without GEMMs), so neither waits for a turn the other
// never gives. The arithmetic is v13's in the same order: the outputs are bit-identical to v13's (the check is
// the same twin and tolerance).
// FP8 cache: v13's producer warpgroup (TMA-copied codes decoded into the 16-bit stages) with these consumers.
// v17: v15's FP8-cache producer (codes from L2 into registers, no staging buffers; prefill_ws_f8_ldg.cuh) with these
// consumers (v16); 16-bit cache: v16's.
#pragma once
#include "dev/prefill_attention/prefill_ws_f8_ldg.cuh"
#include "kernels/attention/attention_paged_prefill_ws.cuh"

namespace qb::cuda::attn::prefill::ws {

__device__ __forceinline__ void named_arrive(int id, int count) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(count) : "memory");
}
constexpr int kTurnBar = 5;  // named barriers 5 (consumer 0's turn) and 6 (consumer 1's); 0-4 are v13's

// The start every native/dev consumer shares with v13's ws_consume: consumer c's Q rows by cp.async (zeros past the
// sequence) into its 128-byte-swizzled panels, its share of the block in the layout store_rows reads, and whether
// it zeroes the block's last tile's V tail (16-bit caches) or meets the other consumer there.
struct WsConsumer {
  wg::BlockWork w;
  int t, lane, cnrows;
  uint8_t* q;
  bool other_reads_last, zeroes;
};
__device__ __forceinline__ WsConsumer ws_consumer_setup(const PfParams& p, const WsBlock& b, int c, uint8_t* sQ) {
  WsConsumer k;
  k.lane = threadIdx.x & 31;
  k.t = threadIdx.x - 128 * (c + 1);
  const int cw = k.t >> 5;
  const int cr0 = b.r0 + 64 * c;
  k.cnrows = min(64, b.nrows - 64 * c);
  k.q = sQ + c * 2 * kPanel;
  for (int i = k.t; i < 64 * (DH / 8); i += 128) {
    const int r = i / (DH / 8), col = (i % (DH / 8)) * 8;
    const bool v = r < k.cnrows;
    cp_async16(smem_u32(k.q + sw_off(r, col)), v ? p.q + (size_t)(cr0 + r) * p.ld_q + (size_t)b.h * DH + col : p.q, v);
  }
  cp_async_commit();
  cp_async_wait<0>();
  wg::proxy_fence();
  named_sync(2 + c, 128);
  wg::BlockWork& w = k.w;
  w.h = b.h;
  w.s = b.s;
  w.r0 = cr0;
  w.nrows = k.cnrows;
  // (selects, not b.pmax[c]: a runtime index would put the block's fields in local memory)
  const int pmax_c = c ? b.pmax[1] : b.pmax[0], pmax_other = c ? b.pmax[0] : b.pmax[1];
  w.kv_len = pmax_c + 1;
  w.min_pos = c ? b.pmin[1] : b.pmin[0];
  w.nkv = (w.kv_len + BN - 1) / BN;
  w.ra = cw * 16 + (k.lane >> 2);
  w.pos_a = w.ra < k.cnrows ? __ldg(p.positions + cr0 + w.ra) : -1;
  w.pos_b = w.ra + 8 < k.cnrows ? __ldg(p.positions + cr0 + w.ra + 8) : -1;
  const int nkv_other = (pmax_other + 1 + BN - 1) / BN;
  k.other_reads_last = nkv_other == b.nkv;
  k.zeroes = w.nkv == b.nkv && (c == 1 || !k.other_reads_last);
  return k;
}

// ws_consume (v13) with the turns. kAfterPv: hand the turn over after issuing P V (v16b), else after S (v16).
template <ActDtype A, bool kZeroV, bool kAfterPv>
__device__ __forceinline__ void ws_consume_pp(const PfParams& p, const WsBlock& b, int c, uint8_t* sQ, uint8_t* sK,
                                              uint8_t* sV, uint64_t* full, uint64_t* empty, float out_scale) {
  const WsConsumer k = ws_consumer_setup(p, b, c, sQ);
  const wg::BlockWork& w = k.w;
  const int lane = k.lane, t = k.t, cnrows = k.cnrows;
  uint8_t* q = k.q;
  const bool other_reads_last = k.other_reads_last, zeroes = k.zeroes;
  const int my_turn = kTurnBar + c, their_turn = kTurnBar + 1 - c;
  if (c == 1) named_arrive(kTurnBar, 256);  // consumer 0 goes first
  float o[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.f;
  float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.f, 0.f};
  for (int j = 0; j < b.nkv; ++j) {
    const int st = j % kStages;
    const bool hand_over = !(c == 1 && j == b.nkv - 1);  // consumer 1's last turn is nobody's
    tma::mbar_wait(&full[st], (j / kStages) & 1);
    if (j < w.nkv) {
      if (kZeroV && j == b.nkv - 1 && (j + 1) * BN > b.kv_len) {
        if (zeroes) {
          zero_v_tail(sV + st * kStage, j, b.kv_len, t, 128);
          wg::proxy_fence();
        }
        if (other_reads_last) named_sync(1, 256);
        else named_sync(2 + c, 128);
      }
      float sc[64], corr[2];
      uint32_t pa[BN / 16][4];
      named_sync(my_turn, 256);
      start_qk128<A>(sc, smem_u32(q), smem_u32(sK + st * kStage));
      if (!kAfterPv && hand_over) named_arrive(their_turn, 256);
      wg::wg_wait<0>();
      wg::softmax_tile<A, BN>(sc, mrow, lrow, corr, pa, j * BN, w.min_pos, w.pos_a, w.pos_b, p.scale_log2, lane);
      wg::rescale_o(o, corr);
      wg::wg_fence();
      issue_pv128<A>(o, pa, smem_u32(sV + st * kStage));
      wg::wg_commit();
      if (kAfterPv && hand_over) named_arrive(their_turn, 256);
      wg::wg_wait<0>();
    } else {  // a tile this consumer's rows do not need: its turn still passes through
      named_sync(my_turn, 256);
      if (hand_over) named_arrive(their_turn, 256);
    }
    if (lane == 0) mbar_arrive(&empty[st]);
  }
  if (cnrows > 0) wg::store_rows<A>(p, w, o, lrow, out_scale);
}

// 16-bit cache: thread 0 of the producer warpgroup issues the TMA copies into S stages (v13's producer loop; v16 with
// two stages, v18 with three).
template <int S>
__device__ __forceinline__ void ws_produce_tma(const PfParams& p, const WsBlock& b, uint8_t* sK, uint8_t* sV,
                                               uint64_t* full, uint64_t* empty, const CUtensorMap* kmap,
                                               const CUtensorMap* vmap) {
  const int bs = p.bs, kvh = b.h / (p.H / p.Hkv);
  const int32_t* bt = p.bt + (size_t)b.s * p.max_blocks;
  for (int j = 0; j < b.nkv; ++j) {
    const int st = j % S, first = j * BN;
    if (j >= S) tma::mbar_wait(&empty[st], ((j / S) - 1) & 1);  // both consumers done with tile j - S
    const int npages = min(BN / bs, (b.kv_len - first + bs - 1) / bs);
    tma::mbar_expect_tx(&full[st], (uint32_t)npages * bs * 128 * 2 * 2);
    for (int pg = 0; pg < npages; ++pg) {
      const int tok0 = __ldg(bt + first / bs + pg) * bs;
#pragma unroll
      for (int pn = 0; pn < 2; ++pn) {
        const int off = st * kStage + pn * kPanelN + pg * bs * 128;
        tma::load_2d(smem_u32(sK + off), kmap, kvh * DH + pn * 64, tok0, &full[st]);
        tma::load_2d(smem_u32(sV + off), vmap, kvh * DH + pn * 64, tok0, &full[st]);
      }
    }
  }
}

// v13's 16-bit-cache kernel with the ping-pong consumers.
template <ActDtype A, bool kAfterPv, GridOrder O>
__global__ void __launch_bounds__(kThreads, 1)
    prefill_ws_pp_kernel(PfParams p, const __grid_constant__ CUtensorMap kmap, const __grid_constant__ CUtensorMap vmap) {
  extern __shared__ uint8_t smem_raw[];
  __shared__ __align__(8) uint64_t full[kStages], empty[kStages];
  uint8_t* sQ = wg::aligned_smem(smem_raw);
  uint8_t* sK = sQ + 2 * 2 * kPanel;
  uint8_t* sV = sK + kStages * kStage;
  WsBlock b;
  if (!ws_setup<O>(p, full, empty, 1, b)) return;
  const int wgi = threadIdx.x / 128;
  if (wgi > 0) {
    ws_consume_pp<A, true, kAfterPv>(p, b, wgi - 1, sQ, sK, sV, full, empty, 1.f);
    return;
  }
  if (threadIdx.x == 0) ws_produce_tma<kStages>(p, b, sK, sV, full, empty, &kmap, &vmap);
}

// v13's FP8-cache kernel with the ping-pong consumers.
template <ActDtype A, bool kAfterPv, GridOrder O>
__global__ void __launch_bounds__(kThreads, 1)
    prefill_ws_pp_f8_kernel(PfParams p, const __grid_constant__ CUtensorMap kmap, const __grid_constant__ CUtensorMap vmap) {
  extern __shared__ uint8_t smem_raw[];
  __shared__ __align__(8) uint64_t full[kStages], empty[kStages], codes[2];
  uint8_t* sQ = wg::aligned_smem(smem_raw);
  uint8_t* sK = sQ + 2 * 2 * kPanel;
  uint8_t* sV = sK + kStages * kStage;
  uint8_t* sK8 = sV + kStages * kStage;
  uint8_t* sV8 = sK8 + 2 * kCodeTile;
  if (threadIdx.x == 0) {
    tma::mbar_init(&codes[0], 1);
    tma::mbar_init(&codes[1], 1);
  }
  WsBlock b;
  if (!ws_setup<O>(p, full, empty, 1, b)) return;
  const int wgi = threadIdx.x / 128;
  if (wgi > 0) {
    ws_consume_pp<A, false, kAfterPv>(p, b, wgi - 1, sQ, sK, sV, full, empty, p.v_scale);
    return;
  }
  const int t = threadIdx.x, bs = p.bs, kvh = b.h / (p.H / p.Hkv);
  const int32_t* bt = p.bt + (size_t)b.s * p.max_blocks;
  auto copy_codes = [&](int j) {
    const int x = j & 1, first = j * BN;
    const int npages = min(BN / bs, (b.kv_len - first + bs - 1) / bs);
    tma::mbar_expect_tx(&codes[x], (uint32_t)npages * bs * DH * 2);
    for (int pg = 0; pg < npages; ++pg) {
      const int tok0 = __ldg(bt + first / bs + pg) * bs, off = x * kCodeTile + pg * bs * DH;
      tma::load_2d(smem_u32(sK8 + off), &kmap, kvh * DH, tok0, &codes[x]);
      tma::load_2d(smem_u32(sV8 + off), &vmap, kvh * DH, tok0, &codes[x]);
    }
  };
  if (t == 0 && b.nkv > 0) copy_codes(0);
  for (int j = 0; j < b.nkv; ++j) {
    const int st = j % kStages, x = j & 1;
    if (t == 0 && j + 1 < b.nkv) copy_codes(j + 1);
    tma::mbar_wait(&codes[x], (j >> 1) & 1);
    if (j >= kStages) tma::mbar_wait(&empty[st], ((j / kStages) - 1) & 1);
    uint8_t* kt = sK + st * kStage;
    uint8_t* vt = sV + st * kStage;
#pragma unroll 2
    for (int i = t; i < BN * (DH / 16); i += 128) {
      const int r = i / (DH / 16), c16 = i % (DH / 16);
      const int col = 16 * c16, pn = col >> 6, ch = (col & 63) >> 3;
      const int o0 = pn * kPanelN + r * 128 + ((ch ^ (r & 7)) << 4), o1 = pn * kPanelN + r * 128 + (((ch + 1) ^ (r & 7)) << 4);
      uint4 lo, hi;
      decode16_fp8<A>(*reinterpret_cast<const uint4*>(sK8 + x * kCodeTile + r * DH + col), lo, hi);
      *reinterpret_cast<uint4*>(kt + o0) = lo;
      *reinterpret_cast<uint4*>(kt + o1) = hi;
      if (j * BN + r < b.kv_len) {
        decode16_fp8<A>(*reinterpret_cast<const uint4*>(sV8 + x * kCodeTile + r * DH + col), lo, hi);
      } else {
        lo = hi = make_uint4(0, 0, 0, 0);
      }
      *reinterpret_cast<uint4*>(vt + o0) = lo;
      *reinterpret_cast<uint4*>(vt + o1) = hi;
    }
    wg::proxy_fence();
    named_sync(4, 128);
    if (t == 0) mbar_arrive(&full[st]);
  }
}

template <ActDtype A, bool kAfterPv, GridOrder O = GridOrder::HeadsInner>
void launch_ws_pp(const PfParams& pp, cudaStream_t stream) {
  const char* name = kAfterPv ? "prefill ws ping-pong after P V (v16b)" : "prefill ws ping-pong (v16)";
  require(block_size_ok(pp.bs), name, "the cache block size must be a power of 2 in [8, 128]");
  allow_dynamic_smem<prefill_ws_pp_kernel<A, kAfterPv, O>>(kSmemBytes, name);
  const CUtensorMap km = wg::kv_tensor_map(pp.kc, pp.Hkv, pp.bs), vm = wg::kv_tensor_map(pp.vc, pp.Hkv, pp.bs);
  prefill_ws_pp_kernel<A, kAfterPv, O><<<prefill_grid<O>(prefill_tiles(pp, BM), pp.H), kThreads, kSmemBytes, stream>>>(pp, km, vm);
  check_launch(name);
}

template <ActDtype A, bool kAfterPv, GridOrder O = GridOrder::HeadsInner>
void launch_ws_pp_f8(const PfParams& pp, cudaStream_t stream) {
  const char* name = kAfterPv ? "prefill ws ping-pong after P V, FP8 cache (v16b)" : "prefill ws ping-pong, FP8 cache (v16)";
  require(block_size_ok(pp.bs), name, "the cache block size must be a power of 2 in [8, 128]");
  allow_dynamic_smem<prefill_ws_pp_f8_kernel<A, kAfterPv, O>>(kSmemBytesF8, name);
  const CUtensorMap km = wg::code_tensor_map(pp.kc, pp.Hkv, pp.bs), vm = wg::code_tensor_map(pp.vc, pp.Hkv, pp.bs);
  prefill_ws_pp_f8_kernel<A, kAfterPv, O><<<prefill_grid<O>(prefill_tiles(pp, BM), pp.H), kThreads, kSmemBytesF8, stream>>>(pp, km, vm);
  check_launch(name);
}

// v17's FP8-cache kernel: v15's producer (prefill_ws_f8_ldg_kernel) with the ping-pong consumers.
template <ActDtype A, GridOrder O>
__global__ void __launch_bounds__(kThreads, 1) prefill_ws_pp_f8_ldg_kernel(PfParams p) {
  extern __shared__ uint8_t smem_raw[];
  __shared__ __align__(8) uint64_t full[kStages], empty[kStages];
  uint8_t* sQ = wg::aligned_smem(smem_raw);
  uint8_t* sK = sQ + 2 * 2 * kPanel;
  uint8_t* sV = sK + kStages * kStage;
  WsBlock b;
  if (!ws_setup<O>(p, full, empty, 1, b)) return;
  const int wgi = threadIdx.x / 128;
  if (wgi > 0) {
    ws_consume_pp<A, false, false>(p, b, wgi - 1, sQ, sK, sV, full, empty, p.v_scale);
    return;
  }
  ws_produce_ldg<A>(p, b, sK, sV, full, empty);
}

template <ActDtype A, GridOrder O = GridOrder::HeadsInner>
void launch_ws_pp_f8_ldg(const PfParams& pp, cudaStream_t stream) {
  const char* name = "prefill ws ping-pong, FP8 cache from L2 (v17)";
  require(pp.bs > 0, name, "the cache block size must be positive");
  allow_dynamic_smem<prefill_ws_pp_f8_ldg_kernel<A, O>>(kSmemBytes, name);
  prefill_ws_pp_f8_ldg_kernel<A, O><<<prefill_grid<O>(prefill_tiles(pp, BM), pp.H), kThreads, kSmemBytes, stream>>>(pp);
  check_launch(name);
}

}  // namespace qb::cuda::attn::prefill::ws
