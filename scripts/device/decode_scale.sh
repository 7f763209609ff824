#!/usr/bin/env bash
# Decode at scale (issue 17) in one device call: build, every kernel check (FP8 KV, the tensor-core decode kernel),
# the attention kernel table (row-wise vs tensor-core decode, 16-bit vs FP8 KV, batch 1-1024 x context 128-4096),
# GPU-vs-CPU end to end, step latency at large batch, and (issue 19) the HTTP/SSE overhead of `pnpm serve`.
# On the device machine from the repo root (carry .device):  bash scripts/device/decode_scale.sh [STEPS]
# STEPS: space-separated subset of "build checks attn e2e latency serve" (default: all). Each step has a time limit
# and a log under $OUT/decode_scale/; everything is packed into $OUT/decode_scale.tgz at the end.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT="${OUT:-$PWD/.device-out}"
D="$OUT/decode_scale"
mkdir -p "$D"
STEPS="${1:-build checks attn e2e latency serve}"
BUILD="${QB_GPU_BUILD:-/tmp/qb-gpu-build}"
has() { [[ " $STEPS " == *" $1 "* ]]; }
stamp() { echo "== $(date +%T) $*" | tee -a "$D/steps.txt"; }
pack() { tar -czf "$OUT/decode_scale.tgz" -C "$OUT" decode_scale 2>/dev/null; }
trap pack EXIT
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv,noheader >"$D/gpu.txt" 2>&1
if has build; then
  stamp build
  OUT="$D" timeout 420 bash scripts/device/gpu.sh build >"$D/build_step.log" 2>&1 || { stamp "build failed"; tail -40 "$D/build_step.log"; exit 1; }
fi
export QB_REBUILD=0
if has checks; then
  stamp checks
  timeout 300 "$BUILD/qb_kernel_check" --no-pdl --checks-only ${QB_CHECK_ONLY:+--only $QB_CHECK_ONLY} \
    --jsonl "$D/kernel_checks.jsonl" >"$D/kernel_checks.log" 2>&1
  stamp "checks rc=$? $(grep -c '^PASS' "$D/kernel_checks.log") pass $(grep -c '^FAIL' "$D/kernel_checks.log") fail"
  grep '^FAIL' "$D/kernel_checks.log" | head -20
fi
if has attn; then
  stamp attn
  timeout 240 "$BUILD/qb_kernel_check" --no-pdl --bench-only --only attention --jsonl "$D/bench_attention.jsonl" >"$D/bench_attention.log" 2>&1
  stamp "attn rc=$?"
  sed -n '/^op  /,$p' "$D/bench_attention.log" | head -90
fi
if has e2e; then
  stamp e2e
  OUT="$D" timeout 240 bash scripts/device/gpu.sh check >"$D/e2e.log" 2>&1
  stamp "e2e rc=$?"; tail -3 "$D/e2e.log"
fi
if has latency; then
  stamp latency
  OUT="$D" timeout 300 bash scripts/device/gpu.sh latency --precision fp16,fp8-static --batch 1,256 --context 128,2048 \
    --iters 10 --no-prefill ${QB_LATENCY_ARGS:-} >"$D/latency.log" 2>&1
  stamp "latency rc=$?"
  mv "$D/gpu_latency.jsonl" "$D/latency_b1_b256.jsonl" 2>/dev/null
  OUT="$D" timeout 200 bash scripts/device/gpu.sh latency --precision fp16,fp8-static --batch 512 --context 1024 \
    --iters 5 --no-prefill ${QB_LATENCY_ARGS:-} >"$D/latency_b512.log" 2>&1
  stamp "latency b512 rc=$?"
  mv "$D/gpu_latency.jsonl" "$D/latency_b512.jsonl" 2>/dev/null
  grep -hE "ms|decode" "$D/latency.log" "$D/latency_b512.log" | tail -20
fi
if has serve; then
  stamp serve
  OUT="$D" timeout 420 bash scripts/device/serve_overhead.sh --num-prompts 256 >"$D/serve.log" 2>&1
  stamp "serve rc=$?"; tail -5 "$D/serve.log"
fi
stamp done
