// cuBLASLt GEMM paths (bf16/fp16 baseline, fp8 with outer-vector or fallback scales, int8 IMMA + epilogue).
// Compiled only when cuBLASLt is available (QB_HAVE_CUBLASLT).
#include <cublasLt.h>

#include <string>
#include <vector>

#include "kernels/common/cuda_check.h"
#include "kernels/gemm/gemm_lt.h"

namespace qb::cuda {

namespace {
void lt_check(cublasStatus_t st, const char* where) {
  if (st != CUBLAS_STATUS_SUCCESS)
    throw CudaError(where, std::string("cuBLASLt status ") + std::to_string((int)st));
}
cudaDataType_t cuda_type(ActDtype d) {
  return d == ActDtype::F32 ? CUDA_R_32F : d == ActDtype::F16 ? CUDA_R_16F : CUDA_R_16BF;
}
__global__ void fill_kernel(float* v, const float* s, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) v[i] = *s;
}
}  // namespace

struct LtPlan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  std::vector<cublasLtMatmulAlgo_t> candidates;  // the heuristic's first kTuneCandidates, best-ranked first
  bool ok = false;     // an algorithm was found
  bool tuned = false;  // candidates timed (LtContext::tune)
  ~LtPlan() {
    if (op) cublasLtMatmulDescDestroy(op);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (d) cublasLtMatrixLayoutDestroy(d);
  }
};

LtContext::LtContext(size_t workspace_bytes) : ws_bytes_(workspace_bytes) {
  cublasLtHandle_t h;
  lt_check(cublasLtCreate(&h), "cublasLtCreate");
  handle_ = h;
  ws_ = device_alloc(ws_bytes_, "cuBLASLt workspace");
}
LtContext::~LtContext() {
  for (auto& kv : plans_) delete kv.second;
  if (ws_) cudaFree(ws_);
  if (scratch_) cudaFree(scratch_);
  for (float* v : vec_) if (v) cudaFree(v);
  if (handle_) cublasLtDestroy(static_cast<cublasLtHandle_t>(handle_));
}
void* LtContext::scratch(size_t bytes) {
  if (bytes > scratch_bytes_) {
    if (scratch_) cudaFree(scratch_);
    scratch_ = nullptr;
    scratch_ = device_alloc(bytes, "cuBLASLt scratch");
    scratch_bytes_ = bytes;
    ++generation_;
  }
  return scratch_;
}
float* LtContext::scale_vec(int which, size_t n) {
  if (n > vec_n_[which]) {
    if (vec_[which]) cudaFree(vec_[which]);
    vec_[which] = static_cast<float*>(device_alloc(n * sizeof(float), "cuBLASLt scale vector"));
    vec_n_[which] = n;
    ++generation_;
  }
  return vec_[which];
}
LtPlan* LtContext::plan(const std::string& key) {
  auto it = plans_.find(key);
  return it == plans_.end() ? nullptr : it->second;
}
void LtContext::put_plan(const std::string& key, LtPlan* p) { plans_[key] = p; }

namespace {

enum class ScaleKind { None, Scalar, OuterVec };

constexpr int kTuneCandidates = 8;     // heuristic results timed per problem when tuning
constexpr int kTuneReps = 5;           // timed runs per candidate
constexpr float kTuneMargin = 0.03f;   // a candidate replaces the heuristic's first when this much faster

// Builds (or fetches) the plan for D[N, M] = op(A = W: K x N, transposed) * (B = x: K x M), column-major.
LtPlan* get_plan(LtContext& ctx, const char* name, cudaDataType_t ab, cudaDataType_t cd, cublasComputeType_t compute,
                 cudaDataType_t scale_type, ScaleKind sk, int M, int N, int K) {
  std::string key = std::string(name) + ":" + std::to_string(ab) + ":" + std::to_string(cd) + ":" +
                    std::to_string((int)sk) + ":" + std::to_string(M) + "x" + std::to_string(N) + "x" +
                    std::to_string(K);
  if (LtPlan* p = ctx.plan(key)) return p;
  auto* p = new LtPlan();
  ctx.put_plan(key, p);  // cached even when no algorithm exists (ok = false), so the fallback is chosen once
  lt_check(cublasLtMatmulDescCreate(&p->op, compute, scale_type), name);
  cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  lt_check(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), name);
  lt_check(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), name);
  if (sk == ScaleKind::OuterVec) {
    int32_t mode = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
    lt_check(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &mode, sizeof mode), name);
    lt_check(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mode, sizeof mode), name);
  }
  lt_check(cublasLtMatrixLayoutCreate(&p->a, ab, K, N, K), name);
  lt_check(cublasLtMatrixLayoutCreate(&p->b, ab, K, M, K), name);
  lt_check(cublasLtMatrixLayoutCreate(&p->c, cd, N, M, N), name);
  lt_check(cublasLtMatrixLayoutCreate(&p->d, cd, N, M, N), name);
  cublasLtMatmulPreference_t pref;
  lt_check(cublasLtMatmulPreferenceCreate(&pref), name);
  size_t ws = ctx.workspace_bytes();
  lt_check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws), name);
  cublasLtMatmulHeuristicResult_t res[kTuneCandidates] = {};
  int found = 0;
  cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(static_cast<cublasLtHandle_t>(ctx.handle()), p->op, p->a, p->b,
                                                     p->c, p->d, pref, kTuneCandidates, res, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st == CUBLAS_STATUS_SUCCESS && found > 0) {
    p->algo = res[0].algo;
    p->ok = true;
    for (int i = 0; i < found; ++i)
      if (res[i].state == CUBLAS_STATUS_SUCCESS) p->candidates.push_back(res[i].algo);
  }
  return p;
}

// Times each candidate (one warm-up, then kTuneReps back to back between two events) and keeps the fastest; the
// heuristic's first choice stays unless another is at least kTuneMargin faster, so near-ties do not flip between
// processes. Runs on the caller's stream with the real operands (the last run writes D with the chosen algorithm).
void tune_plan(LtContext& ctx, LtPlan* p, const void* alpha, const void* beta, const void* A, const void* B, void* D,
               cudaStream_t stream) {
  p->tuned = true;
  if (p->candidates.size() < 2) return;
  cudaEvent_t e0, e1;
  check(cudaEventCreate(&e0), "gemm tuning (event)");
  check(cudaEventCreate(&e1), "gemm tuning (event)");
  auto lt = static_cast<cublasLtHandle_t>(ctx.handle());
  auto launch = [&](const cublasLtMatmulAlgo_t& algo) {
    return cublasLtMatmul(lt, p->op, alpha, A, p->a, B, p->b, beta, D, p->c, D, p->d, &algo, ctx.workspace(),
                          ctx.workspace_bytes(), stream);
  };
  float first = 0.0f, best = 0.0f;
  size_t best_i = 0;
  for (size_t i = 0; i < p->candidates.size(); ++i) {
    if (launch(p->candidates[i]) != CUBLAS_STATUS_SUCCESS) {
      if (i == 0) break;  // the heuristic's choice itself does not run here: leave it to run_plan's error
      continue;
    }
    check(cudaEventRecord(e0, stream), "gemm tuning (event)");
    for (int r = 0; r < kTuneReps; ++r) launch(p->candidates[i]);
    check(cudaEventRecord(e1, stream), "gemm tuning (event)");
    check(cudaEventSynchronize(e1), "gemm tuning (sync)");
    float ms = 0.0f;
    check(cudaEventElapsedTime(&ms, e0, e1), "gemm tuning (elapsed)");
    if (i == 0) first = best = ms;
    else if (ms < best) best = ms, best_i = i;
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  if (best_i != 0 && first > 0.0f && best <= first * (1.0f - kTuneMargin)) p->algo = p->candidates[best_i];
}

void run_plan(LtContext& ctx, LtPlan* p, const char* name, const void* alpha, const void* beta, const void* A,
              const void* B, void* D, cudaStream_t stream) {
  if (ctx.tune && !p->tuned) {
    cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
    check(cudaStreamIsCapturing(stream, &cs), "gemm tuning (capture status)");
    if (cs == cudaStreamCaptureStatusNone) tune_plan(ctx, p, alpha, beta, A, B, D, stream);
  }
  lt_check(cublasLtMatmul(static_cast<cublasLtHandle_t>(ctx.handle()), p->op, alpha, A, p->a, B, p->b, beta, D, p->c,
                          D, p->d, &p->algo, ctx.workspace(), ctx.workspace_bytes(), stream),
           name);
}

void check_lt_args(const char* name, int M, int N, int K, int elem) {
  require(M >= 1 && N >= 1 && K >= 1, name, "shape must be positive");
  require((K * elem) % 16 == 0, name, "K * element size must be a multiple of 16 bytes");
  require(N % 8 == 0, name, "N must be a multiple of 8 (output alignment)");
}

}  // namespace

void gemm_f16_lt(LtContext& ctx, const void* x, const void* w, ActDtype in_dtype, int M, int N, int K, void* y,
                 ActDtype y_dtype, cudaStream_t stream) {
  const char* name = "gemm_f16_lt";
  check_lt_args(name, M, N, K, 2);
  require(in_dtype != ActDtype::F32, name, "in_dtype must be F16 or BF16");
  LtPlan* p = get_plan(ctx, name, cuda_type(in_dtype), cuda_type(y_dtype), CUBLAS_COMPUTE_32F, CUDA_R_32F,
                       ScaleKind::None, M, N, K);
  if (!p->ok) throw CudaError(name, "cuBLASLt found no algorithm for this shape");
  const float one = 1.0f, zero = 0.0f;
  run_plan(ctx, p, name, &one, &zero, w, x, y, stream);
}

void gemm_fp8_lt(LtContext& ctx, const uint8_t* x, const float* s_a, bool a_per_token, const uint8_t* w,
                 const float* s_w, bool w_per_channel, int M, int N, int K, void* y, ActDtype y_dtype,
                 cudaStream_t stream) {
  const char* name = "gemm_fp8_lt";
  check_lt_args(name, M, N, K, 1);
  const float one = 1.0f, zero = 0.0f;
  if (!a_per_token && !w_per_channel) {  // both per tensor: scalar scales in the descriptor, output in y_dtype
    LtPlan* p = get_plan(ctx, name, CUDA_R_8F_E4M3, cuda_type(y_dtype), CUBLAS_COMPUTE_32F, CUDA_R_32F,
                         ScaleKind::Scalar, M, N, K);
    if (p->ok) {
      lt_check(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &s_w, sizeof s_w), name);
      lt_check(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &s_a, sizeof s_a), name);
      run_plan(ctx, p, name, &one, &zero, w, x, y, stream);
      ctx.last_fp8_outer_vec = false;
      return;
    }
  } else {  // outer-vector scales: length N for A (= W), length M for B (= x)
    LtPlan* p = get_plan(ctx, name, CUDA_R_8F_E4M3, cuda_type(y_dtype), CUBLAS_COMPUTE_32F, CUDA_R_32F,
                         ScaleKind::OuterVec, M, N, K);
    if (p->ok) {
      const float* va = s_w;
      const float* vb = s_a;
      if (!w_per_channel) {
        float* v = ctx.scale_vec(0, N);
        fill_kernel<<<(N + 255) / 256, 256, 0, stream>>>(v, s_w, N);
        check_launch("gemm_fp8_lt (scale broadcast)");
        va = v;
      }
      if (!a_per_token) {
        float* v = ctx.scale_vec(1, M);
        fill_kernel<<<(M + 255) / 256, 256, 0, stream>>>(v, s_a, M);
        check_launch("gemm_fp8_lt (scale broadcast)");
        vb = v;
      }
      lt_check(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &va, sizeof va), name);
      lt_check(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &vb, sizeof vb), name);
      run_plan(ctx, p, name, &one, &zero, w, x, y, stream);
      ctx.last_fp8_outer_vec = true;
      return;
    }
  }
  // Fallback: unit scales, fp32 output, our epilogue.
  LtPlan* p = get_plan(ctx, "gemm_fp8_lt_f32", CUDA_R_8F_E4M3, CUDA_R_32F, CUBLAS_COMPUTE_32F, CUDA_R_32F,
                       ScaleKind::None, M, N, K);
  if (!p->ok) throw CudaError(name, "cuBLASLt found no fp8 algorithm for this shape");
  float* acc = static_cast<float*>(ctx.scratch((size_t)M * N * sizeof(float)));
  run_plan(ctx, p, name, &one, &zero, w, x, acc, stream);
  dequant_epilogue_f32(acc, s_a, a_per_token, s_w, w_per_channel, M, N, y, y_dtype, stream);
  ctx.last_fp8_outer_vec = false;
}

// fp8 e4m3 TN GEMM with unit scales and a bf16 output: acc rounded to bf16, scales left to the consumer.
void gemm_fp8_lt_unscaled_bf16(LtContext& ctx, const uint8_t* x, const uint8_t* w, int M, int N, int K, void* y,
                               cudaStream_t stream) {
  const char* name = "gemm_fp8_lt_unscaled_bf16";
  check_lt_args(name, M, N, K, 1);
  LtPlan* p = get_plan(ctx, name, CUDA_R_8F_E4M3, CUDA_R_16BF, CUBLAS_COMPUTE_32F, CUDA_R_32F, ScaleKind::None, M, N,
                       K);
  if (!p->ok) throw CudaError(name, "cuBLASLt found no fp8 algorithm with bf16 output for this shape");
  const float one = 1.0f, zero = 0.0f;
  run_plan(ctx, p, name, &one, &zero, w, x, y, stream);
}

const int32_t* gemm_int8_lt_acc(LtContext& ctx, const int8_t* x, const int8_t* w, int M, int N, int K,
                                cudaStream_t stream) {
  const char* name = "gemm_int8_w8a8_lt";  // the plan's key: one plan for both entry points
  check_lt_args(name, M, N, K, 1);
  LtPlan* p = get_plan(ctx, name, CUDA_R_8I, CUDA_R_32I, CUBLAS_COMPUTE_32I, CUDA_R_32I, ScaleKind::None, M, N, K);
  if (!p->ok) throw CudaError(name, "cuBLASLt found no int8 algorithm for this shape");
  int32_t* acc = static_cast<int32_t*>(ctx.scratch((size_t)M * N * sizeof(int32_t)));
  const int32_t one = 1, zero = 0;
  run_plan(ctx, p, name, &one, &zero, w, x, acc, stream);
  return acc;
}

void gemm_int8_w8a8_lt(LtContext& ctx, const int8_t* x, const float* s_a, bool a_per_token, const int8_t* w,
                       const float* s_w, bool w_per_channel, int M, int N, int K, void* y, ActDtype y_dtype,
                       cudaStream_t stream) {
  const int32_t* acc = gemm_int8_lt_acc(ctx, x, w, M, N, K, stream);
  dequant_epilogue_i32(acc, s_a, a_per_token, s_w, w_per_channel, M, N, y, y_dtype, stream);
}

}  // namespace qb::cuda
