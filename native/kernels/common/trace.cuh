// Block timeline trace of the decode-path kernels (a measurement build only: cmake -DQB_TRACE=ON; without it every
// macro below is empty and the kernels are unchanged).
//
// Thread 0 of each block stamps %globaltimer (ns, one clock for all SMs) at up to six points — entry, after the
// programmatic-dependent-launch wait, after the prologue, exit, and two the kernel chooses — into shared memory, and
// at exit appends one record to a device buffer: the layout is Record below, after a header {count, capacity}. The
// host side (cuda_model.cc, QB_TRACE_FILE) resets the count before a decode step and writes the buffer to the file
// after it; scripts/device/trace_summary.py turns it into a per-kernel timeline (nsys is not on the device machine).
#pragma once
#include <cstdint>

namespace qb::cuda::trace {

struct Record {  // 64 bytes
  uint32_t tag;  // set by the host per launch: layer * 8 + site (0 qkv, 1 o, 2 gate_up, 3 down, 4 attention)
  uint32_t block;
  uint32_t smid;
  uint32_t pad;
  uint64_t t[6];  // entry, wait done, prologue done, exit, two kernel-specific marks (0: not stamped)
};
static_assert(sizeof(Record) == 64, "trace_summary.py reads 64-byte records");
constexpr int kHeaderWords = 2;  // [0] records written, [1] capacity (records)

#if defined(QB_TRACE) && defined(__CUDACC__)
__device__ __forceinline__ uint64_t now() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}
__device__ __forceinline__ void start(uint64_t* st) {
  if (threadIdx.x == 0) st[0] = now(), st[1] = st[2] = st[4] = st[5] = 0;
}
__device__ __forceinline__ void mark(uint64_t* st, int i) {
  if (threadIdx.x == 0) st[i] = now();
}
__device__ __forceinline__ void flush(unsigned long long* buf, int tag, uint64_t* st) {
  if (!buf || threadIdx.x != 0) return;
  st[3] = now();
  const unsigned long long slot = atomicAdd(buf, 1ull);
  if (slot >= buf[1]) return;
  Record* r = reinterpret_cast<Record*>(buf + kHeaderWords) + slot;
  uint32_t sm;
  asm volatile("mov.u32 %0, %%smid;" : "=r"(sm));
  r->tag = (uint32_t)tag;
  r->block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  r->smid = sm;
#pragma unroll
  for (int i = 0; i < 6; ++i) r->t[i] = st[i];
}
#define QB_TRACE_START    \
  __shared__ uint64_t qb_trace_st[6]; \
  ::qb::cuda::trace::start(qb_trace_st)
#define QB_TRACE_MARK(i) ::qb::cuda::trace::mark(qb_trace_st, i)
#define QB_TRACE_FLUSH(buf, tag) ::qb::cuda::trace::flush(buf, tag, qb_trace_st)
#else
#define QB_TRACE_START
#define QB_TRACE_MARK(i)
#define QB_TRACE_FLUSH(buf, tag)
#endif

}  // namespace qb::cuda::trace
