#!/usr/bin/env bash
# mfld.sh - suri's mean-field Langevin step (bench/mfld.c over src/mfld) against a plain PyTorch
# implementation of the same update (bench/peers/torch_mfld.py: autograd, and --manual with the
# gradient written by hand), side by side on the same machine, plus the fraction of the sgemm
# speed a suri step reaches.
#
# For each configuration it runs suri, torch, torch --manual ALTERNATELY (--pairs rounds, one
# fresh process each, each with its own warm-up) and prints medians of the per-process median step
# times, particle updates per second (M / step time) and the ratios suri / PyTorch per round.
# "fraction" = time of the step's two GEMMs alone (plain multi-threaded OpenBLAS sgemm on the same
# shapes: the machine's sgemm speed for them) / suri's step time.
#
# Fairness: OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = threads for every process (and
# torch.set_num_threads), OMP_WAIT_POLICY=PASSIVE at 2 threads, OPENBLAS_CORETYPE as the
# environment sets it (each side reports the BLAS kernel set it really used), float32, same
# sizes, same pool of 8 pre-generated batches, same update. bench/runone.py records the cores
# other processes kept busy during each run ("foreign_cpu"); rounds where that exceeded 0.25 are
# marked x and left out of the medians when at least one clean round remains. For 1 thread the
# table also gives process CPU times (bench-mfld and the peer report them), which leave out the
# time other processes held the core: the robust numbers on a shared machine.
#
# Configurations (name: M d batch threads steps warm-up):
#   P1/P2  1000   30   250  1/2  300 20   the k-parity experiment's sizes (examples/mfld_parity.c)
#   G1/G2  4096  512  1024  1/2   15  3   the issue's performance target
# Usage: bench/mfld.sh [--pairs N] [--only P1,G1] [--quick] [--out DIR] [--wait-quiet S]
#   --wait-quiet S  before each process wait up to S seconds (default 60) until other processes
#                   use less than 0.15 of a core (bench/runone.py)
# Environment: BUILD_DIR (libsuri.a, default build), PYTHON (default /usr/bin/python3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"
BUILD_DIR="${BUILD_DIR:-build}"
PYTHON="${PYTHON:-/usr/bin/python3}"
pairs=5 only="" quick=0 out="" wait_quiet=60
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) pairs="${2:?}"; shift 2 ;;
    --only) only="${2:?}"; shift 2 ;;
    --quick) quick=1; pairs=1; shift ;;
    --out) out="${2:?}"; shift 2 ;;
    --wait-quiet) wait_quiet="${2:?}"; shift 2 ;;
    -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "mfld.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -f "$BUILD_DIR/libsuri.a" ] || { echo "mfld.sh: $BUILD_DIR/libsuri.a missing (make build, or set BUILD_DIR)" >&2; exit 2; }
bin="$BUILD_DIR/bench-mfld"
if [ ! -x "$bin" ] || [ "$here/mfld.c" -nt "$bin" ] || [ "$BUILD_DIR/libsuri.a" -nt "$bin" ]; then
  ${CC:-cc} -std=c11 -O2 -fopenmp "$here/mfld.c" -Iinclude "$BUILD_DIR/libsuri.a" \
    $(pkg-config --libs openblas lapacke libcjson zlib) -lm -o "$bin"
fi
out="${out:-runs/mfld-bench-$(date -u +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
raw="$out/raw.jsonl"
: > "$raw"
configs="P1:1000:30:250:1:300:20 P2:1000:30:250:2:300:20 G1:4096:512:1024:1:15:3 G2:4096:512:1024:2:15:3"
for cfg in $configs; do
  IFS=: read -r name M d B T steps warm <<< "$cfg"
  if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then continue; fi
  [ "$quick" = 1 ] && steps=$(( steps / 5 > 3 ? steps / 5 : 3 ))
  export OPENBLAS_NUM_THREADS="$T" OMP_NUM_THREADS="$T"
  if [ "$T" -gt 1 ]; then export OMP_WAIT_POLICY=PASSIVE; else unset OMP_WAIT_POLICY; fi
  args=(--M "$M" --d "$d" --batch "$B" --steps "$steps" --warmup "$warm" --threads "$T")
  for ((r = 1; r <= pairs; r++)); do
    echo "[$name] round $r/$pairs" >&2
    $PYTHON "$here/runone.py" --out "$raw" --wait-quiet "$wait_quiet" --tag config="$name" --tag round="$r" -- "$bin" "${args[@]}"
    $PYTHON "$here/runone.py" --out "$raw" --wait-quiet "$wait_quiet" --tag config="$name" --tag round="$r" -- $PYTHON "$here/peers/torch_mfld.py" "${args[@]}"
    $PYTHON "$here/runone.py" --out "$raw" --wait-quiet "$wait_quiet" --tag config="$name" --tag round="$r" -- $PYTHON "$here/peers/torch_mfld.py" "${args[@]}" --manual
  done
done
$PYTHON - "$raw" > "$out/summary.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
FOREIGN = 0.25
print("| cfg | M | d | batch | thr | clean rounds | suri ms/step | torch ms/step | torch-manual ms/step | suri updates/s | suri/torch | suri/torch-manual | per-round suri/torch | fraction of sgemm | CPU time: suri / torch / torch-manual ms, suri/torch, fraction | sgemm GFLOP/s (same shapes) | BLAS suri / torch |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for cfg in dict.fromkeys(r["config"] for r in rows):
    rs = [r for r in rows if r["config"] == cfg]
    rounds = sorted({r["round"] for r in rs})
    def get(side, rd):
        return next((r for r in rs if r["side"] == side and r["round"] == rd), None)
    full = [rd for rd in rounds if all(get(s, rd) for s in ("suri", "torch", "torch-manual"))]
    clean = [rd for rd in full if max(get(s, rd)["foreign_cpu"] for s in ("suri", "torch", "torch-manual")) <= FOREIGN]
    use = clean or full
    med = lambda side, key: statistics.median(get(side, rd)[key] for rd in use)
    s, t, tm = med("suri", "ms_per_step"), med("torch", "ms_per_step"), med("torch-manual", "ms_per_step")
    per = " ".join(f"{get('torch', rd)['ms_per_step'] / get('suri', rd)['ms_per_step']:.2f}" + ("" if rd in clean else "x") for rd in full)
    r0 = get("suri", use[0])
    cpu = "n/a (2 threads)"
    if r0["threads"] == 1:  # CPU time leaves out the time other processes held the core
        sc, tc, mc = med("suri", "cpu_ms_per_step"), med("torch", "cpu_ms_per_step"), med("torch-manual", "cpu_ms_per_step")
        cpu = f"{sc:.3f} / {tc:.3f} / {mc:.3f}, **{tc / sc:.2f}**, {med('suri', 'fraction_cpu'):.3f}"
    print(f"| {cfg} | {r0['M']} | {r0['d']} | {r0['batch']} | {r0['threads']} | {len(clean)}/{len(full)} | {s:.3f} | {t:.3f} | {tm:.3f} | "
          f"{r0['M'] / s * 1e3:,.0f} | **{t / s:.2f}** | {tm / s:.2f} | {per} | {med('suri', 'fraction'):.3f} | {cpu} | "
          f"{med('suri', 'sgemm_peak_gflops'):.0f} | {r0['blas']} / {get('torch', use[0])['blas']} |")
PY
cat "$out/summary.md"
echo "raw results: $raw" >&2
