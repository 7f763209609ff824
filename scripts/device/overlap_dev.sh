#!/usr/bin/env bash
# The decode overlap experiment (native/dev/overlap, issue 17) in one device call: build the product's kernel
# libraries (scripts/device/gpu.sh build, kept when QB_REBUILD=0 finds them), link overlap_main against them with
# nvcc, then time its variants at each "batch:context" of SHAPES while nvidia-smi logs clocks and power.
# On the device machine from the repo root (carry .device):  SHAPES="800:1152 256:2048" bash scripts/device/overlap_dev.sh
# Logs under $OUT/overlap_dev/, packed into $OUT/overlap_dev.tgz.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT="${OUT:-$PWD/.device-out}"
D="$OUT/overlap_dev"
mkdir -p "$D"
export PATH="/usr/local/cuda/bin:$PATH"
BUILD="${QB_GPU_BUILD:-/tmp/qb-gpu-build}"
trap 'tar -czf "$OUT/overlap_dev.tgz" -C "$OUT" overlap_dev 2>/dev/null' EXIT
if [[ ! -f "$BUILD/libqb_cuda.a" || "${QB_REBUILD:-1}" != 0 ]]; then
  echo "== $(date +%T) build product"
  OUT="$D" timeout 420 bash scripts/device/gpu.sh build >"$D/build_product.log" 2>&1 || { tail -30 "$D/build_product.log"; exit 1; }
fi
echo "== $(date +%T) build overlap_main"
timeout 240 nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a -I native -DQB_HAVE_CUBLASLT=1 \
  -o /tmp/overlap_main native/dev/overlap/overlap_main.cu "$BUILD/libqb_cuda.a" "$BUILD/libqb_core.a" -lcublasLt -lpthread \
  >"$D/build.log" 2>&1 || { echo "build failed"; tail -20 "$D/build.log"; exit 1; }
nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv -lms 250 >"$D/smi.csv" 2>&1 &
SMI=$!
for shape in ${SHAPES:-800:1152 256:2048}; do
  b="${shape%%:*}"; c="${shape##*:}"
  echo "== $(date +%T) batch $b context $c"
  timeout "${RUN_TIMEOUT:-180}" /tmp/overlap_main --batch "$b" --ctx "$c" --iters "${ITERS:-10}" ${OVERLAP_ARGS:-} 2>&1 | tee "$D/overlap_b${b}_c${c}.log"
done
kill $SMI
