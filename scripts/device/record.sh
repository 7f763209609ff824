#!/usr/bin/env bash
# One device call that records the CUDA engine's numbers for a commit (issue 3): build, every kernel check against
# its CPU twin and the kernel timings (kernels.sh), the fused decode linears' layer timing, GPU-vs-CPU end-to-end
# checks (gpu.sh check, also with the fused path off), step latency (gpu.sh latency, and without the fused
# decode linears) and a per-kernel ncu breakdown (gpu.sh profile). Everything lands in $OUT/rec.tgz (the device tool
# brings back at most 8 files). Stage first: bash ../shared/device/stage-node.sh && node scripts/device/stage.mjs --data
# STEPS="kernels check latency ..." runs a subset (the device tool allows 10 minutes per call; the whole record can
# take longer: e.g. STEPS="kernels fused-layer check check-unfused latency latency-unfused", then
# STEPS="latency-b256-ctx2048 profile" with REC=rec2).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT="${OUT:-$PWD/.device-out}"
REC="${REC:-rec}"
R="$OUT/$REC"
mkdir -p "$R"
STEPS=" ${STEPS:-kernels fused-layer check check-unfused latency latency-unfused latency-b256-ctx2048 profile} "
step() { echo "== $1 ($(date +%T))"; }
want() { [[ "$STEPS" == *" $1 "* ]] && step "$1"; }
step build
bash scripts/device/gpu.sh build >"$R/build.txt" 2>&1 || { tail -30 "$R/build.txt"; exit 1; }
if want kernels; then
  QB_KERNELS_BUILD=/tmp/qb-gpu-build OUT="$R" timeout 300 bash scripts/device/kernels.sh | tail -3
fi
if want fused-layer; then  # one layer's linears at M = 1, fused vs unfused, with PDL (as the model runs)
  timeout 150 /tmp/qb-gpu-build/qb_kernel_check --bench-only --only fused_gemv --jsonl "$R/fused_layer.jsonl" \
    >"$R/fused_layer.log" 2>&1; grep -E "^TIME" "$R/fused_layer.log" | sed -E 's/ +/ /g' | cut -c1-140
fi
if want check; then
  QB_REBUILD=0 OUT="$R" timeout 150 bash scripts/device/gpu.sh check | tail -2
fi
if want check-unfused; then  # the same end to end without the fused decode linears
  QB_REBUILD=0 OUT="$R/unfused" timeout 150 bash scripts/device/gpu.sh check --no-fused-decode | tail -1
fi
if want latency; then
  QB_REBUILD=0 OUT="$R" timeout 300 bash scripts/device/gpu.sh latency --commit "$(cut -d' ' -f1 .device/commit)" >/dev/null
  python3 scripts/device/latency_table.py "$R/gpu_latency.jsonl"
fi
if want latency-unfused; then  # batch 1 and 16 without the fused decode linears, for comparison
  QB_REBUILD=0 OUT="$R/unfused" timeout 200 bash scripts/device/gpu.sh latency --no-fused-decode --commit "$(cut -d' ' -f1 .device/commit)" \
    --batch 1,16 --context 128,2048 --no-prefill >/dev/null
  python3 scripts/device/latency_table.py "$R/unfused/gpu_latency.jsonl"
fi
if want latency-b256-ctx2048; then  # 8-bit only: 16-bit weights + 32768 KV blocks (64 GB) do not fit in 80 GB
  QB_REBUILD=0 OUT="$R/util97" timeout 200 bash scripts/device/gpu.sh latency --commit "$(cut -d' ' -f1 .device/commit)" \
    --precision int8-w8a8,fp8-dynamic,fp8-static --batch 256 --context 2048 --gpu-memory-utilization 0.97 | tail -1
fi
if want profile; then
  QB_REBUILD=0 OUT="$R" timeout 200 bash scripts/device/gpu.sh profile fp16,int8-w8a8,fp8-static | grep -E "^==" 
fi
rm -f "$R/sass.txt" "$R"/ncu_*.csv
tar czf "$OUT/$REC.tgz" -C "$OUT" "$REC" && rm -rf "$R"
step done
