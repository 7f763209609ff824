#!/usr/bin/env bash
# On the GPU machine (device tool, carry .device): unpack Node and the data, build the addon with nvcc, then run
#   check    GPU-vs-CPU end-to-end checks (stories260K per precision, synthetic:tiny)  -> $OUT/gpu_check.json
#   latency  decode / prefill step latency on synthetic Llama-3.1-8B                   -> $OUT/gpu_latency.jsonl
#   bench …  / eval …  the CLIs, bundled (arguments passed through)
# Stage first on the dev machine: bash ../shared/device/stage-node.sh && node scripts/device/stage.mjs --data
# Usage: bash scripts/device/gpu.sh check|latency|bench ARGS|eval ARGS|build
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT="${OUT:-$PWD/.device-out}"
mkdir -p "$OUT"
export PATH="/usr/local/cuda/bin:/tmp/nodebin:$PATH"
if ! command -v node >/dev/null; then
  mkdir -p /tmp/nodebin
  xz -d -c .device/node/node.xz >/tmp/nodebin/node
  chmod +x /tmp/nodebin/node
fi
if [[ -f .device/data.tar.xz && ! -d /tmp/shared/models ]]; then
  mkdir -p /tmp/shared && tar -xJf .device/data.tar.xz -C /tmp/shared
fi
export QB_DATA_DIR="${QB_DATA_DIR:-/tmp/shared}"
# The copy on the GPU machine carries a stale .git: provenance takes the commit staged in .device/commit.
[[ -f .device/commit ]] && export QB_COMMIT="${QB_COMMIT:-$(cut -d" " -f1 .device/commit)+bundle}"
export QB_REPO_ROOT="$PWD"  # the bundles live in .device/bundle; repo files (calibration text, results/) resolve from here
BUILD="${QB_GPU_BUILD:-/tmp/qb-gpu-build}"
if [[ ! -f "$BUILD/quantbench_native.node" || "${QB_REBUILD:-1}" == 1 ]]; then
  GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)
  cmake -S native -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DQB_CUDA_TOOLS=ON \
    -DNODE_INCLUDE_DIR="$PWD/.device/node/include/node" -DNODE_ADDON_API_DIR="$PWD/.device/node-addon-api" \
    >"$OUT/cmake.log" 2>&1 || { tail -30 "$OUT/cmake.log"; exit 1; }
  cmake --build "$BUILD" -j "$(nproc)" >"$OUT/build.log" 2>&1 || {
    grep -E "error|undefined" -A3 "$OUT/build.log" | head -60; echo "build failed"; exit 1; }
fi
export QB_NATIVE_ADDON="$BUILD/quantbench_native.node"
what="${1:-check}"; shift || true
case "$what" in
  build) echo "built $QB_NATIVE_ADDON" ;;
  check) node .device/bundle/gpu_check.mjs --out "$OUT/gpu_check.json" "$@" ;;
  latency)
    python3 scripts/device/ceilings.py "$OUT/ceilings.json" || echo "ceilings not measured (torch missing?)"
    node .device/bundle/gpu_latency.mjs --out "$OUT/gpu_latency.jsonl" --ceilings "$OUT/ceilings.json" "$@" ;;
  bench) node .device/bundle/bench.mjs "$@" ;;
  eval) node .device/bundle/eval.mjs "$@" ;;
  *) echo "unknown command $what (check | latency | bench | eval | build)"; exit 2 ;;
esac
