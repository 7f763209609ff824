#!/usr/bin/env bash
# Sets up quantbench on a fresh machine (Node 20 + npm, a C++17 compiler, CMake; nvcc optional):
# installs pnpm if missing, the workspace's packages (from the lockfile), and builds the native addon.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v pnpm >/dev/null 2>&1; then
  echo "installing pnpm..."
  npm install -g pnpm@10.34.9 >/dev/null
fi
pnpm install --frozen-lockfile
node native/build.mjs
echo "quantbench is set up."
