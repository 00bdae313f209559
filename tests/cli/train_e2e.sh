# train_e2e.sh - end-to-end runs of the suri command on a small synthetic problem: train writes
# config.json, metrics.jsonl (one JSON object per line) and model.safetensors; eval, predict
# (output shape read from the NPY header) and info work on the trained model; the same seed
# gives byte-identical models and another seed does not; a run of 10 steps resumed to 20
# ends byte-identical to an uninterrupted 20-step run; a used run directory is refused.
source "$(dirname "$0")/common.bash"
S=$SURI_BIN
DATA="gauss:n=512,d=8,classes=3,seed=1"
TEST="gauss:n=256,d=8,classes=3,seed=1,split=test"
MODEL="mlp:8-16-3"
# A constant schedule: runs of different lengths then share their first steps exactly.
COMMON=(--data "$DATA" --model "$MODEL" --threads 2 --batch 32 --schedule constant)

# ---- a short run -----------------------------------------------------------------------------
R=$T/run
if expect 0 "$S" train "${COMMON[@]}" --test-data "$TEST" --epochs 2 --log-every 5 --out "$R"; then
  for f in config.json metrics.jsonl model.safetensors checkpoint.safetensors; do
    CHECKS=$((CHECKS + 1))
    [ -s "$R/$f" ] || fail "train did not write $R/$f"
  done
  has "$T/out" "test accuracy" "train result line"
  has "$T/out" "$R" "train says where it wrote"
  has "$T/err" "epoch 2/2" "per-epoch progress lines (stderr is not a terminal)"
  # config.json: every setting, the canonical model spec.
  for k in '"data": "'"$DATA"'"' '"test_data": "'"$TEST"'"' '"model": "mlp:8-16-3,act=relu' \
           '"optim": "adam"' '"lr": 0.001' '"batch": 32' '"epochs": 2' '"seed": 1' \
           '"threads": 2' '"suri_version": "' '"schedule": "constant"'; do
    has "$R/config.json" "$k" "config.json"
  done
  # metrics.jsonl: every line one flat JSON object with the documented keys; 2 epoch records
  # (512 samples / 32 = 16 steps per epoch, 32 steps, a step record every 5 steps: 6).
  CHECKS=$((CHECKS + 1))
  bad=$(grep -cvE '^\{"kind":"(step|epoch)","step":[0-9]+,"epoch":[0-9]+(,"[a-z_]+":(null|-?[0-9.]+(e[-+]?[0-9]+)?))+\}$' "$R/metrics.jsonl")
  [ "$bad" -eq 0 ] || fail "metrics.jsonl has $bad malformed lines: $(head -3 "$R/metrics.jsonl")"
  CHECKS=$((CHECKS + 1))
  ne=$(grep -c '"kind":"epoch"' "$R/metrics.jsonl")
  ns=$(grep -c '"kind":"step"' "$R/metrics.jsonl")
  [ "$ne" -eq 2 ] && [ "$ns" -eq 6 ] || fail "metrics.jsonl: $ne epoch and $ns step records, expected 2 and 6"
  has "$R/metrics.jsonl" '"test_accuracy":0.' "metrics.jsonl epoch records carry test metrics"
  # The model file carries the canonical spec in its metadata.
  has "$R/model.safetensors" "mlp:8-16-3,act=relu" "model.safetensors metadata"
fi

# ---- --json summary --------------------------------------------------------------------------
if expect 0 "$S" train "${COMMON[@]}" --steps 8 --json --out "$T/json"; then
  CHECKS=$((CHECKS + 1))
  [ "$(wc -l <"$T/out")" -eq 1 ] || fail "--json printed more than one line: $(cat "$T/out")"
  for k in '{"status":"ok"' '"steps":8' '"train_loss":' '"test_accuracy":null' '"model_file":"'; do
    has "$T/out" "$k" "train --json"
  done
  CHECKS=$((CHECKS + 1))
  [ -s "$T/err" ] && fail "--json printed progress on stderr: $(head -c 300 "$T/err")"
fi
expect 0 "$S" train "${COMMON[@]}" --steps 4 --quiet --out "$T/quiet"
CHECKS=$((CHECKS + 1))
[ -s "$T/err" ] && fail "--quiet printed progress on stderr: $(head -c 300 "$T/err")"
has "$T/out" "train loss" "--quiet still prints the result"

# A used directory is refused (and left alone).
cp "$R/model.safetensors" "$T/before.safetensors"
expect_msg 1 "already holds a run" "$S" train "${COMMON[@]}" --steps 2 --out "$R"
same "$R/model.safetensors" "$T/before.safetensors" "a refused run must not touch the old model"
# Data that does not fit the model: 1, naming the widths.
expect_msg 1 "8 features but the model's input width is 5" "$S" train --data "$DATA" --model mlp:5-3 --steps 2 --out "$T/misfit"

# ---- eval, info, predict on the trained model -------------------------------------------------
M=$R/model.safetensors
if expect 0 "$S" eval --model "$M" --data "$TEST"; then
  has "$T/out" "accuracy" "eval output"
  has "$T/out" "256 samples" "eval output"
fi
if expect 0 "$S" eval --model "$M" --data "$TEST" --json; then
  has "$T/out" '"n":256' "eval --json"
  has "$T/out" '"accuracy":' "eval --json"
fi
expect_msg 1 "has 5 features" "$S" eval --model "$M" --data "gauss:n=10,d=5,classes=3"
if expect 0 "$S" info --model "$M"; then
  for k in "mlp:8-16-3" "fc1" "(16, 8)" "fc2" "(3, 16)" "195 trainable" "format_version" "standard"; do
    has "$T/out" "$k" "info --model"
  done
fi
expect 0 "$S" info --data "$DATA" && has "$T/out" "512" "info --data"

# NPY v1 writer for tests: npy FILE DESCR SHAPE NBYTES-SOURCE (data bytes read from stdin).
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
# f4 zeros (5, 8) and random u8 (7, 2, 4) (flattened to 8 features).
head -c $((5 * 8 * 4)) /dev/zero | npy "$T/x.npy" '<f4' '(5, 8)'
head -c $((7 * 2 * 4)) /dev/urandom | npy "$T/xu8.npy" '|u1' '(7, 2, 4)'
head -c $((3 * 5 * 4)) /dev/zero | npy "$T/xbad.npy" '<f4' '(3, 5)'
# out_shape FILE: the 'shape' entry of an NPY header; out_bytes: data bytes after the header.
out_shape() { head -c 256 "$1" | tr -d '\0' | grep -ao "'shape': ([0-9, ]*)" | head -1; }
out_bytes() {
  local lo hi
  lo=$(od -An -tu1 -j8 -N1 "$1" | tr -d ' ')
  hi=$(od -An -tu1 -j9 -N1 "$1" | tr -d ' ')
  echo $(($(stat -c %s "$1") - 10 - lo - 256 * hi))
}
if expect 0 "$S" predict --model "$M" --input "$T/x.npy" --output "$T/y.npy"; then
  CHECKS=$((CHECKS + 1))
  [ "$(out_shape "$T/y.npy")" = "'shape': (5, 3)" ] || fail "predict output shape: $(out_shape "$T/y.npy")"
  has "$T/y.npy" "'descr': '<f4'" "predict writes float32"
  CHECKS=$((CHECKS + 1))
  [ "$(out_bytes "$T/y.npy")" -eq 60 ] || fail "predict output holds $(out_bytes "$T/y.npy") data bytes, expected 60"
fi
if expect 0 "$S" predict --model "$M" --input "$T/xu8.npy" --output "$T/yu8.npy" --batch 3; then
  CHECKS=$((CHECKS + 1))
  [ "$(out_shape "$T/yu8.npy")" = "'shape': (7, 3)" ] || fail "predict u8 output shape: $(out_shape "$T/yu8.npy")"
fi
expect_msg 1 "5 values but the model's input width is 8" "$S" predict --model "$M" --input "$T/xbad.npy" --output "$T/ybad.npy"
CHECKS=$((CHECKS + 1))
[ -e "$T/ybad.npy" ] && fail "a failed predict left $T/ybad.npy behind"
expect_msg 1 "$T/nothere.npy" "$S" predict --model "$M" --input "$T/nothere.npy" --output "$T/y2.npy"

# ---- standardised training data: the model keeps the training mean/std --------------------
RS=$T/std
if expect 0 "$S" train --data "$DATA,norm=standard" --model "$MODEL" --threads 2 --batch 32 \
     --epochs 3 --quiet --out "$RS"; then
  has "$RS/model.safetensors" "input_norm.mean" "a model trained on standardised data stores its statistics"
  expect 0 "$S" info --model "$RS/model.safetensors" && has "$T/out" "stored training mean/std" "info shows the input norm"
  # Raw test data and test data standardised with its own statistics both end up standardised
  # with the training statistics: the same accuracy (the loss agrees up to rounding).
  expect 0 "$S" eval --model "$RS/model.safetensors" --data "$TEST" --json
  a1=$(grep -o '"accuracy":[0-9.]*' "$T/out")
  expect 0 "$S" eval --model "$RS/model.safetensors" --data "$TEST,norm=standard" --json
  a2=$(grep -o '"accuracy":[0-9.]*' "$T/out")
  CHECKS=$((CHECKS + 1))
  [ -n "$a1" ] && [ "$a1" = "$a2" ] || fail "eval of a standardised model: raw data gives '$a1', self-standardised data '$a2'"
  # predict: u8 input is divided by 255 for a plain model, but standardised raw (not divided)
  # for a model with stored statistics. Inputs of all ones as f4 and as u8 therefore give the
  # same outputs with the standardised model and different ones with the plain model M.
  for ((i = 0; i < 16; i++)); do printf '\x00\x00\x80\x3f'; done | npy "$T/ones_f4.npy" '<f4' '(2, 8)'
  for ((i = 0; i < 16; i++)); do printf '\x01'; done | npy "$T/ones_u8.npy" '|u1' '(2, 8)'
  expect 0 "$S" predict --model "$RS/model.safetensors" --input "$T/ones_f4.npy" --output "$T/ys_f4.npy"
  expect 0 "$S" predict --model "$RS/model.safetensors" --input "$T/ones_u8.npy" --output "$T/ys_u8.npy"
  same "$T/ys_f4.npy" "$T/ys_u8.npy" "standardised model: u8 input is not divided by 255"
  expect 0 "$S" predict --model "$M" --input "$T/ones_f4.npy" --output "$T/yp_f4.npy"
  expect 0 "$S" predict --model "$M" --input "$T/ones_u8.npy" --output "$T/yp_u8.npy"
  CHECKS=$((CHECKS + 1))
  cmp -s "$T/yp_f4.npy" "$T/yp_u8.npy" && fail "plain model: u8 ones and f4 ones gave the same outputs (u8 not divided by 255?)"
fi

# ---- determinism: same seed twice identical, another seed different --------------------------
expect 0 "$S" train "${COMMON[@]}" --steps 20 --seed 7 --quiet --out "$T/s1"
expect 0 "$S" train "${COMMON[@]}" --steps 20 --seed 7 --quiet --out "$T/s2"
expect 0 "$S" train "${COMMON[@]}" --steps 20 --seed 8 --quiet --out "$T/s3"
same "$T/s1/model.safetensors" "$T/s2/model.safetensors" "same seed, same model"
CHECKS=$((CHECKS + 1))
cmp -s "$T/s1/model.safetensors" "$T/s3/model.safetensors" && fail "seeds 7 and 8 gave identical models"

# ---- resume: 10 steps, then --resume to 20 == 20 steps straight ------------------------------
for opt in adam momentum; do
  expect 0 "$S" train "${COMMON[@]}" --optim "$opt" --steps 20 --checkpoint-every 10 --quiet --out "$T/full-$opt"
  expect 0 "$S" train "${COMMON[@]}" --optim "$opt" --steps 10 --checkpoint-every 10 --quiet --out "$T/part-$opt"
  if expect 0 "$S" train --resume "$T/part-$opt" --steps 20 --quiet; then
    has "$T/out" "resumed from step 10" "resume reports where it continued"
    same "$T/full-$opt/model.safetensors" "$T/part-$opt/model.safetensors" "$opt: resumed 10+10 steps vs 20 steps"
    same "$T/full-$opt/checkpoint.safetensors" "$T/part-$opt/checkpoint.safetensors" "$opt: final checkpoints"
    has "$T/part-$opt/config.json" '"steps": 20' "a lengthened resume updates config.json"
  fi
done
# Resuming a finished run with nothing left to do is fine; a shorter run than the checkpoint is not.
expect 0 "$S" train --resume "$T/full-adam" --quiet
expect_msg 1 "beyond" "$S" train --resume "$T/full-adam" --steps 5 --quiet
has "$T/full-adam/config.json" '"steps": 20' "a refused resume leaves config.json as it was"

# More than one thread and no OMP_WAIT_POLICY: suri re-executes itself with PASSIVE (spinning
# OpenMP workers would take the cores OpenBLAS's threads need); config.json records the
# policy the run had. A policy the user chose is kept. (Under tests/valgrind the wrapper sets
# PASSIVE itself, so that no re-execution leaves valgrind; these checks hold there too.)
W=(--data "$DATA" --model mlp:8-16-3 --steps 2 --quiet)
expect 0 env -u OMP_WAIT_POLICY "$S" train "${W[@]}" --threads 2 --out "$T/wait2"
has "$T/wait2/config.json" '"omp_wait_policy": "PASSIVE"' "2 threads run with PASSIVE"
expect 0 env OMP_WAIT_POLICY=ACTIVE "$S" train "${W[@]}" --threads 2 --out "$T/waitA"
has "$T/waitA/config.json" '"omp_wait_policy": "ACTIVE"' "a chosen policy is kept"
CHECKS=$((CHECKS + 1))
cmp -s "$T/wait2/model.safetensors" "$T/waitA/model.safetensors" ||
  fail "the wait policy changed the model"

# suri bench train says whether its steps folded the SGD update into backward: plain sgd does,
# --no-fold and the other optimizers do not.
B=(bench train --model mlp:20-10-3 --batch 4 --steps 3 --warmup 1 --threads 1)
expect 0 "$S" "${B[@]}"
has "$T/out" '"folded":true' "bench train with sgd folds"
expect 0 "$S" "${B[@]}" --no-fold
has "$T/out" '"folded":false' "bench train --no-fold"
expect 0 "$S" "${B[@]}" --optim adam
has "$T/out" '"folded":false' "bench train with adam does not fold"

finish
