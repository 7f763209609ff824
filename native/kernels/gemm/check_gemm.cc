// GEMM checks: small-M kernels (fp8, int8 W8A8, bf16, f16) on odd M/N, K with a partial 64-byte chunk (and an
// lm_head-sized N), all scale modes
// and output dtypes; then the large-M library paths when built with cuBLASLt. Also runs all checks (run_checks).
#include "kernels/gemm/check_gemm_cases.h"
#include "kernels/gemm/check_gemm_runners.h"

using namespace qbh;

void check_gemm_smallm(Harness& h) {
  const GemmKind kinds[] = {GemmKind::FP8, GemmKind::INT8, GemmKind::BF16, GemmKind::F16};
  const int Ms[] = {1, 3, 8, 13, 16, 29, 64};
  int variant = 0;
  for (GemmKind k : kinds) {
    for (int M : Ms) {
      if (h.quick && M != 1 && M != 29) continue;
      for (auto [N, K] : {std::pair{1003, 4144}, std::pair{77, 14336}, std::pair{65539, 208}}) {
        if (N >= 65536 && M > 8) continue;  // the lm_head-sized configuration (M <= 8, N >= 65536)
        ++variant;
        bool apt = (variant % 3) != 0, wpc = (variant % 4) != 1;
        qb::ActDtype yd = variant % 5 == 2 ? qb::ActDtype::F32 : variant % 5 == 4 ? qb::ActDtype::F16 : qb::ActDtype::BF16;
        if (k == GemmKind::BF16 || k == GemmKind::F16) apt = wpc = true;
        GemmCase c = make_gemm_case(h, k, M, N, K, apt, wpc, yd, true);
        DevBuf y((size_t)M * N * qb::cuda::act_bytes(yd));
        y.poison();
        run_gemm_smallm(c, y.p, h.stream);
        qb::cuda::check(cudaStreamSynchronize(h.stream), "gemm smallm check");
        std::string det;
        bool ok = compare_gemm(c, y, det);
        char name[160];
        std::snprintf(name, sizeof name, "gemm_smallm %s M=%d N=%d K=%d a:%s w:%s y:%s", gemm_kind_name(k), M, N, K,
                      apt ? "tok" : "tensor", wpc ? "chan" : "tensor", dtype_name(yd));
        h.record(name, ok, det);
      }
    }
  }
}

void check_gemm_lt(Harness& h) {
  if (!lt_available()) {
    h.record("gemm_lt (cuBLASLt)", true, "skipped: built without cuBLASLt");
    return;
  }
  const GemmKind kinds[] = {GemmKind::BF16, GemmKind::FP8, GemmKind::INT8};
  // (M, N, K, per-token activations, per-channel weights): every scale combination, incl. both per tensor
  // (fp8: cuBLASLt's scalar scale path), on odd M.
  const std::tuple<int, int, int, bool, bool> cases[] = {{200, 1008, 4096, true, true}, {1, 512, 1024, false, false},
                                                         {77, 256, 14336, true, false}, {33, 512, 2048, false, true}};
  for (GemmKind k : kinds) {
    for (auto [M, N, K, apt, wpc] : cases) {
      if (k == GemmKind::BF16) apt = wpc = true;
      qb::ActDtype yd = qb::ActDtype::BF16;
      GemmCase c = make_gemm_case(h, k, M, N, K, apt, wpc, yd, true);
      DevBuf y((size_t)M * N * qb::cuda::act_bytes(yd));
      y.poison();
      std::string det;
      bool ok;
      try {
        run_gemm_lt(c, y.p, h.stream);
        qb::cuda::check(cudaStreamSynchronize(h.stream), "gemm lt check");
        ok = compare_gemm(c, y, det);
      } catch (const std::exception& e) {
        ok = false;
        det = e.what();
      }
      char name[160];
      std::snprintf(name, sizeof name, "gemm_lt %s M=%d N=%d K=%d a:%s w:%s", gemm_kind_name(k), M, N, K,
                    apt ? "tok" : "tensor", wpc ? "chan" : "tensor");
      h.record(name, ok, det);
    }
  }
}

void run_checks(Harness& h) {
  if (h.wants("quant")) check_quant(h);
  if (h.wants("fused")) check_fused(h);
  if (h.wants("gemm_smallm")) check_gemm_smallm(h);
  if (h.wants("gemm_lt")) check_gemm_lt(h);
  if (h.wants("fused_gemv")) check_fused_gemv(h);
  if (h.wants("attention")) check_attention(h);
  if (h.wants("sampling")) check_sampling(h);
  if (h.wants("weights")) check_weights(h);
}
