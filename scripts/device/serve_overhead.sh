#!/usr/bin/env bash
# What HTTP/SSE costs: the same serving workload through `pnpm serve` (bench --backend openai) and in-process, one
# after the other on one GPU (never both models loaded at once), then one comparison line.
# On the GPU machine, from the repo root, after `bash scripts/device/gpu.sh build` (or any gpu.sh command) built the
# addon:
#   bash scripts/device/serve_overhead.sh                       # synthetic:llama-3.1-8b fp8-static decode-heavy, max batch 256
#   bash scripts/device/serve_overhead.sh --prompts-per-batch 2 # shorter: 512 prompts instead of 1024
# Options: --model M --precision P --batch N --workload W --max-num-batched-tokens N --kv-blocks N, --async-scheduling and
# --capacity-scheduler-policy P (to the server and the in-process bench alike); anything else is
# passed to both benches unchanged (e.g. --input-len 8 --output-len 16 --num-prompts 8 for a CPU smoke run).
# Writes $OUT/serve_overhead/{openai,in-process}/ (points.jsonl, summary.*), serve.log, serve_overhead.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT="${OUT:-$PWD/.device-out}"
DIR="$OUT/serve_overhead"
mkdir -p "$DIR"
export PATH="/tmp/nodebin:$PATH"
# The environment gpu.sh sets up: the addon it built, the unpacked data, the staged commit, bundles over sources.
if [[ -z "${QB_NATIVE_ADDON:-}" ]]; then
  for a in "${QB_GPU_BUILD:-/tmp/qb-gpu-build}/quantbench_native.node" "$PWD/native/build/quantbench_native.node"; do
    if [[ -f "$a" ]]; then export QB_NATIVE_ADDON="$a"; break; fi
  done
fi
[[ -n "${QB_NATIVE_ADDON:-}" ]] || { echo "no built addon: run bash scripts/device/gpu.sh build first"; exit 1; }
[[ -d /tmp/shared/models ]] && export QB_DATA_DIR="${QB_DATA_DIR:-/tmp/shared}"
[[ -f .device/commit ]] && export QB_COMMIT="${QB_COMMIT:-$(cut -d" " -f1 .device/commit)+bundle}"
export QB_REPO_ROOT="$PWD"
run_ts() {
  local name="$1" src="$2"; shift 2
  if [[ -f ".device/bundle/$name.mjs" ]]; then node ".device/bundle/$name.mjs" "$@"; else node --import tsx "$src" "$@"; fi
}

MODEL=synthetic:llama-3.1-8b PREC=fp8-static BATCH=256 WORKLOAD=decode-heavy MNBT=8192 KV=()
SCHED=()
EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) MODEL="$2"; shift 2 ;;
    --precision) PREC="$2"; shift 2 ;;
    --batch) BATCH="$2"; shift 2 ;;
    --workload) WORKLOAD="$2"; shift 2 ;;
    --max-num-batched-tokens) MNBT="$2"; shift 2 ;;
    --kv-blocks) KV=(--kv-blocks "$2"); shift 2 ;;
    # the engine's scheduling, given to the server and to the in-process bench alike
    --async-scheduling) SCHED+=(--async-scheduling); shift ;;
    --capacity-scheduler-policy) SCHED+=(--capacity-scheduler-policy "$2"); shift 2 ;;
    *) EXTRA+=("$1"); shift ;;
  esac
done
# Identical workload flags for both benches; --no-quick so neither picks the CPU profile on its own.
WL=(--workload "$WORKLOAD" --no-quick --max-num-batched-tokens "$MNBT" --rate inf --seed 0 "${EXTRA[@]}")
rm -rf "$DIR/openai" "$DIR/in-process"

echo "== pnpm serve $MODEL $PREC (max batch $BATCH) on 127.0.0.1"
# Started directly (not through the run_ts function): $! must be node itself, so that the TERM below reaches it and
# `wait` returns only once it has exited and freed the GPU (a backgrounded function's subshell does not forward it).
if [[ -f .device/bundle/serve.mjs ]]; then SERVE=(node .device/bundle/serve.mjs); else SERVE=(node --import tsx packages/serve/src/cli.ts); fi
"${SERVE[@]}" --model "$MODEL" --precision "$PREC" --host 127.0.0.1 --port 0 \
  --max-num-seqs "$BATCH" --max-num-batched-tokens "$MNBT" "${KV[@]}" "${SCHED[@]}" --max-waiting 100000 >"$DIR/serve.stdout" 2>"$DIR/serve.log" &
SERVER=$!
stop_server() {
  kill -TERM "$SERVER" 2>/dev/null || return 0
  for _ in $(seq 1 120); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.5; done
  kill -KILL "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
}
trap stop_server EXIT
URL=""
for _ in $(seq 1 900); do
  URL=$(grep -o 'http://[^ ]*' "$DIR/serve.stdout" 2>/dev/null || true)
  [[ -n "$URL" ]] && break
  kill -0 "$SERVER" 2>/dev/null || { tail -20 "$DIR/serve.log"; echo "the server exited before listening"; exit 1; }
  sleep 1
done
[[ -n "$URL" ]] || { tail -20 "$DIR/serve.log"; echo "the server did not start in 15 min"; exit 1; }
node -e "fetch(process.argv[1] + '/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))" "$URL" ||
  { echo "$URL/health is not OK"; exit 1; }
echo "   $URL healthy"

echo "== bench --backend openai -> $URL"
run_ts bench packages/bench/src/cli.ts --backend openai --base-url "$URL" --label "served-$PREC" \
  --results-dir "$DIR" --run openai "${WL[@]}" 2>&1 | tail -4
stop_server
trap - EXIT

echo "== bench in-process $MODEL $PREC --batch $BATCH"
run_ts bench packages/bench/src/cli.ts --model "$MODEL" --precision "$PREC" --batch "$BATCH" "${KV[@]}" "${SCHED[@]}" \
  --results-dir "$DIR" --run in-process "${WL[@]}" 2>&1 | tail -4

node - "$DIR" <<'EOF'
const fs = require('fs'), path = require('path');
const dir = process.argv[2];
const pt = (run) => JSON.parse(fs.readFileSync(path.join(dir, run, 'points.jsonl'), 'utf8').trim().split('\n')[0]);
const a = pt('in-process'), b = pt('openai');
const m = (p) => p.metrics;
const overhead = 1 - m(b).outputThroughput / m(a).outputThroughput;
const res = {
  model: a.provenance.model, precision: a.precision, device: a.provenance.device, commit: a.provenance.commit,
  weights: a.provenance.weights, workload: a.workload, maxBatch: a.engine.maxNumSeqs,
  inProcess: { outputThroughput: m(a).outputThroughput, ttftMsP50: m(a).ttftMs.median, itlMsP50: m(a).itlMs.median, completed: m(a).completed, outputTokens: m(a).totalOutputTokens },
  openai: { outputThroughput: m(b).outputThroughput, ttftMsP50: m(b).ttftMs.median, itlMsP50: m(b).itlMs.median, completed: m(b).completed, outputTokens: m(b).totalOutputTokens },
  httpOverheadFraction: overhead,
};
fs.writeFileSync(path.join(dir, 'serve_overhead.json'), JSON.stringify(res, null, 2) + '\n');
console.log(`serve_overhead ${res.model} ${res.precision} ${res.workload.name} max batch ${res.maxBatch}: in-process ${m(a).outputThroughput.toFixed(1)} out tok/s, ` +
  `through pnpm serve ${m(b).outputThroughput.toFixed(1)} out tok/s -> HTTP/SSE overhead ${(100 * overhead).toFixed(2)}% ` +
  `(TTFT p50 ${m(a).ttftMs.median.toFixed(1)} vs ${m(b).ttftMs.median.toFixed(1)} ms, ITL p50 ${m(a).itlMs.median.toFixed(2)} vs ${m(b).itlMs.median.toFixed(2)} ms; ` +
  `output tokens ${m(a).totalOutputTokens} vs ${m(b).totalOutputTokens})`);
EOF
