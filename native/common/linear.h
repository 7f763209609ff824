// The four linears of a Llama layer, by name (the order of the calibration statistics and of the static input
// scales: attn_in, o_in, mlp_in, down_in).
#pragma once

namespace qb {

enum class Linear : int { Qkv = 0, O = 1, GateUp = 2, Down = 3 };
constexpr int kLinears = 4;
constexpr int index_of(Linear l) { return static_cast<int>(l); }

}  // namespace qb
