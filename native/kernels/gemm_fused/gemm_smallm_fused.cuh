// Fusion policies of the small-M GEMM (gemm_smallm_mma.cuh) for the decode path: FusedLinear (cuda_ops.h).
// Each reproduces, bit for bit, what the unfused kernels compute (twins in parentheses), but for SiLU's exp:
//   prologue: rmsnorm_residual_quant's normalization (out = round_act((v * inv_rms) * w)) and / or quant_row_kernel's
//             per-token / static quantization (row_quant.cuh semantics: scale from absmax, q = cvt(x * (1/s)));
//   pair / store: rope_qkv_kv_write's rotation (no FMA contraction) and cache writes; g / (1 + exp(-g)) with exp in
//             double (silu_mul_kernel uses exp_f32, within 1.013 ulp: this kernel sits at its register bound and
//             exp_f32 spilled, native/dev/README.md; outputs may differ by an ulp in rare elements); the residual add
//             round_act(y + resid).
// Included by the gemm_fused_*.cu instantiation files only.
#pragma once
#include <algorithm>

#include "kernels/common/cuda_check.h"
#include "kernels/cuda_ops.h"
#include "kernels/gemm/gemm_smallm_mma.cuh"
#include "kernels/gemm_fused/configs.h"
#include "kernels/gemm_fused/gemm_smallm_persistent.cuh"
#include "kernels/common/pdl.h"
#include "kernels/gemm_fused/row_quant.cuh"

namespace qb::cuda::smallm {

template <ActDtype A, QuantMode MODE, FusedOp OP>
struct Fused {
  using Args = FusedLinear;
  using AT = dev::Act<A>;
  static constexpr bool kNorm = OP == FusedOp::NormRopeKV || OP == FusedOp::NormSiluMul;
  static constexpr bool kSmemX = kNorm;
  static constexpr bool kPaired = kNorm;
  static constexpr bool kQuant = MODE != QuantMode::None;
  static constexpr bool kDynamic = MODE == QuantMode::Fp8PerToken || MODE == QuantMode::Int8PerToken;
  // QuantLoadResidual: x quantized as the warps load it (gemm_smallm_mma.cuh), at the scale its producer published.
  static constexpr bool kQuantX = OP == FusedOp::QuantLoadResidual;
  // NormSiluMul with per-token activations: each row's absmax of hmid into out_amax (for a QuantLoadResidual down).
  static constexpr bool kOutAmax = OP == FusedOp::NormSiluMul && kDynamic;

  static __device__ __forceinline__ int pairs(const Args& a) { return a.N / 2; }
  // Weight row of pair p's half h: RoPE's (d, d + Dh/2) within a head; SiLU's (gate n, up n).
  static __device__ __forceinline__ int row(const Args& a, int p, int h) {
    if constexpr (OP == FusedOp::NormRopeKV) {
      const int half = a.Dh / 2, head = p / half;
      return head * a.Dh + (p - head * half) + h * half;
    } else {
      return p + h * (a.N / 2);
    }
  }

  // Shared memory: the M staged input rows.
  static __host__ __device__ __forceinline__ size_t smem_bytes(int M, int row_bytes) {
    return kSmemX ? (size_t)M * row_bytes : 0;
  }

  // Eight consecutive input values from their 16-bit source r (and the norm weight w): what the unfused chain
  // quantizes (or feeds the 16-bit GEMM): the norm kernel's rounded output, or the input itself.
  static __device__ __forceinline__ void values8(const uint4& r, const uint4& w, float inv, float (&v)[8]) {
    const uint16_t* e = reinterpret_cast<const uint16_t*>(&r);
    if constexpr (kNorm) {
      const uint16_t* we = reinterpret_cast<const uint16_t*>(&w);
#pragma unroll
      for (int j = 0; j < 8; ++j) v[j] = AT::load(AT::store(AT::load(e[j]) * inv * AT::load(we[j])));
    } else {
#pragma unroll
      for (int j = 0; j < 8; ++j) v[j] = AT::load(e[j]);
    }
  }
  static __device__ __forceinline__ void load8(const Args& a, const uint16_t* row, int i, float inv, float (&v)[8]) {
    const uint4 w = kNorm ? dev::ldg16(static_cast<const uint16_t*>(a.norm_w) + i) : make_uint4(0, 0, 0, 0);
    values8(dev::ldg16(row + i), w, inv, v);
  }
  static __device__ __forceinline__ void add_squares(const uint4& r, double& ss) {
    const uint16_t* e = reinterpret_cast<const uint16_t*>(&r);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const double v = (double)AT::load(e[j]);
      ss += v * v;
    }
  }
  // Elements i .. i+7 of the staged row: codes of v at scale s, or the act values.
  static __device__ __forceinline__ void write8(uint8_t* out, int i, const float (&v)[8], float s) {
    if constexpr (kQuant) {
      using QT = dev::QuantTraits<MODE>;
      const float is = inv_scale(s);
      uint32_t w0 = 0, w1 = 0;
#pragma unroll
      for (int j = 0; j < 4; ++j) w0 |= (uint32_t)(uint8_t)QT::q(v[j], is) << (8 * j);
#pragma unroll
      for (int j = 0; j < 4; ++j) w1 |= (uint32_t)(uint8_t)QT::q(v[4 + j], is) << (8 * j);
      *reinterpret_cast<uint2*>(out + i) = make_uint2(w0, w1);
    } else {
      uint4 o;
      uint16_t* oe = reinterpret_cast<uint16_t*>(&o);
#pragma unroll
      for (int j = 0; j < 8; ++j) oe[j] = AT::store(v[j]);
      *reinterpret_cast<uint4*>(out + (size_t)i * 2) = o;
    }
  }
  // kQuantX: 1 / the scale of row tok (the producer's absmax, or the static scale); otherwise unused.
  static __device__ __forceinline__ float x_inv(const Args& a, int tok) {
    if constexpr (kQuantX)
      return inv_scale(token_scale(a, kDynamic ? a.in_amax[tok] : 0.0f));
    else
      return 1.0f;
  }
  // kQuantX: the 16 codes of `in`'s elements off .. off + 15 (two 16-byte loads) at 1 / scale inv, as write8 packs
  // them (code of element off + j in byte j).
  static __device__ __forceinline__ uint4 quant16(const Args& a, size_t off, float inv) {
    if constexpr (kQuantX) {
      using QT = dev::QuantTraits<MODE>;
      const uint16_t* p = static_cast<const uint16_t*>(a.in) + off;
      const uint4 r[2] = {dev::ldg16(p), dev::ldg16(p + 8)};
      uint32_t wd[4];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const uint16_t* e = reinterpret_cast<const uint16_t*>(&r[h]);
#pragma unroll
        for (int q = 0; q < 2; ++q) {
          uint32_t v = 0;
#pragma unroll
          for (int j = 0; j < 4; ++j) v |= (uint32_t)(uint8_t)QT::q(AT::load(e[q * 4 + j]), inv) << (8 * j);
          wd[h * 2 + q] = v;
        }
      }
      return make_uint4(wd[0], wd[1], wd[2], wd[3]);
    } else {
      return make_uint4(0, 0, 0, 0);
    }
  }
  // kQuantX: the 4 codes of elements off .. off + 3 (one 8-byte load), code of element off + j in byte j.
  static __device__ __forceinline__ uint32_t quant4(const Args& a, size_t off, float inv) {
    if constexpr (kQuantX) {
      using QT = dev::QuantTraits<MODE>;
      const uint2 r = __ldg(reinterpret_cast<const uint2*>(static_cast<const uint16_t*>(a.in) + off));
      const uint16_t* e = reinterpret_cast<const uint16_t*>(&r);
      uint32_t v = 0;
#pragma unroll
      for (int j = 0; j < 4; ++j) v |= (uint32_t)(uint8_t)QT::q(AT::load(e[j]), inv) << (8 * j);
      return v;
    } else {
      return 0u;
    }
  }
  // kOutAmax: called by every lane of a warp together with |the lane's output| (0 for none) and its token (-1 for
  // none; lanes l, l ^ 4, l ^ 8, l ^ 16 share one): the group's max is folded into out_amax[tok] by one lane. fmaxf
  // drops NaN and the row's absmax is >= 0, so the fp32 bits order as integers: the same value as the consumer's
  // own fmaxf reduction over the row would give.
  static __device__ __forceinline__ void publish_amax(const Args& a, int tok, float mag) {
    if constexpr (kOutAmax) {
      if (!a.out_amax) return;  // uniform
#pragma unroll
      for (int d = 4; d < 32; d <<= 1) mag = fmaxf(mag, __shfl_xor_sync(0xffffffffu, mag, d));
      if ((threadIdx.x & 31) < 4 && tok >= 0 && mag > 0.0f)
        atomicMax(reinterpret_cast<unsigned int*>(a.out_amax) + tok, __float_as_uint(mag));
    }
  }

  // Token scale from the row's absmax (dynamic) or the static scale.
  static __device__ __forceinline__ float token_scale(const Args& a, float amax) {
    if constexpr (kDynamic)
      return dev::QuantTraits<MODE>::scale(amax);
    else if constexpr (kQuant)
      return *a.in_scale;
    else
      return 1.0f;
  }

  // One row with its C x 8 elements per thread held in registers: every load issued at once (one L2 round trip, then
  // the reductions); the same arithmetic in the same order as the multi-pass loop below.
  template <int C>
  static __device__ __forceinline__ void row_cached(const Args& a, const uint16_t* row, int K, uint8_t* out,
                                                    float* s_tok, int t, double* redd, float* redf) {
    uint4 r[C], w[kNorm ? C : 1];
#pragma unroll
    for (int c = 0; c < C; ++c) {
      const int i = (threadIdx.x + c * blockDim.x) * 8;
      r[c] = w[kNorm ? c : 0] = make_uint4(0, 0, 0, 0);
      if (i < K) {
        r[c] = dev::ldg16(row + i);
        if constexpr (kNorm) w[c] = dev::ldg16(static_cast<const uint16_t*>(a.norm_w) + i);
      }
    }
    float inv = 0.0f;
    if constexpr (kNorm) {
      double ss = 0.0;
#pragma unroll
      for (int c = 0; c < C; ++c)
        if ((threadIdx.x + c * blockDim.x) * 8 < K) add_squares(r[c], ss);
      ss = dev::block_reduce(ss, redd, [](double x, double y) { return x + y; }, 0.0);
      inv = 1.0f / sqrtf((float)(ss / K) + a.eps);
    }
    float amax = 0.0f;
    if constexpr (kDynamic) {
#pragma unroll
      for (int c = 0; c < C; ++c) {
        if ((threadIdx.x + c * blockDim.x) * 8 >= K) continue;
        float v[8];
        values8(r[c], w[kNorm ? c : 0], inv, v);
#pragma unroll
        for (int j = 0; j < 8; ++j) amax = fmaxf(amax, fabsf(v[j]));
      }
      amax = dev::block_reduce(amax, redf, [](float x, float y) { return fmaxf(x, y); }, 0.0f);
    }
    const float s = token_scale(a, amax);
    if (threadIdx.x == 0) s_tok[t] = s;
#pragma unroll
    for (int c = 0; c < C; ++c) {
      const int i = (threadIdx.x + c * blockDim.x) * 8;
      if (i >= K) continue;
      float v[8];
      values8(r[c], w[kNorm ? c : 0], inv, v);
      write8(out, i, v, s);
    }
  }

  // Block-wide: the M input rows into xs ([M, row_bytes]: codes or act values) and their scales into s_tok. A row of
  // up to 2 x 8 elements per thread (8 x 8 without the norm) is held in registers (row_cached: one round trip to L2
  // instead of up to three: sum of squares, absmax, write); longer rows take up to three passes, the later ones
  // hitting L1. (A single pass staged through shared memory measured slower: docs/perf-notes-cuda.md.)
  static __device__ __forceinline__ void prologue(const Args& a, int M, int row_bytes, uint8_t* xs, float* s_tok) {
    if (a.zero_amax && blockIdx.x == 0)
      for (int i = threadIdx.x; i < a.zero_n; i += blockDim.x) a.zero_amax[i] = 0.0f;
    if constexpr (kQuantX) {  // the epilogue's token scales (read after the block's reduction barrier)
      if ((int)threadIdx.x < M) s_tok[threadIdx.x] = token_scale(a, kDynamic ? a.in_amax[threadIdx.x] : 0.0f);
    }
    if constexpr (kSmemX) {
      __shared__ double redd[32];
      __shared__ float redf[32];
      const int K = a.K;
      const int per_thread = (K / 8 + (int)blockDim.x - 1) / (int)blockDim.x;
      for (int t = 0; t < M; ++t) {
        const uint16_t* row = static_cast<const uint16_t*>(a.in) + (size_t)t * K;
        uint8_t* out = xs + (size_t)t * row_bytes;
        if (per_thread <= 2) {  // (8 x 8 with the norm weight would take 64 registers and spill the preloaded weights)
          row_cached<2>(a, row, K, out, s_tok, t, redd, redf);
          continue;
        }
        float inv = 0.0f;
        if constexpr (kNorm) {
          double ss = 0.0;
          for (int i = threadIdx.x * 8; i < K; i += blockDim.x * 8) add_squares(dev::ldg16(row + i), ss);
          ss = dev::block_reduce(ss, redd, [](double x, double y) { return x + y; }, 0.0);
          inv = 1.0f / sqrtf((float)(ss / K) + a.eps);
        }
        float amax = 0.0f;
        if constexpr (kDynamic) {
          for (int i = threadIdx.x * 8; i < K; i += blockDim.x * 8) {
            float v[8];
            load8(a, row, i, inv, v);
#pragma unroll
            for (int j = 0; j < 8; ++j) amax = fmaxf(amax, fabsf(v[j]));
          }
          amax = dev::block_reduce(amax, redf, [](float x, float y) { return fmaxf(x, y); }, 0.0f);
        }
        const float s = token_scale(a, amax);
        if (threadIdx.x == 0) s_tok[t] = s;
        for (int i = threadIdx.x * 8; i < K; i += blockDim.x * 8) {
          float v[8];
          load8(a, row, i, inv, v);
          write8(out, i, v, s);
        }
      }
      __syncthreads();
    }
  }

  // Paired epilogue: v0, v1 are the dequantized outputs of rows row(p, 0), row(p, 1) for token tok. Returns |the
  // stored output| for publish_amax (kOutAmax), else 0.
  static __device__ __forceinline__ float pair(const Args& a, int tok, int p, float v0, float v1) {
    if constexpr (OP == FusedOp::NormRopeKV) {
      const int half = a.Dh / 2, head = p / half, d = p - head * half;
      uint16_t lo = AT::store(v0), hi = AT::store(v1);
      if (head < a.H + a.Hkv) {
        const int pos = a.positions[tok];
        const float c = a.cos_tab[(size_t)pos * half + d], s = a.sin_tab[(size_t)pos * half + d];
        const float x0 = AT::load(lo), x1 = AT::load(hi);
        lo = AT::store(__fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s)));
        hi = AT::store(__fadd_rn(__fmul_rn(x1, c), __fmul_rn(x0, s)));
      }
      uint16_t* q = static_cast<uint16_t*>(a.qkv) + (size_t)tok * a.ld + (size_t)head * a.Dh + d;
      q[0] = lo;
      q[half] = hi;
      const int slot = a.slots[tok];
      if (head >= a.H && slot >= 0) {
        const bool is_k = head < a.H + a.Hkv;
        const size_t off = (size_t)slot * a.Hkv * a.Dh + (size_t)(head - a.H - (is_k ? 0 : a.Hkv)) * a.Dh + d;
        if (a.kv.fp8) {
          const float sc = is_k ? a.kv.k_scale : a.kv.v_scale;
          uint8_t* cache = static_cast<uint8_t*>(is_k ? a.k_cache : a.v_cache) + off;
          cache[0] = f32_to_fp8e4m3(__fdiv_rn(AT::load(lo), sc));
          cache[half] = f32_to_fp8e4m3(__fdiv_rn(AT::load(hi), sc));
        } else {
          uint16_t* cache = static_cast<uint16_t*>(is_k ? a.k_cache : a.v_cache) + off;
          cache[0] = lo;
          cache[half] = hi;
        }
      }
    } else if constexpr (OP == FusedOp::NormSiluMul) {
      const int F = a.N / 2;
      const float g = AT::load(AT::store(v0)), u = AT::load(AT::store(v1));
      const float e = (float)exp(-(double)g);
      const uint16_t o = AT::store(g / (1.0f + e) * u);
      const size_t i = (size_t)tok * F + p;
      if (a.hmid) static_cast<uint16_t*>(a.hmid)[i] = o;
      if constexpr (kQuant && !kDynamic) {
        using QT = dev::QuantTraits<MODE>;
        if (a.hq) static_cast<typename QT::Q*>(a.hq)[i] = QT::q(AT::load(o), inv_scale(*a.hq_scale));
      }
      if constexpr (kOutAmax) return fabsf(AT::load(o));
    }
    return 0.0f;
  }

  static __device__ __forceinline__ unsigned long long* trace(const Args& a) { return a.trace; }
  static __device__ __forceinline__ int trace_tag(const Args& a) { return a.trace_tag; }

  // Row epilogue (*Residual): resid = round(resid + round(y)).
  static __device__ __forceinline__ void store(const Args& a, const Epilogue&, int, int N, int tok, int row, float v) {
    uint16_t* r = static_cast<uint16_t*>(a.resid) + (size_t)tok * N + row;
    *r = AT::store(AT::load(*r) + AT::load(AT::store(v)));
  }
};

int sm_count();  // of the current device (cached)

template <Kind KIND, ActDtype A, QuantMode MODE, FusedOp OP>
void launch_fused(const FusedLinear& f, int M, cudaStream_t stream, const char* name) {
  using F = Fused<A, MODE, OP>;
  constexpr bool k16 = KIND == Kind::F16 || KIND == Kind::BF16;
  const int row_bytes = f.K * (k16 ? 2 : 1);
  Epilogue ep{};
  if constexpr (!k16) {
    ep.s_a = F::kSmemX ? nullptr : f.in_scale;  // Residual over static codes: the codes' scale
    ep.a_per_token = 0;
    ep.s_w = f.w_scale;
    ep.w_per_channel = 1;
  }
  ep.y_dtype = A;
  const size_t smem = F::smem_bytes(M, row_bytes);
  auto run = [&](auto kernel) {  // 16 rows (8 pairs) per block of 8 warps
    const dim3 grid(F::kPaired ? (f.N / 2 + 7) / 8 : (f.N + 15) / 16);
    if (smem > 48 * 1024)
      check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem), name);
    launch_pdl(name, kernel, grid, dim3(256), smem, stream, static_cast<const uint8_t*>(f.in),
               static_cast<const uint8_t*>(f.w), M, f.N, row_bytes, ep, f);
  };
  // The tile configuration (configs.h): by the linear and the weight type, unless the caller names one (the harness
  // checks every configuration on every op).
  const FusedTile tile = f.tile != FusedTile::Auto ? f.tile : fused_tile_for(f.linear, !k16);
  auto run_persistent = [&](auto kernel, int minb) {
    const int ntiles = F::kPaired ? (f.N / 2 + 7) / 8 : (f.N + 15) / 16;
    if (smem > 48 * 1024)
      check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem), name);
    launch_pdl(name, kernel, dim3(persistent::grid_for(ntiles, minb * sm_count())), dim3(persistent::kWarps * 32),
               smem, stream, static_cast<const uint8_t*>(f.in), static_cast<const uint8_t*>(f.w), M, f.N, row_bytes,
               ep, f);
  };
  switch (tile) {
    case FusedTile::Persistent4x2Pre2:
      run_persistent(persistent::gemm_persistent_kernel<KIND, 4, 2, true, F>, 2);
      break;
    case FusedTile::Batch4Preload2PerSm: run(gemm_smallm_kernel<KIND, 1, 1, 8, 4, 2, true, F>); break;
    case FusedTile::Batch4Preload3PerSm: run(gemm_smallm_kernel<KIND, 1, 1, 8, 4, 3, true, F>); break;
    default: run(gemm_smallm_kernel<KIND, 1, 1, 8, 8, 2, true, F>); break;
  }
  check_launch(name);
}

template <Kind KIND, ActDtype A, QuantMode MODE>
void launch_fused_op(const FusedLinear& f, int M, cudaStream_t stream, const char* name) {
  switch (f.op) {
    case FusedOp::NormRopeKV: launch_fused<KIND, A, MODE, FusedOp::NormRopeKV>(f, M, stream, name); break;
    case FusedOp::NormSiluMul: launch_fused<KIND, A, MODE, FusedOp::NormSiluMul>(f, M, stream, name); break;
    case FusedOp::Residual: launch_fused<KIND, A, MODE, FusedOp::Residual>(f, M, stream, name); break;
    case FusedOp::QuantLoadResidual:
      if constexpr (MODE != QuantMode::None)
        launch_fused<KIND, A, MODE, FusedOp::QuantLoadResidual>(f, M, stream, name);
      break;
  }
}

// Per-precision entry points (gemm_fused_{f16,int8,fp8}.cu), called by linear_fused_smallm after its checks.
void linear_fused_f16(const FusedLinear& f, int M, cudaStream_t stream);
void linear_fused_int8(const FusedLinear& f, int M, cudaStream_t stream);
void linear_fused_fp8(const FusedLinear& f, int M, cudaStream_t stream);

}  // namespace qb::cuda::smallm
