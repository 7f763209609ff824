// CudaModel: the layers of one step — the unfused forward (any batch, calibration, --profile-blocks), the fused
// decode forward (one-row steps), the linears per precision and the paged attention call.
#include "model/cuda/cuda_model_impl.h"

namespace qb::cuda_model {

QuantOut CudaModel::quant_out(int layer, Linear linear) {
  const int which = index_of(linear);
  QuantOut q;
  q.mode = calibrating_ ? QuantMode::None : quant_mode();
  if (q.mode == QuantMode::None) return q;
  q.q = xq_.p;
  q.scale = q.mode == QuantMode::Fp8Static ? W_->static_scales + (size_t)layer * kLinears + which
                                           : xs_.as<float>() + (which & 1) * (xs_.bytes / 2 / 16 * 4);
  return q;
}

void CudaModel::record(Linear linear, int layer, const void* x, int T, int K) {
  if (!calibrating_) return;
  const int which = index_of(linear);
  const int widths[4] = {cfg_.hidden, cfg_.heads * cfg_.head_dim, cfg_.hidden, Fp_};
  absmax_columns(x, cfg_.act, T, K, calib_dev_.as<float>() + calib_off_[which] + (size_t)layer * widths[which],
                 stream_);
}

ScaledIn CudaModel::linear(const DevLinear& L, const void* x16, const QuantOut& q, int M, void* y) {
  switch (scheme_of(L.precision).codes) {
    case Codes::Int8:
      return linear_8bit<int8_t>(L, q, M, y);
    case Codes::Fp8:
      return linear_8bit<uint8_t>(L, q, M, y);
    default:
      gemm16(x16, L.w, M, L.N, L.K, y, cfg_.act);
      return {};
  }
}

template <typename C>
ScaledIn CudaModel::linear_8bit(const DevLinear& L, const QuantOut& q, int M, void* y) {
  constexpr bool kFp8 = std::is_same_v<C, uint8_t>;
  const bool per_tok = q.mode == QuantMode::Int8PerToken || q.mode == QuantMode::Fp8PerToken;
  const C* x = static_cast<const C*>(q.q);
  const C* w = static_cast<const C*>(L.w);
#ifdef QB_HAVE_CUBLASLT
  if (M > 16) {
    if constexpr (kFp8) {
      gemm_fp8_lt_unscaled_bf16(*lt_, x, w, M, L.N, L.K, y, stream_);
      return ScaledIn{q.scale, L.w_scale, per_tok, true};
    } else {
      const int32_t* acc = gemm_int8_lt_acc(*lt_, x, w, M, L.N, L.K, stream_);
      return ScaledIn{q.scale, L.w_scale, per_tok, true, acc};
    }
  }
#endif
  for (int m0 = 0; m0 < M; m0 += kSmallMMax) {
    const int m = std::min(kSmallMMax, M - m0);
    const C* xm = x + (size_t)m0 * L.K;
    const float* sa = per_tok ? q.scale + m0 : q.scale;
    void* ym = static_cast<uint16_t*>(y) + (size_t)m0 * L.N;
    if constexpr (kFp8)
      gemm_fp8_smallm(xm, sa, per_tok, w, L.w_scale, true, m, L.N, L.K, ym, cfg_.act, stream_);
    else
      gemm_int8_w8a8_smallm(xm, sa, per_tok, w, L.w_scale, true, m, L.N, L.K, ym, cfg_.act, stream_);
  }
  return {};
}

void CudaModel::gemm16(const void* x, const void* w, int M, int N, int K, void* y, ActDtype y_dtype) {
#ifdef QB_HAVE_CUBLASLT
  if (M > 16) {
    gemm_f16_lt(*lt_, x, w, cfg_.act, M, N, K, y, y_dtype, stream_);
    return;
  }
#endif
  const size_t ysz = y_dtype == ActDtype::F32 ? 4 : 2;
  for (int m0 = 0; m0 < M; m0 += kSmallMMax) {
    int m = std::min(kSmallMMax, M - m0);
    gemm_f16_smallm(static_cast<const uint16_t*>(x) + (size_t)m0 * K, w, cfg_.act, m, N, K,
                    static_cast<uint8_t*>(y) + (size_t)m0 * N * ysz, y_dtype, stream_);
  }
}

void CudaModel::quantize(const void* x, int T, int K, const QuantOut& q) {
  switch (q.mode) {
    case QuantMode::Int8PerToken:
      quant_per_token_int8(x, cfg_.act, T, K, static_cast<int8_t*>(q.q), q.scale, stream_);
      break;
    case QuantMode::Fp8PerToken:
      quant_per_token_fp8(x, cfg_.act, T, K, static_cast<uint8_t*>(q.q), q.scale, stream_);
      break;
    case QuantMode::Fp8Static:
      quant_static_fp8(x, cfg_.act, T, K, q.scale, static_cast<uint8_t*>(q.q), stream_);
      break;
    default:
      break;
  }
}

void CudaModel::attention(int l, int T, int S, int max_q_len, int max_context, float* out_amax) {
  const ModelConfig& c = cfg_;
  const StepMeta& m = cur_meta_;
  PagedAttentionArgs a;
  a.q = qkv_.p;
  a.ld_q = qkv_width();
  a.k_cache = layer_k(l);
  a.v_cache = layer_v(l);
  a.kv = kv_format(l);
  a.seq_starts = meta(m.seq_starts);
  a.positions = meta(m.positions);
  a.block_tables = meta(m.block_tables);
  a.max_blocks = cur_max_blocks_;
  a.T = T;
  a.S = S;
  a.H = c.heads;
  a.Hkv = c.kv_heads;
  a.Dh = c.head_dim;
  a.block_size = kBlockSize;
  a.scale = 1.0f / std::sqrt((float)c.head_dim);
  a.act = c.act;
  a.max_q_len = max_q_len;
  a.max_context = max_context;
  a.out = attn_.p;
  a.ld_out = c.heads * c.head_dim;
  a.workspace = attn_ws_.p;
  a.workspace_bytes = attn_ws_.bytes;
  a.tickets = attn_tickets_.as<int>();
  a.out_amax = out_amax;
  a.trace = trace_ptr_;
  a.trace_tag = l * 8 + 4;
  paged_attention(a, stream_);
}

bool CudaModel::fused_ok(int T) const {
  if (T != 1 || !cfg_.cuda.fused_decode || calibrating_ || timer_.on()) return false;
  const QuantMode mode = quant_mode();
  // The rows the Norm* ops stage in shared memory.
  return std::max(fused_linear_smem(FusedOp::NormRopeKV, mode, cfg_.hidden, T),
                  fused_linear_smem(FusedOp::NormSiluMul, mode, cfg_.hidden, T)) <= kFusedSmemMax;
}

FusedLinear CudaModel::fused(const DevLinear& L, FusedOp op, QuantMode mode, int l, Linear which, const void* in) const {
  FusedLinear f;
  f.op = op;
  f.linear = which;
  f.mode = mode;
  f.act = cfg_.act;
  f.w = L.w;
  f.w_scale = L.w_scale;
  f.N = L.N;
  f.K = L.K;
  f.in = in;
  if (mode == QuantMode::Fp8Static) f.in_scale = W_->static_scales + (size_t)l * kLinears + index_of(which);
  f.eps = cfg_.eps;
  f.resid = resid_.p;
  f.trace = trace_ptr_;
  f.trace_tag = l * 8 + index_of(which);
  return f;
}

void CudaModel::run_layers_fused(int T, int S, int max_q_len, int max_context) {
  const ModelConfig& c = cfg_;
  const StepMeta& m = cur_meta_;
  const QuantMode mode = quant_mode();
  const bool q8 = mode != QuantMode::None, is_static = mode == QuantMode::Fp8Static, dyn = q8 && !is_static;
  embedding(W_->embed, meta(m.tokens), T, c.hidden, c.act, resid_.p, stream_);
  for (int l = 0; l < c.layers; ++l) {
    const DevLayer& L = W_->layers[l];
    FusedLinear f = fused(L.qkv, FusedOp::NormRopeKV, mode, l, Linear::Qkv, resid_.p);
    f.norm_w = L.ln1;
    f.qkv = qkv_.p;
    f.ld = qkv_width();
    f.positions = meta(m.positions);
    f.slots = meta(m.slots);
    f.H = c.heads;
    f.Hkv = c.kv_heads;
    f.Dh = c.head_dim;
    f.cos_tab = W_->rope_cos;
    f.sin_tab = W_->rope_sin;
    f.k_cache = layer_k(l);
    f.v_cache = layer_v(l);
    f.kv = kv_format(l);
    if (q8) {
      f.zero_amax = layer_amax(l, 0);
      f.zero_n = 2 * kFusedMMax;
    }
    linear_fused_smallm(f, T, stream_);
    attention(l, T, S, max_q_len, max_context, dyn ? layer_amax(l, 0) : nullptr);
    f = fused(L.o, q8 ? FusedOp::QuantLoadResidual : FusedOp::Residual, mode, l, Linear::O, attn_.p);
    if (dyn) f.in_amax = layer_amax(l, 0);
    linear_fused_smallm(f, T, stream_);
    f = fused(L.gate_up, FusedOp::NormSiluMul, mode, l, Linear::GateUp, resid_.p);
    f.norm_w = L.ln2;
    if (is_static) {  // the down projection's input codes, written by the epilogue
      f.hq = xq_.p;
      f.hq_scale = W_->static_scales + (size_t)l * kLinears + index_of(Linear::Down);
    } else {
      f.hmid = hmid_.p;
      if (dyn) f.out_amax = layer_amax(l, 1);
    }
    linear_fused_smallm(f, T, stream_);
    f = fused(L.down, dyn ? FusedOp::QuantLoadResidual : FusedOp::Residual, mode, l, Linear::Down,
              is_static ? xq_.p : hmid_.p);
    if (dyn) f.in_amax = layer_amax(l, 1);
    linear_fused_smallm(f, T, stream_);
  }
  rmsnorm_residual_quant(resid_.p, nullptr, W_->final_norm, c.act, T, c.hidden, c.eps, normed_.p, QuantOut{},
                         stream_);
}

void CudaModel::run_layers(int T, int S, int max_q_len, int max_context) {
  const ModelConfig& c = cfg_;
  const int D = c.hidden, qd = c.heads * c.head_dim;
  ensure_workspace(T, max_context);
  ensure_trace();
  if (fused_ok(T)) {
    run_layers_fused(T, S, max_q_len, max_context);
    return;
  }
  const StepMeta& m = cur_meta_;
  embedding(W_->embed, meta(m.tokens), T, D, c.act, resid_.p, stream_);
  {
    QuantOut q = quant_out(0, Linear::Qkv);
    rmsnorm_residual_quant(resid_.p, nullptr, W_->layers[0].ln1, c.act, T, D, c.eps,
                           q.mode == QuantMode::None ? normed_.p : nullptr, q, stream_);
  }
  for (int l = 0; l < c.layers; ++l) {
    const DevLayer& L = W_->layers[l];
    // ---- attention block (incl. QKV and O projections) ----
    timer_.mark(BlockTimer::Attention, stream_);
    record(Linear::Qkv, l, normed_.p, T, D);
    const ScaledIn qkv_in = linear(L.qkv, normed_.p, quant_out(l, Linear::Qkv), T, qkv_.p);
    rope_qkv_kv_write(qkv_.p, qkv_width(), c.act, meta(m.positions), meta(m.slots), T, c.heads, c.kv_heads,
                      c.head_dim, W_->rope_cos, W_->rope_sin, layer_k(l), layer_v(l), kBlockSize, stream_, qkv_in,
                      kv_format(l));
    if (calibrating_ && !qkv_in.s_a)  // the roped k and the v written to the cache: the 'k_cache' / 'v_cache' statistics
      absmax_columns(qkv_.p, c.act, T, qkv_width(), calib_dev_.as<float>() + calib_off_[4] + (size_t)l * qkv_width(),
                     stream_);
    attention(l, T, S, max_q_len, max_context);
    record(Linear::O, l, attn_.p, T, qd);
    QuantOut qo = quant_out(l, Linear::O);
    timer_.mark(BlockTimer::Quant, stream_);
    quantize(attn_.p, T, qd, qo);
    timer_.mark(BlockTimer::Attention, stream_);
    const ScaledIn o_in = linear(L.o, attn_.p, qo, T, branch_.p);

    // ---- MLP block ----
    timer_.mark(BlockTimer::Mlp, stream_);
    QuantOut qm = quant_out(l, Linear::GateUp);
    rmsnorm_residual_quant(branch_.p, resid_.p, L.ln2, c.act, T, D, c.eps,
                           qm.mode == QuantMode::None ? normed_.p : nullptr, qm, stream_, o_in);
    record(Linear::GateUp, l, normed_.p, T, D);
    const ScaledIn g_in = linear(L.gate_up, normed_.p, qm, T, gu_.p);
    ScaledIn u_in = g_in;
    if (u_in.s_a) u_in.s_w += Fp_;  // u's columns start at Fp_ (per-channel weight scales)
    if (u_in.acc) u_in.acc += Fp_;  // and its int32 accumulators
    QuantOut qd_ = quant_out(l, Linear::Down);
    silu_mul_quant(gu_.p, static_cast<uint16_t*>(gu_.p) + Fp_, 2 * Fp_, c.act, T, Fp_,
                   qd_.mode == QuantMode::None ? hmid_.p : nullptr, qd_, stream_, g_in, u_in);
    record(Linear::Down, l, hmid_.p, T, Fp_);
    const ScaledIn down_in = linear(L.down, hmid_.p, qd_, T, branch_.p);
    const bool last = l + 1 == c.layers;
    QuantOut qn = last ? QuantOut{} : quant_out(l + 1, Linear::Qkv);
    rmsnorm_residual_quant(branch_.p, resid_.p, last ? W_->final_norm : W_->layers[l + 1].ln1, c.act, T, D, c.eps,
                           qn.mode == QuantMode::None ? normed_.p : nullptr, qn, stream_, down_in);
  }
  timer_.mark(BlockTimer::Other, stream_);
}

}  // namespace qb::cuda_model
