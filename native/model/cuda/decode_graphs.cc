// CudaModel: decode-only steps as CUDA graphs, one per batch-size bucket, re-captured when a buffer moves.
#include "model/cuda/cuda_model_impl.h"

namespace qb::cuda_model {

void CudaModel::run_decode_graph(const Batch& b, Step& st) {
  const int Tb = decode_graph_bucket(st.T), mb = graph_max_blocks();
  upload_meta(b, st, Tb, mb);
  Step pst = st;
  pst.T = pst.R = Tb;
  pst.S = st.S + (Tb - st.T);
  pst.chunk_rows = Tb;  // one chunk: the logits scratch grows to Tb * V * 4 bytes (workspace_estimate counts it)
  pst.rows.resize(Tb);
  for (int i = 0; i < Tb; ++i) pst.rows[i] = i;
  Batch pb;
  pb.sample_rows = pst.rows;
  Graph& g = graphs_[Tb];
  if (g.exec && g.generation == generation()) {
    if (trace_ptr_) check(cudaMemsetAsync(trace_ptr_, 0, 8, stream_), "block trace");
    check(cudaGraphLaunch(g.exec, stream_), "cudaGraphLaunch (decode step)");
    if (trace_ptr_) write_trace();
    return;
  }
  // First sight of this bucket (or buffers moved): run eagerly once, which sizes every buffer (and times the library
  // GEMMs' candidate algorithms for these shapes: CudaOptions::gemm_tuning), then capture.
  {
#ifdef QB_HAVE_CUBLASLT
    LtTuneScope tuning(*lt_, cfg_.cuda.gemm_tuning);
#endif
    run_layers(Tb, pst.S, 1, mb * kBlockSize);
    run_head(pb, pst);
  }
  check(cudaStreamSynchronize(stream_), "decode step");
  if (g.exec) cudaGraphExecDestroy(g.exec);
  g.exec = nullptr;
  const uint64_t gen = generation();
  cudaGraph_t graph = nullptr;
  check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
  try {
    run_layers(Tb, pst.S, 1, mb * kBlockSize);
    run_head(pb, pst);
  } catch (...) {
    cudaStreamEndCapture(stream_, &graph);
    if (graph) cudaGraphDestroy(graph);
    throw;
  }
  check(cudaStreamEndCapture(stream_, &graph), "cudaStreamEndCapture");
  if (gen != generation()) {  // a buffer moved during capture: keep the eager result, capture next time
    cudaGraphDestroy(graph);
    return;
  }
  cudaError_t e = cudaGraphInstantiate(&g.exec, graph, 0);
  cudaGraphDestroy(graph);
  check(e, "cudaGraphInstantiate (decode step)");
  g.generation = gen;
}

void CudaModel::graphs_clear() {
  for (auto& kv : graphs_)
    if (kv.second.exec) cudaGraphExecDestroy(kv.second.exec);
  graphs_.clear();
}

}  // namespace qb::cuda_model
