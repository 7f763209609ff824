// cuBLASLt configuration search (session 19, not yet run): is cuBLASLt's int8 GEMM slow at M = 128-1024 on the H200
// (session 18's table: the o projection 18.2 us at M = 256 against fp8's 9.9; int8 at M = 512 71 % of the measured
// peak, fp8 93-95 %), or do its heuristic's first eight candidates — what the product times (gemm_lt.cu,
// kTuneCandidates) — miss configurations it has? For each precision path the product runs above M = 16
//   int8   A = W, B = x int8, D int32, compute 32I (gemm_int8_lt_acc)
//   fp8    e4m3, D bf16 unscaled, compute 32F (gemm_fp8_lt_unscaled_bf16)
//   fp16   A = W, B = x fp16, D fp16, compute 32F (gemm_f16_lt)
// and each Llama-3.1-8B linear (qkv 6144 x 4096, o 4096 x 4096, gate_up 28672 x 4096, down 4096 x 14336) at
// M in --ms (default 128, 256, 512, 800, 1024, 2048) it times
//   heur1     the heuristic's first choice (the product without tuning),
//   top8      the best of its first eight (the product with tuning),
//   top64     the best of its first 64,
//   per-algo  the best of every algorithm id's own heuristic list (CUBLASLT_SEARCH_LIMITED_BY_ALGO_ID, 32 each) and
//             of each such configuration with split-K 2 / 3 / 4 / 6 / 8 where the algorithm supports it,
// and prints the best configuration's attributes (algo id, tile, stages, split-K, reduction, swizzle, custom option,
// inner and cluster shape), so that a winner can go into the product as a measured per-shape table. Every candidate
// runs once and its output is compared with the heuristic's first (int8: bit-identical; fp8 / fp16: within 2 ulp of
// the output type, split-K reorders the sum), so a configuration that computes something else cannot win.
// Weights rotate over >= 256 MiB of copies (as the kernel bench does) so the timings read them from HBM, not L2.
// Build and run on the GPU machine (scripts/device/decode_scale.sh "ltsearch" does both):
//   nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a -o /tmp/lt_search native/dev/lt_search/lt_search_main.cu -lcublasLt
//   /tmp/lt_search [--ms 128,256,512] [--paths int8,fp8,fp16] [--shapes qkv,o,gate_up,down] [--jsonl FILE]
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

void ck(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
    std::exit(2);
  }
}
void lt(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "%s: cuBLASLt status %d\n", what, (int)s);
    std::exit(2);
  }
}

struct Path {
  const char* name;
  cudaDataType_t ab, cd;
  cublasComputeType_t compute;
  cudaDataType_t scale;
  int in_bytes, out_bytes;
};
const Path kPaths[] = {
    {"int8", CUDA_R_8I, CUDA_R_32I, CUBLAS_COMPUTE_32I, CUDA_R_32I, 1, 4},
    {"fp8", CUDA_R_8F_E4M3, CUDA_R_16BF, CUBLAS_COMPUTE_32F, CUDA_R_32F, 1, 2},
    {"fp16", CUDA_R_16F, CUDA_R_16F, CUBLAS_COMPUTE_32F, CUDA_R_32F, 2, 2},
};
struct Shape {
  const char* name;
  int N, K;
};
const Shape kShapes[] = {{"qkv", 6144, 4096}, {"o", 4096, 4096}, {"gate_up", 28672, 4096}, {"down", 4096, 14336}};

constexpr size_t kWorkspace = 64ull << 20;
constexpr size_t kRotateBytes = 256ull << 20;
constexpr int kReps = 20;

struct Problem {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  ~Problem() {
    if (op) cublasLtMatmulDescDestroy(op);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (d) cublasLtMatrixLayoutDestroy(d);
  }
};

// The product's layout (gemm_lt.cu get_plan): D[N, M] = op(A = W: K x N, transposed) * (B = x: K x M), column-major.
void make_problem(const Path& p, int M, int N, int K, Problem& pr) {
  lt(cublasLtMatmulDescCreate(&pr.op, p.compute, p.scale), "desc");
  cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  lt(cublasLtMatmulDescSetAttribute(pr.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "transa");
  lt(cublasLtMatmulDescSetAttribute(pr.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "transb");
  lt(cublasLtMatrixLayoutCreate(&pr.a, p.ab, K, N, K), "layout a");
  lt(cublasLtMatrixLayoutCreate(&pr.b, p.ab, K, M, K), "layout b");
  lt(cublasLtMatrixLayoutCreate(&pr.d, p.cd, N, M, N), "layout d");
}

struct Config {
  cublasLtMatmulAlgo_t algo;
  std::string from;  // heur / algo-id list / split-K variant
  int rank = -1;     // position in the global heuristic list, -1 outside it
};

template <typename T>
T cfg_get(const cublasLtMatmulAlgo_t& a, cublasLtMatmulAlgoConfigAttributes_t attr) {
  T v{};
  size_t w = 0;
  if (cublasLtMatmulAlgoConfigGetAttribute(&a, attr, &v, sizeof v, &w) != CUBLAS_STATUS_SUCCESS) return T{};
  return v;
}

std::string describe(const cublasLtMatmulAlgo_t& a) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "\"algo\": %d, \"tile\": %u, \"stages\": %u, \"splitK\": %u, \"reduction\": %u, \"swizzle\": %u, "
                "\"custom\": %u, \"inner\": %u, \"cluster\": %u",
                cfg_get<int32_t>(a, CUBLASLT_ALGO_CONFIG_ID), cfg_get<uint32_t>(a, CUBLASLT_ALGO_CONFIG_TILE_ID),
                cfg_get<uint32_t>(a, CUBLASLT_ALGO_CONFIG_STAGES_ID), cfg_get<uint32_t>(a, CUBLASLT_ALGO_CONFIG_SPLITK_NUM),
                cfg_get<uint32_t>(a, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME),
                cfg_get<uint32_t>(a, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING), cfg_get<uint32_t>(a, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION),
                cfg_get<uint16_t>(a, CUBLASLT_ALGO_CONFIG_INNER_SHAPE_ID), cfg_get<uint16_t>(a, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID));
  return buf;
}

std::vector<cublasLtMatmulHeuristicResult_t> heuristic(cublasLtHandle_t h, const Problem& pr, int count,
                                                       const cublasLtMatmulAlgo_t* limit_to) {
  cublasLtMatmulPreference_t pref;
  lt(cublasLtMatmulPreferenceCreate(&pref), "pref");
  size_t ws = kWorkspace;
  lt(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws), "pref ws");
  std::vector<cublasLtMatmulHeuristicResult_t> res(count);
  int found = 0;
  cublasStatus_t st;
  if (limit_to) {  // the algo id to search within goes in through the results array ([in, out])
    uint32_t mode = CUBLASLT_SEARCH_LIMITED_BY_ALGO_ID;
    lt(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_SEARCH_MODE, &mode, sizeof mode), "pref mode");
    for (auto& r : res) r.algo = *limit_to;
  }
  st = cublasLtMatmulAlgoGetHeuristic(h, pr.op, pr.a, pr.b, pr.d, pr.d, pref, count, res.data(), &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st != CUBLAS_STATUS_SUCCESS) found = 0;
  res.resize(found);
  res.erase(std::remove_if(res.begin(), res.end(), [](const auto& r) { return r.state != CUBLAS_STATUS_SUCCESS; }), res.end());
  return res;
}

// Every configuration to time, each once (by its attributes): the global heuristic's first 64, each algorithm id's own
// list, and split-K variants of those.
std::vector<Config> candidates(cublasLtHandle_t h, const Path& p, const Problem& pr) {
  std::vector<Config> out;
  std::vector<std::string> seen;
  auto add = [&](const cublasLtMatmulAlgo_t& a, const std::string& from, int rank) {
    const std::string key = describe(a);
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) return;
    seen.push_back(key);
    out.push_back({a, from, rank});
  };
  auto g = heuristic(h, pr, 64, nullptr);
  for (size_t i = 0; i < g.size(); ++i) add(g[i].algo, "heuristic", (int)i);
  int ids[256], nids = 0;
  if (cublasLtMatmulAlgoGetIds(h, p.compute, p.scale, p.ab, p.ab, p.cd, p.cd, 256, ids, &nids) != CUBLAS_STATUS_SUCCESS) nids = 0;
  for (int k = 0; k < nids; ++k) {
    cublasLtMatmulAlgo_t a;
    if (cublasLtMatmulAlgoInit(h, p.compute, p.scale, p.ab, p.ab, p.cd, p.cd, ids[k], &a) != CUBLAS_STATUS_SUCCESS) continue;
    auto r = heuristic(h, pr, 32, &a);
    for (auto& x : r) add(x.algo, "algo-id " + std::to_string(ids[k]), -1);
    int32_t splitk_ok = 0;
    size_t w = 0;
    cublasLtMatmulAlgoCapGetAttribute(&a, CUBLASLT_ALGO_CAP_SPLITK_SUPPORT, &splitk_ok, sizeof splitk_ok, &w);
    if (!splitk_ok) continue;
    for (auto& x : r) {
      if (cfg_get<uint32_t>(x.algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM) > 1) continue;  // already split
      for (uint32_t s : {2u, 3u, 4u, 6u, 8u}) {
        cublasLtMatmulAlgo_t v = x.algo;
        if (cublasLtMatmulAlgoConfigSetAttribute(&v, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &s, sizeof s) != CUBLAS_STATUS_SUCCESS) continue;
        for (uint32_t red : {(uint32_t)CUBLASLT_REDUCTION_SCHEME_NONE, (uint32_t)CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE,
                             (uint32_t)CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE}) {
          cublasLtMatmulAlgo_t vr = v;
          if (cublasLtMatmulAlgoConfigSetAttribute(&vr, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &red, sizeof red) != CUBLAS_STATUS_SUCCESS) continue;
          cublasLtMatmulHeuristicResult_t chk{};
          if (cublasLtMatmulAlgoCheck(h, pr.op, pr.a, pr.b, pr.d, pr.d, &vr, &chk) != CUBLAS_STATUS_SUCCESS) continue;
          if (chk.workspaceSize > kWorkspace) continue;
          add(vr, "split-K of algo-id " + std::to_string(ids[k]), -1);
        }
      }
    }
  }
  return out;
}

// Fills n bytes with small random values of the path's input type (int8 in [-8, 8], fp8 / fp16 codes of |v| <= 2).
void fill_inputs(const Path& p, std::vector<uint8_t>& h, std::mt19937& rng) {
  std::uniform_int_distribution<int> d(-8, 8);
  if (p.ab == CUDA_R_8I) {
    for (auto& b : h) b = (uint8_t)(int8_t)d(rng);
  } else if (p.ab == CUDA_R_8F_E4M3) {
    for (auto& b : h) b = (uint8_t)((d(rng) < 0 ? 0x80 : 0) | (0x28 + (rng() % 24)));  // exponents around 2^-2 .. 2^1
  } else {
    auto* e = reinterpret_cast<__half*>(h.data());
    for (size_t i = 0; i < h.size() / 2; ++i) e[i] = __float2half((float)d(rng) / 4.0f);
  }
}

// Elements of d that differ from ref beyond the output type's rounding (int32: any difference; bf16 2^-7, fp16 2^-9
// relative, plus floor: a reordered fp32 sum of K terms of size ~1 moves by ~2^-24 sqrt(K) |terms|, which near a zero
// output is more than its relative rounding), counted into *bad. kind: 0 int32, 1 bf16, 2 fp16. A configuration that
// computes something else is off by the outputs' own size almost everywhere.
__global__ void count_differ(const void* d, const void* ref, size_t n, int kind, float floor, unsigned long long* bad) {
  unsigned long long mine = 0;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    float v, r;
    if (kind == 0) {
      if (static_cast<const int32_t*>(d)[i] != static_cast<const int32_t*>(ref)[i]) ++mine;
      continue;
    } else if (kind == 1) {
      v = __bfloat162float(static_cast<const __nv_bfloat16*>(d)[i]), r = __bfloat162float(static_cast<const __nv_bfloat16*>(ref)[i]);
    } else {
      v = __half2float(static_cast<const __half*>(d)[i]), r = __half2float(static_cast<const __half*>(ref)[i]);
    }
    const float tol = ldexpf(fabsf(r), kind == 1 ? -7 : -9) + floor;
    if (!(fabsf(v - r) <= tol)) ++mine;
  }
  if (mine) atomicAdd(bad, mine);
}

struct Args {
  std::vector<int> ms{128, 256, 512, 800, 1024, 2048};
  std::vector<std::string> paths{"int8", "fp8", "fp16"}, shapes{"qkv", "o", "gate_up", "down"};
  std::string jsonl;
};

std::vector<std::string> split(const char* s) {
  std::vector<std::string> v;
  std::string cur;
  for (const char* c = s;; ++c) {
    if (*c == ',' || *c == 0) {
      if (!cur.empty()) v.push_back(cur);
      cur.clear();
      if (*c == 0) break;
    } else {
      cur += *c;
    }
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n", a.c_str());
      return 2;
    }
    if (a == "--ms") {
      args.ms.clear();
      for (auto& s : split(argv[++i])) args.ms.push_back(std::atoi(s.c_str()));
    } else if (a == "--paths") {
      args.paths = split(argv[++i]);
    } else if (a == "--shapes") {
      args.shapes = split(argv[++i]);
    } else if (a == "--jsonl") {
      args.jsonl = argv[++i];
    } else {
      std::fprintf(stderr, "unknown option %s (--ms, --paths, --shapes, --jsonl)\n", a.c_str());
      return 2;
    }
  }
  FILE* jf = args.jsonl.empty() ? nullptr : std::fopen(args.jsonl.c_str(), "w");
  cublasLtHandle_t h;
  lt(cublasLtCreate(&h), "create");
  void* ws = nullptr;
  ck(cudaMalloc(&ws, kWorkspace), "workspace");
  cudaStream_t stream;
  ck(cudaStreamCreate(&stream), "stream");
  cudaEvent_t e0, e1;
  ck(cudaEventCreate(&e0), "event");
  ck(cudaEventCreate(&e1), "event");
  unsigned long long* bad = nullptr;
  ck(cudaMalloc(&bad, sizeof(unsigned long long)), "counter");
  std::mt19937 rng(19);
  std::printf("path shape M | heur1 us | top8 us | top64 us | best us (candidates) | best / top8 | best config\n");
  for (const Path& p : kPaths) {
    if (std::find(args.paths.begin(), args.paths.end(), p.name) == args.paths.end()) continue;
    for (const Shape& s : kShapes) {
      if (std::find(args.shapes.begin(), args.shapes.end(), s.name) == args.shapes.end()) continue;
      const size_t wbytes = (size_t)s.N * s.K * p.in_bytes;
      const int copies = (int)std::max<size_t>(2, (kRotateBytes + wbytes - 1) / wbytes);
      std::vector<void*> w(copies);
      std::vector<uint8_t> hw(wbytes);
      for (int c = 0; c < copies; ++c) {
        fill_inputs(p, hw, rng);
        ck(cudaMalloc(&w[c], wbytes), "weights");
        ck(cudaMemcpy(w[c], hw.data(), wbytes, cudaMemcpyHostToDevice), "weights copy");
      }
      for (int M : args.ms) {
        const size_t xbytes = (size_t)M * s.K * p.in_bytes, dbytes = (size_t)M * s.N * p.out_bytes;
        std::vector<uint8_t> hx(xbytes);
        fill_inputs(p, hx, rng);
        void *x = nullptr, *d = nullptr, *dref = nullptr;
        ck(cudaMalloc(&x, xbytes), "x");
        ck(cudaMalloc(&d, dbytes), "d");
        ck(cudaMalloc(&dref, dbytes), "dref");
        ck(cudaMemcpy(x, hx.data(), xbytes, cudaMemcpyHostToDevice), "x copy");
        Problem pr;
        make_problem(p, M, s.N, s.K, pr);
        const int32_t one_i = 1, zero_i = 0;
        const float one_f = 1.0f, zero_f = 0.0f;
        const void* alpha = p.scale == CUDA_R_32I ? (const void*)&one_i : (const void*)&one_f;
        const void* beta = p.scale == CUDA_R_32I ? (const void*)&zero_i : (const void*)&zero_f;
        auto run = [&](const cublasLtMatmulAlgo_t& a, void* wp, void* out) {
          return cublasLtMatmul(h, pr.op, alpha, wp, pr.a, x, pr.b, beta, out, pr.d, out, pr.d, &a, ws, kWorkspace, stream);
        };
        std::vector<Config> cands = candidates(h, p, pr);
        if (cands.empty() || cands[0].rank != 0) {
          std::printf("%s %s %d | no heuristic result\n", p.name, s.name, M);
          cudaFree(x), cudaFree(d), cudaFree(dref);
          continue;
        }
        // The reference output: the heuristic's first choice on copy 0 (poisoned first).
        ck(cudaMemset(dref, 0xff, dbytes), "poison");
        lt(run(cands[0].algo, w[0], dref), "reference run");
        ck(cudaStreamSynchronize(stream), "reference sync");
        const int kind = p.cd == CUDA_R_32I ? 0 : p.cd == CUDA_R_16BF ? 1 : 2;
        auto time_us = [&](const cublasLtMatmulAlgo_t& a, int reps) {
          ck(cudaEventRecord(e0, stream), "event");
          for (int r = 0; r < reps; ++r) run(a, w[(r + 1) % copies], d);
          ck(cudaEventRecord(e1, stream), "event");
          ck(cudaEventSynchronize(e1), "event sync");
          float ms = 0;
          ck(cudaEventElapsedTime(&ms, e0, e1), "elapsed");
          return 1e3 * ms / reps;
        };
        // Screen: every candidate checked once against the reference, then timed with 3 runs.
        std::vector<std::pair<double, size_t>> screened;
        int wrong = 0;
        for (size_t i = 0; i < cands.size(); ++i) {
          ck(cudaMemset(d, 0xff, dbytes), "poison");
          if (run(cands[i].algo, w[0], d) != CUBLAS_STATUS_SUCCESS) continue;
          ck(cudaMemsetAsync(bad, 0, sizeof(unsigned long long), stream), "bad reset");
          count_differ<<<264, 256, 0, stream>>>(d, dref, (size_t)M * s.N, kind, 1e-3f * std::sqrt((float)s.K), bad);
          unsigned long long nbad = 0;
          ck(cudaMemcpyAsync(&nbad, bad, sizeof nbad, cudaMemcpyDeviceToHost, stream), "bad copy");
          if (cudaStreamSynchronize(stream) != cudaSuccess) {
            std::fprintf(stderr, "%s %s %d: candidate %zu (%s) failed on the device\n", p.name, s.name, M, i, describe(cands[i].algo).c_str());
            return 3;
          }
          if (nbad) {
            ++wrong;
            continue;
          }
          screened.push_back({time_us(cands[i].algo, 3), i});
        }
        // Time the heuristic's first 64 and the eight fastest of the screen with kReps runs each.
        std::sort(screened.begin(), screened.end());
        double heur1 = -1, top8 = 1e30, top64 = 1e30, best = 1e30;
        size_t best_i = 0;
        for (size_t k = 0; k < screened.size(); ++k) {
          const size_t i = screened[k].second;
          if (k >= 8 && cands[i].rank < 0) continue;
          const double us = time_us(cands[i].algo, kReps);
          if (cands[i].rank == 0) heur1 = us;
          if (cands[i].rank >= 0 && cands[i].rank < 8) top8 = std::min(top8, us);
          if (cands[i].rank >= 0) top64 = std::min(top64, us);
          if (us < best) best = us, best_i = i;
        }
        const int timed = (int)screened.size();
        const double tops = 2.0 * M * s.N * s.K / (best * 1e-6) / 1e12;
        std::printf("%s %s %d | %.1f | %.1f | %.1f | %.1f (%d timed, %d differ) | %.3f | %s: {%s} %.0f T(FL)OP/s\n", p.name,
                    s.name, M, heur1, top8, top64, best, timed, wrong, best / top8, cands[best_i].from.c_str(),
                    describe(cands[best_i].algo).c_str(), tops);
        std::fflush(stdout);
        if (jf) {
          std::fprintf(jf,
                       "{\"path\": \"%s\", \"shape\": \"%s\", \"M\": %d, \"N\": %d, \"K\": %d, \"heur1Us\": %.3f, \"top8Us\": %.3f, "
                       "\"top64Us\": %.3f, \"bestUs\": %.3f, \"timed\": %d, \"differ\": %d, \"bestFrom\": \"%s\", \"best\": {%s}}\n",
                       p.name, s.name, M, s.N, s.K, heur1, top8, top64, best, timed, wrong, cands[best_i].from.c_str(),
                       describe(cands[best_i].algo).c_str());
          std::fflush(jf);
        }
        cudaFree(x), cudaFree(d), cudaFree(dref);
      }
      for (void* c : w) cudaFree(c);
    }
  }
  if (jf) std::fclose(jf);
  cublasLtDestroy(h);
  return 0;
}
