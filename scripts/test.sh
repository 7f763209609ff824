#!/usr/bin/env bash
# The test command: builds the native addon (CPU backend; the CUDA backend compiles when nvcc exists),
# type-checks, then runs every package's tests with node's test runner.
set -euo pipefail
cd "$(dirname "$0")/.."
node native/build.mjs
pnpm exec tsc -p .
files=$(ls packages/*/test/*.test.ts native/test/*.test.ts 2>/dev/null)
exec node --import tsx --test --test-concurrency=1 $files
