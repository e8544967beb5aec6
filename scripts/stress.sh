#!/usr/bin/env bash
# Long runs of the churn stress tests (issue 11): scripts/stress.sh [PRESET] [SECONDS]
# PRESET: tsan (default), asan-ubsan or release; SECONDS: per test (default 600).
# Builds the preset's unit_engine and unit_worker, then runs EngineStressTest.* and
# DeviceStressTest.* (2 and 4 pool threads each), the two binaries side by side, each test
# for SECONDS. Logs: build/PRESET/stress-engine.log, build/PRESET/stress-device.log (each
# test prints one summary line). Exits 1 if any test failed or a sanitizer reported.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-tsan}"
seconds="${2:-600}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j"$(nproc)" --target unit_engine unit_worker
export RS_STRESS_SECONDS="$seconds"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp"
export ASAN_OPTIONS="detect_leaks=1"
dir="build/$preset"
"$dir/bin/unit_engine" --gtest_filter='EngineStressTest.*' >"$dir/stress-engine.log" 2>&1 &
engine_pid=$!
"$dir/bin/unit_worker" --gtest_filter='DeviceStressTest.*' >"$dir/stress-device.log" 2>&1 &
device_pid=$!
status=0
wait "$engine_pid" || status=1
wait "$device_pid" || status=1
grep -hE '^[0-9]+ threads:|^\[  (PASSED|FAILED)|ThreadSanitizer|AddressSanitizer|runtime error' \
  "$dir/stress-engine.log" "$dir/stress-device.log" || true
if [ "$status" -ne 0 ]; then
  echo "stress: FAILED (logs: $dir/stress-engine.log, $dir/stress-device.log)" >&2
  exit 1
fi
echo "stress: $preset, ${seconds} s per test: passed"
