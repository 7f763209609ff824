// Device and pinned host buffers of the CUDA model: grown on demand, never inside a graph capture.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/common/cuda_check.h"

namespace qb::cuda_model {

using qb::cuda::check;
using qb::cuda::device_alloc;


// Bumped whenever a device buffer moves: captured decode graphs hold raw pointers and are re-captured after a move.
inline uint64_t g_buffer_generation = 0;

// A device buffer that grows on demand (never inside a graph capture: capture only follows an eager run of the
// same shape, which sized everything).
struct GrowBuf {
  void* p = nullptr;
  size_t bytes = 0;
  const char* what = "buffer";
  explicit GrowBuf(const char* w) : what(w) {}
  ~GrowBuf() {
    if (p) cudaFree(p);
  }
  void* ensure(size_t n) {
    if (n > bytes) {
      if (p) {
        cudaDeviceSynchronize();
        cudaFree(p);
        p = nullptr;
      }
      size_t want = std::max<size_t>(n + n / 4, 256);
      p = device_alloc(want, what);
      bytes = want;
      ++g_buffer_generation;
    }
    return p;
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(p);
  }
};

struct PinnedBuf {
  void* p = nullptr;
  size_t bytes = 0;
  ~PinnedBuf() {
    if (p) cudaFreeHost(p);
  }
  void* ensure(size_t n) {
    if (n > bytes) {
      if (p) cudaFreeHost(p);
      p = nullptr;
      size_t want = std::max<size_t>(n + n / 4, 4096);
      check(cudaMallocHost(&p, want), "pinned host buffer");
      bytes = want;
    }
    return p;
  }
};

}  // namespace qb::cuda_model
