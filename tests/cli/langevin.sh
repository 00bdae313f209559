# langevin.sh - `suri train --optim sgld|svrg-ld|sarah-ld|noisy-gd|asgd` and the Bayesian model
# average of `suri eval --samples` / `suri predict --samples`, end to end on tiny problems:
# every method runs and writes its files (config.json with the sampler settings, metrics.jsonl
# with gradient-evaluation counts, model.safetensors, the (S, P) samples file with
# S = suri_samples_expected); the evaluation counts follow the documented formulas; SGLD and
# SVRG-LD on Bayesian linear regression from the CLI reproduce the closed-form posterior, and
# the temperature flag scales its variance; a run resumed from a checkpoint (and one stopped
# by SIGINT) ends byte-identical to an uninterrupted one, samples included; bad flags exit 2
# naming the flag; bad samples files exit 1 naming the file.
source "$(dirname "$0")/common.bash"
S=$SURI_BIN
DATA="gauss:n=400,d=8,classes=3,seed=1"
TEST="gauss:n=200,d=8,classes=3,seed=1,split=test"
COMMON=(--data "$DATA" --model "mlp:8-16-3" --threads 2)
P=195 # parameters of mlp:8-16-3: 8*16 + 16 + 16*3 + 3

# npy_shape FILE: "S, P" from an NPY v1 header.
npy_shape() { head -c 128 "$1" | LC_ALL=C sed -n "s/.*'shape': (\([0-9]*\), \([0-9]*\)).*/\1, \2/p"; }

# npy_f32 FILE: the float32 values of an NPY v1 file, one per line.
npy_f32() {
  local hl
  hl=$(od -A n -t u2 -j 8 -N 2 "$1" | tr -d ' ')
  od -A n -v -t f4 -j $((10 + hl)) "$1" | tr -s ' ' '\n' | sed '/^$/d'
}

# ---- every method: files, shapes, counts ---------------------------------------------------
# 400 samples, B = m = round(sqrt(400)) = 20, 60 steps (3 epochs of 20 steps), samples kept
# after step 10 every 5 steps: (60 - 10) / 5 = 10. Gradient evaluations (suri/langevin.h):
# sgld 60 B = 1200; svrg-ld and sarah-ld n at the 3 snapshot steps k = 0, 20, 40 and 2B at
# the 57 others: 3*400 + 57*40 = 3480; noisy-gd (3 epochs = 3 full steps) 3 n = 1200; asgd
# (B = 1) 60.
declare -A EVALS=([sgld]=1200 [svrg-ld]=3480 [sarah-ld]=3480 [noisy-gd]=1200 [asgd]=60)
for o in sgld svrg-ld sarah-ld noisy-gd asgd; do
  R=$T/r-$o
  extra=(--samples-out "$T/$o.npy" --burn-in 10 --sample-every 5 --epochs 3)
  want="10, $P"
  [ "$o" = noisy-gd ] && want="1, $P" # 3 steps: kept after step 3 only ((3 - 1) / 2 = 1)
  [ "$o" = noisy-gd ] && extra=(--samples-out "$T/$o.npy" --burn-in 1 --sample-every 2 --epochs 3)
  [ "$o" = asgd ] && extra=(--steps 60 --lambda 0.01)
  expect 0 "$S" train --optim "$o" "${COMMON[@]}" --test-data "$TEST" --log-every 10 --out "$R" \
    "${extra[@]}" || continue
  for f in config.json metrics.jsonl model.safetensors checkpoint.safetensors; do
    CHECKS=$((CHECKS + 1))
    [ -s "$R/$f" ] || fail "$o did not write $R/$f"
  done
  has "$R/config.json" '"optim": "'"$o"'"' "$o config.json"
  has "$R/config.json" '"sampler": {' "$o config.json sampler settings"
  has "$R/metrics.jsonl" '"kind":"epoch"' "$o metrics epoch records"
  has "$R/metrics.jsonl" '"grad_evals":'"${EVALS[$o]}," "$o gradient evaluations"
  has "$T/out" "${EVALS[$o]} gradient evaluations" "$o result line"
  if [ "$o" = asgd ]; then
    has "$R/model.safetensors" '"parameters":"average"' "asgd saves the average"
    has "$T/err" "symmetric init on" "asgd symmetric initialisation by default"
  else
    has "$R/model.safetensors" '"parameters":"last_state"' "$o saves the last state"
    CHECKS=$((CHECKS + 1))
    [ "$(npy_shape "$T/$o.npy")" = "$want" ] || fail "$o: samples shape $(npy_shape "$T/$o.npy"), expected ($want)"
    has "$T/out" "model average over" "$o reports the model average"
  fi
done
has "$T/r-sgld/config.json" '"batch": 20' "B = round(sqrt(n)) by default"
has "$T/r-svrg-ld/config.json" '"loop": 20' "m = round(sqrt(n)) by default"
has "$T/r-sgld/config.json" '"burn_in": 10' "config.json burn-in"

# ---- eval / predict with --samples ---------------------------------------------------------
M=$T/r-sgld/model.safetensors
if expect 0 "$S" eval --model "$M" --data "$TEST" --samples "$T/sgld.npy" --json; then
  has "$T/out" '"bma":{"samples_file":"' "eval --samples JSON"
  has "$T/out" '"samples":10,' "eval --samples counts the samples"
  single=$(sed 's/.*"n":200,"loss":\([^,]*\),.*/\1/' "$T/out")
  bma=$(sed 's/.*"bma":{[^}]*"loss":\([^,]*\),.*/\1/' "$T/out")
  CHECKS=$((CHECKS + 1))
  [ -n "$single" ] && [ "$single" != "$bma" ] || fail "BMA loss '$bma' should differ from the last state's '$single'"
fi
expect 0 "$S" eval --model "$M" --data "$TEST" --samples "$T/sgld.npy"
has "$T/out" "model average over 10 parameter samples" "eval --samples text"
# predict: averaged class probabilities, (4, 3), each row summing to 1 (three float32 values:
# within 1e-5). The input: an NPY v1 (4, 8) u1 array written byte by byte.
hdr="{'descr': '|u1', 'fortran_order': False, 'shape': (4, 8), }"
hdr=$(printf '%-117s' "$hdr") # 10 + 117 + newline = 128 bytes
{ printf '\223NUMPY\001\000\166\000%s\n' "$hdr"; for i in $(seq 1 32); do printf "\\$(printf %o $((i * 7)))"; done; } >"$T/x.npy"
if expect 0 "$S" predict --model "$M" --input "$T/x.npy" --output "$T/p.npy" --samples "$T/sgld.npy"; then
  CHECKS=$((CHECKS + 1))
  [ "$(npy_shape "$T/p.npy")" = "4, 3" ] || fail "predict --samples shape $(npy_shape "$T/p.npy")"
  CHECKS=$((CHECKS + 1))
  npy_f32 "$T/p.npy" | awk '{ s += $1 } NR % 3 == 0 { if (s < 1 - 1e-5 || s > 1 + 1e-5) bad++; s = 0 }
    END { exit !(NR == 12 && !bad) }' || fail "predict --samples rows are not probabilities: $(npy_f32 "$T/p.npy" | tr '\n' ' ')"
  expect 0 "$S" predict --model "$M" --input "$T/x.npy" --output "$T/p1.npy"
  CHECKS=$((CHECKS + 1))
  cmp -s "$T/p.npy" "$T/p1.npy" && fail "predict --samples wrote the single model's logits"
fi
# A wrong-width samples file (195 parameters expected; the asgd run used the same model, so
# make one from another model) and a truncated one exit 1 naming the file.
expect 0 "$S" train --optim sgld --data "$DATA" --model mlp:8-4-3 --threads 2 --steps 20 \
  --samples-out "$T/narrow.npy" --burn-in 0 --sample-every 5 --out "$T/narrow" --quiet
expect_msg 1 "$T/narrow.npy" "$S" eval --model "$M" --data "$TEST" --samples "$T/narrow.npy"
has "$T/err" "but the model has $P" "wrong-width samples message"
head -c 300 "$T/sgld.npy" >"$T/trunc.npy"
expect_msg 1 "$T/trunc.npy" "$S" eval --model "$M" --data "$TEST" --samples "$T/trunc.npy"
expect_msg 1 "$T/missing.npy" "$S" eval --model "$M" --data "$TEST" --samples "$T/missing.npy"
expect_msg 1 "$T/narrow.npy" "$S" predict --model "$M" --input "$T/x.npy" --output "$T/p2.npy" --samples "$T/narrow.npy"
CHECKS=$((CHECKS + 1))
[ -e "$T/p2.npy" ] && fail "predict wrote an output despite a bad samples file"

# ---- exact resume, samples included ----------------------------------------------------------
# 37 steps with checkpoints every 13, resumed to 80, against 80 straight: svrg-ld and sarah-ld
# stop mid-loop (m = 20), so their snapshot / previous-iterate state comes from the checkpoint;
# asgd stops mid-pass (B = 7: 58 steps a pass).
for o in sgld svrg-ld sarah-ld asgd; do
  args=(--optim "$o" "${COMMON[@]}" --quiet)
  if [ "$o" = asgd ]; then args+=(--batch 7 --lambda 0.05); a=(); b=()
  else a=(--samples-out "$T/ra-$o.npy" --burn-in 10 --sample-every 3)
       b=(--samples-out "$T/rb-$o.npy" --burn-in 10 --sample-every 3); fi
  expect 0 "$S" train "${args[@]}" --steps 80 --out "$T/ra-$o" "${a[@]}" || continue
  expect 0 "$S" train "${args[@]}" --steps 37 --checkpoint-every 13 --out "$T/rb-$o" "${b[@]}" || continue
  expect 0 "$S" train --resume "$T/rb-$o" --steps 80 --quiet || continue
  has "$T/out" "resumed from step 37" "$o resume"
  same "$T/ra-$o/model.safetensors" "$T/rb-$o/model.safetensors" "$o: 37 + 43 steps vs 80 straight (model)"
  [ "$o" = asgd ] || same "$T/ra-$o.npy" "$T/rb-$o.npy" "$o: 37 + 43 steps vs 80 straight (samples)"
done

# asgd stopped exactly at the end of its first pass (58 steps of B = 7 over 400 samples: the
# next step starts a new permutation).
A=(--optim asgd "${COMMON[@]}" --quiet --batch 7 --lambda 0.05)
if expect 0 "$S" train "${A[@]}" --steps 58 --out "$T/rc-asgd" &&
   expect 0 "$S" train --resume "$T/rc-asgd" --steps 80 --quiet; then
  same "$T/ra-asgd/model.safetensors" "$T/rc-asgd/model.safetensors" "asgd: 58 + 22 steps vs 80 straight"
fi

# SIGINT during a long svrg-ld run: exit 130 after a checkpoint; resumed to S+10 steps it ends
# byte-identical to S+10 steps straight, whatever step S the signal hit.
D=$T/int
"$S" train --optim svrg-ld "${COMMON[@]}" --steps 100000000 --log-every 50 --out "$D" >"$T/out" 2>"$T/err" &
pid=$!
wait_for "$pid" '[ -s "$D/metrics.jsonl" ]'
kill -s INT "$pid" 2>/dev/null
wait "$pid"
RC=$?
CHECKS=$((CHECKS + 1))
if check_clean "SIGINT run" && [ "$RC" -eq 130 ]; then
  has "$T/err" "resume with: suri train --resume $D" "SIGINT message"
  step=$(sed -n 's/.*interrupted at step \([0-9][0-9]*\) of.*/\1/p' "$T/err" | head -1)
  if [ -n "$step" ] && expect 0 "$S" train --resume "$D" --steps $((step + 10)) --quiet; then
    expect 0 "$S" train --optim svrg-ld "${COMMON[@]}" --steps $((step + 10)) --quiet --out "$T/int-ref"
    same "$T/int-ref/model.safetensors" "$D/model.safetensors" "SIGINT at step $step, resumed"
  fi
else
  fail "SIGINT: exited $RC, expected 130; stderr: $(tail -c 800 "$T/err")"
fi

# ---- Bayesian linear regression from the command line --------------------------------------
# y = w z + b + noise, n = 100, model mlp:1-1,loss=mse (f_i = (w z_i + b - y_i)^2), prior
# N(0, I): the target exp(-sum_i f_i - |x|^2 / 2) is Gaussian with precision
# A = 2 Phi^T Phi + I and mean A^{-1} 2 Phi^T y (Phi = [z, 1]). 200,000 steps of eta = 0.05,
# every 10th after 1,000 kept (19,900 samples). The slowest mode relaxes in about
# 1 / (eta * 0.67) = 30 steps, so about 3,000 independent draws: the Monte Carlo error of a
# mean is ~0.02 posterior sd and of a variance ~3%. Checked: means within 0.1 sd (SGLD and
# SVRG-LD: the drift is linear, so the minibatch noise does not bias the mean); SVRG-LD's
# variances within 15% of the closed form (its step bias is 1/(1 - eta h / 2): 1.7% and 5%
# for the two Hessian eigenvalues h = 0.67 and 2); and at --temperature 0.25 within 15% of a
# quarter of it (SGLD's variance is inflated by the minibatch noise: not checked).
awk 'BEGIN { srand(7); print "z,y";
  for (i = 0; i < 100; i++) { z = 2 * rand() - 1; e = rand() + rand() + rand() - 1.5;
    printf "%.6f,%.6f\n", z, 0.8 * z + 0.3 + 0.5 * e } }' >"$T/blr.csv"
# blr_check TEMP SAMPLES.npy: prints "mean_err_w mean_err_b var_ratio_w var_ratio_b", the
# errors in posterior sd and the ratios of sample to closed-form variance (times 1/TEMP).
blr_check() {
  npy_f32 "$2" | awk -v T="$1" -v csv="$T/blr.csv" '
    BEGIN { getline line < csv
      while ((getline line < csv) > 0) { split(line, f, ","); z = f[1]; y = f[2]
        szz += z * z; sz += z; n++; szy += z * y; sy += y } }
    { v[k % 2] = $1; if (k % 2 == 1) { w = v[0]; b = v[1]; mw += w; mb += b; ww += w * w; bb += b * b; S++ } k++ }
    END { a11 = 2 * szz + 1; a12 = 2 * sz; a22 = 2 * n + 1; det = a11 * a22 - a12 * a12
      muw = (a22 * 2 * szy - a12 * 2 * sy) / det; mub = (a11 * 2 * sy - a12 * 2 * szy) / det
      sw = a22 / det; sb = a11 / det; mw /= S; mb /= S
      printf "%.4f %.4f %.4f %.4f\n", (mw - muw) / sqrt(sw * T), (mb - mub) / sqrt(sb * T),
             (ww / S - mw * mw) / (sw * T), (bb / S - mb * mb) / (sb * T) }'
}
BLR=(--data "csv:$T/blr.csv,target=1" --model mlp:1-1,loss=mse --lr 0.05 --prior-var 1
     --steps 200000 --burn-in 1000 --sample-every 10 --threads 1 --quiet)
for run in "sgld 1" "svrg-ld 1" "svrg-ld 0.25"; do
  set -- $run
  expect 0 "$S" train --optim "$1" "${BLR[@]}" --temperature "$2" --out "$T/blr-$1-$2" \
    --samples-out "$T/blr-$1-$2.npy" || continue
  read -r ew eb rw rb < <(blr_check "$2" "$T/blr-$1-$2.npy")
  CHECKS=$((CHECKS + 1))
  awk -v a="$ew" -v b="$eb" 'BEGIN { exit !(a * a < 0.01 && b * b < 0.01) }' ||
    fail "BLR $1 T=$2: posterior mean off by $ew, $eb posterior sd (tolerance 0.1)"
  if [ "$1" = svrg-ld ]; then
    CHECKS=$((CHECKS + 1))
    awk -v a="$rw" -v b="$rb" 'BEGIN { exit !(a > 0.85 && a < 1.15 && b > 0.85 && b < 1.15) }' ||
      fail "BLR $1 T=$2: variance ratios $rw, $rb to T x closed form (tolerance 15%)"
  fi
done
has "$T/blr-svrg-ld-0.25/config.json" '"temperature": 0.25' "config.json temperature"
has "$T/blr-svrg-ld-0.25/config.json" '"weight_decay": 0.01' "--prior-var 1 gives lambda = 1/(n tau^2)"

# ---- refusals ----------------------------------------------------------------------------------
expect_msg 2 "--temperature" "$S" train --optim sgld "${COMMON[@]}" --temperature -1 --out "$T/x"
expect_msg 2 "--temperature applies to --optim" "$S" train --optim adam "${COMMON[@]}" --temperature 2 --out "$T/x"
expect_msg 2 "--loop does not apply to --optim sgld" "$S" train --optim sgld "${COMMON[@]}" --loop 5 --out "$T/x"
expect_msg 2 "--samples-out does not apply to --optim asgd" "$S" train --optim asgd "${COMMON[@]}" --samples-out "$T/x.npy" --out "$T/x"
expect_msg 2 "--lambda does not apply to --optim sgld" "$S" train --optim sgld "${COMMON[@]}" --lambda 0.1 --out "$T/x"
expect_msg 2 "--burn-in applies with --samples-out" "$S" train --optim sgld "${COMMON[@]}" --burn-in 3 --out "$T/x"
expect_msg 2 "--schedule does not apply" "$S" train --optim svrg-ld "${COMMON[@]}" --schedule cosine --out "$T/x"
expect_msg 2 "--lr auto" "$S" train --optim sgld "${COMMON[@]}" --lr auto --out "$T/x"
expect_msg 2 "--on-nonfinite skip-step is not available" "$S" train --optim sgld "${COMMON[@]}" --on-nonfinite skip-step --out "$T/x"
expect_msg 2 "dropout" "$S" train --optim sgld --data "$DATA" --model mlp:8-16-3,dropout=0.2 --out "$T/x"
expect_msg 2 "batch norm" "$S" train --optim sarah-ld --data "$DATA" --model mlp:8-16-3,norm=batch --out "$T/x"
expect_msg 2 "--batch 500 exceeds" "$S" train --optim sgld "${COMMON[@]}" --batch 500 --out "$T/x"
expect_msg 2 "no sample would be kept" "$S" train --optim sgld "${COMMON[@]}" --steps 10 --samples-out "$T/x.npy" --burn-in 10 --out "$T/x"
expect_msg 2 "--symmetric-init" "$S" train --optim asgd "${COMMON[@]}" --symmetric-init maybe --out "$T/x"
# Memory: 1000 samples of 101,770 parameters (mnist10k's 784-128-10) are 388 MiB, over 200M.
expect_msg 1 "1000 samples of 101770 parameters" "$S" train --optim sgld --data mnist10k \
  --steps 1000 --samples-out "$T/x.npy" --burn-in 0 --sample-every 1 --memory 200M --out "$T/x"
CHECKS=$((CHECKS + 1))
[ -e "$T/x" ] && fail "a refused run created its output directory"
# Divergence stops the run naming the step, keeps no model file.
expect_msg 1 "stopped at step" "$S" train --optim sgld "${COMMON[@]}" --lr 1e30 --steps 50 --out "$T/div"
CHECKS=$((CHECKS + 1))
[ -e "$T/div/model.safetensors" ] && fail "a diverged run wrote model.safetensors"

finish
