#!/usr/bin/env bash
# Builds the CUDA kernels and their check/timing harness on the GPU machine, then runs
#   (a) every kernel against its CPU twin on fresh random inputs (seed printed; QB_SEED=N to repeat one),
#   (b) timings (CUDA events, warm-up, median; rotating weight buffers > 4x L2),
# writing $OUT/kernels.jsonl (timings + check results), $OUT/kernels.log and $OUT/sass_summary.txt.
# Run from the repo root:  bash scripts/device/kernels.sh [--quick] [--checks-only | --bench-only]
# Exit status: non-zero if the build or any check fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT="${OUT:-$PWD/.device-out}"
mkdir -p "$OUT"
BUILD="${QB_KERNELS_BUILD:-/tmp/qb-kernels-build}"
export PATH="/usr/local/cuda/bin:$PATH"
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)

# The Node addon is not built here (no Node on the GPU machine): its header paths only need to be set.
cmake -S native -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DNODE_INCLUDE_DIR=/nonexistent -DNODE_ADDON_API_DIR=/nonexistent >"$OUT/cmake.log" 2>&1 || {
  tail -30 "$OUT/cmake.log"; echo "cmake configure failed"; exit 1; }
grep -E "quantbench:" "$OUT/cmake.log" || true
cmake --build "$BUILD" --target qb_kernel_check -j "$(nproc)" >"$OUT/build.log" 2>&1 || {
  grep -E "error|Error" -A3 "$OUT/build.log" | head -60; echo "build failed"; exit 1; }
grep -E "warning" "$OUT/build.log" | head -20 || true

# SASS summary per kernel: tensor-core instructions, 16-byte global loads, local-memory traffic (spills).
if command -v cuobjdump >/dev/null; then
  cuobjdump -sass "$BUILD/libqb_cuda.a" >"$OUT/sass.txt" 2>/dev/null || true
  awk '/Function :/ { if (name) printf "%-100s QMMA %d IMMA %d HMMA %d GMMA %d LDG.128 %d LDG %d LDL/STL %d\n", name, q, i, hm, g, l128, ldg, loc;
                      name=$3; q=i=hm=g=l128=ldg=loc=0 }
       /QMMA/ {q++} /IMMA/ {i++} /HMMA/ {hm++} /GMMA/ {g++}
       /LDG/ {ldg++} /LDG.*\.128/ {l128++} /LDL|STL/ {loc++}
       END { if (name) printf "%-100s QMMA %d IMMA %d HMMA %d GMMA %d LDG.128 %d LDG %d LDL/STL %d\n", name, q, i, hm, g, l128, ldg, loc }' \
    "$OUT/sass.txt" | c++filt | sed -E 's/qb::cuda::(smallm::)?//g' >"$OUT/sass_summary.txt" || true
  echo "SASS summary (small-M GEMM kernels):"
  grep -E "gemm_smallm" "$OUT/sass_summary.txt" | sed -E 's/^void //' | cut -c1-200 || true
fi

ARGS=(--jsonl "$OUT/kernels.jsonl" "$@")  # e.g. --only attention --checks-only
[[ -n "${QB_SEED:-}" ]] && ARGS+=(--seed "$QB_SEED")
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv,noheader 2>/dev/null || true
set +e
# --no-pdl: each kernel timed on its own (with programmatic dependent launch, back-to-back launches of one kernel
# overlap, which the model's step latency measures instead).
"$BUILD/qb_kernel_check" --no-pdl "${ARGS[@]}" >"$OUT/kernels.log" 2>&1
rc=$?
set -e
grep -E "^(FAIL|device:)" "$OUT/kernels.log" || true
echo "checks: $(grep -c '^PASS' "$OUT/kernels.log") PASS lines, $(grep -c '^FAIL' "$OUT/kernels.log") FAIL lines (full log: $OUT/kernels.log)"
# The compact table and the closing 'N passed, N failed' line come last.
if grep -q '^op  ' "$OUT/kernels.log"; then sed -n '/^op  /,$p' "$OUT/kernels.log"; else tail -2 "$OUT/kernels.log"; fi
exit $rc
