#!/usr/bin/env bash
# A/B of this tree against a baseline commit, in one device call: the baseline's native sources and bundled latency
# tool are staged in .device/base (see below); both addons are built here, then decode / prefill step latency runs
# for both, ROUNDS rounds, baseline and new interleaved within a round (drift hits them alike; odd rounds run the
# baseline first, even ones the new tree). Prints one table per run and a summary (median over rounds, new / base)
# last; JSON lines and logs in $OUT/ab_base.tgz.
# Staging on the dev machine (baseline B):
#   git worktree add /tmp/base B && (cd /tmp/base && pnpm install --frozen-lockfile && node scripts/device/stage.mjs)
#   mkdir -p .device/base && git -C /tmp/base archive B native | tar -x -C .device/base
#   cp /tmp/base/.device/bundle/gpu_latency.mjs .device/base/ && echo B > .device/base/commit
#   (a baseline from after the latency tool moved into pnpm bench: copy bench.mjs instead; BASE_TOOL=bench)
# Usage: ROUNDS=2 PRECS=... BATCH=1,16,256 CONTEXT=128,2048 STEPS="build checks e2e latency" bash scripts/device/ab_base.sh
# LAT_ARGS: more latency flags for both tools (e.g. "--kv-cache-dtype auto,fp8 --no-prefill"); TAG names the tarball
# ($OUT/ab_base_TAG.tgz; default r<first round>) so several passes in one call keep their files.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT="${OUT:-$PWD/.device-out}"
TAG="${TAG:-r${FIRST_ROUND:-1}}"
R="$OUT/ab_base_$TAG"
mkdir -p "$R"
ROUNDS="${ROUNDS:-1}"
FIRST_ROUND="${FIRST_ROUND:-1}"
PRECS="${PRECS:-fp16,int8-w8a8,fp8-dynamic,fp8-static}"
BATCH="${BATCH:-1,16,256}"
CONTEXT="${CONTEXT:-128,2048}"
STEPS=" ${STEPS:-build checks e2e latency} "
BASE_TOOL="${BASE_TOOL:-gpu_latency}"
step() { echo "== $1 ($(date +%T))"; }
want() { [[ "$STEPS" == *" $1 "* ]] && step "$1"; }
base_commit="$(cat .device/base/commit)"
new_commit="$(cut -d' ' -f1 .device/commit)"
if want build; then
  # both at once (the machine has the cores; each build alone leaves most of them idle in its long CUDA units)
  bash scripts/device/gpu.sh build >"$R/build_new.txt" 2>&1 &
  new_pid=$!
  GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)
  (cmake -S .device/base/native -B /tmp/qb-base-build "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DQB_CUDA_TOOLS=OFF \
      -DNODE_INCLUDE_DIR="$PWD/.device/node/include/node" -DNODE_ADDON_API_DIR="$PWD/.device/node-addon-api" &&
    cmake --build /tmp/qb-base-build -j "$(nproc)") >"$R/build_base.txt" 2>&1 || { tail -30 "$R/build_base.txt"; exit 1; }
  wait "$new_pid" || { tail -30 "$R/build_new.txt"; exit 1; }
  echo "built new ($new_commit) and base ($base_commit)"
fi
export PATH="/tmp/nodebin:$PATH"
[[ -d /tmp/shared/models ]] && export QB_DATA_DIR="${QB_DATA_DIR:-/tmp/shared}"
export QB_REPO_ROOT="$PWD"
H=/tmp/qb-gpu-build/qb_kernel_check
if want checks; then
  timeout 300 "$H" --no-pdl --checks-only ${QB_CHECK_ONLY:+--only $QB_CHECK_ONLY} --jsonl "$R/kernel_checks.jsonl" >"$R/kernel_checks.log" 2>&1
  grep -E "^FAIL" "$R/kernel_checks.log" | cut -c1-300 | head -20; tail -1 "$R/kernel_checks.log"
fi
if want e2e; then
  QB_REBUILD=0 OUT="$R" timeout 200 bash scripts/device/gpu.sh check | tail -1
  QB_REBUILD=0 OUT="$R/unfused" timeout 200 bash scripts/device/gpu.sh check --no-fused-decode | tail -1
fi
if want latency; then
  python3 scripts/device/ceilings.py "$R/ceilings.json" >/dev/null 2>&1 || echo "ceilings not measured"
  args=(--precision "$PRECS" --batch "$BATCH" --context "$CONTEXT" --ceilings "$R/ceilings.json" ${LAT_ARGS:-})
  # SM clock, power and clock-event reasons every 200 ms while each run times (the summary prints their medians: a
  # power-capped or cooler run shows there, not only in its times)
  SMI_PID=
  smi_start() {
    command -v nvidia-smi >/dev/null || return 0
    nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv,noheader -lms 200 \
      >"$R/smi_$1.csv" 2>/dev/null &
    SMI_PID=$!
  }
  smi_stop() { [[ -n "$SMI_PID" ]] && kill "$SMI_PID" 2>/dev/null; wait "$SMI_PID" 2>/dev/null; SMI_PID=; }
  run_base() {
    step "round $r base $base_commit"
    if [[ "$BASE_TOOL" == bench ]]; then base_cmd=(node .device/base/bench.mjs latency); else base_cmd=(node .device/base/gpu_latency.mjs); fi
    smi_start "base_r$r"
    QB_COMMIT="$base_commit" QB_NATIVE_ADDON=/tmp/qb-base-build/quantbench_native.node timeout 280 \
      "${base_cmd[@]}" --commit "$base_commit" --out "$R/base_r$r.jsonl" "${args[@]}" >"$R/base_r$r.log" 2>&1 ||
      tail -5 "$R/base_r$r.log"
    smi_stop
  }
  run_new() {
    step "round $r new $new_commit"
    smi_start "new_r$r"
    QB_COMMIT="$new_commit" QB_NATIVE_ADDON=/tmp/qb-gpu-build/quantbench_native.node timeout 280 \
      node .device/bundle/bench.mjs latency --commit "$new_commit" --out "$R/new_r$r.jsonl" "${args[@]}" >"$R/new_r$r.log" 2>&1 ||
      tail -5 "$R/new_r$r.log"
    smi_stop
  }
  for r in $(seq "$FIRST_ROUND" $((FIRST_ROUND + ROUNDS - 1))); do
    # odd rounds run the baseline first, even rounds the new tree first (what running second does hits both alike)
    if ((r % 2)); then run_base; run_new; else run_new; run_base; fi
  done
  python3 scripts/device/ab_base_table.py "$R" | tee "$R/summary.txt"
fi
tar czf "$OUT/ab_base_$TAG.tgz" -C "$OUT" "ab_base_$TAG" && rm -rf "$R"
step done
