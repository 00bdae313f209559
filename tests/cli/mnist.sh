# mnist.sh - the bundled mnist10k through the CLI: a short run on a 2,000-digit slice gets the
# test split by default (with the same options), learns (test accuracy well above chance), and
# eval's default data and info --data describe the bundled splits.
source "$(dirname "$0")/common.bash"
S=$SURI_BIN
R=$T/m

if expect 0 "$S" train --data mnist10k,limit=2000 --epochs 2 --threads 2 --json --out "$R"; then
  has "$R/config.json" '"test_data": "mnist10k:test,limit=2000"' "default test split"
  has "$R/config.json" '"model": "mlp:784-1024-1024-10,act=relu' "default model"
  has "$R/config.json" 'dropout=0.3' "default model"
  acc=$(sed -n 's/.*"test_accuracy":\([0-9.eE+-]*\).*/\1/p' "$T/out")
  CHECKS=$((CHECKS + 1))
  # 2 epochs of Adam on 2,000 digits reach ~88-91%; 0.75 leaves room for BLAS rounding
  # differences while failing a model that does not learn (chance is 0.1).
  if [ -z "$acc" ] || ! awk -v a="$acc" 'BEGIN { exit !(a > 0.75) }'; then
    fail "test accuracy '$acc' after 2 epochs on 2,000 digits is not > 0.75: $(cat "$T/out")"
  fi
  if expect 0 "$S" eval --model "$R/model.safetensors"; then
    has "$T/out" "2000 samples of mnist10k:test" "eval's default data"
  fi
fi
# A model trained on standardised digits standardises eval data with its training statistics:
# scaled data (the default norm=scale of mnist10k) is refused with a hint, raw data works.
RS=$T/std
if expect 0 "$S" train --data mnist10k,limit=500,norm=standard --model mlp:784-32-10 --epochs 1 \
     --threads 2 --quiet --out "$RS"; then
  has "$RS/config.json" '"test_data": "mnist10k:test,limit=500,norm=standard"' "test split keeps norm"
  expect_msg 1 "add ',norm=none'" "$S" eval --model "$RS/model.safetensors"
  expect 0 "$S" eval --model "$RS/model.safetensors" --data mnist10k:test,norm=none
fi
expect 0 "$S" info --data mnist10k && has "$T/out" "8000 samples" "info --data mnist10k"
expect 0 "$S" info --data mnist10k:test && has "$T/out" "2000 samples" "info --data mnist10k:test"
expect 0 "$S" info --data mnist10k:test && has "$T/out" "28x28" "info --data shows the image size"

finish
