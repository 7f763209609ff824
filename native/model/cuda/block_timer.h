// Per-block device timing of one step (--profile-blocks).
#pragma once
#include <cuda_runtime.h>

#include <vector>

#include "kernels/common/cuda_check.h"

namespace qb::cuda_model {

using qb::cuda::check;

// Named device events for --profile-blocks: elapsed time between consecutive marks goes to the first mark's block.
class BlockTimer {
 public:
  enum Block { Attention = 0, Mlp, Quant, Other, kBlocks };
  void start(cudaStream_t s) {
    on_ = true;
    n_ = 0;
    mark(Other, s);
  }
  void mark(Block b, cudaStream_t s) {
    if (!on_) return;
    if (n_ == events_.size()) {
      cudaEvent_t e;
      check(cudaEventCreate(&e), "cudaEventCreate");
      events_.push_back(e);
      blocks_.push_back(Other);
    }
    blocks_[n_] = b;
    check(cudaEventRecord(events_[n_], s), "cudaEventRecord");
    ++n_;
  }
  // After a stream sync: milliseconds per block.
  void finish(double out[kBlocks]) {
    for (int i = 0; i < kBlocks; ++i) out[i] = 0;
    for (size_t i = 0; i + 1 < n_; ++i) {
      float ms = 0;
      check(cudaEventElapsedTime(&ms, events_[i], events_[i + 1]), "cudaEventElapsedTime");
      out[blocks_[i]] += ms;
    }
    on_ = false;
  }
  bool on() const { return on_; }
  ~BlockTimer() {
    for (auto e : events_) cudaEventDestroy(e);
  }

 private:
  bool on_ = false;
  size_t n_ = 0;
  std::vector<cudaEvent_t> events_;
  std::vector<Block> blocks_;
};

}  // namespace qb::cuda_model
