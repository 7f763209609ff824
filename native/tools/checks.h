// Declarations shared by the harness's check and timing files.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/reference.h"
#include "kernels/cuda_ops.h"
#include "tools/harness_util.h"

// Roofline denominators of the card at hand: the measured rates of native/device_ceilings.json (the one source the
// packages read too; turned into a table at configure time), matched by device name. An unknown card: all zero, and
// the timing rows carry no roofline ratio.
struct Ceilings {
  std::string card;  // the json's name, or "" for an unknown card
  double bytes_per_s = 0, bf16 = 0, fp8 = 0, int8 = 0;
};
Ceilings ceilings_for(const std::string& device_name);

struct BenchRow {
  std::string op, precision, shape, kernel;
  double median_us, bytes, flops, tbs, tflops, roofline;
  std::string bound;  // "bandwidth" or "compute"
};

struct Harness {
  qbh::Rng rng;
  bool quick;
  cudaStream_t stream = nullptr;
  std::string device;
  Ceilings ceil;
  std::string only;  // comma-separated group names; empty = all
  bool wants(const char* group) const {
    if (only.empty()) return true;
    std::string g = std::string(",") + only + ",";
    return g.find(std::string(",") + group + ",") != std::string::npos;
  }
  std::vector<qbh::CheckResult> results;
  std::vector<BenchRow> bench;
  Harness(uint64_t seed, bool q) : rng(seed), quick(q) { qb::cuda::check(cudaStreamCreate(&stream), "cudaStreamCreate"); }
  void record(const std::string& name, bool pass, const std::string& detail) {
    results.push_back({name, pass, detail});
    std::printf("%s %-58s %s\n", pass ? "PASS" : "FAIL", name.c_str(), detail.c_str());
    std::fflush(stdout);
  }
};


void run_checks(Harness& h);
void check_quant(Harness& h);
void check_fused(Harness& h);
void check_gemm_smallm(Harness& h);
void check_gemm_lt(Harness& h);
void check_fused_gemv(Harness& h);  // check_gemm_fused.cc: FusedLinear vs the unfused chain, bit for bit
void check_attention(Harness& h);  // check_attention.cc: RoPE + paged KV write, prefill/decode paged attention
void check_sampling(Harness& h);   // check_sampling.cc: embedding, logits -> sample / gather / argmax
void check_weights(Harness& h);    // check_weights.cc: GPU weight preparation (synthetic values, weight quant)
void bench_attention(Harness& h);
void bench_fused_gemv(Harness& h);
void bench_sampling(Harness& h);
void run_bench(Harness& h);
void write_jsonl(const Harness& h, const std::string& path);
// One timing row (TB/s, TFLOP/s, roofline ratio vs ceil.bytes_per_s / peak_flops, bound), printed as a TIME line.
void add_bench_row(Harness& h, const std::string& op, const std::string& prec, const std::string& shape,
                   const std::string& kernel, double us, double bytes, double flops, double peak_flops);
void print_table(const Harness& h);
