#!/usr/bin/env bash
# Builds the native/dev experiments' programs into $BIN (default /tmp), in parallel (each nvcc is one process; the
# device machine has 16 cores): prefill (native/dev/prefill_attention, in its fp16 form unless F16=0: the activations
# the quantized precisions run), elementwise, fp8accum and wgmma (native/dev/wgmma_probe), ring (native/dev/ring_smallm),
# ltsearch (native/dev/lt_search; needs cuBLASLt). Arguments: the subset to build (default prefill elementwise fp8accum
# ltsearch: the ones the next device session runs). Logs: $OUT/dev_build/<name>.log; one line per program at the end.
# native/test/dev_programs.test.ts builds the ones without cuBLASLt with this script wherever nvcc exists (CI too), so a
# product change that breaks an experiment shows before a device session does.
# Then `PREBUILT=1 bash scripts/device/decode_scale.sh "elementwise fp8accum ltsearch"` and
# `bash scripts/device/prefill_dev.sh "smoke run ncu"` use these binaries without building again.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PATH="/usr/local/cuda/bin:$PATH"
NAMES="${*:-prefill elementwise fp8accum ltsearch}"
OUT="${OUT:-$PWD/.device-out}"
BIN="${BIN:-/tmp}"
L="$OUT/dev_build"
mkdir -p "$L"
NV=(nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a --expt-relaxed-constexpr -Xptxas -v -I native)
F16_FLAG=()
[[ "${F16:-1}" != 0 ]] && F16_FLAG=(-DQB_PREFILL_F16)
cmd_for() {  # the nvcc command line of program $1, into CMD
  case "$1" in
    prefill) CMD=("${NV[@]}" "${F16_FLAG[@]}" -o "$BIN/prefill_main" native/dev/prefill_attention/prefill_main.cu
                  native/kernels/attention/attention_cpu.cc native/common/parallel.cc) ;;
    elementwise) CMD=("${NV[@]}" -o "$BIN/elementwise_main" native/dev/elementwise/elementwise_main.cu
                      native/kernels/norm_quant/silu_mul_quant.cu native/kernels/norm_quant/rmsnorm_residual_quant.cu
                      native/kernels/rope_kv/rope_kv_write.cu native/kernels/norm_quant/elementwise_cpu.cc
                      native/kernels/norm_quant/quant_act_cpu.cc native/common/parallel.cc) ;;
    fp8accum) CMD=("${NV[@]}" -o "$BIN/fp8_accum_probe" native/dev/wgmma_probe/fp8_accum_probe.cu) ;;
    ltsearch) CMD=("${NV[@]}" -o "$BIN/lt_search" native/dev/lt_search/lt_search_main.cu -lcublasLt) ;;
    wgmma) CMD=("${NV[@]}" -o "$BIN/wgmma_probe" native/dev/wgmma_probe/wgmma_probe.cu) ;;
    ring) CMD=("${NV[@]}" -o "$BIN/ring_main" native/dev/ring_smallm/ring_main.cu native/kernels/gemm/gemm_cpu.cc
               native/kernels/norm_quant/elementwise_cpu.cc native/kernels/norm_quant/quant_act_cpu.cc native/common/parallel.cc) ;;
    *) echo "dev_build.sh: unknown program $1 (prefill, elementwise, fp8accum, wgmma, ring, ltsearch)" >&2; return 2 ;;
  esac
}
for n in $NAMES; do cmd_for "$n" || exit 2; done
pids=()
for n in $NAMES; do
  cmd_for "$n"
  ( timeout "${BUILD_TIMEOUT:-300}" "${CMD[@]}" >"$L/$n.log" 2>&1; echo "rc=$?" >>"$L/$n.log" ) &
  pids+=($!)
done
wait "${pids[@]}"
rc=0
for n in $NAMES; do
  last=$(tail -1 "$L/$n.log")
  echo "== build $n: $last"
  [[ "$last" == "rc=0" ]] || { rc=1; grep -E "error" "$L/$n.log" | head -5; }
done
exit $rc
