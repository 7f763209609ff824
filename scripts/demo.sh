#!/usr/bin/env bash
# The main job on any machine: generate with each of the four precisions on the real tiny Llama (stories260K).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-$(node --import tsx -e "import {dataPath} from './packages/engine/src/datadir.ts'; process.stdout.write(dataPath('models/stories260K/hf') ?? '')")}
if [[ -z $model ]]; then
  echo "stories260K not found: place the shared data beside the repo (../shared) or set QB_DATA_DIR" >&2
  exit 2
fi
for p in fp16 int8-w8a8 fp8-dynamic fp8-static; do
  echo "== $p"
  pnpm -s generate --model "$model" --precision "$p" --max-tokens 48 "Once upon a time"
done
