// CudaModel: the block timeline trace of a -DQB_TRACE build (kernels/common/trace.cuh), written after each replay.
#include "model/cuda/cuda_model_impl.h"

namespace qb::cuda_model {

void CudaModel::ensure_trace() {
  if (!trace_file() || trace_ptr_) return;
  trace_.ensure(trace::kHeaderWords * 8 + kTraceRecords * sizeof(trace::Record));
  trace_ptr_ = trace_.as<unsigned long long>();
  const unsigned long long header[trace::kHeaderWords] = {0, kTraceRecords};
  check(cudaMemcpy(trace_ptr_, header, sizeof header, cudaMemcpyHostToDevice), "block trace");
}

void CudaModel::write_trace() {
  unsigned long long n = 0;
  check(cudaStreamSynchronize(stream_), "block trace");
  check(cudaMemcpy(&n, trace_ptr_, 8, cudaMemcpyDeviceToHost), "block trace");
  n = std::min<unsigned long long>(n, kTraceRecords);
  std::vector<unsigned char> host(trace::kHeaderWords * 8 + n * sizeof(trace::Record));
  check(cudaMemcpy(host.data(), trace_ptr_, host.size(), cudaMemcpyDeviceToHost), "block trace");
  std::memcpy(host.data(), &n, 8);
  FILE* fp = std::fopen(trace_file(), "wb");
  require(fp != nullptr, "block trace", std::string("cannot write the trace file ") + trace_file());
  std::fwrite(host.data(), 1, host.size(), fp);
  std::fclose(fp);
}

}  // namespace qb::cuda_model
