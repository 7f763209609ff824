#!/usr/bin/env bash
# The prefill-attention tile experiment (native/dev/prefill_attention) in one device call: build prefill_main with
# nvcc, run its checks and timing table, then one ncu pass (one launch per variant, 1 x 2048, 16-bit then FP8 KV; the
# scheduler and warp-state sections say what the warps wait on).
# On the device machine from the repo root (carry .device is not needed):  bash scripts/device/prefill_dev.sh [STEPS]
# STEPS: a subset of "build smoke run ncu sanitize" (default build run ncu); "build" alone can run in the background
# beside another step's build, and "run ncu" afterwards uses its /tmp/prefill_main; "sanitize" runs the checks under
# compute-sanitizer's memcheck and synccheck (the TMA / mbarrier variants' first runs). VARIANTS=v13,v14 limits "run"
# to those variants (SANITIZE_VARIANTS does the same for "sanitize", NCU_VARIANTS for "ncu"); F16=1 builds the fp16 form
# (the product's quantized precisions run fp16 activations; the tables so far are bf16). "smoke" checks SMOKE_VARIANTS
# (e.g. v16,v16b,v17: not run before) one process each under SMOKE_TIMEOUT and drops any that hung from VARIANTS.
# Logs under $OUT/prefill_dev/, packed into $OUT/prefill_dev.tgz.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT="${OUT:-$PWD/.device-out}"
D="$OUT/prefill_dev"
mkdir -p "$D"
STEPS="${1:-build run ncu}"
has() { [[ " $STEPS " == *" $1 "* ]]; }
export PATH="/usr/local/cuda/bin:$PATH"
trap 'tar -czf "$OUT/prefill_dev.tgz" -C "$OUT" prefill_dev 2>/dev/null' EXIT
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv,noheader >"$D/gpu.txt" 2>&1
if has build; then
  echo "== $(date +%T) build"
  timeout 240 nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a --expt-relaxed-constexpr -Xptxas -v -I native ${F16:+-DQB_PREFILL_F16} \
    -o /tmp/prefill_main native/dev/prefill_attention/prefill_main.cu native/kernels/attention/attention_cpu.cc \
    native/common/parallel.cc >"$D/build.log" 2>&1 || { echo "build failed"; tail -20 "$D/build.log"; exit 1; }
  echo "== $(date +%T) build done"
fi
if has smoke; then  # new variants' first run: checks only, one process each with a short limit, so a hang (a barrier
  # never met) costs SMOKE_TIMEOUT seconds and names its variant; "run" then leaves out the variants that hung
  HUNG=()
  for v in ${SMOKE_VARIANTS//,/ }; do
    timeout "${SMOKE_TIMEOUT:-45}" /tmp/prefill_main --check-only --variants "$v" >"$D/smoke_$v.log" 2>&1
    rc=$?
    echo "== $(date +%T) smoke $v rc=$rc: $(grep -c '^PASS' "$D/smoke_$v.log") pass, $(grep -c '^FAIL' "$D/smoke_$v.log") fail"
    if [[ $rc -eq 124 ]]; then HUNG+=("$v"); fi
  done
  drop_hung() { local list="$1" v; for v in "${HUNG[@]}"; do list=$(echo ",$list," | sed "s/,$v,/,/g; s/^,//; s/,$//"); done; echo "$list"; }
  if [[ ${#HUNG[@]} -gt 0 ]]; then
    [[ -n "${VARIANTS:-}" ]] && VARIANTS=$(drop_hung "$VARIANTS")
    [[ -n "${NCU_VARIANTS:-}" ]] && NCU_VARIANTS=$(drop_hung "$NCU_VARIANTS")
    echo "== left out of run and ncu (hung): ${HUNG[*]}; VARIANTS=${VARIANTS:-all} NCU_VARIANTS=${NCU_VARIANTS:-all}"
  fi
fi
if has run; then
  echo "== $(date +%T) run"
  timeout "${RUN_TIMEOUT:-240}" /tmp/prefill_main --reps "${REPS:-20}" ${VARIANTS:+--variants $VARIANTS} >"$D/prefill_main.log" 2>&1
  echo "== $(date +%T) run rc=$?"
  cat "$D/prefill_main.log"
fi
if has sanitize; then
  for tool in memcheck synccheck; do
    echo "== $(date +%T) compute-sanitizer $tool"
    timeout "${SANITIZE_TIMEOUT:-240}" compute-sanitizer --tool "$tool" --print-limit 20 /tmp/prefill_main --check-only ${SANITIZE_VARIANTS:+--variants $SANITIZE_VARIANTS} \
      >"$D/sanitize_$tool.log" 2>&1
    echo "== $(date +%T) $tool rc=$?"
    grep -E "ERROR SUMMARY|^FAIL|Invalid|race|barrier" "$D/sanitize_$tool.log" | head -12
  done
fi
if has ncu; then
  echo "== $(date +%T) ncu"
  timeout "${NCU_TIMEOUT:-120}" ncu --clock-control none --kernel-name 'regex:prefill_.*kernel' --section SchedulerStats --section WarpStateStats \
    --metrics gpu__time_duration.sum,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum.pct_of_peak_sustained_elapsed,lts__throughput.avg.pct_of_peak_sustained_elapsed,sm__warps_active.avg.pct_of_peak_sustained_active,smsp__inst_executed.sum \
    /tmp/prefill_main --profile ${NCU_VARIANTS:+--variants $NCU_VARIANTS} >"$D/ncu.log" 2>&1
  echo "== $(date +%T) ncu rc=$?"
  grep -E "prefill_.*kernel|duration|hmma|mem_shared|lts__|warps_active|inst_executed|Stall|Issued Warp|No Eligible" "$D/ncu.log" | head -80
fi
