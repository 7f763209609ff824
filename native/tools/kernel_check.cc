// CUDA kernel harness: checks every kernel against its CPU twin (kernels/reference.h) on fresh random inputs, then times them.
// Usage: qb_kernel_check [--seed N] [--checks-only | --bench-only] [--jsonl FILE] [--quick] [--only G1,G2] [--no-pdl]
// (--no-pdl: launch without programmatic dependent launch, so each kernel's timing excludes the overlap)
// Groups (--only): quant, fused, gemm_smallm, gemm_lt, fused_gemv, attention, sampling, weights (checks); gemm, act,
// fused_gemv, attention, sampling (timings).
// Exit status: 0 when every check passed, 1 when any failed, 2 on a setup/CUDA error.
#include <cuda_runtime.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "kernels/common/pdl.h"
#include "tools/checks.h"
#include "tools/harness_util.h"

using namespace qbh;

int main(int argc, char** argv) {
  uint64_t seed = (uint64_t)std::chrono::system_clock::now().time_since_epoch().count();
  bool checks = true, bench = true, quick = false;
  std::string jsonl, only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seed" && i + 1 < argc) seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--checks-only") bench = false;
    else if (a == "--bench-only") checks = false;
    else if (a == "--quick") quick = true;
    else if (a == "--jsonl" && i + 1 < argc) jsonl = argv[++i];
    else if (a == "--only" && i + 1 < argc) only = argv[++i];
    else if (a == "--no-pdl") qb::cuda::set_pdl_enabled(false);
    else { std::fprintf(stderr, "unknown argument %s\n", a.c_str()); return 2; }
  }
  try {
    int dev = 0;
    qb::cuda::check(cudaGetDevice(&dev), "cudaGetDevice");
    cudaDeviceProp prop{};
    qb::cuda::check(cudaGetDeviceProperties(&prop, dev), "cudaGetDeviceProperties");
    std::printf("device: %s, sm_%d%d, %d SMs, L2 %d MB; seed %" PRIu64 "\n", prop.name, prop.major, prop.minor,
                prop.multiProcessorCount, prop.l2CacheSize >> 20, seed);
    if (prop.major < 9) {
      std::fprintf(stderr, "this harness needs sm_90 (Hopper): the kernels are built for sm_90a only\n");
      return 2;
    }
    qb::cpu::set_num_threads((int)std::max(1u, std::thread::hardware_concurrency()));
    Harness h(seed, quick);
    h.device = prop.name;
    h.ceil = ceilings_for(prop.name);
    if (h.ceil.card.empty())
      std::printf("no ceilings for %s in native/device_ceilings.json: timing rows carry no roofline ratio\n", prop.name);
    h.only = only;
    if (checks) run_checks(h);
    if (bench) run_bench(h);
    int failed = 0;
    for (auto& r : h.results) failed += r.pass ? 0 : 1;
    if (!jsonl.empty()) write_jsonl(h, jsonl);
    if (bench) print_table(h);
    std::printf("%zu passed, %d failed\n", h.results.size() - failed, failed);
    return failed ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "harness error: %s\n", e.what());
    return 2;
  }
}
