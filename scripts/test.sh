#!/usr/bin/env bash
# Sets up (Debian packages), builds the release preset and runs every test.
# Extra arguments go to ctest (e.g. -L unit, -R gguf).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)"
ctest --preset release -j"$(nproc)" "$@"
