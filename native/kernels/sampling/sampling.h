// CUDA kernels at the two ends of the model and for calibration (sm_90a): embedding gather, row gather, sampling /
// log-prob gathering on fp32 logits, activation column absmax. Twins in kernels/reference.h (and CpuModel::record).
// Only token ids and the requested log-probs leave the GPU.
#pragma once
#include "kernels/cuda_ops.h"

namespace qb::cuda {

// Twin: cpu::embedding. table [V, D] act; tokens [T] device; out [T, D] act.
void embedding(const void* table, const int32_t* tokens, int T, int D, ActDtype act, void* out, cudaStream_t stream);

// out[r, :] = x[rows[r], :] for r < R (D elements of act each); rows device. (lm_head input rows.)
void gather_rows(const void* x, const int32_t* rows, int R, int D, ActDtype act, void* out, cudaStream_t stream);

// Twin: cpu::sample_row, for i < n on the fp32 logits row logits + row_idx[i] * V:
// temperature[i] <= 0 -> argmax (first index on ties); else softmax(logits / T), nucleus top_p[i], one draw
// rng_uniform(seed, counter) with seed = seeds[3i] | seeds[3i+1] << 32, counter = seeds[3i+2].
// token[i] and logprob[i] = log_softmax(logits)[token] (temperature 1) are written. All arrays are device arrays.
size_t sample_rows_workspace_bytes(int n, int V);
void sample_rows(const float* logits, int V, const int32_t* row_idx, int n, const float* temperature,
                 const float* top_p, const uint32_t* seeds, int32_t* token, float* logprob, void* workspace,
                 size_t workspace_bytes, cudaStream_t stream);

// Twin: cpu::gather_logprob, for i < n: logprob[i] = log_softmax(row row_idx[i])[targets[i]], is_argmax[i].
void gather_logprob_rows(const float* logits, int V, const int32_t* row_idx, const int32_t* targets, int n,
                         float* logprob, uint8_t* is_argmax, cudaStream_t stream);

// Async scheduling (Model::submit): a step's input tokens that the previous step sampled on the device.
// For i < T with sources[i] >= 0: tokens[i] = sampled[sources[i]]; other tokens are left as uploaded. Twin: the
// CPU model's Model::submit resolves the same indices from the previous step's sampled tokens.
void tokens_from_samples(int32_t* tokens, const int32_t* sources, const int32_t* sampled, int T, cudaStream_t stream);

// Calibration statistics: colmax[k] = max(colmax[k], max_t |x[t, k]|) for x [T, K] in act (twin: CpuModel::record).
void absmax_columns(const void* x, ActDtype act, int T, int K, float* colmax, cudaStream_t stream);

}  // namespace qb::cuda
