#!/usr/bin/env bash
# Runs the libFuzzer targets of fuzz/ (build them first: cmake --preset fuzz &&
# cmake --build --preset fuzz). docs/FUZZING.md.
#   scripts/fuzz.sh TARGET SECONDS   one target for SECONDS on a copy of fuzz/corpus/TARGET
#   scripts/fuzz.sh all SECONDS      every target, SECONDS split evenly between them
#   scripts/fuzz.sh list             the target names
#   scripts/fuzz.sh build            configures and builds the `fuzz` preset (nothing else builds)
# Prints each run's execs, exec/s, cov and ft; exits non-zero on any crash, leak, timeout or
# out-of-memory (the reproducer is kept in $RS_FUZZ_OUT, default build/fuzz/findings).
# RS_FUZZ_BIN overrides the binaries' folder (default build/fuzz/bin); RS_FUZZ_JOBS=N runs N
# targets at once under `all` (default 1).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN="${RS_FUZZ_BIN:-build/fuzz/bin}"
OUT="${RS_FUZZ_OUT:-build/fuzz/findings}"
TARGETS=(wire_client wire_worker wire_dispatch wire_frames store_records gateway_http gateway_json
         gguf tokenizer chat_template)

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

run_one() {  # TARGET SECONDS -> 0 when clean
  local target=$1 seconds=$2
  local bin="$BIN/${target}-fuzz"
  if [[ ! -x "$bin" ]]; then
    echo "fuzz: $bin not built (cmake --preset fuzz && cmake --build --preset fuzz)" >&2
    return 1
  fi
  local work="$OUT/$target"
  rm -rf "$work/corpus" && mkdir -p "$work/corpus" "$work/artifacts"
  if [[ -d fuzz/corpus/$target ]]; then cp -r "fuzz/corpus/$target/." "$work/corpus/"; fi
  local dict=()
  if [[ -f fuzz/dict/$target.dict ]]; then dict=("-dict=fuzz/dict/$target.dict"); fi
  local log="$work/log.txt"
  "$bin" "$work/corpus" "${dict[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -detect_leaks=1 -print_final_stats=1 -artifact_prefix="$work/artifacts/" >"$log" 2>&1
  local rc=$?
  local execs cov ft rate
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  printf 'fuzz: %-14s %4ss  execs %-9s exec/s %-7s cov: %-6s ft: %-6s %s\n' "$target" "$seconds" \
    "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$([[ $rc -eq 0 ]] && echo ok || echo FAILED)"
  if [[ $rc -ne 0 ]]; then
    grep -E 'ERROR|SUMMARY|Test unit written|artifact_prefix|==[0-9]+==' "$log" | head -20 >&2
    echo "fuzz: $target failed (exit $rc); log $log, reproducer in $work/artifacts/" >&2
    return 1
  fi
}

[[ $# -ge 1 ]] || usage
case "$1" in
  list) printf '%s\n' "${TARGETS[@]}"; exit 0 ;;
  build) cmake --preset fuzz >/dev/null && cmake --build --preset fuzz -j"$(nproc)"; exit $? ;;
  -h|--help) usage ;;
esac
[[ $# -eq 2 && "$2" =~ ^[0-9]+$ && "$2" -gt 0 ]] || usage
if [[ "$1" != all ]]; then
  run_one "$1" "$2"
  exit $?
fi
per=$(( $2 / ${#TARGETS[@]} ))
(( per >= 1 )) || per=1
jobs="${RS_FUZZ_JOBS:-1}"
failed=0
pids=()
for t in "${TARGETS[@]}"; do
  if (( jobs > 1 )); then
    run_one "$t" "$per" & pids+=($!)
    if (( ${#pids[@]} >= jobs )); then wait "${pids[0]}" || failed=1; pids=("${pids[@]:1}"); fi
  else
    run_one "$t" "$per" || failed=1
  fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
exit $failed
