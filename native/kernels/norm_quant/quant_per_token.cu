// Activation quantization: per-token dynamic fp8 e4m3 / int8 and static per-tensor fp8 / int8.
// Twins: cpu::quant_per_token_fp8, quant_per_token_int8, quant_static_fp8, quant_static_int8 (bit-exact).
// One block per token row; 16-byte loads; absmax pass then quantize pass (the row is re-read from L1/L2).
#include "kernels/cuda_ops.h"
#include "kernels/common/device_common.cuh"
#include "kernels/common/pdl.h"
#include "kernels/gemm_fused/row_quant.cuh"

namespace qb::cuda {
namespace {

constexpr int kThreads = 256;

template <QuantMode MODE, ActDtype A>
__global__ void __launch_bounds__(kThreads) quant_row_kernel(const void* __restrict__ xv, int K, QuantOut qo) {
  using QT = dev::QuantTraits<MODE>;
  using T = typename dev::Act<A>::T;
  constexpr int V = 16 / sizeof(T);  // elements per 16-byte load
  __shared__ float red[32];
  dev::pdl_wait();
  dev::pdl_trigger();
  const size_t row = blockIdx.x;
  const T* x = static_cast<const T*>(xv) + row * (size_t)K;
  float s;
  if constexpr (QT::kDynamic) {
    float amax = 0.0f;
    for (int i = threadIdx.x * V; i < K; i += kThreads * V) {
      const uint4 raw = dev::ldg16(x + i);
      const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
      for (int j = 0; j < V; ++j) amax = fmaxf(amax, fabsf(dev::Act<A>::load(e[j])));
    }
    amax = dev::block_reduce(amax, red, [](float a, float b) { return fmaxf(a, b); }, 0.0f);
    s = QT::scale(amax);
    if (threadIdx.x == 0) qo.scale[row] = s;
  } else {
    s = *qo.scale;
  }
  const float inv = inv_scale(s);
  auto* q = static_cast<typename QT::Q*>(qo.q) + row * (size_t)K;
  for (int i = threadIdx.x * V; i < K; i += kThreads * V) {
    const uint4 raw = dev::ldg16(x + i);
    const T* e = reinterpret_cast<const T*>(&raw);
    uint32_t w[V / 4];
#pragma unroll
    for (int b = 0; b < V / 4; ++b) {
      uint32_t acc = 0;
#pragma unroll
      for (int j = 0; j < 4; ++j) acc |= (uint32_t)(uint8_t)QT::q(dev::Act<A>::load(e[b * 4 + j]), inv) << (8 * j);
      w[b] = acc;
    }
    if constexpr (V == 8)
      *reinterpret_cast<uint2*>(q + i) = make_uint2(w[0], w[1]);
    else
      *reinterpret_cast<uint32_t*>(q + i) = w[0];
  }
}

template <QuantMode MODE>
void launch(const char* name, const void* x, ActDtype d, int T, int K, const QuantOut& qo, cudaStream_t stream) {
  require(T >= 0 && K > 0, name, "bad shape");
  require(K % 16 == 0, name, "K must be a multiple of 16 (got " + std::to_string(K) + ")");
  require(((uintptr_t)x % 16) == 0 && ((uintptr_t)qo.q % 16) == 0, name, "x and q must be 16-byte aligned");
  require(qo.scale != nullptr && qo.q != nullptr, name, "q and scale are required");
  if (T == 0) return;
  auto k = d == ActDtype::BF16  ? quant_row_kernel<MODE, ActDtype::BF16>
           : d == ActDtype::F16 ? quant_row_kernel<MODE, ActDtype::F16>
                                : quant_row_kernel<MODE, ActDtype::F32>;
  launch_pdl(name, k, dim3(T), dim3(kThreads), 0, stream, x, K, qo);
  check_launch(name);
}

}  // namespace

void quant_per_token_fp8(const void* x, ActDtype d, int T, int K, uint8_t* q, float* scale, cudaStream_t stream) {
  launch<QuantMode::Fp8PerToken>("quant_per_token_fp8", x, d, T, K, QuantOut{QuantMode::Fp8PerToken, q, scale},
                                 stream);
}
void quant_per_token_int8(const void* x, ActDtype d, int T, int K, int8_t* q, float* scale, cudaStream_t stream) {
  launch<QuantMode::Int8PerToken>("quant_per_token_int8", x, d, T, K, QuantOut{QuantMode::Int8PerToken, q, scale},
                                  stream);
}
void quant_static_fp8(const void* x, ActDtype d, int T, int K, const float* scale, uint8_t* q, cudaStream_t stream) {
  launch<QuantMode::Fp8Static>("quant_static_fp8", x, d, T, K,
                               QuantOut{QuantMode::Fp8Static, q, const_cast<float*>(scale)}, stream);
}
void quant_static_int8(const void* x, ActDtype d, int T, int K, const float* scale, int8_t* q, cudaStream_t stream) {
  launch<QuantMode::Int8Static>("quant_static_int8", x, d, T, K,
                                QuantOut{QuantMode::Int8Static, q, const_cast<float*>(scale)}, stream);
}

}  // namespace qb::cuda
