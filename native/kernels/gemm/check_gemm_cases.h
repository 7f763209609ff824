// Random GEMM problems (inputs quantized with the CPU twins' rules), their CPU reference, and the comparison used by
// every GEMM check (small-M kernels and cuBLASLt paths alike).
#pragma once
#include <string>
#include <vector>

#include "tools/checks.h"

enum class GemmKind { FP8, INT8, BF16, F16 };
inline const char* gemm_kind_name(GemmKind k) {
  return k == GemmKind::FP8 ? "fp8" : k == GemmKind::INT8 ? "int8-w8a8" : k == GemmKind::BF16 ? "bf16" : "f16";
}
inline size_t gemm_elem_bytes(GemmKind k) { return (k == GemmKind::BF16 || k == GemmKind::F16) ? 2 : 1; }

struct GemmCase {
  GemmKind kind;
  int M, N, K;
  bool a_per_token = true, w_per_channel = true;
  qb::ActDtype y_dtype = qb::ActDtype::BF16;
  // host data: 8-bit codes or 16-bit act values (as floats)
  std::vector<uint8_t> xq, wq;
  std::vector<float> xf, wf;
  std::vector<float> s_a, s_w;  // s_a: M or 1 entries; s_w: N entries (all equal when per tensor)
  // device copies
  qbh::DevBuf x, w, sa, sw;
  std::vector<float> ref, abs_sum;  // CPU twin output [M, N]; sum_k |x_k w_k| * scales (error scale)
};

GemmCase make_gemm_case(Harness& h, GemmKind kind, int M, int N, int K, bool a_per_token, bool w_per_channel,
                        qb::ActDtype y_dtype, bool with_ref);
// Compares a device output with the case's reference; returns pass and fills detail.
bool compare_gemm(const GemmCase& c, const qbh::DevBuf& y, std::string& detail);
