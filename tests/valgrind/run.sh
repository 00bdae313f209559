#!/usr/bin/env bash
# run.sh - the CLI end-to-end tests with every `suri` process under valgrind (memcheck):
#   tests/valgrind/run.sh BUILD_DIR [TEST...]     (default tests: train_e2e malformed
#                                                   interrupt faults mfld langevin)
# Each test script in tests/cli/ runs with SURI_BIN pointing at a wrapper that starts
#   valgrind --error-exitcode=97 --leak-check=full --errors-for-leak-kinds=definite
#            --suppressions=tests/valgrind/suri.supp --log-file=LOGDIR/vg.%p.log suri ...
# so an invalid read or write, a use of uninitialised memory or a definite leak makes that
# command exit 97 (which no test expects: the CLI's own codes are 0, 1, 2, 130, 143), and
# every report is also kept in a per-process log that is checked at the end (a report from
# a process whose exit status a test does not look at still fails this script). Only
# definite leaks count: the OpenMP and OpenBLAS thread pools keep "possibly lost" and
# "still reachable" blocks until exit by design. suri.supp holds the suppressions (see
# docs/reliability.md); it is empty of suri's own code.
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:?usage: tests/valgrind/run.sh BUILD_DIR [TEST...]}
shift
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(train_e2e malformed interrupt faults mfld langevin)
command -v valgrind >/dev/null || { echo "valgrind not found (scripts/setup --fuzz)" >&2; exit 1; }
suri=$(cd "$build" && pwd)/suri
[ -x "$suri" ] || { echo "no suri binary in $build" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/suri-valgrind.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/logs"
# OMP_WAIT_POLICY set here keeps suri from re-executing itself with it (cli/util.c), which
# would leave valgrind (children are not traced).
cat >"$work/suri" <<WRAP
#!/bin/sh
OMP_WAIT_POLICY=\${OMP_WAIT_POLICY:-PASSIVE}
export OMP_WAIT_POLICY
exec valgrind -q --error-exitcode=97 --leak-check=full --errors-for-leak-kinds=definite \\
  --show-leak-kinds=definite --suppressions="$PWD/tests/valgrind/suri.supp" \\
  --log-file="$work/logs/vg.%p.log" "$suri" "\$@"
WRAP
chmod +x "$work/suri"
status=0
for t in "${tests[@]}"; do
  start=$(date +%s)
  # The fault test's kill timing scales with the (slower) runs; two trials keep it short.
  if SURI_BIN="$work/suri" SURI_SOURCE_DIR="$PWD" SURI_FAULT_TRIALS=2 OMP_WAIT_POLICY=PASSIVE \
       bash "tests/cli/$t.sh" >"$work/$t.out" 2>&1; then
    echo "valgrind: cli/$t passed ($(( $(date +%s) - start )) s)"
  else
    status=1
    echo "valgrind: cli/$t FAILED:"; tail -20 "$work/$t.out"
  fi
done
n=$(find "$work/logs" -name 'vg.*.log' | wc -l)
bad=$(find "$work/logs" -name 'vg.*.log' -size +0 | head -20)
if [ -n "$bad" ]; then
  status=1
  echo "valgrind reports:"
  for f in $bad; do echo "--- $f"; head -60 "$f"; done
fi
echo "valgrind: $n suri processes checked, $(echo "$bad" | grep -c . ) with reports"
exit $status
