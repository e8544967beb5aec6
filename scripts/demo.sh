#!/usr/bin/env bash
# The main job for now: set up, build, make a small synthetic model (with its own
# byte-level tokenizer, so no model files are needed) and stream a generation from it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" >/dev/null
mkdir -p var/models
model=var/models/demo-llama-f16.gguf
if [ ! -f "$model" ]; then
  build/release/bin/ringserve-model synth --arch llama --dim 256 --layers 4 --heads 8 \
    --kv-heads 4 --ffn 768 --type f16 --seed 7 "$model"
fi
build/release/bin/ringserve-model info "$model"
build/release/bin/ringserve-model generate "$model" "${1:-Once upon a time}" -n 48 --temp 0.8 --seed 42
echo
# A real trained model too, when the shared test models are beside the checkout.
real="${RINGSERVE_MODELS:-../shared/models}/stories260K.gguf"
if [ -f "$real" ]; then
  echo "== $real (a real 260K-parameter TinyStories model)"
  build/release/bin/ringserve-model generate "$real" "${1:-Once upon a time}" -n 64 --temp 0.7 --seed 42
fi
