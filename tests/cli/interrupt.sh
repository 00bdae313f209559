# interrupt.sh - SIGINT and SIGTERM during `suri train`: the run stops after the current step,
# writes its checkpoint, says how to resume and exits 130 (SIGINT) / 143 (SIGTERM); resuming
# it to S+10 steps (S = the step where it stopped) ends byte-identical to an uninterrupted run
# of S+10 steps. The signal's timing varies from run to run; the comparison holds for any S.
source "$(dirname "$0")/common.bash"
S=$SURI_BIN
COMMON=(--data "gauss:n=512,d=8,classes=3,seed=2" --model "mlp:8-32-3" --threads 2 --batch 16 --schedule constant
        --optim momentum --lr 0.05)

# start_and_signal SIG DIR: starts a very long run, waits until it has written a checkpoint (so
# it is inside the training loop), sends SIG, waits; sets RC.
start_and_signal() {
  local sig=$1 dir=$2 pid i
  "$S" train "${COMMON[@]}" --steps 100000000 --checkpoint-every 20 --out "$dir" \
    >"$T/out" 2>"$T/err" &
  pid=$!
  wait_for "$pid" '[ -s "$dir/checkpoint.safetensors" ]'
  kill -s "$sig" "$pid" 2>/dev/null
  wait "$pid"
  RC=$?
}

for sig in INT TERM; do
  D=$T/int-$sig
  want=130
  [ "$sig" = TERM ] && want=143
  start_and_signal "$sig" "$D"
  CHECKS=$((CHECKS + 1))
  check_clean "SIG$sig run" || continue
  if [ "$RC" -ne "$want" ]; then
    fail "SIG$sig: train exited $RC, expected $want; stderr: $(tail -c 1500 "$T/err")"
    continue
  fi
  has "$T/err" "resume with: suri train --resume $D" "SIG$sig message"
  has "$T/err" "$D/checkpoint.safetensors" "SIG$sig names the checkpoint"
  CHECKS=$((CHECKS + 1))
  [ -e "$D/model.safetensors" ] && fail "SIG$sig: an interrupted run wrote model.safetensors"
  step=$(sed -n 's/.*interrupted at step \([0-9][0-9]*\) of.*/\1/p' "$T/err" | head -1)
  CHECKS=$((CHECKS + 1))
  if [ -z "$step" ]; then
    fail "SIG$sig: no 'interrupted at step N' in: $(tail -c 1500 "$T/err")"
    continue
  fi
  total=$((step + 10))
  if expect 0 "$S" train --resume "$D" --steps "$total" --quiet; then
    has "$T/out" "resumed from step $step" "SIG$sig resume"
    expect 0 "$S" train "${COMMON[@]}" --steps "$total" --quiet --out "$T/ref-$sig"
    same "$T/ref-$sig/model.safetensors" "$D/model.safetensors" \
      "SIG$sig at step $step, resumed to $total vs $total steps straight"
  fi
done

finish
