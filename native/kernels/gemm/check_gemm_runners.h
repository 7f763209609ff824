// Launch a GemmCase through a kernel path (used by checks and timing).
#pragma once
#include "kernels/gemm/check_gemm_cases.h"

void run_gemm_smallm(const GemmCase& c, void* y, cudaStream_t s);
bool lt_available();
void run_gemm_lt(const GemmCase& c, void* y, cudaStream_t s);
