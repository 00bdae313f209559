#!/usr/bin/env bash
# compare.sh - suri against PyTorch on the same machine, in the same run, with the same settings.
#
# For each configuration it runs `suri bench train|infer` and the PyTorch peer
# (bench/peers/torch_train.py | torch_infer.py) ALTERNATELY, one fresh process each,
# suri torch suri torch ... (--pairs pairs, default 5), each process doing its own warm-up
# before its timed steps, and prints medians and the per-pair ratios suri/PyTorch of samples/s.
# It also runs bench-gemm (bench/gemm.c) on the configuration's GEMM shapes to show how close
# each side comes to the speed of its GEMMs alone ("sgemm-bound fraction" = GEMM-only time of a
# step / measured time of a step).
#
# Fairness (applied to both sides identically):
#   - OPENBLAS_NUM_THREADS=N and OMP_NUM_THREADS=N, plus --threads N / torch.set_num_threads(N);
#   - OMP_WAIT_POLICY=PASSIVE when N > 1 (spinning OpenMP workers would steal the cores that
#     OpenBLAS's own threads need: both libraries run pools of N threads on N cores);
#   - the same OpenBLAS kernel set: OPENBLAS_CORETYPE as the environment sets it, or as
#     --coretype sets it for every process (both link the same libopenblas; the kernel set each
#     side really used is read back and printed: suri's "blas" field, and
#     openblas_get_corename() inside the torch process);
#   - same model, batch, warm-up, steps, optimizer (SGD, lr 0.01), float32, 8 pre-generated
#     batches of synthetic MNIST-shaped data used in turn;
#   - a quiet machine: each process starts when other work uses < 0.15 core (--wait-quiet), and
#     pairs during which other work used > 0.1 core are left out of the medians.
#
# Usage: bench/compare.sh [--quick] [--pairs N] [--only A1,B2,...] [--torch-only] [--out DIR]
#        bench/compare.sh --model SPEC --batch N --threads N --steps N [--warmup N] [--infer]
#   --quick       smoke run: 1 pair, steps / 10, 1 thread only
#   --pairs N     alternating suri/torch pairs per configuration (default 5)
#   --only LIST   run only these configuration names (see the table below)
#   --torch-only  skip suri (also chosen automatically when the suri binary has no 'bench')
#   --out DIR     where raw results go (default runs/bench-<date>); raw.jsonl, gemm.jsonl,
#                 summary.md
#   --coretype NAME  OPENBLAS_CORETYPE for every process (suri, PyTorch, bench-gemm), e.g.
#                 SkylakeX or Haswell; 'unset' removes it (and OPENBLAS_L2_SIZE) so OpenBLAS
#                 detects the CPU itself (default: the environment's, unchanged)
#   --wait-quiet S  before each process wait up to S seconds (default 60; 0 = don't) until
#                 other processes use less than 0.15 of a core; every result records the cores
#                 other processes used while it ran ("foreign_cpu"), and the table leaves out
#                 pairs where that exceeded 0.1 (see bench/summarize.py)
# Environment: SURI_BIN (default build/suri), BUILD_DIR for bench-gemm (default build),
#   PYTHON (default /usr/bin/python3, which has python3-torch).
#
# Default configurations (name: mode model batch threads steps warm-up):
#   A1/A2  train mlp:784-512-512-10,act=relu        batch 128, 1/2 threads
#   B1/B2  train mlp:784-128-10,act=relu            batch 32
#   C1/C2  train mlp:784-1024-1024-1024-10,act=relu batch 256
#   D1/D2  infer model A, batch 1          E1/E2  infer model A, batch 1000
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
# Paths given by the user are relative to where they ran the script; defaults to the repository.
abs() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
SURI_BIN="$(abs "${SURI_BIN:-$root/build/suri}")"
BUILD_DIR="$(abs "${BUILD_DIR:-$root/build}")"
PYTHON="${PYTHON:-/usr/bin/python3}"
pairs=5
quick=0
only=""
torch_only=0
out=""
wait_quiet=60
coretype=""
custom_model="" custom_batch=128 custom_threads=1 custom_steps=100 custom_warmup=10 custom_mode=train

die() { echo "compare.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --pairs) pairs="${2:?--pairs needs a value}"; shift 2 ;;
    --only) only="${2:?--only needs a value}"; shift 2 ;;
    --torch-only) torch_only=1; shift ;;
    --out) out="${2:?--out needs a value}"; shift 2 ;;
    --wait-quiet) wait_quiet="${2:?--wait-quiet needs a value}"; shift 2 ;;
    --coretype) coretype="${2:?--coretype needs a value}"; shift 2 ;;
    --model) custom_model="${2:?}"; shift 2 ;;
    --batch) custom_batch="${2:?}"; shift 2 ;;
    --threads) custom_threads="${2:?}"; shift 2 ;;
    --steps|--iters) custom_steps="${2:?}"; shift 2 ;;
    --warmup) custom_warmup="${2:?}"; shift 2 ;;
    --infer) custom_mode=infer; shift ;;
    -h|--help) sed -n '2,47p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
done
[[ "$pairs" =~ ^[1-9][0-9]*$ ]] || die "--pairs must be a positive integer"
if [ "$coretype" = unset ]; then
  unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
elif [ -n "$coretype" ]; then
  [[ "$coretype" =~ ^[A-Za-z0-9]+$ ]] || die "--coretype: '$coretype' is not a kernel set name"
  export OPENBLAS_CORETYPE="$coretype"
fi
[ -z "$out" ] || out="$(abs "$out")"
cd "$root"
[ -x "$PYTHON" ] || die "$PYTHON not found (PyTorch peers need Debian's python3-torch)"

MA="mlp:784-512-512-10,act=relu"
MB="mlp:784-128-10,act=relu"
MC="mlp:784-1024-1024-1024-10,act=relu"
# name mode model batch threads steps warmup; steps chosen for ~1 s of timed work per process
# at one thread on a ~130 GFLOP/s core.
configs=(
  "A1 train $MA 128 1 300 20"  "A2 train $MA 128 2 300 20"
  "B1 train $MB 32 1 3000 100" "B2 train $MB 32 2 3000 100"
  "C1 train $MC 256 1 30 3"    "C2 train $MC 256 2 30 3"
  "D1 infer $MA 1 1 5000 200"  "D2 infer $MA 1 2 5000 200"
  "E1 infer $MA 1000 1 100 5"  "E2 infer $MA 1000 2 100 5"
)
if [ -n "$custom_model" ]; then
  configs=("X $custom_mode $custom_model $custom_batch $custom_threads $custom_steps $custom_warmup")
fi
if [ "$quick" = 1 ]; then
  pairs=1
fi

if [ "$torch_only" = 0 ]; then
  if [ ! -x "$SURI_BIN" ] || ! "$SURI_BIN" bench --help >/dev/null 2>&1; then
    echo "compare.sh: $SURI_BIN has no working 'bench' command: running the PyTorch side only" >&2
    torch_only=1
  fi
fi

mkdir -p "$BUILD_DIR"
gemm_bin="$BUILD_DIR/bench-gemm"
if [ ! -x "$gemm_bin" ] || [ "$here/gemm.c" -nt "$gemm_bin" ]; then
  # shellcheck disable=SC2046
  cc -O2 -std=c11 "$here/gemm.c" $(pkg-config --cflags --libs openblas) -o "$gemm_bin"
fi

out="${out:-runs/bench-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
raw="$out/raw.jsonl"
gemm="$out/gemm.jsonl"
: >"$raw"
: >"$gemm"

# Environment of one benchmark process with N threads (identical for both sides).
bench_env() {
  local n="$1"
  local e=("OPENBLAS_NUM_THREADS=$n" "OMP_NUM_THREADS=$n")
  if [ "$n" -gt 1 ]; then e+=("OMP_WAIT_POLICY=PASSIVE"); fi
  printf '%s\n' "${e[@]}"
}

# Runs one process through runone.py, which waits for a quiet machine, records the CPU time
# other processes used meanwhile ("foreign_cpu") and appends the JSON line, tagged with side,
# config, pair and mode, to raw.jsonl.
run_one() {
  local side="$1" name="$2" mode="$3" model="$4" batch="$5" threads="$6" steps="$7" warmup="$8"
  local pair="$9"
  local -a envs cmd
  mapfile -t envs < <(bench_env "$threads")
  if [ "$side" = suri ]; then
    cmd=("$SURI_BIN" bench "$mode")
  else
    cmd=("$PYTHON" "$here/peers/torch_$mode.py")
  fi
  cmd+=(--model "$model" --batch "$batch" --threads "$threads" --warmup "$warmup")
  if [ "$mode" = train ]; then cmd+=(--steps "$steps" --optim sgd); else cmd+=(--iters "$steps"); fi
  env "${envs[@]}" "$PYTHON" "$here/runone.py" --out "$raw" --wait-quiet "$wait_quiet" \
    --tag "side=$side" --tag "config=$name" --tag "pair=$pair" --tag "mode=$mode" -- "${cmd[@]}" \
    || { echo "compare.sh: failed: ${envs[*]} ${cmd[*]}" >&2; exit 1; }
}

echo "# suri vs PyTorch: $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d" " -f1-3 /proc/loadavg), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, pairs=$pairs$([ "$quick" = 1 ] && echo ', quick')" | tee "$out/summary.md"
for c in "${configs[@]}"; do
  read -r name mode model batch threads steps warmup <<<"$c"
  if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then continue; fi
  if [ "$quick" = 1 ]; then
    [ "$threads" = 1 ] || continue
    steps=$(( steps / 10 > 0 ? steps / 10 : 1 ))
    warmup=$(( warmup / 4 > 0 ? warmup / 4 : 1 ))
  fi
  echo "[$name] $mode $model batch $batch threads $threads steps $steps warmup $warmup" >&2
  gflag=()
  [ "$mode" = infer ] && gflag=(--infer)
  reps=30
  [ "$mode" = infer ] && [ "$batch" = 1 ] && reps=500
  for ((p = 1; p <= pairs; p++)); do
    # The GEMM-only reference is measured once per pair too (2-thread timings on this kind of
    # machine drift with the host's load); the square-sgemm peak only in the first pair.
    peak=0
    [ "$p" = 1 ] && peak="$([ "$quick" = 1 ] && echo 512 || echo 1024)"
    # shellcheck disable=SC2046
    env $(bench_env "$threads") "$PYTHON" "$here/runone.py" --out "$gemm" \
      --wait-quiet "$wait_quiet" --tag "config=$name" --tag "pair=$p" -- \
      "$gemm_bin" --widths "$model" --batch "$batch" --threads "$threads" --reps "$reps" \
      --peak "$peak" "${gflag[@]}"
    [ "$torch_only" = 1 ] || run_one suri "$name" "$mode" "$model" "$batch" "$threads" "$steps" "$warmup" "$p"
    run_one torch "$name" "$mode" "$model" "$batch" "$threads" "$steps" "$warmup" "$p"
  done
done

"$PYTHON" "$here/summarize.py" "$raw" "$gemm" | tee -a "$out/summary.md"
echo "raw results: $raw, $gemm; table: $out/summary.md" >&2
