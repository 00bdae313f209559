#!/usr/bin/env bash
# run.sh - builds the libFuzzer targets (clang, ASan + UBSan, -DSURI_FUZZ=ON) in their own build
# directory and runs each for SECONDS seconds, one after the other, on one core.
#   fuzz/run.sh [SECONDS] [TARGET...]      (default 30 s, every fuzz/fuzz_*.c)
# Environment: FUZZ_BUILD (build dir, default build-fuzz), FUZZ_WORK (new corpus entries, logs
# and crash artifacts; default $FUZZ_BUILD/work). The committed seeds in fuzz/corpus/<target>/
# are read, never written: what a run discovers goes to $FUZZ_WORK/<target>/corpus, unless
# FUZZ_MERGE=1, which then merges the inputs that add coverage into fuzz/corpus/<target>/
# (libFuzzer -merge=1; to commit after a long campaign).
# Prints one line per target "target seconds executions new_units findings" and a summary
# in $FUZZ_WORK/summary.tsv; exits 1 if any target found a crash, leak, timeout or OOM (the
# reproducer is in $FUZZ_WORK/<target>/, re-run it with: build-fuzz/fuzz/<target> FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
shift || true
build=$(mkdir -p "${FUZZ_BUILD:-build-fuzz}" && cd "${FUZZ_BUILD:-build-fuzz}" && pwd)
work=$(mkdir -p "${FUZZ_WORK:-$build/work}" && cd "${FUZZ_WORK:-$build/work}" && pwd)
src=$(pwd)
if [ $# -gt 0 ]; then targets=("$@"); else
  targets=()
  for f in fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
cc=${CC:-clang}
command -v "$cc" >/dev/null || { echo "run.sh: $cc not found (scripts/setup --fuzz installs clang)" >&2; exit 1; }
cmake -S . -B "$build" -DCMAKE_C_COMPILER="$cc" -DSURI_FUZZ=ON -DSURI_TESTS=OFF \
  -DSURI_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "${JOBS:-2}" --target "${targets[@]}" >/dev/null
mkdir -p "$work"
summary=$work/summary.tsv
printf 'target\tseconds\texecutions\tnew_units\tfindings\n' >"$summary"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
# Leak checking stays on (the default); UBSan reports abort the run (built with
# -fno-sanitize-recover) so libFuzzer records them as crashes.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for t in "${targets[@]}"; do
  d=$work/$t
  mkdir -p "$d/corpus"
  log=$d/log.txt
  # The targets' scratch files; a crashing target cannot remove its own.
  export SURI_FUZZ_TMP=$d/tmp
  rm -rf "$SURI_FUZZ_TMP" && mkdir -p "$SURI_FUZZ_TMP"
  set +e
  # One process (no -jobs: that forks workers whose logs land in the current directory).
  # fuzz/regress/<target>/ (past findings) is read as seeds too, so a regression shows at once.
  seeds=("$src/fuzz/corpus/$t")
  [ -d "$src/fuzz/regress/$t" ] && seeds+=("$src/fuzz/regress/$t")
  "$build/fuzz/$t" "$d/corpus" "${seeds[@]}" -max_total_time="$secs" \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=20 -close_fd_mask=3 \
    -artifact_prefix="$d/" -print_final_stats=1 >"$log" 2>&1
  rc=$?
  if [ "${FUZZ_MERGE:-0}" = 1 ] && [ "$rc" -eq 0 ]; then
    "$build/fuzz/$t" -merge=1 -close_fd_mask=3 "$src/fuzz/corpus/$t" "$d/corpus" \
      >"$d/merge.txt" 2>&1 || echo "  $t: merge failed, see $d/merge.txt" >&2
  fi
  set -e
  rm -rf "$SURI_FUZZ_TMP"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  units=$(find "$d/corpus" -type f | wc -l)
  found=$(find "$d" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
          -o -name 'oom-*' -o -name 'slow-unit-*' \) | wc -l)
  if [ "$rc" -ne 0 ] && [ "$found" -eq 0 ]; then found=1; fi # died without an artifact
  printf '%-20s %6ss %12s execs %6s new units %3s findings\n' "$t" "${took:-?}" "${execs:-?}" \
    "$units" "$found"
  printf '%s\t%s\t%s\t%s\t%s\n' "$t" "${took:-}" "${execs:-}" "$units" "$found" >>"$summary"
  if [ "$found" -ne 0 ]; then
    status=1
    echo "  $t: see $log and $d/" >&2
    grep -E "ERROR|SUMMARY|runtime error" "$log" | head -5 >&2 || true
  fi
done
exit $status
