#!/usr/bin/env bash
# One device call that compares engine variants selected by engine-option flags of `bench latency`, A/B in one call:
# build; optionally the kernel checks of some harness groups (CHECKS, e.g. "fused_gemv,attention") and the
# GPU-vs-CPU end-to-end checks (E2E=1); then decode step latency for every variant, ROUNDS times, the variants
# interleaved within a round (so drift hits them alike). Prints one line per (variant, round, precision, shape) and a
# summary table (median over rounds) last; logs and JSON into $OUT/ab.tgz.
# Stage first (see gpu.sh). Usage, e.g.:
#   VARIANTS="- --no-fused-decode --no-pdl" ROUNDS=2 PRECS=int8-w8a8,fp8-static CHECKS=fused_gemv E2E=1 bash scripts/device/ab.sh
# A variant is a space-free list of latency flags joined by ','; "-" is the defaults. (Another commit as the
# baseline: ab_base.sh.)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT="${OUT:-$PWD/.device-out}"
R="$OUT/ab"
mkdir -p "$R"
VARIANTS="${VARIANTS:--}"
ROUNDS="${ROUNDS:-2}"
PRECS="${PRECS:-fp16,int8-w8a8,fp8-dynamic,fp8-static}"
BATCH="${BATCH:-1}"
CONTEXT="${CONTEXT:-128}"
step() { echo "== $1 ($(date +%T))"; }
step build
bash scripts/device/gpu.sh build >"$R/build.txt" 2>&1 || { tail -30 "$R/build.txt"; exit 1; }
H=/tmp/qb-gpu-build/qb_kernel_check
if [[ -n "${CHECKS:-}" ]]; then
  step "kernel checks: $CHECKS"
  timeout 300 "$H" --no-pdl --checks-only --only "$CHECKS" --jsonl "$R/checks.jsonl" >"$R/checks.log" 2>&1
  grep -E "^FAIL" "$R/checks.log" | cut -c1-300 | head -20; tail -1 "$R/checks.log"
fi
if [[ "${E2E:-0}" == 1 ]]; then
  step "GPU vs CPU end to end"
  QB_REBUILD=0 OUT="$R" timeout 150 bash scripts/device/gpu.sh check | tail -1
fi
commit="$(cut -d' ' -f1 .device/commit)"
for r in $(seq 1 "$ROUNDS"); do
  i=0
  for v in $VARIANTS; do
    i=$((i + 1))
    step "round $r variant $i: $v"
    flags=()
    [[ "$v" != "-" ]] && IFS=',' read -r -a flags <<<"$v"
    d="$R/v${i}_r$r"
    QB_REBUILD=0 OUT="$d" timeout 200 bash scripts/device/gpu.sh latency ${flags[@]+"${flags[@]}"} --commit "$commit" \
      --precision "$PRECS" --batch "$BATCH" --context "$CONTEXT" --no-prefill >/dev/null 2>"$d.err" || tail -5 "$d.err"
    python3 scripts/device/latency_table.py "$d/gpu_latency.jsonl" | sed "s/^/v$i r$r  /"
  done
done
step summary
python3 - "$R" "$VARIANTS" <<'EOF'
import json, os, statistics, sys
root, variants = sys.argv[1], sys.argv[2].split()
rows = {}
for name in sorted(os.listdir(root)):
    p = os.path.join(root, name, "gpu_latency.jsonl")
    if not (name.startswith("v") and os.path.isfile(p)):
        continue
    vi = int(name[1:].split("_")[0])
    for line in open(p):
        j = json.loads(line)
        if j.get("kind") == "decode" and j.get("ms"):
            rows.setdefault((j["precision"], j["batch"], j["context"]), {}).setdefault(vi, []).append(j["ms"])
print("precision    batch ctx   " + "  ".join(f"v{i + 1}:{v[:22]:>22s}" for i, v in enumerate(variants)))
for (prec, b, c), per in sorted(rows.items()):
    cells = []
    for i in range(len(variants)):
        ms = per.get(i + 1, [])
        cells.append(f"{statistics.median(ms):7.3f} ms ({'/'.join(f'{x:.3f}' for x in ms)})"[:25].rjust(25) if ms else " " * 25)
    print(f"{prec:12s} {b:5d} {c:5d} " + " ".join(cells))
EOF
tar czf "$OUT/ab.tgz" -C "$OUT" ab && rm -rf "$R"
step done
