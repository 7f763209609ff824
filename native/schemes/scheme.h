// The quantization schemes as data: one Scheme per precision says what its weights and activations are. The
// forwards (model/cpu, model/cuda) and the weight preparation ask the scheme — which codes, which scales — instead of
// switching on the precision; the numerics of each code type live in common/numerics.h, the weight quantization in
// weight_quant.h, the activation quantization in kernels/norm_quant (and their CPU twins).
#pragma once
#include "model/config.h"

namespace qb {

enum class Codes { None, Int8, Fp8 };                  // 8-bit code type of weights and activations (None: 16-bit)
enum class WeightScale { None, PerChannel, PerTensor };  // symmetric weight scales
enum class ActScale { None, PerToken, Static };          // activation scales: dynamic per token, or calibrated

struct Scheme {
  Precision precision;
  Codes codes;
  WeightScale weight_scale;
  ActScale act_scale;
  bool smoothquant;  // SmoothQuant factors folded into the norms before quantization (calibrated)
  bool quantized() const { return codes != Codes::None; }
  bool static_act() const { return act_scale == ActScale::Static; }
  bool dynamic_act() const { return act_scale == ActScale::PerToken; }
};

inline const Scheme& scheme_of(Precision p) {
  static const Scheme kF32{Precision::F32, Codes::None, WeightScale::None, ActScale::None, false};
  static const Scheme kF16{Precision::F16, Codes::None, WeightScale::None, ActScale::None, false};
  static const Scheme kBF16{Precision::BF16, Codes::None, WeightScale::None, ActScale::None, false};
  static const Scheme kInt8W8A8{Precision::INT8_W8A8, Codes::Int8, WeightScale::PerChannel, ActScale::PerToken, true};
  static const Scheme kFp8Dynamic{Precision::FP8_DYNAMIC, Codes::Fp8, WeightScale::PerChannel, ActScale::PerToken,
                                  false};
  static const Scheme kFp8Static{Precision::FP8_STATIC, Codes::Fp8, WeightScale::PerTensor, ActScale::Static, false};
  switch (p) {
    case Precision::F32: return kF32;
    case Precision::BF16: return kBF16;
    case Precision::INT8_W8A8: return kInt8W8A8;
    case Precision::FP8_DYNAMIC: return kFp8Dynamic;
    case Precision::FP8_STATIC: return kFp8Static;
    default: return kF16;
  }
}

}  // namespace qb
