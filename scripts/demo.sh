#!/usr/bin/env bash
# The first command: set up, build, start a local pool with `ringserve up` (a private
# redis-server, the broker and one worker with two devices serving a small synthetic
# model made once in var/models, and the HTTP gateway), stream a demo job through it, list the
# workers, then end with the README's `curl -N` of a streamed chat completion, and stop it.
#   scripts/demo.sh ["PROMPT"]          the pool
#   scripts/demo.sh engine ["PROMPT"]   the engine alone (ringserve-model synth + generate)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=pool
if [ "${1:-}" = engine ]; then mode=engine; shift; fi
prompt="${1:-Once upon a time}"
B=build/release/bin

bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" \
  --target ringserve ringserve-broker ringserve-worker ringserve-model ringserve-gateway >/dev/null

engine_demo() {
  mkdir -p var/models
  local model=var/models/demo-llama-f16.gguf
  if [ ! -f "$model" ]; then
    $B/ringserve-model synth --arch llama --dim 256 --layers 4 --heads 8 \
      --kv-heads 4 --ffn 768 --type f16 --seed 7 "$model"
  fi
  $B/ringserve-model info "$model"
  $B/ringserve-model generate "$model" "$prompt" -n 48 --temp 0.8 --seed 42
  echo
  # A real trained model too, when the shared test models are beside the checkout.
  local real="${RINGSERVE_MODELS:-../shared/models}/stories260K.gguf"
  if [ -f "$real" ]; then
    echo "== $real (a real 260K-parameter TinyStories model)"
    $B/ringserve-model generate "$real" "$prompt" -n 64 --temp 0.7 --seed 42
  fi
}

pool_demo() {
  mkdir -p var
  local out=var/up.out
  echo "== ringserve up --workers 1 --devices 2   (output in $out, logs in var/log/)"
  $B/ringserve up --workers 1 --devices 2 >"$out" 2>&1 &
  local up_pid=$!
  # Stop the pool however this script ends (SIGTERM is `up`'s Ctrl-C).
  trap 'kill -TERM '"$up_pid"' 2>/dev/null || true; wait '"$up_pid"' 2>/dev/null || true' EXIT
  # `up` prints "client endpoint ..." once var/endpoint is written and every device is listed.
  for _ in $(seq 1 1200); do
    if grep -q '^client endpoint' "$out"; then break; fi
    if ! kill -0 "$up_pid" 2>/dev/null; then
      cat "$out" >&2
      echo "demo.sh: ringserve up failed (see above and var/log/)" >&2
      exit 1
    fi
    sleep 0.1
  done
  if ! grep -q '^client endpoint' "$out"; then
    cat "$out" >&2
    echo "demo.sh: ringserve up was not ready after 120 s" >&2
    exit 1
  fi
  cat "$out"
  echo
  echo "== ringserve submit --stream \"$prompt\""
  $B/ringserve submit --stream --max-tokens 48 --temperature 0.8 --seed 42 "$prompt"
  echo "(random weights, so the text is noise: \`ringserve up --model FILE.gguf\` serves a real model)"
  echo
  echo "== ringserve workers"
  $B/ringserve workers
  echo
  # The README's chat line, as written there (the gateway's URL and key are in var/).
  for _ in $(seq 1 300); do
    if [ -s var/http ]; then break; fi
    sleep 0.1
  done
  local chat
  chat="$(grep -m1 '^curl -N .*/v1/chat/completions' README.md)"
  echo "== $chat"
  bash -c "$chat"
  echo
  echo "== stopping the pool"
  kill -TERM "$up_pid"
  wait "$up_pid"
  trap - EXIT
  tail -n 2 "$out"
}

if [ "$mode" = engine ]; then engine_demo; else pool_demo; fi
