// Probe (session 18, not yet run): how precisely Hopper's FP8 warpgroup MMA accumulates. native/dev/prefill_attention
// v14 (S = Q K^T as wgmma m64n128k32 e4m3, K = 128 in four k-steps) left the attention tolerance by 2.5-28 x where the
// check assumes fp32 scores; an FP8 attention path needs a tolerance term for the accumulator, and that needs its
// behaviour measured, not guessed. One warpgroup computes D = A B^T (A [64][128], B [128][128] e4m3 codes, both K-major
// in the 128-byte swizzle) two ways:
//   chained  the four k-steps accumulate in the tensor core (scale-d 1 after the first), as v14 ran;
//   split    each k-step into a fresh accumulator (scale-d 0), the four partial sums added in fp32 by the threads;
// and the host compares both with the exact product (double; every e4m3 product is exact in it). Cases:
//   random   codes uniform over the finite e4m3 values (signs random);
//   ramp     row r of A holds one large code (2^8) and 127 small ones (2^-6 .. 2^-3), B all ones: the small terms'
//            sum against the large one shows whether (and at how many bits) terms are aligned to the largest exponent
//            and truncated;
//   cancel   +x and -x pairs plus one small term: how much of the small term survives.
// Per case and way: max |err| / sum |a_i b_i| over the 64 x 128 outputs (the form a tolerance term takes), max |err| /
// |exact|, and for ramp the bits the small terms keep.
// Build and run (on the GPU machine):
//   nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a -o /tmp/fp8_accum_probe native/dev/wgmma_probe/fp8_accum_probe.cu
//   /tmp/fp8_accum_probe
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

constexpr int M = 64, N = 128, K = 128;

void ck(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
    std::exit(2);
  }
}

// Byte offset of code (row, k) in a [rows][128] tile of 1-byte codes (128-byte rows) in the 128-byte swizzle.
__host__ __device__ inline int sw(int row, int k) { return row * 128 + ((((k >> 4) ^ (row & 7)) << 4) | (k & 15)); }

__device__ inline uint64_t desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return (uint64_t)((addr >> 4) & 0x3FFF) | ((uint64_t)((lbo >> 4) & 0x3FFF) << 16) |
         ((uint64_t)((sbo >> 4) & 0x3FFF) << 32) | ((uint64_t)1 << 62);
}
__device__ inline uint32_t smem_u32(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }

#define R64                                                                                                           \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, "   \
  "%24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, "     \
  "%46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"
#define F4(i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3])
#define F32(i) F4(i), F4(i + 4), F4(i + 8), F4(i + 12), F4(i + 16), F4(i + 20), F4(i + 24), F4(i + 28)

__device__ inline void mma(float (&d)[64], uint64_t da, uint64_t db, int scale_d) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 " R64 ", %64, %65, p, 1, 1;\n}\n"
               : F32(0), F32(32)
               : "l"(da), "l"(db), "r"(scale_d));
}

__global__ void __launch_bounds__(128) probe_kernel(const uint8_t* a, const uint8_t* b, float* chained, float* split) {
  __shared__ __align__(1024) uint8_t sa[M * 128];
  __shared__ __align__(1024) uint8_t sb[N * 128];
  const int t = threadIdx.x;
  for (int i = t; i < M * K; i += 128) sa[sw(i / K, i % K)] = a[i];
  for (int i = t; i < N * K; i += 128) sb[sw(i / K, i % K)] = b[i];
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
  __syncthreads();
  float d[64], acc[64];
  for (int way = 0; way < 2; ++way) {
#pragma unroll
    for (int i = 0; i < 64; ++i) d[i] = 0.f, acc[i] = 0.f;
#pragma unroll
    for (int ks = 0; ks < K / 32; ++ks) {
      asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
      mma(d, desc(smem_u32(sa) + ks * 32, 16, 1024), desc(smem_u32(sb) + ks * 32, 16, 1024), way == 0 ? ks > 0 : 0);
      asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
      asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
      if (way == 1)
#pragma unroll
        for (int i = 0; i < 64; ++i) acc[i] += d[i];
    }
    float* out = way == 0 ? chained : split;
    const int warp = t / 32, lane = t % 32;
#pragma unroll
    for (int j = 0; j < N / 8; ++j) {
      const int r = 16 * warp + lane / 4, c = 8 * j + 2 * (lane % 4);
      const float* v = way == 0 ? d : acc;
      out[r * N + c] = v[4 * j];
      out[r * N + c + 1] = v[4 * j + 1];
      out[(r + 8) * N + c] = v[4 * j + 2];
      out[(r + 8) * N + c + 1] = v[4 * j + 3];
    }
  }
}

double dec(uint8_t c) {  // e4m3fn: bias 7, no infinities
  const int s = c >> 7, e = (c >> 3) & 15, m = c & 7;
  const double v = e == 0 ? std::ldexp(m / 8.0, -6) : std::ldexp(1.0 + m / 8.0, e - 7);
  return s ? -v : v;
}
uint8_t enc(double x) {  // exact values only (the cases build them from powers of two)
  return (uint8_t)__nv_cvt_double_to_fp8(x, __NV_SATFINITE, __NV_E4M3);
}

struct Result {
  double max_rel_sum = 0, max_rel = 0;
};

Result compare(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, const std::vector<float>& got) {
  Result r;
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double exact = 0, mag = 0;
      for (int k = 0; k < K; ++k) {
        const double p = dec(a[i * K + k]) * dec(b[j * K + k]);
        exact += p;
        mag += std::fabs(p);
      }
      const double e = std::fabs((double)got[i * N + j] - exact);
      if (mag > 0) r.max_rel_sum = std::max(r.max_rel_sum, e / mag);
      if (exact != 0) r.max_rel = std::max(r.max_rel, e / std::fabs(exact));
    }
  return r;
}

}  // namespace

int main() {
  std::mt19937 rng(20261204);
  uint8_t *da, *db;
  float *dc, *ds;
  ck(cudaMalloc(&da, M * K), "malloc");
  ck(cudaMalloc(&db, N * K), "malloc");
  ck(cudaMalloc(&dc, M * N * 4), "malloc");
  ck(cudaMalloc(&ds, M * N * 4), "malloc");
  auto run = [&](const char* name, const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
    ck(cudaMemcpy(da, a.data(), a.size(), cudaMemcpyHostToDevice), "copy");
    ck(cudaMemcpy(db, b.data(), b.size(), cudaMemcpyHostToDevice), "copy");
    probe_kernel<<<1, 128>>>(da, db, dc, ds);
    ck(cudaDeviceSynchronize(), name);
    std::vector<float> c(M * N), s(M * N);
    ck(cudaMemcpy(c.data(), dc, c.size() * 4, cudaMemcpyDeviceToHost), "copy back");
    ck(cudaMemcpy(s.data(), ds, s.size() * 4, cudaMemcpyDeviceToHost), "copy back");
    const Result rc = compare(a, b, c), rs = compare(a, b, s);
    std::printf("%-8s chained: max |err| / sum|a b| %.3e, max |err| / |exact| %.3e;  split: %.3e, %.3e\n", name,
                rc.max_rel_sum, rc.max_rel, rs.max_rel_sum, rs.max_rel);
    return c;
  };
  std::vector<uint8_t> a(M * K), b(N * K);
  // random: finite codes (0x7f / 0xff are NaN)
  auto code = [&]() {
    uint8_t c;
    do c = (uint8_t)(rng() & 0xff); while ((c & 0x7f) == 0x7f);
    return c;
  };
  for (auto& x : a) x = code();
  for (auto& x : b) x = code();
  run("random", a, b);
  // ramp: row i: one 2^8 at k = 0, then 127 small terms 2^-(3 + i % 4); B all ones. Exact = 256 + 127 * small.
  for (int i = 0; i < M; ++i)
    for (int k = 0; k < K; ++k) a[i * K + k] = enc(k == 0 ? 256.0 : std::ldexp(1.0, -(3 + i % 4)));
  for (auto& x : b) x = enc(1.0);
  const std::vector<float> ramp = run("ramp", a, b);
  for (int i = 0; i < 4; ++i) {
    const double small = std::ldexp(1.0, -(3 + i)), exact = 256.0 + 127 * small, got = ramp[i * N];
    std::printf("  ramp small 2^-%d: exact %.6f, chained %.6f (small terms kept: %.4f of their sum)\n", 3 + i, exact,
                got, (got - 256.0) / (127 * small));
  }
  // cancel: +x, -x pairs (x random) and one 2^-6 term at k = 127; B all ones. Exact = 2^-6.
  for (int i = 0; i < M; ++i) {
    for (int k = 0; k + 1 < K - 1; k += 2) {
      const uint8_t c = code() & 0x7f;
      a[i * K + k] = c;
      a[i * K + k + 1] = c | 0x80;
    }
    a[i * K + K - 2] = 0;
    a[i * K + K - 1] = enc(std::ldexp(1.0, -6));
  }
  run("cancel", a, b);
  return 0;
}
