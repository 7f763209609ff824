// Hopper's tensor memory accelerator (TMA) and the shared-memory barriers its copies complete on: a 2-D tensor map
// (host; the encoder comes through the runtime's driver entry point, so nothing links libcuda), one thread's 2-D tile
// copy into shared memory, and the mbarrier calls a consumer waits with. Used by the prefill attention
// (kernels/attention/attention_paged_prefill_wgmma.cuh) and the experiments in native/dev/prefill_attention.
#pragma once
#include <cuda.h>  // CUtensorMap and its enums (types only)
#include <cudaTypedefs.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "kernels/common/cuda_check.h"

namespace qb::cuda::tma {

// A row-major 2-D tensor of `rows` rows of `cols` elements of elem_bytes (1 or 2) bytes each, rows row_bytes apart
// (a multiple of 16), read in boxes of box_cols x box_rows; swizzle_128b: the box lands in shared memory in the
// 128-byte swizzle (box_cols * elem_bytes must then be 128), else row-major. Rows past `rows` read as zero.
inline CUtensorMap tensor_map_2d(const void* base, int elem_bytes, uint64_t cols, uint64_t rows, uint64_t row_bytes,
                                 uint32_t box_cols, uint32_t box_rows, bool swizzle_128b) {
  static PFN_cuTensorMapEncodeTiled_v12000 encode = nullptr;
  if (!encode) {
    cudaDriverEntryPointQueryResult q;
#if CUDART_VERSION >= 12050
    check(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", reinterpret_cast<void**>(&encode), 12000,
                                           cudaEnableDefault, &q),
          "cuTensorMapEncodeTiled entry point");
#else  // CUDA 12.0-12.4: the unversioned query (the same 12.0 ABI)
    check(cudaGetDriverEntryPoint("cuTensorMapEncodeTiled", reinterpret_cast<void**>(&encode), cudaEnableDefault, &q),
          "cuTensorMapEncodeTiled entry point");
#endif
    require(q == cudaDriverEntryPointSuccess && encode, "tma", "no cuTensorMapEncodeTiled in the driver");
  }
  require(elem_bytes == 1 || elem_bytes == 2, "tma", "elements of 1 or 2 bytes");
  require(row_bytes % 16 == 0, "tma", "the row stride must be a multiple of 16 bytes");
  require(!swizzle_128b || box_cols * elem_bytes == 128, "tma", "a 128-byte swizzled box is 128 bytes wide");
  CUtensorMap m;
  const cuuint64_t dims[2] = {cols, rows};
  const cuuint64_t strides[1] = {row_bytes};
  const cuuint32_t box[2] = {box_cols, box_rows}, estr[2] = {1, 1};
  const CUresult r = encode(&m, elem_bytes == 2 ? CU_TENSOR_MAP_DATA_TYPE_UINT16 : CU_TENSOR_MAP_DATA_TYPE_UINT8, 2,
                            const_cast<void*>(base), dims, strides, box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE,
                            swizzle_128b ? CU_TENSOR_MAP_SWIZZLE_128B : CU_TENSOR_MAP_SWIZZLE_NONE,
                            CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  require(r == CUDA_SUCCESS, "tma", "cuTensorMapEncodeTiled failed (" + std::to_string((int)r) + ")");
  return m;
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }

// The box at (x = column, y = row) of *map into shared memory at dst; its bytes complete a transaction on *bar.
__device__ __forceinline__ void load_2d(uint32_t dst, const CUtensorMap* map, int x, int y, uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(x), "r"(y), "r"(smem_addr(bar))
      : "memory");
}

__device__ __forceinline__ void mbar_init(uint64_t* bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count));
}
// Makes initialized barriers visible to the async proxy (before the first copy that completes on them).
__device__ __forceinline__ void mbar_init_fence() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }
// One arrival that also expects `bytes` of transactions (the copies issued for this phase).
__device__ __forceinline__ void mbar_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
}
// Spins until the phase of the given parity has completed.
__device__ __forceinline__ void mbar_wait(uint64_t* bar, int parity) {
  asm volatile(
      "{\n.reg .pred P1;\nWAIT_%=:\nmbarrier.try_wait.parity.shared::cta.b64 P1, [%0], %1;\n@P1 bra DONE_%=;\n"
      "bra WAIT_%=;\nDONE_%=:\n}\n" ::"r"(smem_addr(bar)),
      "r"(parity)
      : "memory");
}

}  // namespace qb::cuda::tma
