#!/usr/bin/env bash
# analysis.sh - `suri analyze` against PyTorch (bench/peers/torch_analysis.py) on the workloads of
# issue #3, same machine, same run, same network, same data, same threads.
#
# Workloads (MLP 784-256-256-10, the first N mnist10k training digits / 255, float32):
#   G   top eigenvalue of the Gauss-Newton (= true Fisher for softmax cross-entropy), N = 512
#   E   top eigenvalue of the empirical Fisher, N = 512
#   H   top eigenvalue of the Hessian of the mean loss, N = 512, act=tanh (see below)
#   K   NTK Gram 256 x 256 of the logit sum f_1 + ... + f_10 (suri --ntk-mode sum)
#   F   full 10x10-block NTK Gram, 2560 x 2560, of 256 samples within --memory 2G
# suri runs `suri analyze KIND --model FILE ... --out X.json` (Lanczos, --tol 3e-3: the relative
# residual at which the eigenvalue is within 1e-4 of the reference, checked in every run); the
# peer runs power iteration, recording the estimate after every iteration, so the table can
# give both its time for 50 iterations (the workload the issue measured) and its time to first
# come within 1e-4 of the reference and stay there. The reference eigenvalue is computed once,
# in float64, by 60 Lanczos steps with full reorthogonalisation in torch (not timed).
# The network: the peer initialises it (torch.manual_seed 1, W ~ N(0, 2/fan_in), b = 0) and
# writes it as safetensors, which suri loads, so both sides analyse identical parameters.
# The Hessian workload uses act=tanh, kept from the rounds when suri's Hessian-vector products
# were central differences of gradients (which on a ReLU network cross kinks that double
# backward ignores); suri now makes exact forward-over-reverse products, the same operator as
# double backward for either activation (docs/analysis.md section 2.3).
#
# Fairness (as bench/compare.sh, both sides alike): OPENBLAS_NUM_THREADS=N, OMP_NUM_THREADS=N,
# --threads N / torch.set_num_threads(N), OMP_WAIT_POLICY=PASSIVE for N > 1, OPENBLAS_CORETYPE
# passed through (each side reports the kernel set it used), alternating fresh processes
# suri, torch, suri, torch ... (--pairs), each waiting for a quiet machine (bench/runone.py),
# and pairs where other processes used > 0.1 core left out of the medians. Times are the
# solver's (suri: the JSON's top.seconds / ntk.seconds; torch: from the first forward pass to
# the end of the iterations / the Gram), not process start-up.
#
# Usage: bench/analysis.sh [--quick] [--pairs N] [--threads "1 2"] [--only G,E,H,K,F]
#                          [--out DIR] [--wait-quiet S]
#   --quick       1 pair, 1 thread, no F
#   --pairs N     alternating pairs per workload and thread count (default 5)
#   --threads L   thread counts to run (default "1 2")
#   --only LIST   workloads to run (default G,E,H,K,F)
#   --out DIR     results (default runs/bench-analysis-<date>): raw.jsonl, summary.md
#   --wait-quiet S  wait up to S seconds for a quiet machine before each process (default 60)
#   --coretype NAME  OPENBLAS_CORETYPE for both sides (e.g. SkylakeX; 'unset' removes it;
#                 default: the environment's), as bench/compare.sh
# Environment: SURI_BIN (default build/suri), PYTHON (default /usr/bin/python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"
SURI_BIN="${SURI_BIN:-build/suri}"
PYTHON="${PYTHON:-/usr/bin/python3}"
pairs=5 quick=0 only="G,E,H,K,F" threads_list="1 2" out="" wait_quiet=60 coretype=""

die() { echo "analysis.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --pairs) pairs="${2:?--pairs needs a value}"; shift 2 ;;
    --threads) threads_list="${2:?--threads needs a value}"; shift 2 ;;
    --only) only="${2:?--only needs a value}"; shift 2 ;;
    --out) out="${2:?--out needs a value}"; shift 2 ;;
    --wait-quiet) wait_quiet="${2:?--wait-quiet needs a value}"; shift 2 ;;
    --coretype) coretype="${2:?--coretype needs a value}"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
done
[[ "$pairs" =~ ^[1-9][0-9]*$ ]] || die "--pairs must be a positive integer"
[ -x "$PYTHON" ] || die "$PYTHON not found (the peer needs Debian's python3-torch)"
[ -x "$SURI_BIN" ] && "$SURI_BIN" analyze --help >/dev/null 2>&1 \
  || die "$SURI_BIN has no working 'analyze' command (build it, or set SURI_BIN)"
if [ "$quick" = 1 ]; then pairs=1 threads_list=1 only="${only//,F/}"; fi
if [ "$coretype" = unset ]; then
  unset OPENBLAS_CORETYPE
elif [ -n "$coretype" ]; then
  [[ "$coretype" =~ ^[A-Za-z0-9]+$ ]] || die "--coretype: '$coretype' is not a kernel set name"
  export OPENBLAS_CORETYPE="$coretype"
fi

out="${out:-runs/bench-analysis-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
raw="$out/raw.jsonl"
: >"$raw"
peer="$here/peers/torch_analysis.py"
export SURI_DATA_DIR="${SURI_DATA_DIR:-$root/data}"

# The networks and the reference eigenvalues (float64, untimed).
"$PYTHON" "$peer" init --model mlp:784-256-256-10 --seed 1 --write-model "$out/relu.safetensors" >/dev/null
"$PYTHON" "$peer" init --model mlp:784-256-256-10,act=tanh --seed 1 --write-model "$out/tanh.safetensors" >/dev/null
declare -A REF
for w in G E H; do
  [[ ",$only," == *",$w,"* ]] || continue
  case $w in G) k=gn m=relu ;; E) k=efisher m=relu ;; H) k=hessian m=tanh ;; esac
  REF[$w]=$(OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 "$PYTHON" "$peer" "$k" --reference \
            --model-file "$out/$m.safetensors" --samples 512 --threads 2 |
            "$PYTHON" -c 'import json,sys; print(repr(json.load(sys.stdin)["eigenvalue"]))')
  echo "reference eigenvalue $w ($k): ${REF[$w]}" >&2
done

bench_env() {
  local n="$1"
  printf '%s\n' "OPENBLAS_NUM_THREADS=$n" "OMP_NUM_THREADS=$n"
  if [ "$n" -gt 1 ]; then echo "OMP_WAIT_POLICY=PASSIVE"; fi
}

# suri side: a wrapper runs `suri analyze ... --out FILE` and prints FILE on one line (runone.py
# reads the last line of stdout as the result).
cat >"$out/suri_json.sh" <<WRAP
#!/usr/bin/env bash
json="\$1"; shift
"\$@" --out "\$json" --quiet >/dev/null || exit \$?
exec "$PYTHON" -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))))' "\$json"
WRAP

run_one() {
  local side="$1" w="$2" n="$3" pair="$4"
  local -a envs cmd args
  mapfile -t envs < <(bench_env "$n")
  case $w in
    G) args=(gn relu 512) ;; E) args=(efisher relu 512) ;; H) args=(hessian tanh 512) ;;
    K) args=(ntk-sum relu 256) ;; F) args=(ntk-full relu 256) ;;
  esac
  local kind="${args[0]}" model="$out/${args[1]}.safetensors" samples="${args[2]}"
  if [ "$side" = suri ]; then
    local sargs=(--model "$model" --samples "$samples" --threads "$n")
    case $w in
      G|E) sargs=("$kind" "${sargs[@]}" --tol 3e-3) ;;
      H) sargs=(hessian "${sargs[@]}" --tol 3e-3) ;;
      K) sargs=(ntk "${sargs[@]}" --ntk-mode sum) ;;
      F) sargs=(ntk "${sargs[@]}" --ntk-mode full --memory 2G) ;;
    esac
    cmd=(bash "$out/suri_json.sh" "$out/suri-$w-$n-$pair.json" "$SURI_BIN" analyze "${sargs[@]}")
  else
    cmd=("$PYTHON" "$peer" "$kind" --model-file "$model" --samples "$samples" --threads "$n")
    case $w in G|E|H) cmd+=(--iters 150) ;; esac
  fi
  env "${envs[@]}" "$PYTHON" "$here/runone.py" --out "$raw" --wait-quiet "$wait_quiet" \
    --tag "side=$side" --tag "work=$w" --tag "nthreads=$n" --tag "pair=$pair" -- "${cmd[@]}" \
    || { echo "analysis.sh: failed: ${envs[*]} ${cmd[*]}" >&2; exit 1; }
}

echo "# suri analyze vs PyTorch: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, suri $("$SURI_BIN" version | cut -d' ' -f2-), pairs=$pairs" | tee "$out/summary.md"
for n in $threads_list; do
  for w in G E H K F; do
    [[ ",$only," == *",$w,"* ]] || continue
    np=$pairs
    [ "$w" = F ] && np=$(( pairs < 2 ? pairs : 2 )) # the torch side takes ~45 s and 5.6 GB
    echo "[$w] threads $n, $np pairs" >&2
    for ((p = 1; p <= np; p++)); do
      run_one suri "$w" "$n" "$p"
      run_one torch "$w" "$n" "$p"
    done
  done
done

REFS="$(for w in "${!REF[@]}"; do printf '%s=%s ' "$w" "${REF[$w]}"; done)" \
"$PYTHON" - "$raw" <<'EOF' | tee -a "$out/summary.md"
import json, os, statistics, sys
ref = dict(kv.split("=") for kv in os.environ["REFS"].split())
ref = {k: float(v) for k, v in ref.items()}
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
NAMES = {"G": "GN lambda_max", "E": "emp. Fisher lambda_max", "H": "Hessian lambda_max (tanh)",
         "K": "NTK Gram 256x256, logit sum", "F": "NTK Gram 2560x2560, full"}
ACC = 1e-4
med = statistics.median

def suri_m(r, w):
    """(wall s, cpu s, eigenvalue, products or peak RSS MB)"""
    if w in "GEH":
        t = r["all"]["top"]
        return t["seconds"], t.get("cpu_seconds", float("nan")), t["eigenvalues"][0], t["applications"]
    n = r["ntk"]
    return (n["seconds"], r["timings"].get("gram_cpu_seconds", float("nan")),
            n["top"]["eigenvalues"][0], n.get("peak_rss_bytes", 0) / 2**20)

def torch_m(r, w):
    """(wall s, cpu s, eigenvalue, (wall, cpu, iterations) to ACC or None, peak RSS MB)
    at 50 iterations for the eigenvalue workloads."""
    if w not in "GEH":
        return r["seconds"], r.get("cpu_seconds", float("nan")), r["eigenvalue"], None, r["peak_rss_mb"]
    h, lam = r["history"], ref[w]
    e50 = h[min(49, len(h) - 1)]
    acc = None
    for i in range(len(h)):
        if all(abs(x[1] - lam) <= ACC * abs(lam) for x in h[i:]):
            acc = (h[i][0], h[i][2] if len(h[i]) > 2 else float("nan"), i + 1)
            break
    return e50[0], e50[2] if len(e50) > 2 else float("nan"), e50[1], acc, r["peak_rss_mb"]

print()
print("Wall-clock seconds of the solver (medians over the pairs used), suri's relative error")
print("against the float64 reference, PyTorch after 50 power iterations and when it first comes")
print("within 1e-4 of the reference; ratios = PyTorch time / suri time (> 1: suri faster).")
print("`cpu` ratios use each process's CPU time over the same span (1 thread only), which other")
print("work on the machine disturbs far less than wall time.")
print()
print("| work | thr | clean pairs | suri s (products) | suri rel. err. | torch 50 it. s | torch 50 it. rel. err. | torch to 1e-4 s (it.) | ratio vs 50 it. | ratio to 1e-4 | cpu ratio vs 50 it. | cpu ratio to 1e-4 | per-pair (50 it.) | BLAS suri / torch |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for w in "GEHKF":
    for n in sorted({r["nthreads"] for r in rows}):
        pairs = {}
        for r in rows:
            if r["work"] == w and r["nthreads"] == n:
                pairs.setdefault(r["pair"], {})[r["side"]] = r
        pairs = [p for _, p in sorted(pairs.items()) if "suri" in p and "torch" in p]
        if not pairs:
            continue
        clean = [p for p in pairs if max(p["suri"]["foreign_cpu"], p["torch"]["foreign_cpu"]) <= 0.1]
        use = clean or pairs
        S = [suri_m(p["suri"], w) for p in use]
        T = [torch_m(p["torch"], w) for p in use]
        sw, sc = med(s[0] for s in S), med(s[1] for s in S)
        tw, tc = med(t[0] for t in T), med(t[1] for t in T)
        per = " ".join(f"{t[0] / s[0]:.2f}" for s, t in zip(S, T))
        blas = f'{use[0]["suri"]["blas"]} / {use[0]["torch"]["blas"]}'
        cpu50 = f"{tc / sc:.2f}" if n == 1 else "-"
        if w in "GEH":
            lam = ref[w]
            s_err = max(abs(s[2] - lam) / abs(lam) for s in S)
            t_err = med(abs(t[2] - lam) / abs(lam) for t in T)
            accs = [t[3] for t in T if t[3] is not None]
            if accs:
                aw, ac, ai = med(a[0] for a in accs), med(a[1] for a in accs), med(a[2] for a in accs)
                acc_txt, acc_ratio = f"{aw:.3f} ({ai:.0f})", f"**{aw / sw:.2f}**"
                cpu_acc = f"{ac / sc:.2f}" if n == 1 else "-"
            else:
                acc_txt, acc_ratio, cpu_acc = "not within 150 it.", "-", "-"
            print(f"| {w}: {NAMES[w]} | {n} | {len(clean)}/{len(pairs)} | {sw:.3f} ({med(s[3] for s in S):.0f}) | "
                  f"{s_err:.1e} | {tw:.3f} | {t_err:.1e} | {acc_txt} | **{tw / sw:.2f}** | {acc_ratio} | "
                  f"{cpu50} | {cpu_acc} | {per} | {blas} |")
        else:
            dl = abs(med(s[2] for s in S) - med(t[2] for t in T)) / abs(med(t[2] for t in T))
            rss = f"{med(s[3] for s in S):.0f} / {med(t[4] for t in T):.0f} MB"
            print(f"| {w}: {NAMES[w]} | {n} | {len(clean)}/{len(pairs)} | {sw:.3f} | "
                  f"lambda_1 {dl:.0e} from torch's | {tw:.3f} | - | - | **{tw / sw:.1f}** | - | "
                  f"{cpu50} | - | {per} | {blas}; peak RSS {rss} |")
EOF
echo "raw results: $raw; table: $out/summary.md" >&2
