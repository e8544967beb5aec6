#!/usr/bin/env bash
# The official `openai` npm SDK against a real pool: starts `ringserve up` (a private Redis,
# broker, 1 worker with 2 devices, the synthetic model `synth`, the HTTP gateway) in a temp
# dir, runs tests/node/openai_sdk.test.mjs with node's test runner, always stops the pool.
#
# Env: RINGSERVE_BIN   folder of the ringserve binaries (else `ringserve` on PATH)
#      RINGSERVE_FIXTURES  shared fixtures (default ../shared/fixtures from the repo root)
#      CI=true         a missing node / tests/node/node_modules / ringserve fails instead of skipping
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

var="$(mktemp -d "${TMPDIR:-/tmp}/ringserve-sdk.XXXXXX")"
up_pid=""
status=1

stop_pool() {
  if [ -n "$up_pid" ] && kill -0 "$up_pid" 2>/dev/null; then
    kill -INT "$up_pid" 2>/dev/null
    # ringserve up drains and stops its children; give it a bounded time.
    for _ in $(seq 1 150); do
      kill -0 "$up_pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$up_pid" 2>/dev/null; then
      echo "run_sdk_tests.sh: ringserve up did not stop on SIGINT in 30 s; SIGTERM" >&2
      kill -TERM "$up_pid" 2>/dev/null
      sleep 5
      kill -KILL "$up_pid" 2>/dev/null
    fi
    wait "$up_pid" 2>/dev/null
  fi
  up_pid=""
}

show_logs() {
  echo "---- ringserve up output ----" >&2
  tail -n 40 "$var/up.out" >&2 2>/dev/null
  for f in "$var"/log/*.log; do
    [ -f "$f" ] || continue
    echo "---- $(basename "$f") (last 20 lines) ----" >&2
    tail -n 20 "$f" >&2
  done
}

cleanup() {
  stop_pool
  rm -rf "$var"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ringserve up --workers 1 --devices 2 --var "$var" >"$var/up.out" 2>&1 </dev/null &
up_pid=$!

deadline=$((SECONDS + 90))
until [ -s "$var/http" ] && [ -s "$var/api-key" ]; do
  if ! kill -0 "$up_pid" 2>/dev/null; then
    wait "$up_pid"
    echo "run_sdk_tests.sh: ringserve up exited ($?) before the pool was ready" >&2
    up_pid=""
    show_logs
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "run_sdk_tests.sh: the pool was not ready in 90 s" >&2
    show_logs
    exit 1
  fi
  sleep 0.2
done

export RINGSERVE_HTTP="$(tr -d '[:space:]' <"$var/http")"
export RINGSERVE_API_KEY="$(tr -d '[:space:]' <"$var/api-key")"
export RINGSERVE_MODEL=synth
echo "run_sdk_tests.sh: pool ready at $RINGSERVE_HTTP (node $(node --version))"

cd "$root"
node --test tests/node/openai_sdk.test.mjs
status=$?
if [ "$status" -ne 0 ]; then
  show_logs
fi
exit "$status"
