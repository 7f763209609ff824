// rmsnorm v1 (session 20, not yet run): the product's residual add + RMSNorm + quantization
// (kernels/norm_quant/rmsnorm_residual_quant.cu) with one warp per row and the row in registers.
// Why: the product gives a row to a block of 256 threads (two 16-byte pieces each) with the row staged in shared
// memory and two or three block-wide barriers; at T = 800 (the peer decode batch) that is 11.9 µs for 23 MB (1.9 TB/s),
// at T = 2048 23.3 µs (2.5 TB/s; session 14's ncu, results/gpu-h200-session14-a166241). Here each lane holds its 16
// pieces of a 4096-wide row (x and the residual loaded together: 32 16-byte loads in flight per lane), the sum of
// squares and the absmax are warp shuffles, nothing waits on a block barrier after the norm weight is staged, and the
// weight sits in shared memory once per block (loaded before the programmatic-dependent-launch wait).
// Same arithmetic as the product element by element (residual = round(x + r); sum of squares in double; inv in fp32
// with IEEE sqrt and division; out = round((v * inv) * w); numerics.h's quantization): only the double sum's order
// differs (as between the product and its twin), so the outputs equal the product's but for rare 1-ulp elements
// (the harness's tolerance for the fused norm).
#pragma once
#include "kernels/common/device_common.cuh"
#include "kernels/common/pdl.h"
#include "kernels/cuda_ops.h"
#include "kernels/gemm_fused/row_quant.cuh"
#include "kernels/norm_quant/scaled_in.cuh"

namespace qb::cuda::devx {

constexpr int kNormRowsPerBlock = 4;  // warps (rows) per block

// NP: 16-byte pieces per lane (D = 256 NP).
template <ActDtype A, QuantMode MODE, int NP>
__global__ void __launch_bounds__(32 * kNormRowsPerBlock)
    rmsnorm_warp_row_kernel(const uint16_t* __restrict__ x, uint16_t* __restrict__ residual,
                            const uint16_t* __restrict__ w, int T, float eps, uint16_t* __restrict__ out, QuantOut qo,
                            ScaledIn xin) {
  using AT = dev::Act<A>;
  constexpr int D = 256 * NP;
  __shared__ __align__(16) uint16_t sw[D];
  for (int i = threadIdx.x * 8; i < D; i += blockDim.x * 8)  // the norm weight: a constant, before the wait
    *reinterpret_cast<uint4*>(sw + i) = dev::ldg16(w + i);
  __syncthreads();
  dev::pdl_wait();
  dev::pdl_trigger();
  const int lane = threadIdx.x & 31;
  const size_t row = (size_t)blockIdx.x * kNormRowsPerBlock + (threadIdx.x >> 5);
  if (row >= (size_t)T) return;
  const size_t base = row * D;
  const float xsa = xin.s_a ? dev::scaled_in_row(xin, row) : 0.0f;
  uint4 v[NP];  // piece p: columns 8 (lane + 32 p) .. + 7
#pragma unroll
  for (int p = 0; p < NP; ++p) v[p] = dev::load_in_8<A>(x, base + 8 * (lane + 32 * p), xin, xsa, 8 * (lane + 32 * p));
  if (residual) {
    uint4 r[NP];
#pragma unroll
    for (int p = 0; p < NP; ++p) r[p] = *reinterpret_cast<const uint4*>(residual + base + 8 * (lane + 32 * p));
#pragma unroll
    for (int p = 0; p < NP; ++p) {
      uint16_t* ve = reinterpret_cast<uint16_t*>(&v[p]);
      const uint16_t* re = reinterpret_cast<const uint16_t*>(&r[p]);
#pragma unroll
      for (int j = 0; j < 8; ++j) ve[j] = AT::store(AT::load(ve[j]) + AT::load(re[j]));
      *reinterpret_cast<uint4*>(residual + base + 8 * (lane + 32 * p)) = v[p];
    }
  }
  double ss = 0.0;
#pragma unroll
  for (int p = 0; p < NP; ++p) {
    const uint16_t* ve = reinterpret_cast<const uint16_t*>(&v[p]);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const double a = (double)AT::load(ve[j]);
      ss += a * a;
    }
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
  const float inv = 1.0f / sqrtf((float)(ss / D) + eps);
  float amax = 0.0f;
#pragma unroll
  for (int p = 0; p < NP; ++p) {
    uint16_t* ve = reinterpret_cast<uint16_t*>(&v[p]);
    const uint4 wr = *reinterpret_cast<const uint4*>(sw + 8 * (lane + 32 * p));
    const uint16_t* we = reinterpret_cast<const uint16_t*>(&wr);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const float o = AT::load(AT::store(AT::load(ve[j]) * inv * AT::load(we[j])));
      amax = fmaxf(amax, fabsf(o));
      ve[j] = AT::store(o);
    }
    if (out) *reinterpret_cast<uint4*>(out + base + 8 * (lane + 32 * p)) = v[p];
  }
  if constexpr (MODE != QuantMode::None) {
    using QT = dev::QuantTraits<MODE>;
    float s;
    if constexpr (QT::kDynamic) {
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
      s = QT::scale(amax);
      if (lane == 0) qo.scale[row] = s;
    } else {
      s = *qo.scale;
    }
    const float is = inv_scale(s);
    auto* q = static_cast<typename QT::Q*>(qo.q) + base;
#pragma unroll
    for (int p = 0; p < NP; ++p) {
      const uint16_t* ve = reinterpret_cast<const uint16_t*>(&v[p]);
      uint32_t w0 = 0, w1 = 0;
#pragma unroll
      for (int j = 0; j < 4; ++j) w0 |= (uint32_t)(uint8_t)QT::q(AT::load(ve[j]), is) << (8 * j);
#pragma unroll
      for (int j = 0; j < 4; ++j) w1 |= (uint32_t)(uint8_t)QT::q(AT::load(ve[4 + j]), is) << (8 * j);
      *reinterpret_cast<uint2*>(q + 8 * (lane + 32 * p)) = make_uint2(w0, w1);
    }
  }
}

// Same contract as qb::cuda::rmsnorm_residual_quant for D = 4096 (Llama-3.1-8B's hidden size).
template <ActDtype A, QuantMode MODE>
void rmsnorm_warp_row(const void* x, void* residual, const void* w, int T, int D, float eps, void* out,
                      const QuantOut& qo, cudaStream_t stream, const ScaledIn& xin) {
  const char* name = "rmsnorm v1 (warp per row)";
  require(D == 4096, name, "built for D = 4096");
  if (T <= 0) return;
  launch_pdl(name, rmsnorm_warp_row_kernel<A, MODE, 16>, dim3((T + kNormRowsPerBlock - 1) / kNormRowsPerBlock),
             dim3(32 * kNormRowsPerBlock), 0, stream, static_cast<const uint16_t*>(x), static_cast<uint16_t*>(residual),
             static_cast<const uint16_t*>(w), T, eps, static_cast<uint16_t*>(out), qo, xin);
  check_launch(name);
}

}  // namespace qb::cuda::devx
