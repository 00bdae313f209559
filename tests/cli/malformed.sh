# malformed.sh - the malformed-input battery: every case in tests/malformed/ (one input file,
# plus CASE.expect beside it) is fed to the suri command, which must exit with the expected
# code, print every expected message fragment on stderr, and neither crash nor trip a
# sanitizer. The .expect format (tests/malformed/README.md):
#   # comment                       (any number)
#   args: info --data npy:{file}    (split on blanks; placeholders below)
#   exit: 1
#   message: fragment               (zero or more; fixed strings, all must appear)
#   build: f32                      (optional: only in builds whose scalar type is f32/f64)
# Placeholders: {file} = the case file's path; {text} = its content as one argument;
# {rundir} = a fresh directory holding the case as config.json; {ckptdir} = a fresh directory
# holding tests/malformed/_resume_config.json as config.json and the case as
# checkpoint.safetensors. Runs from a scratch directory, so nothing is written into the tree.
source "$(dirname "$0")/common.bash"
S=$SURI_BIN
M=$SURI_SOURCE_DIR/tests/malformed
REAL=$("$S" version | sed -n 's/.*(\(f[0-9]*\),.*/\1/p')
cd "$T"
n=0
for exp in "$M"/*.expect; do
  case_file=${exp%.expect}
  name=$(basename "$case_file")
  [ -f "$case_file" ] || { fail "$name.expect has no case file beside it"; continue; }
  args="" code="" build="" msgs=()
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
      "#"* | "") ;;
      args:*) args=${line#args:} ;;
      exit:*) code=${line#exit:}; code=${code// /} ;;
      message:*) m=${line#message:}; msgs+=("${m# }") ;;
      build:*) build=${line#build:}; build=${build// /} ;;
      *) fail "$name.expect: unknown line '$line'" ;;
    esac
  done <"$exp"
  if [ -z "$args" ] || [ -z "$code" ]; then fail "$name.expect needs 'args:' and 'exit:'"; continue; fi
  [ -n "$build" ] && [ "$build" != "$REAL" ] && continue
  dir=$T/case-$name
  mkdir -p "$dir"
  argv=()
  for a in $args; do
    case "$a" in
      *{file}*) a=${a//\{file\}/$case_file} ;;
      {text}) a=$(cat "$case_file") ;;
      {rundir}) cp "$case_file" "$dir/config.json"; a=$dir ;;
      {ckptdir}) cp "$M/_resume_config.json" "$dir/config.json"
                 cp "$case_file" "$dir/checkpoint.safetensors"; a=$dir ;;
    esac
    argv+=("$a")
  done
  n=$((n + 1))
  if expect "$code" "$S" "${argv[@]}"; then
    for m in "${msgs[@]}"; do
      CHECKS=$((CHECKS + 1))
      grep -qF -- "$m" "$T/err" || fail "$name: stderr lacks '$m': $(head -c 600 "$T/err")"
    done
  else
    echo "  (case $name)" >&2
  fi
done
echo "$n malformed-input cases run"
CHECKS=$((CHECKS + 1))
[ "$n" -ge 40 ] || fail "only $n cases found in $M"
finish
