#!/usr/bin/env bash
# Decode at scale (issue 17) in one device call: build, every kernel check (FP8 KV, the tensor-core decode kernel),
# the attention kernel table (row-wise vs tensor-core decode, 16-bit vs FP8 KV, batch 1-1024 x context 128-4096),
# GPU-vs-CPU end to end, step latency at large batch, and (issue 19) the HTTP/SSE overhead of `pnpm serve`.
# On the device machine from the repo root (carry .device):  bash scripts/device/decode_scale.sh [STEPS]
# STEPS: space-separated subset of "build checks attn gemm e2e latency lat1024 profile lat800 blockorder reserve wgmma fp8accum ltsearch elementwise host_cost serve_ncu diag notune peer_prefill peer peer2 peer_async serve study
# study_decode study_prefill" (default: the first line; one call
# cannot hold them all: split them over calls made back to back, while the machine is warm and the build is kept). Each step has a time limit
# and a log under $OUT/decode_scale/; everything is packed into $OUT/decode_scale.tgz at the end. PREBUILT=1: the
# native/dev steps (fp8accum, ltsearch, elementwise) use the binaries scripts/device/dev_build.sh left in /tmp.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT="${OUT:-$PWD/.device-out}"
D="$OUT/decode_scale"
mkdir -p "$D"
STEPS="${1:-build checks attn e2e latency peer peer2 serve study}"
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
if has gemm; then  # issue 18's GEMM table: every precision's cuBLASLt paths per Llama-3.1-8B shape, M 1-16384
  stamp gemm
  timeout "${GEMM_TIMEOUT:-240}" "$BUILD/qb_kernel_check" --no-pdl --bench-only --only gemm --jsonl "$D/bench_gemm.jsonl" \
    >"$D/bench_gemm.log" 2>&1
  stamp "gemm rc=$?"
  grep -E "^gemm .* M=(2048|16384) " "$D/bench_gemm.log" | head -40
fi
if has attn; then
  stamp attn
  timeout 240 "$BUILD/qb_kernel_check" --no-pdl --bench-only --only attention --jsonl "$D/bench_attention.jsonl" >"$D/bench_attention.log" 2>&1
  stamp "attn rc=$?"
  sed -n '/^op  /,$p' "$D/bench_attention.log" | head -90
fi
if has e2e; then
  for kv in ${E2E_KV:-auto fp8}; do
    stamp "e2e kv $kv"
    OUT="$D" timeout 240 bash scripts/device/gpu.sh check --kv-cache-dtype "$kv" >"$D/e2e_kv_$kv.log" 2>&1
    stamp "e2e kv $kv rc=$?"; tail -1 "$D/e2e_kv_$kv.log"
    mv "$D/gpu_check.json" "$D/gpu_check_kv_$kv.json" 2>/dev/null
  done
fi
lat() {  # name, then latency flags
  local name="$1"; shift
  OUT="$D" timeout 240 bash scripts/device/gpu.sh latency --no-prefill "$@" >"$D/latency_$name.log" 2>&1
  stamp "latency $name rc=$?"
  mv "$D/gpu_latency.jsonl" "$D/latency_$name.jsonl" 2>/dev/null
}
if has latency; then
  stamp latency
  lat b1_b256 --kv-cache-dtype auto,fp8 --batch 1,256 --context 128,2048 --iters 10
  lat b512 --kv-cache-dtype auto,fp8 --batch 512 --context 1024 --iters 5
  lat b1024 --precision fp16,fp8-static --kv-cache-dtype fp8 --batch 1024 --context 1024 --iters 5
fi
if has lat1024; then  # issue 17's batch 1024 x context 2048, which does not fit (2.1 M tokens of KV against ~1.75 M with
  stamp lat1024       # FP8): the sequences that fit, each read by 1-2 rows far apart (rows say kvDistinctSequences)
  lat b1024_2048 --precision "${LAT1024_PRECISIONS:-fp16,int8-w8a8,fp8-dynamic,fp8-static}" --kv-cache-dtype auto,fp8 \
    --batch 1024 --context 2048 --iters 5 --kv-share-to-fit
fi
if has profile; then  # per-kernel device time (ncu) of an eager decode step at the peer protocol's batch and mean context
  stamp profile
  OUT="$D" timeout 300 bash scripts/device/gpu.sh profile "${PROFILE_PRECISIONS:-fp8-static,int8-w8a8}" "${PROFILE_DECODE:-800:1152}" \
    --kv-cache-dtype fp8 --prefill-tokens 2048 >"$D/profile.log" 2>&1
  stamp "profile rc=$?"; grep -E "^==|^ " "$D/profile.log" | head -60
fi
if has lat800; then  # the decode step (CUDA graph) at the peer protocol's batch and mean context, and b256 ctx 2048, FP8 KV
  stamp lat800
  lat b800 --kv-cache-dtype fp8 --batch 800 --context 1152 --iters 10
  lat b256_fp8kv --kv-cache-dtype fp8 --batch 256 --context 2048 --iters 10
fi
if has blockorder; then  # KV blocks side by side per sequence vs in the order a serving run hands them out, same call
  stamp blockorder
  for r in 1 2; do
    lat "b800_order_r$r" --precision fp16,fp8-static --kv-cache-dtype fp8 --batch 800 --context 1152 --iters 10 --kv-block-order contiguous,interleaved
  done
  lat b256_order --precision fp8-static --kv-cache-dtype auto,fp8 --batch 256 --context 2048 --iters 10 --kv-block-order contiguous,interleaved
fi
if has reserve; then  # the serving loop's layout (sequences a full reservation, prompt + output, apart) vs packed, b800
  stamp reserve
  for r in 1 2; do
    lat "b800_packed_r$r" --precision fp8-static --kv-cache-dtype fp8 --batch 800 --context 128,1152,2176 --iters 10
    lat "b800_reserved_r$r" --precision fp8-static --kv-cache-dtype fp8 --batch 800 --context 128,1152,2176 --iters 10 \
      --kv-reserve-tokens 2175
  done
fi
if has wgmma; then  # native/dev/wgmma_probe: warpgroup MMA on swizzled shared-memory operands vs a CPU product
  stamp wgmma
  timeout 120 /usr/local/cuda/bin/nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a -o /tmp/wgmma_probe \
    native/dev/wgmma_probe/wgmma_probe.cu >"$D/wgmma_build.log" 2>&1 && timeout 60 /tmp/wgmma_probe >"$D/wgmma_probe.log" 2>&1
  stamp "wgmma rc=$?"; cat "$D/wgmma_probe.log" 2>/dev/null | tail -8
fi
if has fp8accum; then  # native/dev/wgmma_probe/fp8_accum_probe.cu: how FP8 wgmma accumulates (an FP8 attention's tolerance)
  stamp fp8accum
  { [[ -n "${PREBUILT:-}" && -x /tmp/fp8_accum_probe ]] || timeout 120 /usr/local/cuda/bin/nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a \
      -o /tmp/fp8_accum_probe native/dev/wgmma_probe/fp8_accum_probe.cu >"$D/fp8_accum_build.log" 2>&1; } &&
    timeout 60 /tmp/fp8_accum_probe >"$D/fp8_accum_probe.log" 2>&1
  stamp "fp8accum rc=$?"; cat "$D/fp8_accum_probe.log" 2>/dev/null | tail -10
fi
if has ltsearch; then  # native/dev/lt_search: cuBLASLt's configurations beyond its heuristic's first eight (int8 at M 128-1024)
  stamp ltsearch
  { [[ -n "${PREBUILT:-}" && -x /tmp/lt_search ]] || timeout 120 /usr/local/cuda/bin/nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a \
      -o /tmp/lt_search native/dev/lt_search/lt_search_main.cu -lcublasLt >"$D/lt_search_build.log" 2>&1; } &&
    timeout "${LTSEARCH_TIMEOUT:-300}" /tmp/lt_search --ms "${LTSEARCH_MS:-128,256,512,800,1024,2048}" \
      --paths "${LTSEARCH_PATHS:-int8,fp8,fp16}" --jsonl "$D/lt_search.jsonl" >"$D/lt_search.log" 2>&1
  stamp "ltsearch rc=$?"; cat "$D/lt_search.log" | cut -c1-160 | head -80
fi
if has elementwise; then  # native/dev/elementwise: RMSNorm / SiLU / RoPE variants at T 256-16384, checked and timed
  stamp elementwise
  { [[ -n "${PREBUILT:-}" && -x /tmp/elementwise_main ]] || bash scripts/device/dev_build.sh elementwise >"$D/elementwise_build.log" 2>&1; } &&
    timeout "${ELEMENTWISE_TIMEOUT:-300}" /tmp/elementwise_main ${ELEMENTWISE_ARGS:-} >"$D/elementwise.log" 2>&1
  stamp "elementwise rc=$?"; grep -E "^(FAIL|INFO|TIME)|ALL PASSED|FAILED" "$D/elementwise.log" | cut -c1-170 | head -120
fi
if has host_cost; then  # the serving loop's host work per step at max batch with the device taken out, on this machine's CPU
  stamp host_cost       # (packages/bench/dev/host_cost.ts; bundled by stage.mjs; results/host-cost-session19 has this CPU's)
  [[ -x /tmp/nodebin/node ]] || { mkdir -p /tmp/nodebin && xz -d -c .device/node/node.xz >/tmp/nodebin/node && chmod +x /tmp/nodebin/node; }
  { timeout 120 /tmp/nodebin/node .device/bundle/host_cost.mjs --batch "${PEER_BATCH:-800}"
    timeout 120 /tmp/nodebin/node .device/bundle/host_cost.mjs --batch "${PEER_BATCH:-800}" --input-len 2048 --output-len 128 \
      --max-num-batched-tokens 16384 --repeats 3; } >"$D/host_cost.log" 2>&1
  stamp "host_cost rc=$?"; grep "host ms/step" "$D/host_cost.log"
fi
if has serve_ncu; then  # per-kernel times of one steady-state decode step inside the peer run (pnpm bench --ncu-steps)
  stamp serve_ncu        # compare with "profile" (the latency tool's eager step at 800:1152)
  OUT="$D" timeout "${SERVE_NCU_TIMEOUT:-420}" bash scripts/device/gpu.sh profile-serve peer-fp8-static --protocol peer \
    --workload decode-heavy --precision fp8-static --batch "${PEER_BATCH:-800}" --num-prompts "${PEER_PROMPTS:-800}" \
    --ncu-steps "${NCU_STEPS:-1037:1038}" --results-dir "$D/bench" --run serve-ncu >"$D/serve_ncu.log" 2>&1
  stamp "serve_ncu rc=$?"; head -20 "$D/ncu_serve_peer-fp8-static.txt" 2>/dev/null
fi
if has notune; then  # A/B of the cuBLASLt tuning of decode graph buckets (CudaOptions::gemm_tuning), interleaved
  stamp notune
  for r in 1 2; do
    lat "b800_tuned_r$r" --precision fp16,int8-w8a8,fp8-static --kv-cache-dtype fp8 --batch 800 --context 1152 --iters 10
    lat "b800_untuned_r$r" --precision fp16,int8-w8a8,fp8-static --kv-cache-dtype fp8 --batch 800 --context 1152 --iters 10 --no-gemm-tuning
  done
fi
peer() {  # precision, max batch, prompts, then more bench flags (the run is named after the precision and the flags)
  local p="$1" b="$2" n="$3"; shift 3
  local name="peer-decode-heavy-$p${1:+-$(echo "$*" | tr -c 'a-z0-9' '-' | sed 's/-*$//;s/^-*//')}"
  stamp "$name"
  OUT="$D" timeout 300 bash scripts/device/gpu.sh bench --protocol peer --workload decode-heavy --precision "$p" \
    --batch "$b" --num-prompts "$n" --results-dir "$D/bench" --run "$name" "$@" >"$D/$name.log" 2>&1
  stamp "$name rc=$?"; grep -E "out tok/s|decode-heavy\|" "$D/$name.log" | head -3
}
if has peer; then peer fp8-static "${PEER_BATCH:-800}" "${PEER_PROMPTS:-800}"; fi
if has peer2; then peer fp8-dynamic "${PEER_BATCH:-800}" "${PEER_PROMPTS:-800}"; fi
if has peer_16bit; then  # fp16 and int8-w8a8 beside them: FP8 KV at batch 800, then a 16-bit cache at the batch it fits
  peer fp16 "${PEER_BATCH:-800}" "${PEER_PROMPTS:-800}" --kv-cache-dtype fp8
  peer int8-w8a8 "${PEER_BATCH:-800}" "${PEER_PROMPTS:-800}" --kv-cache-dtype fp8
fi
if has peer_async; then  # --async-scheduling at the peer protocol (its default since session 16), then without it while time is left
  peer fp8-static "${PEER_BATCH:-800}" "${PEER_PROMPTS:-800}" --async-scheduling
  left=$(( ${PEER_DEADLINE:-240} - SECONDS ))
  if (( left > 85 )); then peer fp8-static "${PEER_BATCH:-800}" "${PEER_PROMPTS:-800}" --no-async-scheduling; else stamp "no time left for the sync run ($left s)"; fi
fi
if has diag; then  # why the peer run's step is slower than the latency tool's: context linearity, sustained load, clocks
  stamp diag
  nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,clocks_throttle_reasons.active \
    --format=csv -lms 250 >"$D/smi_diag.csv" 2>&1 &
  SMI=$!
  lat b800_ctx_lin --precision fp8-static --kv-cache-dtype fp8 --batch 800 --context 128,1152,2176 --iters 10
  lat b800_sustained --precision fp8-static --kv-cache-dtype fp8 --batch 800 --context 1152 --iters 400
  peer fp8-static "${PEER_BATCH:-800}" "${PEER_PROMPTS:-800}"
  kill $SMI
fi
if has peer_prefill; then  # issue 18: prefill-heavy at the peer protocol; 3,000 requests as the perf overview states (~140 s
  # per precision and budget at ~2,900 out tok/s, session 18) at 16,384 batched tokens (the best of
  # the 2048 / 8192 / 16384 sweep, results/bench-h200-peer-prefill-heavy-fp8-static-budget-sweep-74f7d78): PREFILL_BUDGETS
  # sweeps others
  stamp peer_prefill
  nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 500 \
    >"$D/smi_peer_prefill.csv" 2>&1 &
  SMI=$!
  OUT="$D" timeout "${PREFILL_TIMEOUT:-420}" bash scripts/device/gpu.sh bench --protocol peer --workload prefill-heavy \
    --precision "${PREFILL_PRECISION:-fp8-static}" --batch "${PEER_BATCH:-800}" --num-prompts "${PREFILL_PROMPTS:-3000}" \
    --max-num-batched-tokens "${PREFILL_BUDGETS:-16384}" --results-dir "$D/bench" --run "peer-prefill-heavy-$(echo "${PREFILL_PRECISION:-fp8-static}" | tr , _)-budget-sweep" \
    >"$D/peer_prefill.log" 2>&1
  stamp "peer_prefill rc=$?"; grep -E "prefill-heavy\|" "$D/peer_prefill.log" | head -4
  kill $SMI
fi
if has serve; then
  stamp serve
  OUT="$D" timeout 420 bash scripts/device/serve_overhead.sh --num-prompts 256 >"$D/serve.log" 2>&1
  stamp "serve rc=$?"; tail -5 "$D/serve.log"
  pack
fi
if has study; then
  for kv in auto fp8; do
    stamp "study fp8-static kv $kv"
    OUT="$D" timeout 200 bash scripts/device/gpu.sh bench --workload decode-heavy --precision fp8-static --batch 256 \
      --kv-cache-dtype "$kv" --results-dir "$D/bench" --run "study-decode-heavy-fp8-static-kv-$kv" >"$D/study_$kv.log" 2>&1
    stamp "study kv $kv rc=$?"; grep -E "decode-heavy\|" "$D/study_$kv.log" | head -2
  done
fi
study() {  # the study protocol (max batch 256) for every precision x both KV dtypes: workload, prompts
  stamp "study $1"
  OUT="$D" timeout "${STUDY_TIMEOUT:-570}" bash scripts/device/gpu.sh bench --workload "$1" --precision fp16,int8-w8a8,fp8-dynamic,fp8-static \
    --kv-cache-dtype auto,fp8 --batch 256 --num-prompts "$2" --results-dir "$D/bench" --run "study-$1" >"$D/study_$1.log" 2>&1
  stamp "study $1 rc=$?"; grep -E "$1\|" "$D/study_$1.log" | head -10
}
if has study_decode; then study decode-heavy 256; fi
if has study_prefill; then study prefill-heavy 512; fi
stamp done
