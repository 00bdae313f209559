# mfld.sh - `suri train --optim mfld|pda|psdca` and the particle file in eval, predict, info:
# each method runs on a small k-sparse parity problem and writes config.json, metrics.jsonl
# (one line per monitor), model.safetensors and checkpoint.safetensors; MFLD learns an easy
# parity; a run cut at an epoch boundary (shorter --epochs, or SIGINT after a checkpoint) and
# resumed ends with particles byte-identical to an uninterrupted run; bad flags and values
# exit 2 naming the flag; --memory refuses an oversized run up front.
source "$(dirname "$0")/common.bash"
S=$SURI_BIN

# ---- MFLD learns a 2-sparse parity in d = 10 -------------------------------------------------
# The label x_1 x_2 is uncorrelated with every single coordinate (a linear classifier is at
# chance, 0.5); learning it needs a feature w . x that mixes x_1 and x_2. Measured: test error
# 0.000 from epoch 6 on (seed 1). The threshold 0.1 is far below chance and leaves room for
# other BLAS kernels and the double build; a run that did not learn the feature stays near 0.5.
PAR="parity:d=10,k=2,n=600,seed=1"
PTEST="parity:d=10,k=2,n=1000,seed=1,split=test"
MF=(--optim mfld --data "$PAR" --particles 300 --bias --loss logistic --init-std 0.3
    --lambda1 1e-4 --lambda2 1e-4 --eta 2 --estimator minibatch --batch 100 --threads 2)
R=$T/mfld
if expect 0 "$S" train "${MF[@]}" --test-data "$PTEST" --epochs 12 --json --out "$R"; then
  for f in config.json metrics.jsonl model.safetensors checkpoint.safetensors; do
    CHECKS=$((CHECKS + 1))
    [ -s "$R/$f" ] || fail "mfld did not write $R/$f"
  done
  CHECKS=$((CHECKS + 1))
  [ "$(wc -l <"$T/out")" -eq 1 ] || fail "--json printed more than one line: $(cat "$T/out")"
  has "$T/out" '{"status":"ok"' "train --json"
  has "$R/config.json" '"optim": "mfld"' "config.json optim"
  has "$R/config.json" '"data": "'"$PAR"'"' "config.json data"
  has "$R/config.json" '"lambda2": 0.0001' "config.json lambda2"
  # One monitor before training and one per epoch: 13 lines, each one flat JSON object.
  CHECKS=$((CHECKS + 1))
  [ "$(wc -l <"$R/metrics.jsonl")" -eq 13 ] || fail "metrics.jsonl has $(wc -l <"$R/metrics.jsonl") lines, expected 13"
  CHECKS=$((CHECKS + 1))
  bad=$(grep -cvE '^\{"method":"mfld","epoch":[0-9]+,"step":[0-9]+,"langevin_steps":[0-9]+(,"[a-z_0-9A-Z]+":(null|true|false|-?[0-9.]+(e[-+]?[0-9]+)?))+\}$' "$R/metrics.jsonl")
  [ "$bad" -eq 0 ] || fail "metrics.jsonl has $bad malformed lines: $(head -2 "$R/metrics.jsonl")"
  err=$(sed -n 's/.*"test_error":\([0-9.e-]*\).*/\1/p' "$T/out")
  CHECKS=$((CHECKS + 1))
  awk -v e="$err" 'BEGIN { exit !(e != "" && e < 0.1) }' ||
    fail "mfld test error on the 2-sparse parity is '$err', expected < 0.1: $(cat "$T/out")"
fi

# ---- eval, predict, info on the particle file ------------------------------------------------
if expect 0 "$S" eval --model "$R/model.safetensors" --data "$PTEST" --json; then
  has "$T/out" '"format":"suri-mfld"' "eval --json on particles"
  has "$T/out" '"n":1000' "eval sample count"
  e2=$(sed -n 's/.*"error":\([0-9.e-]*\).*/\1/p' "$T/out")
  CHECKS=$((CHECKS + 1))
  [ "$e2" = "$err" ] || fail "eval error '$e2' differs from the run's final test error '$err'"
fi
expect 0 "$S" eval --model "$R/model.safetensors" --data "$PTEST" && has "$T/out" "accuracy" "eval text"
expect_msg 2 "--samples does not apply" "$S" eval --model "$R/model.safetensors" --samples x.npy
expect_msg 2 "--batch does not apply" "$S" predict --model "$R/model.safetensors" --input x --output y --batch 7
if expect 0 "$S" info --model "$R/model.safetensors"; then
  for k in "method         mfld" "M = 300, dimension p = 12" "12 epochs done" "suri-mfld"; do
    has "$T/out" "$k" "info on particles"
  done
fi
# predict: the four sign patterns of (x_1, x_2) with x_3..x_10 = +1; sign f = x_1 x_2.
f4() { if [ "$1" = 1 ]; then printf '\x00\x00\x80\x3f'; else printf '\x00\x00\x80\xbf'; fi; }
npy() {
  local hdr="{'descr': '$2', 'fortran_order': False, 'shape': $3, }"
  local total=$((10 + ${#hdr} + 1))
  local pad=$(((64 - total % 64) % 64))
  hdr="$hdr$(printf '%*s' "$pad" '')"
  local len=$((${#hdr} + 1))
  { printf '\x93NUMPY\x01\x00'
    printf "\\x$(printf %02x $((len % 256)))\\x$(printf %02x $((len / 256)))"
    printf '%s\n' "$hdr"
    cat; } >"$1"
}
for a in 1 -1; do for b in 1 -1; do
  f4 $a; f4 $b; for _ in 1 2 3 4 5 6 7 8; do f4 1; done
done; done | npy "$T/x.npy" '<f4' '(4, 10)'
if expect 0 "$S" predict --model "$R/model.safetensors" --input "$T/x.npy" --output "$T/y.npy"; then
  has "$T/y.npy" "'shape': (4, 1)" "predict output shape"
  signs=$(tail -c 16 "$T/y.npy" | od -An -tf4 -v | awk '{ for (i = 1; i <= NF; i++) printf "%s", ($i > 0 ? "+" : "-") }')
  CHECKS=$((CHECKS + 1))
  [ "$signs" = "+--+" ] || fail "predict signs '$signs', expected +--+ (x_1 x_2)"
fi

# ---- pda and psdca: small runs write the files ------------------------------------------------
SMALL=(--data "parity:d=6,k=2,n=120,seed=2" --particles 60 --loss logistic --bias
       --lambda1 1e-3 --lambda2 1e-3 --threads 2 --quiet)
for m in pda psdca; do
  if expect 0 "$S" train --optim "$m" "${SMALL[@]}" --epochs 2 --out "$T/$m"; then
    has "$T/$m/config.json" '"optim": "'"$m"'"' "$m config.json"
    has "$T/$m/metrics.jsonl" '"method":"'"$m"'"' "$m metrics"
    CHECKS=$((CHECKS + 1))
    [ -s "$T/$m/model.safetensors" ] || fail "$m wrote no model.safetensors"
    has "$T/out" "train loss" "$m result"
    # Resumed from epoch 1 to 2: byte-identical particles (dual state and counters restored).
    expect 0 "$S" train --optim "$m" "${SMALL[@]}" --epochs 1 --out "$T/$m-cut" &&
      expect 0 "$S" train --resume "$T/$m-cut" --epochs 2 --quiet &&
      same "$T/$m/model.safetensors" "$T/$m-cut/model.safetensors" "$m resumed 1 -> 2 epochs"
  fi
done

# ---- resume: MFLD cut at epoch 3 and resumed to 6 (other thread count) = 6 straight --------------
CUT=(--optim mfld --data "$PAR" --particles 200 --bias --loss logistic --lambda1 1e-3
     --lambda2 1e-3 --eta 1 --estimator minibatch --batch 100 --quiet)
expect 0 "$S" train "${CUT[@]}" --threads 2 --epochs 6 --out "$T/straight"
expect 0 "$S" train "${CUT[@]}" --threads 2 --epochs 3 --out "$T/cut"
if expect 0 "$S" train --resume "$T/cut" --epochs 6 --threads 1; then
  has "$T/out" "resumed from epoch 3" "resume message"
  same "$T/straight/model.safetensors" "$T/cut/model.safetensors" "mfld resumed 3 -> 6 epochs"
  CHECKS=$((CHECKS + 1))
  [ "$(wc -l <"$T/cut/metrics.jsonl")" -eq 7 ] || fail "resumed metrics.jsonl has $(wc -l <"$T/cut/metrics.jsonl") lines, expected 7"
fi
expect_msg 1 "give --epochs N with N > 6" "$S" train --resume "$T/cut"
expect_msg 2 "--lambda1 cannot be combined with --resume" "$S" train --resume "$T/cut" --lambda1 1

# ---- SIGINT after a checkpoint: exit 130, resume bitwise -------------------------------------
D=$T/sig
"$S" train "${CUT[@]}" --threads 2 --epochs 100000000 --out "$D" >"$T/out" 2>"$T/err" &
pid=$!
wait_for "$pid" '[ -s "$D/checkpoint.safetensors" ]'
kill -s INT "$pid" 2>/dev/null
wait "$pid"
RC=$?
CHECKS=$((CHECKS + 1))
if check_clean "SIGINT run" && [ "$RC" -eq 130 ]; then
  has "$T/err" "resume with: suri train --resume $D" "SIGINT message"
  ep=$(sed -n 's/.*holds the state after epoch \([0-9][0-9]*\).*/\1/p' "$T/err" | head -1)
  CHECKS=$((CHECKS + 1))
  if [ -z "$ep" ]; then
    fail "SIGINT: no 'holds the state after epoch N' in: $(tail -c 800 "$T/err")"
  elif expect 0 "$S" train --resume "$D" --epochs $((ep + 2)) --quiet; then
    expect 0 "$S" train "${CUT[@]}" --threads 2 --epochs $((ep + 2)) --out "$T/sigref"
    same "$T/sigref/model.safetensors" "$D/model.safetensors" "SIGINT after epoch $ep, resumed"
  fi
else
  fail "SIGINT: train exited $RC, expected 130; stderr: $(tail -c 800 "$T/err")"
fi

# SIGTERM with no checkpoint yet (--checkpoint-every 0): exit 143, the interrupted state is
# written, and the run can be resumed (its unfinished epoch is run again, so not compared).
D=$T/term
"$S" train "${CUT[@]}" --threads 2 --epochs 100000000 --checkpoint-every 0 --out "$D" \
  >"$T/out" 2>"$T/err" &
pid=$!
wait_for "$pid" '[ -s "$D/metrics.jsonl" ] && [ "$(wc -l <"$D/metrics.jsonl")" -ge 3 ]'
kill -s TERM "$pid" 2>/dev/null
wait "$pid"
RC=$?
CHECKS=$((CHECKS + 1))
if check_clean "SIGTERM run" && [ "$RC" -eq 143 ]; then
  has "$T/err" "the interrupted state is in $D/checkpoint.safetensors" "SIGTERM message"
  CHECKS=$((CHECKS + 1))
  [ -e "$D/model.safetensors" ] && fail "SIGTERM: an interrupted run wrote model.safetensors"
  done_ep=$("$S" info --model "$D/checkpoint.safetensors" | sed -n 's/.* \([0-9][0-9]*\) epochs done.*/\1/p')
  expect 0 "$S" train --resume "$D" --epochs $((done_ep + 2)) --quiet &&
    has "$T/out" "resumed from epoch $done_ep" "SIGTERM resume"
else
  fail "SIGTERM: train exited $RC, expected 143; stderr: $(tail -c 800 "$T/err")"
fi

# ---- usage errors: exit 2 naming the flag ----------------------------------------------------
B=(--optim mfld --data "$PAR" --out "$T/never")
expect_msg 2 "--particles" "$S" train "${B[@]}" --particles 0
expect_msg 2 "--eta" "$S" train "${B[@]}" --eta abc
expect_msg 2 "--lambda2" "$S" train "${B[@]}" --lambda2 -1
expect_msg 2 "--loss" "$S" train "${B[@]}" --loss hinge
expect_msg 2 "--estimator" "$S" train "${B[@]}" --estimator adam
expect_msg 2 "--gap" "$S" train "${B[@]}" --gap sometimes
expect_msg 2 "--act" "$S" train "${B[@]}" --act gelu
expect_msg 2 "--seed" "$S" train "${B[@]}" --seed -3
expect_msg 2 "--schedule does not apply" "$S" train "${B[@]}" --schedule cosine
expect_msg 2 "--momentum does not apply" "$S" train "${B[@]}" --momentum 0.9
expect_msg 2 "--pda-batch applies to --optim pda" "$S" train "${B[@]}" --pda-batch 8
expect_msg 2 "--batch applies to --estimator" "$S" train "${B[@]}" --batch 8
expect_msg 2 "--checkpoint-every 3 must be a multiple of --monitor-every 2" \
  "$S" train "${B[@]}" --monitor-every 2 --checkpoint-every 3
expect_msg 2 "--data SPEC is required" "$S" train --optim pda
expect_msg 2 "k=4 must be at most d=3" "$S" train --optim mfld --data "parity:d=3,k=4"
expect_msg 2 "unknown option '--bogus'" "$S" train "${B[@]}" --bogus
expect_msg 2 "--memory" "$S" train "${B[@]}" --memory lots
CHECKS=$((CHECKS + 1))
[ -e "$T/never" ] && fail "a refused run created its output directory"
expect 0 "$S" train --optim mfld --help && has "$T/out" "NOT scaled by M" "help states the noise"
has "$T/out" "(default 1000)" "help shows the particle default"

# ---- --memory: 200,000 particles need a (1024 x 200000) chunk buffer (0.8 GB in f32) -----------
expect_msg 1 "would need about" "$S" train "${B[@]}" --particles 200000 --memory 64M
has "$T/err" "the --memory limit" "memory refusal names the limit"

finish
