#!/usr/bin/env bash
# On the GPU machine (device tool, carry .device): unpack Node and the data, build the addon with nvcc, then run
#   check    GPU-vs-CPU end-to-end checks (stories260K per precision, synthetic:tiny)  -> $OUT/gpu_check.json
#   latency [ARGS]  pnpm bench latency: decode / prefill step latency on synthetic Llama-3.1-8B -> $OUT/gpu_latency.jsonl
#   profile [PRECISIONS]  per-kernel device time (ncu) of a 2048 prefill and eager decode steps -> $OUT/ncu_*.txt
#   bench …  / eval …  / serve …  the CLIs, bundled (arguments passed through)
# On the device tool's machine (no Node, no node_modules): stage first on the dev machine with
#   bash ../shared/device/stage-node.sh && node scripts/device/stage.mjs --data   (then carry .device)
# On a GPU machine set up with `bash scripts/setup.sh` (Node + node_modules): it runs the TS sources through tsx.
# Usage: bash scripts/device/gpu.sh check|latency|profile|bench ARGS|eval ARGS|serve ARGS|build   (pnpm test:gpu = check)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT="${OUT:-$PWD/.device-out}"
mkdir -p "$OUT"
export PATH="/usr/local/cuda/bin:/tmp/nodebin:$PATH"
if ! command -v node >/dev/null && [[ -f .device/node/node.xz ]]; then
  mkdir -p /tmp/nodebin
  xz -d -c .device/node/node.xz >/tmp/nodebin/node
  chmod +x /tmp/nodebin/node
fi
if [[ -f .device/data.tar.xz && ! -d /tmp/shared/models ]]; then
  mkdir -p /tmp/shared && tar -xJf .device/data.tar.xz -C /tmp/shared
fi
[[ -d /tmp/shared/models ]] && export QB_DATA_DIR="${QB_DATA_DIR:-/tmp/shared}"
# The copy on the GPU machine carries a stale .git: provenance takes the commit staged in .device/commit.
[[ -f .device/commit ]] && export QB_COMMIT="${QB_COMMIT:-$(cut -d" " -f1 .device/commit)+bundle}"
export QB_REPO_ROOT="$PWD"  # the bundles live in .device/bundle; repo files (calibration text, results/) resolve from here
BUILD="${QB_GPU_BUILD:-/tmp/qb-gpu-build}"
if [[ ! -f "$BUILD/quantbench_native.node" || "${QB_REBUILD:-1}" == 1 ]]; then
  GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)
  if [[ -d .device/node-addon-api ]]; then
    NODE_ARGS=(-DNODE_INCLUDE_DIR="$PWD/.device/node/include/node" -DNODE_ADDON_API_DIR="$PWD/.device/node-addon-api")
  else
    NODE_ARGS=(-DNODE_INCLUDE_DIR="$(node -p "require('path').resolve(process.execPath, '../../include/node')")"
               -DNODE_ADDON_API_DIR="$(cd native && node -p "require('path').dirname(require.resolve('node-addon-api/package.json'))")")
  fi
  # QB_CMAKE_ARGS: extra configure options (e.g. -DQB_TRACE=ON with QB_GPU_BUILD=/tmp/qb-trace-build)
  # shellcheck disable=SC2086
  cmake -S native -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DQB_CUDA_TOOLS=ON "${NODE_ARGS[@]}" ${QB_CMAKE_ARGS:-} \
    >"$OUT/cmake.log" 2>&1 || { tail -30 "$OUT/cmake.log"; exit 1; }
  cmake --build "$BUILD" -j "$(nproc)" >"$OUT/build.log" 2>&1 || {
    grep -E "error|undefined" -A3 "$OUT/build.log" | head -60; echo "build failed"; exit 1; }
fi
export QB_NATIVE_ADDON="$BUILD/quantbench_native.node"
# A bundled entry point when staged (.device/bundle), else the TS source through tsx.
run_ts() {
  local name="$1" src="$2"; shift 2
  if [[ -f ".device/bundle/$name.mjs" ]]; then node ".device/bundle/$name.mjs" "$@"; else node --import tsx "$src" "$@"; fi
}
# The bench CLI (latency, profile and bench): the bundle when staged, else the TS source.
if [[ -f .device/bundle/bench.mjs ]]; then BENCH=(node .device/bundle/bench.mjs); else BENCH=(node --import tsx packages/bench/src/cli.ts); fi
what="${1:-check}"; shift || true
case "$what" in
  build) echo "built $QB_NATIVE_ADDON" ;;
  check) run_ts gpu_check scripts/device/gpu_check.ts --out "$OUT/gpu_check.json" "$@" ;;
  latency)
    rm -f "$OUT/ceilings.json"; CEIL=()
    if python3 scripts/device/ceilings.py "$OUT/ceilings.json"; then CEIL=(--ceilings "$OUT/ceilings.json")
    else echo "ceilings not measured (torch missing?): the known card's from native/device_ceilings.json"; fi
    "${BENCH[@]}" latency --out "$OUT/gpu_latency.jsonl" ${CEIL[@]+"${CEIL[@]}"} "$@" ;;
  profile)  # per-kernel device time of one prefill and eager decode steps per precision (ncu)
    # profile [PRECISIONS [NCU_DECODE [LATENCY FLAGS...]]], e.g. profile fp8-static 800:1152 --kv-cache-dtype fp8
    prec="${1:-fp16,fp8-static}"; shift || true
    dec="${1:-1:128,64:2048}"; shift || true
    names="prefill 2048,$(echo "$dec" | sed -E 's/([0-9]+):([0-9]+)/decode b\1 ctx\2/g')"
    for p in ${prec//,/ }; do
      ncu --profile-from-start off --clock-control none --cache-control none \
        --metrics gpu__time_duration.sum --csv \
        "${BENCH[@]}" latency --ncu --ncu-decode "$dec" --no-cuda-graphs --precision "$p" "$@" >"$OUT/ncu_$p.csv" 2>"$OUT/ncu_$p.err" ||
        { tail -5 "$OUT/ncu_$p.err"; echo "ncu failed for $p"; }
      python3 scripts/device/ncu_summary.py "$OUT/ncu_$p.csv" "$p" "$names" | tee "$OUT/ncu_$p.txt"
    done ;;
  bench) "${BENCH[@]}" "$@" ;;
  eval) run_ts eval packages/eval/src/cli.ts "$@" ;;
  serve) run_ts serve packages/serve/src/cli.ts "$@" ;;
  serve-overhead) bash scripts/device/serve_overhead.sh "$@" ;;  # HTTP/SSE vs in-process (see that script)
  profile-serve)  # per-kernel device time of serving steps: profile-serve NAME BENCH-FLAGS... (with --ncu-steps A:B)
    name="$1"; shift
    ncu --profile-from-start off --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv \
      "${BENCH[@]}" "$@" >"$OUT/ncu_serve_$name.csv" 2>"$OUT/ncu_serve_$name.err" ||
      { tail -5 "$OUT/ncu_serve_$name.err"; echo "ncu failed for $name"; }
    python3 scripts/device/ncu_summary.py "$OUT/ncu_serve_$name.csv" "$name" "serving step" | tee "$OUT/ncu_serve_$name.txt" ;;
  *) echo "unknown command $what (check | latency | profile | profile-serve | bench | eval | serve | serve-overhead | build)"; exit 2 ;;
esac
