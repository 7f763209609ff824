// Residual add + RMSNorm, optionally fused with the output quantization (per-token fp8/int8 or static fp8/int8), so a
// quantized layer's normalized activation is written once, already quantized.
// Twin: cpu::rmsnorm_residual, then cpu::quant_* on its output. Sum of squares in double (as the twin), inv_rms in
// fp32 with IEEE sqrt and division; out = round_act((v * inv) * w). The kernel can split a row over a
// thread-block cluster (sums and absmax combined through distributed shared memory; launch_m picks one block per row,
// see there); the row (slice) stays in shared memory.
#include "kernels/cuda_ops.h"
#include "kernels/common/device_common.cuh"
#include "kernels/common/pdl.h"
#include "kernels/gemm_fused/row_quant.cuh"
#include "kernels/norm_quant/scaled_in.cuh"

namespace qb::cuda {
namespace {

constexpr int kThreads = 256;

template <ActDtype A, QuantMode MODE>
__global__ void __launch_bounds__(kThreads)
    rmsnorm_kernel(const uint16_t* __restrict__ x, uint16_t* __restrict__ residual, const uint16_t* __restrict__ w,
                   int D, float eps, uint16_t* __restrict__ out, QuantOut qo, ScaledIn xin) {
  using AT = dev::Act<A>;
  extern __shared__ __align__(16) uint16_t vals[];  // this block's slice: the new residual, then the normalized output
  __shared__ double redd[32];
  __shared__ float redf[32];
  __shared__ double slotd;
  __shared__ float slotf;
  const size_t row = blockIdx.y;
  const size_t base = row * (size_t)D;
  // Slice of the row owned by this block of the cluster (gridDim.x blocks per row, multiples of 8 elements).
  const int per = ((D / 8 + gridDim.x - 1) / gridDim.x) * 8;
  const int lo = blockIdx.x * per, hi = min(D, lo + per);
  // The norm weight is a constant: its first two 16-byte pieces per thread (all of it for D <= 4096) are loaded
  // before the programmatic-dependent-launch wait (pdl.h), off the critical path.
  uint4 w0 = make_uint4(0, 0, 0, 0), w1 = w0;
  {
    const int i0 = lo + threadIdx.x * 8, i1 = i0 + kThreads * 8;
    if (i0 < hi) w0 = dev::ldg16(w + i0);
    if (i1 < hi) w1 = dev::ldg16(w + i1);
  }
  dev::pdl_wait();
  dev::pdl_trigger();
  double ss = 0.0;
  const float xsa = xin.s_a ? dev::scaled_in_row(xin, row) : 0.0f;
#pragma unroll 2
  for (int i = lo + threadIdx.x * 8; i < hi; i += kThreads * 8) {
    uint4 xr = dev::load_in_8<A>(x, base + i, xin, xsa, i);
    uint16_t* xe = reinterpret_cast<uint16_t*>(&xr);
    if (residual) {
      uint4 rr = *reinterpret_cast<const uint4*>(residual + base + i);
      const uint16_t* re = reinterpret_cast<const uint16_t*>(&rr);
#pragma unroll
      for (int j = 0; j < 8; ++j) xe[j] = AT::store(AT::load(xe[j]) + AT::load(re[j]));
      *reinterpret_cast<uint4*>(residual + base + i) = xr;
    }
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const double v = (double)AT::load(xe[j]);
      ss += v * v;
    }
    *reinterpret_cast<uint4*>(vals + (i - lo)) = xr;
  }
  ss = dev::block_reduce(ss, redd, [](double a, double b) { return a + b; }, 0.0);
  ss = dev::cluster_combine(ss, &slotd, [](double a, double b) { return a + b; });
  const float inv = 1.0f / sqrtf((float)(ss / D) + eps);
  float amax = 0.0f;
  int it = 0;
  for (int i = lo + threadIdx.x * 8; i < hi; i += kThreads * 8, ++it) {
    uint4 vr = *reinterpret_cast<const uint4*>(vals + (i - lo));
    uint16_t* ve = reinterpret_cast<uint16_t*>(&vr);
    const uint4 wr = it == 0 ? w0 : it == 1 ? w1 : dev::ldg16(w + i);
    const uint16_t* we = reinterpret_cast<const uint16_t*>(&wr);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const float o = AT::load(AT::store(AT::load(ve[j]) * inv * AT::load(we[j])));
      amax = fmaxf(amax, fabsf(o));
      ve[j] = AT::store(o);
    }
    if (out) *reinterpret_cast<uint4*>(out + base + i) = vr;
    if constexpr (MODE != QuantMode::None) *reinterpret_cast<uint4*>(vals + (i - lo)) = vr;  // own slots only
  }
  if constexpr (MODE != QuantMode::None) {
    __syncthreads();  // quantize reads other threads' values
    dev::quantize_slice_smem<MODE, A>(vals, D, lo, hi, amax, qo, row, redf, &slotf);
  }
}

template <ActDtype A, QuantMode MODE>
void launch_m(const void* x, void* residual, const void* w, int T, int D, float eps, void* out, const QuantOut& qo,
              cudaStream_t stream, const ScaledIn& xin) {
  // One block per row: splitting a 4096-wide row over a thread-block cluster cost more in cluster barriers than it
  // saved (docs/perf-notes-cuda.md).
  const int split = 1;
  const int per = ((D / 8 + split - 1) / split) * 8;
  // One block per row (a cluster of 1): launched with programmatic dependent launch (pdl.h).
  launch_pdl("rmsnorm_residual_quant", rmsnorm_kernel<A, MODE>, dim3(split, T), dim3(kThreads), (size_t)per * 2, stream,
             static_cast<const uint16_t*>(x), static_cast<uint16_t*>(residual), static_cast<const uint16_t*>(w), D,
             eps, static_cast<uint16_t*>(out), qo, xin);
}

template <ActDtype A>
void launch_a(const void* x, void* residual, const void* w, int T, int D, float eps, void* out, const QuantOut& qo,
              cudaStream_t stream, const ScaledIn& xin) {
  switch (qo.mode) {
    case QuantMode::None: launch_m<A, QuantMode::None>(x, residual, w, T, D, eps, out, qo, stream, xin); break;
    case QuantMode::Fp8PerToken: launch_m<A, QuantMode::Fp8PerToken>(x, residual, w, T, D, eps, out, qo, stream, xin); break;
    case QuantMode::Int8PerToken: launch_m<A, QuantMode::Int8PerToken>(x, residual, w, T, D, eps, out, qo, stream, xin); break;
    case QuantMode::Fp8Static: launch_m<A, QuantMode::Fp8Static>(x, residual, w, T, D, eps, out, qo, stream, xin); break;
    case QuantMode::Int8Static: launch_m<A, QuantMode::Int8Static>(x, residual, w, T, D, eps, out, qo, stream, xin); break;
  }
}

}  // namespace

void rmsnorm_residual_quant(const void* x, void* residual, const void* w, ActDtype act, int T, int D, float eps,
                            void* out, const QuantOut& quant, cudaStream_t stream, const ScaledIn& xin) {
  const char* name = "rmsnorm_residual_quant";
  require(!xin.s_a || xin.s_w, name, "scaled input needs s_w");
  require(!xin.acc || (xin.s_a && (uintptr_t)xin.acc % 16 == 0), name,
          "int32 accumulators need s_a and 16-byte alignment");
  require(act == ActDtype::F16 || act == ActDtype::BF16, name, "act must be F16 or BF16");
  require(D > 0 && D % 16 == 0 && D <= 24576, name, "D must be a positive multiple of 16, at most 24576");
  require(out != nullptr || quant.mode != QuantMode::None, name, "nothing to write: out is null and no quantization");
  require(quant.mode == QuantMode::None || (quant.q && quant.scale), name, "quantization needs q and scale");
  for (const void* p : {x, (const void*)residual, w, (const void*)out, (const void*)quant.q})
    require(((uintptr_t)p % 16) == 0, name, "pointers must be 16-byte aligned");
  if (T <= 0) return;
  if (act == ActDtype::BF16)
    launch_a<ActDtype::BF16>(x, residual, w, T, D, eps, out, quant, stream, xin);
  else
    launch_a<ActDtype::F16>(x, residual, w, T, D, eps, out, quant, stream, xin);
  check_launch(name);
}

}  // namespace qb::cuda
