#!/usr/bin/env bash
# The official `openai` npm SDK against real pools: starts two `ringserve up` in temp dirs
# (each a private Redis, broker, 1 worker, the HTTP gateway): one on the synthetic model
# `synth` (2 devices; it carries a ChatML chat template), one on stories260K with
# examples/chat/chatml.jinja (model `stories`, for the chat == plain-completion test); runs
# tests/node/openai_sdk.test.mjs and openai_chat.test.mjs with node's test runner, always
# stops the pools. A third pool (synth, 1 device) serves its gateway over TLS with a fresh
# self-signed certificate (the `openssl` CLI) for openai_tls.test.mjs; node trusts it
# through NODE_EXTRA_CA_CERTS.
#
# Env: RINGSERVE_BIN   folder of the ringserve binaries (else `ringserve` on PATH)
#      RINGSERVE_FIXTURES  shared fixtures (default ../shared/fixtures from the repo root)
#      RINGSERVE_MODELS    shared models (default ../shared/models): stories260K.gguf
#      CI=true         a missing node / tests/node/node_modules / ringserve / model fails instead of skipping
# Exit: node's exit code; 77 (skipped) outside CI when something needed is missing.
set -uo pipefail

self="${BASH_SOURCE[0]}"
[[ "$self" == */* ]] || self="./$self"
here="$(cd "${self%/*}" && pwd)"
root="$(cd "$here/../.." && pwd)"

skip_or_fail() {
  if [ "${CI:-}" = "true" ]; then
    echo "run_sdk_tests.sh: FAIL: $1" >&2
    exit 1
  fi
  echo "run_sdk_tests.sh: SKIP: $1" >&2
  exit 77
}

if ! command -v node >/dev/null 2>&1; then
  skip_or_fail "node is not installed (scripts/setup.sh installs it)"
fi
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$node_major" -lt 18 ]; then
  skip_or_fail "node $(node --version) is older than 18"
fi
if [ ! -d "$here/node_modules/openai" ] || [ ! -d "$here/node_modules/ajv" ]; then
  skip_or_fail "tests/node/node_modules is missing (scripts/setup.sh runs: npm ci --prefix tests/node)"
fi
if [ -n "${RINGSERVE_BIN:-}" ]; then
  export PATH="$RINGSERVE_BIN:$PATH"
fi
if ! command -v ringserve >/dev/null 2>&1; then
  skip_or_fail "no ringserve binary (set RINGSERVE_BIN or put it on PATH)"
fi
export RINGSERVE_FIXTURES="${RINGSERVE_FIXTURES:-$root/../shared/fixtures}"
models="${RINGSERVE_MODELS:-$root/../shared/models}"
stories_model="$models/stories260K.gguf"

var="$(mktemp -d "${TMPDIR:-/tmp}/ringserve-sdk.XXXXXX")"
pids=()
status=1

stop_pools() {
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null && kill -INT "$pid" 2>/dev/null
  done
  # ringserve up drains and stops its children; give it a bounded time.
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "run_sdk_tests.sh: ringserve up ($pid) did not stop on SIGINT in 30 s; SIGTERM" >&2
      kill -TERM "$pid" 2>/dev/null
      sleep 5
      kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
  done
  pids=()
}

show_logs() {
  for dir in "$var"/*/; do
    echo "---- ringserve up output ($(basename "$dir")) ----" >&2
    tail -n 40 "$dir/up.out" >&2 2>/dev/null
    for f in "$dir"/log/*.log; do
      [ -f "$f" ] || continue
      echo "---- $(basename "$dir")/$(basename "$f") (last 20 lines) ----" >&2
      tail -n 20 "$f" >&2
    done
  done
}

cleanup() {
  stop_pools
  rm -rf "$var"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_pool NAME ARGS...: `ringserve up ARGS --var $var/NAME` in the background.
start_pool() {
  local name="$1"
  shift
  mkdir -p "$var/$name"
  ringserve up "$@" --var "$var/$name" >"$var/$name/up.out" 2>&1 </dev/null &
  pids+=($!)
}

# wait_pool NAME PID: until its var/http and var/api-key exist (90 s).
wait_pool() {
  local dir="$var/$1" pid="$2"
  local deadline=$((SECONDS + 90))
  until [ -s "$dir/http" ] && [ -s "$dir/api-key" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "run_sdk_tests.sh: ringserve up ($1) exited before the pool was ready" >&2
      show_logs
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "run_sdk_tests.sh: the pool $1 was not ready in 90 s" >&2
      show_logs
      exit 1
    fi
    sleep 0.2
  done
}

start_pool synth --workers 1 --devices 2
tls_dir="$var/tls-cert"
mkdir -p "$tls_dir"
if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$tls_dir/gw.key" -out "$tls_dir/gw.crt" -days 1 -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1,DNS:localhost >"$tls_dir/openssl.log" 2>&1; then
  cat "$tls_dir/openssl.log" >&2
  echo "run_sdk_tests.sh: FAIL: openssl req could not make a certificate" >&2
  exit 1
fi
start_pool tls --workers 1 --devices 1 --gateway-tls-cert "$tls_dir/gw.crt" \
  --gateway-tls-key "$tls_dir/gw.key"
tls_pid="${pids[1]}"
if [ -f "$stories_model" ]; then
  start_pool stories --workers 1 --devices 1 --model "$stories_model" --model-name stories \
    --chat-template "$root/examples/chat/chatml.jinja"
elif [ "${CI:-}" = "true" ]; then
  echo "run_sdk_tests.sh: FAIL: no $stories_model (RINGSERVE_MODELS)" >&2
  exit 1
else
  echo "run_sdk_tests.sh: no $stories_model: the stories260K chat test is skipped" >&2
fi
wait_pool synth "${pids[0]}"
export RINGSERVE_HTTP="$(tr -d '[:space:]' <"$var/synth/http")"
export RINGSERVE_API_KEY="$(tr -d '[:space:]' <"$var/synth/api-key")"
export RINGSERVE_MODEL=synth
wait_pool tls "$tls_pid"
# The curl line `ringserve up` prints trusts the pool's own certificate.
for _ in $(seq 1 50); do grep -q -- "curl --cacert $tls_dir/gw.crt https://" "$var/tls/up.out" && break; sleep 0.2; done
if ! grep -q -- "curl --cacert $tls_dir/gw.crt https://" "$var/tls/up.out"; then
  echo "run_sdk_tests.sh: FAIL: ringserve up --gateway-tls-cert prints no curl --cacert line" >&2
  cat "$var/tls/up.out" >&2
  exit 1
fi
export RINGSERVE_TLS_HTTP="$(tr -d '[:space:]' <"$var/tls/http")"
export RINGSERVE_TLS_API_KEY="$(tr -d '[:space:]' <"$var/tls/api-key")"
if [ "${#pids[@]}" -gt 2 ]; then
  wait_pool stories "${pids[2]}"
  export RINGSERVE_STORIES_HTTP="$(tr -d '[:space:]' <"$var/stories/http")"
  export RINGSERVE_STORIES_API_KEY="$(tr -d '[:space:]' <"$var/stories/api-key")"
  export RINGSERVE_STORIES_MODEL=stories
fi
echo "run_sdk_tests.sh: pools ready at $RINGSERVE_HTTP ${RINGSERVE_STORIES_HTTP:-} (node $(node --version))"

cd "$root"
node --test tests/node/openai_sdk.test.mjs tests/node/openai_chat.test.mjs
status=$?
NODE_EXTRA_CA_CERTS="$tls_dir/gw.crt" node --test tests/node/openai_tls.test.mjs
tls_status=$?
[ "$status" -ne 0 ] || status=$tls_status
if [ "$status" -ne 0 ]; then
  show_logs
fi
exit "$status"
