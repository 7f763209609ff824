// v18 / v18p (session 20, not yet run): v13 (kernels/attention/attention_paged_prefill_ws.cuh) with the rest of
// FlashAttention-3's consumer: the intra-warpgroup overlap, three stages and register reallocation; v18p adds v16's
// ping-pong of the two consumers.
// Why: v13 runs each stage's S = Q K^T, its softmax and O += P V back to back in each consumer (the tensor cores idle
// while a consumer's softmax runs, unless the other consumer happens to be in a GEMM): 296-385 TFLOP/s, 38-50 % of the
// bf16 peak (session 17). FlashAttention-3 reaches ~60-75 % on H100 with these pieces.
//   - Overlap (FA3's intra-warpgroup pipelining, as native/dev's v8 for the one-warpgroup kernel): iteration j issues
//     S_j and O += P_{j-1} V_{j-1} together, runs tile j's softmax while P V is on the tensor cores, then waits for P V,
//     releases tile j-1's stage and rescales O. P lives in two register arrays that swap roles (a copy between them
//     would make ptxas serialize the wgmma). The operations on O are v13's in the same order (rescale by tile j's
//     factor, then add P_j V_j): bit-identical outputs.
//   - Three stages of K and V (225 KiB of shared memory with Q): a consumer now holds two stages at once (K_j and
//     V_{j-1}), so two would leave the producer no room to load ahead.
//   - setmaxnreg: the consumer holds S (64 fp32), O (64), two P arrays (2 x 32): more than the 168 registers a thread
//     of a 384-thread block gets. The producer warpgroup gives registers back (16-bit cache: one thread issues TMA,
//     24 registers; FP8 cache: v15's producer, 128 threads holding a tile's codes, 88) and the consumers take them
//     (240 / 208).
//   - v18p: the consumers take turns (named barriers 5 / 6, as v16) to issue their GEMMs, so one's softmax runs under
//     the other's S and P V.
// FP8 cache: v15's producer (codes from L2 into registers, decoded into the 16-bit stages; no staging buffers, which
// would not fit beside three stages).
#pragma once
#include "dev/prefill_attention/prefill_ws_f8_ldg.cuh"
#include "dev/prefill_attention/prefill_ws_pingpong.cuh"
#include "kernels/attention/attention_paged_prefill_ws.cuh"

namespace qb::cuda::attn::prefill::ws {

constexpr int kStages3 = 3;
constexpr size_t kSmemBytes3 = 2 * 2 * kPanel + 2 * kStages3 * kStage + 1024;  // Q, 3 x (K, V), alignment: 225 KiB

template <int N>
__device__ __forceinline__ void setmaxnreg_inc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
}
template <int N>
__device__ __forceinline__ void setmaxnreg_dec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
}

// The consumer of v18 (kPP false) / v18p (kPP true); ws_consume's contract with S stages.
template <ActDtype A, bool kZeroV, bool kPP, int S>
__device__ __forceinline__ void ws_consume_overlap(const PfParams& p, const WsBlock& b, int c, uint8_t* sQ, uint8_t* sK,
                                                   uint8_t* sV, uint64_t* full, uint64_t* empty, float out_scale) {
  const WsConsumer k = ws_consumer_setup(p, b, c, sQ);
  const wg::BlockWork& w = k.w;
  const int lane = k.lane, t = k.t, cnrows = k.cnrows;
  uint8_t* q = k.q;
  const bool other_reads_last = k.other_reads_last, zeroes = k.zeroes;
  const int n = w.nkv;
  // Turns (kPP): one per tile of the block plus one for the last P V, for both consumers whatever their rows need, so
  // the two barriers see as many arrivals as waits (consumer 1 opens consumer 0's first turn and gives up its last).
  const int my_turn = kTurnBar + c, their_turn = kTurnBar + 1 - c;
  int turns_left = b.nkv + 1;
  auto take_turn = [&]() {
    if constexpr (kPP) named_sync(my_turn, 256);
  };
  auto give_turn = [&]() {
    if constexpr (kPP) {
      if (--turns_left > 0 || c == 0) named_arrive(their_turn, 256);
    }
  };
  if (kPP && c == 1) named_arrive(kTurnBar, 256);
  auto wait_tile = [&](int j) {
    const int st = j % S;
    tma::mbar_wait(&full[st], (j / S) & 1);
    if (kZeroV && j == b.nkv - 1 && (j + 1) * BN > b.kv_len) {  // the block's last tile has rows past kv_len
      if (zeroes) {
        zero_v_tail(sV + st * kStage, j, b.kv_len, t, 128);
        wg::proxy_fence();
      }
      if (other_reads_last) named_sync(1, 256);
      else named_sync(2 + c, 128);
    }
  };
  auto release = [&](int j) {
    if (lane == 0) mbar_arrive(&empty[j % S]);
  };
  float o[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.f;
  float mrow[2] = {-INFINITY, -INFINITY}, lrow[2] = {0.f, 0.f};
  uint32_t pa[BN / 16][4], pb[BN / 16][4];
  if (n > 0) {
    wait_tile(0);
    {  // tile 0: S and its softmax into pa (O is zero: no rescale)
      float sc[64], corr[2];
      take_turn();
      start_qk128<A>(sc, smem_u32(q), smem_u32(sK));
      give_turn();
      wg::wg_wait<0>();
      wg::softmax_tile<A, BN>(sc, mrow, lrow, corr, pa, 0, w.min_pos, w.pos_a, w.pos_b, p.scale_log2, lane);
    }
    // Tile j: S_j and O += P_{j-1} V_{j-1} issued as two groups, tile j's softmax (into pout) while P V runs, then O
    // rescaled by tile j's factor and tile j-1's stage released (after the rescale: lane 0's arrival is a divergent
    // path, which ptxas must not see between the wgmma and their register inputs).
    auto step = [&](int j, const uint32_t(&pin)[BN / 16][4], uint32_t(&pout)[BN / 16][4]) {
      wait_tile(j);
      float sc[64], corr[2];
      take_turn();
      start_qk128<A>(sc, smem_u32(q), smem_u32(sK + (j % S) * kStage));
      issue_pv128<A>(o, pin, smem_u32(sV + ((j - 1) % S) * kStage));
      wg::wg_commit();
      give_turn();
      wg::wg_wait<1>();
      wg::softmax_tile<A, BN>(sc, mrow, lrow, corr, pout, j * BN, w.min_pos, w.pos_a, w.pos_b, p.scale_log2, lane);
      wg::wg_wait<0>();
      wg::rescale_o(o, corr);
      release(j - 1);
    };
    auto last = [&](const uint32_t(&pin)[BN / 16][4]) {
      take_turn();
      wg::wg_fence();
      issue_pv128<A>(o, pin, smem_u32(sV + ((n - 1) % S) * kStage));
      wg::wg_commit();
      give_turn();
      wg::wg_wait<0>();
      release(n - 1);
    };
    // Steps in pairs (pa and pb swap roles: a copy between them would define a wgmma's input registers, C7513), the
    // last P V inside the loop's exits: a wgmma in a branch after the loop (choosing pa or pb by the tile count's
    // parity) or a peeled odd step before it made ptxas serialize every wgmma of the kernel (C7520).
    for (int j = 1;; j += 2) {
      if (j < n) step(j, pa, pb);
      else { last(pa); break; }
      if (j + 1 < n) step(j + 1, pb, pa);
      else { last(pb); break; }
    }
  } else {
    take_turn();  // the turn of the last P V, without one
    give_turn();
  }
  for (int j = n; j < b.nkv; ++j) {  // tiles past this consumer's rows: waited for and released, their turns passed on
    tma::mbar_wait(&full[j % S], (j / S) & 1);
    take_turn();
    give_turn();
    release(j);
  }
  if (cnrows > 0) wg::store_rows<A>(p, w, o, lrow, out_scale);
}

// ws_setup for three stages: it initializes kStages (two) barrier pairs; thread 0 initializes the third before its
// fence and barrier.
template <GridOrder O>
__device__ __forceinline__ bool ws_setup3(const PfParams& p, uint64_t* full, uint64_t* empty, WsBlock& b) {
  static_assert(kStages3 == kStages + 1, "ws_setup initializes kStages barrier pairs; this the last one");
  if (threadIdx.x == 0) {
    tma::mbar_init(&full[kStages], 1);
    tma::mbar_init(&empty[kStages], 8);
  }
  return ws_setup<O>(p, full, empty, 1, b);
}

// v18 / v18p, 16-bit cache.
template <ActDtype A, bool kPP, GridOrder O>
__global__ void __launch_bounds__(kThreads, 1)
    prefill_ws_overlap_kernel(PfParams p, const __grid_constant__ CUtensorMap kmap, const __grid_constant__ CUtensorMap vmap) {
  extern __shared__ uint8_t smem_raw[];
  __shared__ __align__(8) uint64_t full[kStages3], empty[kStages3];
  uint8_t* sQ = wg::aligned_smem(smem_raw);
  uint8_t* sK = sQ + 2 * 2 * kPanel;
  uint8_t* sV = sK + kStages3 * kStage;
  WsBlock b;
  if (!ws_setup3<O>(p, full, empty, b)) return;
  const int wgi = threadIdx.x / 128;
  if (wgi > 0) {
    setmaxnreg_inc<240>();
    ws_consume_overlap<A, true, kPP, kStages3>(p, b, wgi - 1, sQ, sK, sV, full, empty, 1.f);
    return;
  }
  setmaxnreg_dec<24>();
  if (threadIdx.x == 0) ws_produce_tma<kStages3>(p, b, sK, sV, full, empty, &kmap, &vmap);
}

// v18 / v18p, FP8 cache: v15's producer warpgroup with three stages.
template <ActDtype A, bool kPP, GridOrder O>
__global__ void __launch_bounds__(kThreads, 1) prefill_ws_overlap_f8_kernel(PfParams p) {
  extern __shared__ uint8_t smem_raw[];
  __shared__ __align__(8) uint64_t full[kStages3], empty[kStages3];
  uint8_t* sQ = wg::aligned_smem(smem_raw);
  uint8_t* sK = sQ + 2 * 2 * kPanel;
  uint8_t* sV = sK + kStages3 * kStage;
  WsBlock b;
  if (!ws_setup3<O>(p, full, empty, b)) return;
  const int wgi = threadIdx.x / 128;
  if (wgi > 0) {
    setmaxnreg_inc<216>();
    ws_consume_overlap<A, false, kPP, kStages3>(p, b, wgi - 1, sQ, sK, sV, full, empty, p.v_scale);
    return;
  }
  setmaxnreg_dec<80>();
  ws_produce_ldg<A, kStages3, kLdgRows / 2>(p, b, sK, sV, full, empty);
}

template <ActDtype A, bool kPP, GridOrder O = GridOrder::HeadsInner>
void launch_ws_overlap(const PfParams& pp, cudaStream_t stream) {
  const char* name = kPP ? "prefill ws overlap + ping-pong (v18p)" : "prefill ws overlap (v18)";
  require(block_size_ok(pp.bs), name, "the cache block size must be a power of 2 in [8, 128]");
  allow_dynamic_smem<prefill_ws_overlap_kernel<A, kPP, O>>(kSmemBytes3, name);
  const CUtensorMap km = wg::kv_tensor_map(pp.kc, pp.Hkv, pp.bs), vm = wg::kv_tensor_map(pp.vc, pp.Hkv, pp.bs);
  prefill_ws_overlap_kernel<A, kPP, O><<<prefill_grid<O>(prefill_tiles(pp, BM), pp.H), kThreads, kSmemBytes3, stream>>>(pp, km, vm);
  check_launch(name);
}

template <ActDtype A, bool kPP, GridOrder O = GridOrder::HeadsInner>
void launch_ws_overlap_f8(const PfParams& pp, cudaStream_t stream) {
  const char* name = kPP ? "prefill ws overlap + ping-pong, FP8 cache from L2 (v18p)" : "prefill ws overlap, FP8 cache from L2 (v18)";
  require(pp.bs > 0, name, "the cache block size must be positive");
  allow_dynamic_smem<prefill_ws_overlap_f8_kernel<A, kPP, O>>(kSmemBytes3, name);
  prefill_ws_overlap_f8_kernel<A, kPP, O><<<prefill_grid<O>(prefill_tiles(pp, BM), pp.H), kThreads, kSmemBytes3, stream>>>(pp);
  check_launch(name);
}

}  // namespace qb::cuda::attn::prefill::ws
