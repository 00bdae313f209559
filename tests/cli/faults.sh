# faults.sh - `suri train` under faults (issue 5, "runs under faults"):
#  1. kill -9 at random moments of a run with --checkpoint-every, again at a random moment of
#     the resumed run, then `--resume` to the end: the final model and checkpoint are byte-
#     identical to an uninterrupted run (same seed, same threads). Several trials; a kill that
#     lands before the first checkpoint is recovered by starting the run again.
#  2. Output path that is an existing file; output directory that cannot be created (under
#     /proc, which refuses even root); a read-only bind mount; a file-size limit (ulimit -f)
#     and a full file system (a small tmpfs): exit 1, a message naming the file and the
#     reason, no temporary left behind, and every file that existed before byte-identical.
#     The mount cases need mount rights (root with CAP_SYS_ADMIN); elsewhere they are skipped
#     with a note (chmod cannot stand in: root ignores permission bits).
#     The same for the Langevin sampler (svrg-ld with --samples-out) and particle (mfld)
#     trainers, two trials each.
#  3. A model too large for --memory or for the machine is refused before anything is
#     allocated or created; --on-nonfinite stop/skip-step/restore end as documented.
# Kill times are random (bash $RANDOM, seeded by SURI_FAULT_SEED, default 1, and printed; the
# number of trials is SURI_FAULT_TRIALS, default 4); the comparison holds for any kill time.
# Prints "faults injected: N, files lost: M".
source "$(dirname "$0")/common.bash"
S=$SURI_BIN
RANDOM=${SURI_FAULT_SEED:-1}
INJECTED=0
LOST=0
TRIALS=${SURI_FAULT_TRIALS:-4}
echo "SURI_FAULT_SEED=${SURI_FAULT_SEED:-1} SURI_FAULT_TRIALS=$TRIALS"

# Two kinds of runs, each long enough to be hit at random points: checkpoints every step (600
# steps; kills often land inside a checkpoint write) and every 7 steps (3000 steps).
COMMON=(--data "gauss:n=512,d=8,classes=3,seed=2" --model "mlp:8-64-64-3,norm=batch,dropout=0.1"
        --optim adam --lr 0.01 --threads 2 --batch 16 --quiet)
declare -A STEPS=([1]=600 [7]=3000) DUR_MS
# Uninterrupted reference runs, timed (the kill windows scale with them).
for every in 1 7; do
  t0=$(date +%s%N)
  expect 0 "$S" train "${COMMON[@]}" --steps "${STEPS[$every]}" --checkpoint-every $every \
    --out "$T/ref$every" || finish
  DUR_MS[$every]=$(( ($(date +%s%N) - t0) / 1000000 ))
  echo "uninterrupted run, --checkpoint-every $every: ${DUR_MS[$every]} ms"
done
# Checkpointing itself changes nothing: 600 steps checkpointed every 7 equal the reference.
expect 0 "$S" train "${COMMON[@]}" --steps 600 --checkpoint-every 7 --out "$T/ref600"
same "$T/ref1/model.safetensors" "$T/ref600/model.safetensors" "checkpoint frequency changes nothing"

# sleep_random MAX_MS: sleeps a uniform random time in [0, MAX_MS) milliseconds.
sleep_random() {
  local ms=$(( (RANDOM * 32768 + RANDOM) % ($1 > 0 ? $1 : 1) ))
  sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
  echo "$ms"
}

# kill_at_random DIR MAX_MS CMD...: starts CMD in the background, kills it with SIGKILL at a
# random moment; sets KILLED=1 if the process was still running when the signal was sent.
kill_at_random() {
  local max=$1 pid ms
  shift
  "$@" >"$T/out" 2>"$T/err" &
  pid=$!
  ms=$(sleep_random "$max")
  KILLED=0
  if kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null; then
    KILLED=1
    INJECTED=$((INJECTED + 1))
  fi
  wait "$pid" 2>/dev/null
  echo "  kill -9 after ${ms} ms: $([ $KILLED = 1 ] && echo delivered || echo 'run had ended')"
}

# The checkpoint left by a killed run must be complete: it is either absent (never written)
# or a file that resuming accepts. A rejected checkpoint is a lost file.
for ((trial = 1; trial <= TRIALS; trial++)); do
  D=$T/kill$trial
  every=$((trial % 2 ? 1 : 7))
  echo "trial $trial (--checkpoint-every $every)"
  RUN=("${COMMON[@]}" --steps "${STEPS[$every]}" --checkpoint-every "$every")
  # Kill windows: 90% of an uninterrupted run, then half of it for the resumed remainder.
  kill_at_random $((DUR_MS[$every] * 9 / 10)) "$S" train "${RUN[@]}" --out "$D"
  if [ -e "$D/checkpoint.safetensors" ]; then
    # Kill the resumed run too, at another random moment.
    kill_at_random $((DUR_MS[$every] / 2)) "$S" train --resume "$D" --quiet
    if [ "$KILLED" = 0 ] && [ "$(cat "$T/err")" != "" ] && ! [ -e "$D/model.safetensors" ]; then
      LOST=$((LOST + 1))
      fail "trial $trial: the resume after a kill failed: $(head -c 800 "$T/err")"
      continue
    fi
  fi
  if [ -e "$D/checkpoint.safetensors" ]; then
    expect 0 "$S" train --resume "$D" --quiet || { LOST=$((LOST + 1)); continue; }
  else
    # Killed before the first checkpoint: nothing to resume; the run starts over.
    expect 0 "$S" train "${RUN[@]}" --out "$D" || continue
  fi
  for f in model.safetensors checkpoint.safetensors; do
    same "$T/ref$every/$f" "$D/$f" "trial $trial: $f after kill -9 and resume" || LOST=$((LOST + 1))
  done
done

# ---- the same for the sampler and particle trainers ----------------------------------------------
# svrg-ld with --samples-out (checkpoints hold the state, the SVRG snapshot and the samples kept)
# and mfld (checkpoints at monitor boundaries): one kill -9 at a random moment per trial, then
# --resume to the end; the model, the samples and the checkpoint equal an uninterrupted run's.
# other_trials NAME FILES RUN...: FILES is a space-separated list of files to compare; if it
# names samples.npy, each run writes its samples there (--samples-out DIR/samples.npy).
other_trials() {
  local name=$1 files=$2 t0 dur trial D f
  shift 2
  samples() { [[ " $files " == *" samples.npy "* ]] && echo --samples-out "$1/samples.npy"; }
  t0=$(date +%s%N)
  expect 0 "$S" train "$@" $(samples "$T/$name-ref") --out "$T/$name-ref" || return
  dur=$(( ($(date +%s%N) - t0) / 1000000 ))
  echo "uninterrupted $name run: $dur ms"
  for ((trial = 1; trial <= 2; trial++)); do
    D=$T/$name-kill$trial
    kill_at_random $((dur * 9 / 10)) "$S" train "$@" $(samples "$D") --out "$D"
    if [ "$KILLED" = 0 ]; then
      : # the run ended before the signal: its files are compared as they are
    elif [ -e "$D/checkpoint.safetensors" ]; then
      expect 0 "$S" train --resume "$D" --quiet || { LOST=$((LOST + 1)); continue; }
    else
      rm -rf "$D"
      expect 0 "$S" train "$@" $(samples "$D") --out "$D" || continue
    fi
    for f in $files checkpoint.safetensors; do
      same "$T/$name-ref/$f" "$D/$f" "$name trial $trial: $f after kill -9 and resume" ||
        LOST=$((LOST + 1))
    done
  done
}
other_trials svrg-ld "model.safetensors samples.npy" --optim svrg-ld \
  --data "gauss:n=512,d=8,classes=3,seed=2" --model mlp:8-64-3 --lr 0.01 --steps 3000 \
  --checkpoint-every 7 --sample-every 10 --threads 2 --quiet
other_trials mfld "model.safetensors" --optim mfld --data "parity:d=10,k=2,n=600,seed=1" \
  --particles 300 --bias --loss logistic --estimator minibatch --batch 100 --epochs 40 \
  --checkpoint-every 1 --threads 2 --quiet

# ---- output path and directory faults ---------------------------------------------------------
SMALL=(--data "gauss:n=64,d=8,classes=3,seed=2" --model "mlp:8-64-64-3" --optim adam --threads 1
       --batch 16 --quiet)

# no_temps DIR WHAT: no temporary file of an atomic write may be left in DIR.
no_temps() {
  CHECKS=$((CHECKS + 1))
  local left
  left=$(find "$1" -maxdepth 1 -name '*.tmp.*' 2>/dev/null | head -3)
  [ -z "$left" ] || fail "$2: temporary files left behind: $left"
}

# snapshot DIR: copies DIR's files aside; unchanged DIR WHAT: they are all byte-identical.
snapshot() { rm -rf "$T/snap" && cp -a "$1" "$T/snap"; }
unchanged() {
  local f
  for f in "$T"/snap/*; do
    same "$f" "$1/$(basename "$f")" "$2: $(basename "$f") changed" || LOST=$((LOST + 1))
  done
}

echo "precious" >"$T/file"
expect_msg 1 "exists and is not a directory" "$S" train "${SMALL[@]}" --steps 4 --out "$T/file"
has "$T/file" "precious" "--out FILE leaves the file alone"
expect_msg 1 "cannot create" "$S" train "${SMALL[@]}" --steps 4 --out /proc/suri-fault-test/run
expect_msg 1 "config.json" "$S" train --resume "$T/file" --quiet
INJECTED=$((INJECTED + 3))

# File-size limit: a 64 KB checkpoint cannot be written under `ulimit -f 32` (32 KiB). A fresh
# run fails cleanly; a resumed run that fails keeps its earlier checkpoint and model intact.
# SIGXFSZ is ignored by suri, so the write fails with EFBIG instead of killing the process.
D=$T/fsize
run bash -c "ulimit -f 32; exec \"\$0\" \"\$@\"" "$S" train "${SMALL[@]}" --steps 8 --out "$D"
INJECTED=$((INJECTED + 1))
CHECKS=$((CHECKS + 1))
check_clean "ulimit -f fresh run"
if [ "$RC" -ne 1 ] || ! grep -q "File too large" "$T/err"; then
  fail "ulimit -f: exit $RC, expected 1 with 'File too large'; stderr: $(head -c 800 "$T/err")"
fi
no_temps "$D" "ulimit -f fresh run"
CHECKS=$((CHECKS + 1))
[ -e "$D/checkpoint.safetensors" ] && fail "ulimit -f: a partial checkpoint.safetensors exists"
D=$T/fsize2
if expect 0 "$S" train "${SMALL[@]}" --steps 8 --checkpoint-every 4 --out "$D"; then
  snapshot "$D"
  run bash -c "ulimit -f 32; exec \"\$0\" \"\$@\"" "$S" train --resume "$D" --steps 16 --quiet
  INJECTED=$((INJECTED + 1))
  CHECKS=$((CHECKS + 1))
  check_clean "ulimit -f resume"
  [ "$RC" -eq 1 ] && grep -q "checkpoint.safetensors" "$T/err" ||
    fail "ulimit -f resume: exit $RC, expected 1 naming the checkpoint; $(head -c 800 "$T/err")"
  no_temps "$D" "ulimit -f resume"
  for f in model.safetensors checkpoint.safetensors; do
    same "$T/snap/$f" "$D/$f" "ulimit -f resume: $f" || LOST=$((LOST + 1))
  done
fi

# Mount-based faults: a read-only bind mount and a small tmpfs.
MNT=$T/mnt
mkdir -p "$MNT"
trap 'umount "$MNT" 2>/dev/null; rm -rf "$T"' EXIT
# Room for one checkpoint (64 KB in f32 builds, 128 KB in f64) but not for the temporary copy
# that replacing it needs (the old file stays until the new one is complete).
CK=$(stat -c %s "$T/ref1/checkpoint.safetensors")
if mount -t tmpfs -o size=$((CK * 3 / 2 + 16384)) tmpfs "$MNT" 2>/dev/null; then
  D=$MNT/run
  run "$S" train "${COMMON[@]}" --steps 600 --checkpoint-every 5 --out "$D"
  INJECTED=$((INJECTED + 1))
  CHECKS=$((CHECKS + 1))
  check_clean "full tmpfs"
  [ "$RC" -eq 1 ] && grep -q "No space left on device" "$T/err" ||
    fail "full tmpfs: exit $RC, expected 1 with 'No space left on device'; $(head -c 800 "$T/err")"
  no_temps "$D" "full tmpfs"
  # The step-5 checkpoint survived whole: with room again, resuming it gives the reference.
  mount -o remount,size=4m "$MNT"
  if expect 0 "$S" train --resume "$D" --quiet; then
    same "$T/ref1/model.safetensors" "$D/model.safetensors" "full tmpfs, then resumed" ||
      LOST=$((LOST + 1))
  else
    LOST=$((LOST + 1))
  fi
  umount "$MNT"
  # Read-only: a finished run on a read-only mount cannot be continued; nothing changes.
  D=$T/rorun
  if expect 0 "$S" train "${SMALL[@]}" --steps 8 --checkpoint-every 4 --out "$D" &&
     mount --bind "$D" "$MNT" 2>/dev/null && mount -o remount,bind,ro "$MNT" 2>/dev/null; then
    snapshot "$D"
    expect_msg 1 "Read-only file system" "$S" train --resume "$MNT" --steps 16 --quiet
    expect_msg 1 "Read-only file system" "$S" train "${SMALL[@]}" --steps 4 --out "$MNT/sub"
    INJECTED=$((INJECTED + 2))
    umount "$MNT"
    unchanged "$D" "read-only resume"
  else
    umount "$MNT" 2>/dev/null
    echo "note: read-only bind mount not available; that case was skipped"
  fi
else
  echo "note: cannot mount a tmpfs here (needs CAP_SYS_ADMIN); full-disk and read-only cases skipped"
fi

# ---- memory and non-finite guards ------------------------------------------------------------
expect_msg 1 "does not fit in memory: training would need about" \
  "$S" train "${SMALL[@]}" --model "mlp:8-4096-4096-3" --steps 1 --memory 64M --out "$T/mem"
has "$T/err" "more than the --memory limit (64 MiB)" "--memory names the limit"
CHECKS=$((CHECKS + 1))
[ -e "$T/mem" ] && fail "a refused run created its output directory"
expect_msg 1 "memory available on this machine" \
  "$S" train "${SMALL[@]}" --model "mlp:8-1000000-1000000-3" --steps 1 --out "$T/mem"
expect_msg 2 "invalid value '2X' for --memory" "$S" train --memory 2X
expect_msg 2 "invalid value 'skip' for --on-nonfinite" "$S" train --on-nonfinite skip

# sgd with lr 1e30 overflows at once. stop: exit 1 naming the step; the earlier checkpoint
# stays and no model is written.
DIV=(--data "gauss:n=64,d=4,classes=2,seed=3" --model "mlp:4-8-2" --optim sgd --threads 1
     --batch 8 --steps 40)
D=$T/div
expect_msg 1 "non-finite value at step" "$S" train "${DIV[@]}" --lr 1e30 --out "$D"
has "$T/err" "Lower the learning rate (--lr)" "stop hint"
CHECKS=$((CHECKS + 1))
[ -e "$D/model.safetensors" ] && fail "a diverged run wrote model.safetensors"
# skip-step: the huge-but-finite parameters after the first updates make every later step
# non-finite; after 100 skips in a row it stops.
expect_msg 1 "100 steps in a row were non-finite" \
  "$S" train "${DIV[@]}" --steps 400 --lr 1e18 --on-nonfinite skip-step --out "$T/skip"
has "$T/err" "suri: warning: step" "skip-step warnings"
# restore: a run resumed with --on-nonfinite restore and a diverging --lr is not possible
# (--lr is fixed by config.json), so: restore without any checkpoint stops and says why.
expect_msg 1 "there is no checkpoint to restore yet" \
  "$S" train "${DIV[@]}" --lr 1e30 --on-nonfinite restore --out "$T/restore"

echo "faults injected: $INJECTED, files lost: $LOST"
CHECKS=$((CHECKS + 1))
[ "$LOST" -eq 0 ] || fail "$LOST files lost or changed under faults"
finish
