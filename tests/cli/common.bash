# common.bash - helpers sourced by the CLI tests (tests/cli/*.sh). Not a test itself.
# Each test runs the suri binary ($SURI_BIN), checks exit codes and messages, counts failures
# and exits non-zero if any check failed, printing what failed.
set -u

if [ -z "${SURI_BIN:-}" ] || [ ! -x "$SURI_BIN" ]; then
  echo "FAIL: SURI_BIN ('${SURI_BIN:-}') is not an executable; run through ctest" >&2
  exit 1
fi
SURI_SOURCE_DIR=${SURI_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# The bundled data, wherever the test runs from.
export SURI_DATA_DIR="$SURI_SOURCE_DIR/data"

FAILS=0
CHECKS=0
T=$(mktemp -d "${TMPDIR:-/tmp}/suri-cli-test.XXXXXX")
trap 'rm -rf "$T"' EXIT

fail() {
  echo "FAIL: $*" >&2
  FAILS=$((FAILS + 1))
}

# Sanitizer reports or crashes must never pass, whatever the exit code.
check_clean() {
  if grep -qE "AddressSanitizer|LeakSanitizer|runtime error:|Segmentation fault|Aborted" "$T/err"; then
    fail "'$*' produced a sanitizer report or crash: $(head -c 2000 "$T/err")"
    return 1
  fi
  return 0
}

# run CMD...: runs CMD with stdout in $T/out and stderr in $T/err; sets RC.
run() {
  "$@" >"$T/out" 2>"$T/err"
  RC=$?
}

# expect CODE CMD...: CMD must exit with CODE.
expect() {
  local code=$1
  shift
  CHECKS=$((CHECKS + 1))
  run "$@"
  check_clean "$@" || return 1
  if [ "$RC" -ne "$code" ]; then
    fail "'$*' exited $RC, expected $code; stderr: $(head -c 1500 "$T/err")"
    return 1
  fi
  return 0
}

# expect_msg CODE TEXT CMD...: CMD must exit with CODE and print TEXT (fixed string) on stderr.
expect_msg() {
  local code=$1 text=$2
  shift 2
  expect "$code" "$@" || return 1
  if ! grep -qF -- "$text" "$T/err"; then
    fail "'$*': stderr does not mention '$text'; stderr: $(head -c 1500 "$T/err")"
    return 1
  fi
  return 0
}

# has FILE TEXT WHAT: FILE must contain TEXT (fixed string).
has() {
  CHECKS=$((CHECKS + 1))
  if ! grep -qF -- "$2" "$1"; then
    fail "$3: '$2' not found in $(basename "$1"): $(head -c 1500 "$1")"
    return 1
  fi
  return 0
}

# same FILE1 FILE2 WHAT: byte-identical files.
same() {
  CHECKS=$((CHECKS + 1))
  if ! cmp -s "$1" "$2"; then
    fail "$3: $1 and $2 differ"
    return 1
  fi
  return 0
}

finish() {
  if [ "$FAILS" -gt 0 ]; then
    echo "$FAILS of $CHECKS checks failed" >&2
    exit 1
  fi
  echo "all $CHECKS checks passed"
  exit 0
}

# wait_for PID CONDITION...: polls (every 0.05 s, at most 60 s: valgrind runs are slow) until the shell condition holds
# or process PID has ended; for tests that signal a run once it has written something.
wait_for() {
  local pid=$1 i
  shift
  for ((i = 0; i < 1200; i++)); do
    eval "$*" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
