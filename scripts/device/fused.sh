#!/usr/bin/env bash
# One device call for the fused decode linears (FusedLinear): build; the fused_gemv checks (bit-identical to the
# unfused chain) and the small-M GEMM checks; one layer's linears at M = 1 fused vs unfused for each tile
# configuration (QB_FUSED_CFG, programmatic dependent launch on); stories260K GPU vs CPU end to end; decode latency
# (batch 1 and 16, context 128) with the fused path (tile configurations LCFGS, default: per weight type) and
# without (QB_FUSED=0).
# Logs and JSON into $OUT/fused.tgz. Stage first (see gpu.sh). Usage: bash scripts/device/fused.sh [CFGS] [PRECISIONS]
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT="${OUT:-$PWD/.device-out}"
R="$OUT/fused"
mkdir -p "$R"
CFGS="${1:-0,1,4}"
LCFGS="${LCFGS:--1}"  # configurations for the latency runs (-1: the default per weight type)
PRECS="${2:-fp16,int8-w8a8,fp8-dynamic,fp8-static}"
step() { echo "== $1 ($(date +%T))"; }
step build
bash scripts/device/gpu.sh build >"$R/build.txt" 2>&1 || { tail -30 "$R/build.txt"; exit 1; }
H=/tmp/qb-gpu-build/qb_kernel_check
step checks
QB_PDL=0 timeout 240 "$H" --checks-only --only fused_gemv,gemm_smallm --jsonl "$R/checks.jsonl" >"$R/checks.log" 2>&1
grep -E "^FAIL" "$R/checks.log" | head -20; tail -1 "$R/checks.log"
for c in ${CFGS//,/ }; do
  step "layer timing cfg $c"
  QB_FUSED_CFG=$c timeout 150 "$H" --bench-only --only fused_gemv --jsonl "$R/layer_cfg$c.jsonl" >"$R/layer_cfg$c.log" 2>&1
  grep -E "^TIME" "$R/layer_cfg$c.log" | sed -E 's/ +/ /g' | cut -c1-160
done
step check
QB_REBUILD=0 OUT="$R" timeout 150 bash scripts/device/gpu.sh check | tail -2
for c in ${LCFGS//,/ }; do
  step "latency fused cfg $c"
  QB_FUSED_CFG=$c QB_REBUILD=0 OUT="$R/cfg$c" timeout 200 bash scripts/device/gpu.sh latency --commit "$(cut -d' ' -f1 .device/commit)" \
    --precision "$PRECS" --batch 1,16 --context 128 --no-prefill >/dev/null 2>"$R/cfg$c.err" || tail -5 "$R/cfg$c.err"
  python3 scripts/device/latency_table.py "$R/cfg$c/gpu_latency.jsonl"
done
step "latency unfused"
QB_FUSED=0 QB_REBUILD=0 OUT="$R/unfused" timeout 200 bash scripts/device/gpu.sh latency --commit "$(cut -d' ' -f1 .device/commit)" \
  --precision "$PRECS" --batch 1,16 --context 128 --no-prefill >/dev/null 2>"$R/unfused.err" || tail -5 "$R/unfused.err"
python3 scripts/device/latency_table.py "$R/unfused/gpu_latency.jsonl"
tar czf "$OUT/fused.tgz" -C "$OUT" fused && rm -rf "$R"
step done
