// Error handling for the CUDA backend: every launcher checks its launch and throws a typed error naming the kernel.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <stdexcept>
#include <string>

namespace qb::cuda {

// A CUDA runtime error, naming the kernel or call that failed.
class CudaError : public std::runtime_error {
 public:
  CudaError(const std::string& where, cudaError_t code)
      : std::runtime_error("CUDA error in " + where + ": " + cudaGetErrorName(code) + " (" +
                           cudaGetErrorString(code) + ")"),
        where_(where),
        code_(code) {}
  CudaError(const std::string& where, const std::string& msg)
      : std::runtime_error("CUDA error in " + where + ": " + msg), where_(where), code_(cudaErrorUnknown) {}
  const std::string& where() const { return where_; }
  cudaError_t code() const { return code_; }

 private:
  std::string where_;
  cudaError_t code_;
};

// Device out of memory: says how much was asked for and how much was free.
class CudaOomError : public CudaError {
 public:
  CudaOomError(const std::string& where, size_t requested, size_t free_bytes, size_t total_bytes)
      : CudaError(where, "out of device memory: requested " + std::to_string(requested) + " bytes, " +
                             std::to_string(free_bytes) + " free of " + std::to_string(total_bytes) +
                             " (lower gpuMemoryUtilization, the batch size or the context length)"),
        requested_(requested),
        free_(free_bytes) {}
  size_t requested() const { return requested_; }
  size_t free_bytes() const { return free_; }

 private:
  size_t requested_, free_;
};

// Bad launcher arguments (shape/alignment the kernel does not support).
class CudaArgError : public std::invalid_argument {
 public:
  CudaArgError(const std::string& kernel, const std::string& msg) : std::invalid_argument(kernel + ": " + msg) {}
};

inline void check(cudaError_t e, const char* where) {
  if (e != cudaSuccess) {
    (void)cudaGetLastError();  // clear a sticky-free error so later calls are not blamed
    throw CudaError(where, e);
  }
}
// After a kernel launch: launch-configuration errors surface here; asynchronous faults at the next sync.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

inline void require(bool ok, const char* kernel, const std::string& msg) {
  if (!ok) throw CudaArgError(kernel, msg);
}

// cudaMalloc that throws CudaOomError with requested/free bytes.
inline void* device_alloc(size_t bytes, const char* what) {
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, bytes == 0 ? 1 : bytes);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    size_t fr = 0, tot = 0;
    cudaMemGetInfo(&fr, &tot);
    throw CudaOomError(what, bytes, fr, tot);
  }
  check(e, what);
  return p;
}

}  // namespace qb::cuda
