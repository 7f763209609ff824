// Helpers of the CUDA kernel check/timing harness: device buffers, seeded random inputs, dtype conversion, timing,
// JSON lines. Host-only code (CUDA runtime API).
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/numerics.h"
#include "kernels/common/cuda_check.h"

namespace qbh {

using qb::ActDtype;

inline const char* dtype_name(ActDtype d) {
  return d == ActDtype::F32 ? "f32" : d == ActDtype::F16 ? "f16" : "bf16";
}

// Device buffer (RAII).
struct DevBuf {
  void* p = nullptr;
  size_t n = 0;
  DevBuf() = default;
  explicit DevBuf(size_t bytes) : p(qb::cuda::device_alloc(bytes, "harness buffer")), n(bytes) {}
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  DevBuf(DevBuf&& o) noexcept : p(o.p), n(o.n) { o.p = nullptr; o.n = 0; }
  DevBuf& operator=(DevBuf&& o) noexcept { std::swap(p, o.p); std::swap(n, o.n); return *this; }
  ~DevBuf() { if (p) cudaFree(p); }
  template <typename T> T* as() const { return static_cast<T*>(p); }
  void upload(const void* h, size_t bytes) { qb::cuda::check(cudaMemcpy(p, h, bytes, cudaMemcpyHostToDevice), "upload"); }
  void download(void* h, size_t bytes) const { qb::cuda::check(cudaMemcpy(h, p, bytes, cudaMemcpyDeviceToHost), "download"); }
  void poison() { qb::cuda::check(cudaMemset(p, 0xff, n), "poison"); }  // 0xff..: NaN in f16/bf16/f32
};

template <typename T>
DevBuf to_dev(const std::vector<T>& h) {
  DevBuf b(h.size() * sizeof(T));
  b.upload(h.data(), h.size() * sizeof(T));
  return b;
}
template <typename T>
std::vector<T> from_dev(const DevBuf& b, size_t n) {
  std::vector<T> h(n);
  b.download(h.data(), n * sizeof(T));
  return h;
}

struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t seed) : g(seed) {}
  float normal(float sd = 1.0f) { return std::normal_distribution<float>(0.0f, sd)(g); }
  float uniform(float a, float b) { return std::uniform_real_distribution<float>(a, b)(g); }
  int integer(int a, int b) { return std::uniform_int_distribution<int>(a, b)(g); }
};

// Random activation row values, rounded to the dtype, with some outliers (real activations have them).
inline std::vector<float> rand_act(Rng& r, size_t n, ActDtype d, float sd = 1.0f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    float x = r.normal(sd);
    if (r.integer(0, 999) == 0) x *= 40.0f;
    v[i] = qb::round_act(x, d);
  }
  return v;
}

// Host float (already act-rounded) -> device storage bytes of dtype d.
inline std::vector<uint8_t> to_storage(const std::vector<float>& v, ActDtype d) {
  std::vector<uint8_t> out(v.size() * (d == ActDtype::F32 ? 4 : 2));
  for (size_t i = 0; i < v.size(); ++i) {
    if (d == ActDtype::F32) {
      std::memcpy(&out[i * 4], &v[i], 4);
    } else {
      uint16_t h = d == ActDtype::F16 ? qb::f32_to_f16_bits(v[i]) : qb::f32_to_bf16_bits(v[i]);
      std::memcpy(&out[i * 2], &h, 2);
    }
  }
  return out;
}
inline std::vector<float> from_storage(const std::vector<uint8_t>& b, ActDtype d) {
  size_t es = d == ActDtype::F32 ? 4 : 2;
  std::vector<float> v(b.size() / es);
  for (size_t i = 0; i < v.size(); ++i) {
    if (d == ActDtype::F32) {
      std::memcpy(&v[i], &b[i * 4], 4);
    } else {
      uint16_t h;
      std::memcpy(&h, &b[i * 2], 2);
      v[i] = d == ActDtype::F16 ? qb::f16_bits_to_f32(h) : qb::bf16_bits_to_f32(h);
    }
  }
  return v;
}
inline DevBuf act_to_dev(const std::vector<float>& v, ActDtype d) { return to_dev(to_storage(v, d)); }
inline std::vector<float> act_from_dev(const DevBuf& b, size_t n, ActDtype d) {
  return from_storage(from_dev<uint8_t>(b, n * (d == ActDtype::F32 ? 4 : 2)), d);
}

// Ulp distance between two values of a 16-bit/32-bit dtype (same sign assumed near; NaN -> huge).
inline long ulp_diff(float a, float b, ActDtype d) {
  if (std::isnan(a) || std::isnan(b)) return 1L << 40;
  auto key = [&](float f) -> long {
    long u;
    if (d == ActDtype::F32) { uint32_t x; std::memcpy(&x, &f, 4); u = x; return (x & 0x80000000u) ? -(long)(x & 0x7fffffffu) : (long)x; }
    uint16_t h = d == ActDtype::F16 ? qb::f32_to_f16_bits(f) : qb::f32_to_bf16_bits(f);
    u = h & 0x7fff;
    return (h & 0x8000) ? -u : u;
  };
  return std::labs(key(a) - key(b));
}

// ---------------------------------------------------------------------------------------------------------------
// Check bookkeeping.
struct CheckResult {
  std::string name;
  bool pass;
  std::string detail;
};

// Timing with CUDA events: `batch` back-to-back launches (launch(i) rotates its input buffers with i) are captured
// once into a CUDA graph (as the engine runs decode steps), the graph is replayed for warm-up, then `reps` timed
// replays; returns the median per-launch time in microseconds.
inline double time_median_us(const std::function<void(int)>& launch, int warmup, int reps, int batch, cudaStream_t s) {
  using qb::cuda::check;
  launch(0);  // first call outside the capture (plan creation, attributes)
  check(cudaStreamSynchronize(s), "timing first launch");
  cudaGraph_t g;
  cudaGraphExec_t ge;
  check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
  for (int j = 0; j < batch; ++j) launch(j);
  check(cudaStreamEndCapture(s, &g), "cudaStreamEndCapture");
  check(cudaGraphInstantiate(&ge, g, 0), "cudaGraphInstantiate");
  for (int i = 0; i < warmup; ++i) check(cudaGraphLaunch(ge, s), "cudaGraphLaunch");
  check(cudaStreamSynchronize(s), "timing warm-up");
  cudaEvent_t a, b;
  check(cudaEventCreate(&a), "cudaEventCreate");
  check(cudaEventCreate(&b), "cudaEventCreate");
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    cudaEventRecord(a, s);
    check(cudaGraphLaunch(ge, s), "cudaGraphLaunch");
    cudaEventRecord(b, s);
    check(cudaEventSynchronize(b), "timing");
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    t.push_back(ms * 1000.0 / batch);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaGraphExecDestroy(ge);
  cudaGraphDestroy(g);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace qbh
