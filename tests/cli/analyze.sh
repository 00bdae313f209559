# analyze.sh - `suri analyze` and `suri train --lr auto` end to end on tiny models and data:
# every kind runs (exit 0) and writes parseable JSON with its keys, the top eigenvalue does not
# depend on how many are asked for, --per-layer lists every layer, the theory comparison runs
# (and is skipped with its reason, exit 0, for a model it does not cover), the NTK Gram file
# has the right size, bad usage exits 2 with a message naming the flag, failures exit 1, and
# --lr auto prints the learning rate it chose (auto=0.25 half of auto=0.5) and trains, and runs
# whose Lanczos basis or operator would exceed --memory are refused up front with the estimate.
source "$(dirname "$0")/common.bash"
S=$SURI_BIN
M="--model mlp:8-16-3 --seed 1"
D="--data gauss:n=64,d=8,classes=3,seed=1 --samples 64"

# json_ok FILE WHAT: FILE parses as JSON (python3 if present, else a brace balance check).
json_ok() {
  CHECKS=$((CHECKS + 1))
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" 2>/dev/null ||
      fail "$2: $1 is not valid JSON"
  else
    local o c
    o=$(tr -cd '{' <"$1" | wc -c) c=$(tr -cd '}' <"$1" | wc -c)
    [ "$o" -gt 0 ] && [ "$o" -eq "$c" ] || fail "$2: $1 does not look like JSON"
  fi
}

# first_eig: the first eigenvalue printed after a "top K eigenvalue(s)" line of $T/out.
first_eig() { awk '/^top [0-9]+ eigenvalue/ { getline; print $2; exit }' "$T/out"; }

# close A B RTOL WHAT: |A - B| <= RTOL |B|.
close() {
  CHECKS=$((CHECKS + 1))
  awk -v a="$1" -v b="$2" -v r="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; if (b < 0) b = -b;
    exit !(a != "" && d <= r * b) }' || fail "$4: $1 and $2 differ by more than $3 relative"
}

# ---- help ---------------------------------------------------------------------------------------
expect 0 "$S" help analyze && has "$T/out" "usage: suri analyze KIND" "help analyze"
expect 0 "$S" analyze --help
for d in "(default mnist10k)" "(default 512)" "(default 1)" "(default lanczos)" "(default largest)" \
         "(default 1e-06)" "(default 100)" "(default 10)" "(default 80)" "(default 1000)" \
         "(default trace)" "(default 2G)" "(default 0)" "--gram-out" "--theory" "--per-layer"; do
  has "$T/out" "$d" "analyze --help shows $d"
done
expect 0 "$S" help && has "$T/out" "  analyze " "suri help lists analyze"

# ---- every kind ---------------------------------------------------------------------------------
for k in fisher efisher gn hessian; do
  expect 0 "$S" analyze $k $M $D --top 2 --trace --trace-probes 8 --density --density-probes 2 \
    --density-steps 10 --grid 50 --out "$T/$k.json"
  json_ok "$T/$k.json" "analyze $k"
  for key in '"eigenvalues"' '"residuals"' '"trace"' '"std_err"' '"density"' '"grid"' '"weights"' \
             '"nodes"' '"timings"' '"top_seconds"' '"settings"' '"blas"' '"params"'; do
    has "$T/$k.json" "$key" "analyze $k JSON"
  done
  has "$T/out" "top 2 eigenvalues" "analyze $k summary"
  has "$T/out" "trace (Hutchinson" "analyze $k summary"
done
expect 0 "$S" analyze lr $M $D --out "$T/lr.json"
json_ok "$T/lr.json" "analyze lr"
has "$T/out" "critical learning rate 2/lambda_max" "analyze lr"
has "$T/lr.json" '"critical_lr"' "analyze lr JSON"
for mode in trace full diag sum; do
  expect 0 "$S" analyze ntk $M $D --ntk-mode $mode --out "$T/ntk-$mode.json" --gram-out "$T/g-$mode.npy"
  json_ok "$T/ntk-$mode.json" "analyze ntk $mode"
  has "$T/ntk-$mode.json" '"ntk"' "analyze ntk $mode JSON"
  has "$T/out" "NTK Gram ($mode mode)" "analyze ntk $mode summary"
done
# NPY v1: a 128-byte header here, then float64 data: full (192 x 192), trace/sum (64 x 64), diag (64 x 3)
for x in "full 294912" "trace 32768" "sum 32768" "diag 1536"; do
  set -- $x
  CHECKS=$((CHECKS + 1))
  [ "$(wc -c <"$T/g-$1.npy")" -eq $(($2 + 128)) ] || fail "ntk --gram-out $1: size $(wc -c <"$T/g-$1.npy")"
done

# ---- the top eigenvalue does not depend on --top (Lanczos to the default 1e-6 residual) --------
expect 0 "$S" analyze gn $M $D --top 1
e1=$(first_eig)
expect 0 "$S" analyze gn $M $D --top 3
e3=$(first_eig)
close "$e1" "$e3" 1e-5 "gn --top 1 vs --top 3"
expect 0 "$S" analyze gn $M $D --solver power
close "$(first_eig)" "$e1" 1e-4 "gn power iteration vs Lanczos"
# the Gauss-Newton of a ce model is its true Fisher
expect 0 "$S" analyze fisher $M $D
close "$(first_eig)" "$e1" 1e-5 "fisher vs gn for loss=ce"

# ---- per layer -----------------------------------------------------------------------------------
expect 0 "$S" analyze gn --model mlp:8-16-12-3 --seed 2 $D --per-layer --trace --trace-probes 4 --out "$T/pl.json"
for l in fc1 fc2 fc3; do has "$T/out" "  $l " "per-layer table lists $l"; has "$T/pl.json" "\"$l\"" "per-layer JSON"; done
has "$T/out" "16x8" "per-layer W shape"
expect 0 "$S" analyze ntk --model mlp:8-16-12-3 --seed 2 $D --per-layer --top 2
for l in fc1 fc2 fc3; do has "$T/out" "  $l " "ntk per-layer table lists $l"; done

# ---- theory ---------------------------------------------------------------------------------------
expect 0 "$S" analyze fisher --model mlp:20-64-64-1,loss=mse --seed 3 --data teacher:n=16,d=20 \
  --theory --trace-probes 8 --out "$T/th.json"
has "$T/out" "measured/predicted" "fisher --theory table"
has "$T/out" "lambda_max" "fisher --theory table"
has "$T/th.json" '"predicted"' "fisher --theory JSON"
has "$T/th.json" '"kappa1"' "fisher --theory JSON"
# hidden batch norm: the theory refuses, the measurement stands, exit 0
expect 0 "$S" analyze fisher --model mlp:8-16-3,norm=batch --seed 1 $D --theory --trace-probes 4
has "$T/out" "theory: not available for this model" "fisher --theory refusal"
has "$T/out" "top 1 eigenvalue" "fisher --theory refusal keeps the measurement"

# ---- a saved model ---------------------------------------------------------------------------------
expect 0 "$S" train --model mlp:8-16-3 --data gauss:n=64,d=8,classes=3,seed=1 --optim sgd --epochs 1 \
  --batch 16 --out "$T/run" --quiet
expect 0 "$S" analyze hessian --model "$T/run/model.safetensors" $D --out "$T/h.json"
has "$T/h.json" '"model_file"' "analyze of a model file"
has "$T/out" "(from $T/run/model.safetensors)" "analyze names the model file"

# ---- failures (exit 1) ------------------------------------------------------------------------------
expect_msg 1 "cannot load model $T/missing.safetensors" "$S" analyze gn --model "$T/missing.safetensors" $D
expect_msg 1 "has 8 features per sample but model" "$S" analyze gn --model mlp:5-3 --seed 1 $D
expect_msg 1 "over --memory" "$S" analyze ntk $M --data gauss:n=2000,d=8,classes=3 --samples 2000 \
  --ntk-mode full --memory 1M
expect_msg 1 "cannot write" "$S" analyze gn $M $D --out "$T/no/such/dir/x.json"
expect_msg 1 "regression targets" "$S" analyze hessian --model mlp:8-4-1,loss=mse --seed 1 $D

# ---- bad usage (exit 2) ------------------------------------------------------------------------------
expect_msg 2 "missing KIND" "$S" analyze
expect_msg 2 "missing KIND" "$S" analyze --model x
expect_msg 2 "unknown KIND 'spectrum'" "$S" analyze spectrum $M
expect_msg 2 "--model FILE or --model SPEC --seed N is required" "$S" analyze gn
expect_msg 2 "give --seed N" "$S" analyze gn --model mlp:8-3
expect_msg 2 "--seed applies to --model SPEC" "$S" analyze gn --model m.safetensors --seed 1
expect_msg 2 "invalid value 'mlp:8' for --model" "$S" analyze gn --model mlp:8 --seed 1 $D
expect_msg 2 "unknown option '--bogus'" "$S" analyze gn $M --bogus
expect_msg 2 "option --top needs a value" "$S" analyze gn $M --top
expect_msg 2 "invalid value '0' for --top" "$S" analyze gn $M --top 0
expect_msg 2 "invalid value 'x' for --samples" "$S" analyze gn $M --samples x
expect_msg 2 "invalid value '0' for --tol" "$S" analyze gn $M --tol 0
expect_msg 2 "invalid value '1' for --trace-probes" "$S" analyze gn $M --trace-probes 1
expect_msg 2 "invalid value 'qr' for --solver" "$S" analyze gn $M --solver qr
expect_msg 2 "invalid value 'middle' for --which" "$S" analyze gn $M --which middle
expect_msg 2 "invalid value 'svd' for --ntk-mode" "$S" analyze ntk $M --ntk-mode svd
expect_msg 2 "invalid value '2X' for --memory" "$S" analyze ntk $M --memory 2X
expect_msg 2 "invalid value '-1' for --seed" "$S" analyze gn --model mlp:8-3 --seed -1
expect_msg 2 "--theory applies to 'fisher'" "$S" analyze gn $M --theory
expect_msg 2 "--ntk-mode does not apply to 'gn'" "$S" analyze gn $M --ntk-mode full
# Memory refusal up front: 8-4096-4096-3 has 16.8M parameters, so 1000 Lanczos vectors need
# 134 GB; with --memory 1G (and without it, on any machine with under 100 GB free) the run is
# refused with the estimate before anything large is allocated, and no --out file appears.
expect_msg 1 "would need about" "$S" analyze hessian --model mlp:8-4096-4096-3 --seed 1 $D \
  --max-iter 1000 --memory 1G --out "$T/refused.json"
has "$T/err" "Lanczos basis" "memory refusal names the basis"
has "$T/err" "more than --memory" "memory refusal names the limit"
[ -e "$T/refused.json" ] && fail "a refused analysis wrote its --out file"
expect_msg 1 "more than the memory available" "$S" analyze gn --model mlp:8-4096-4096-3 --seed 1 \
  $D --max-iter 100000
expect 0 "$S" analyze hessian $M $D --memory 1G --quiet
expect_msg 2 "--density does not apply to 'ntk'" "$S" analyze ntk $M --density
expect_msg 2 "--trace does not apply to 'lr'" "$S" analyze lr $M --trace
expect_msg 2 "--hess-eps does not apply to 'gn'" "$S" analyze gn $M --hess-eps 1e-3
expect_msg 2 "--hess-method does not apply to 'gn'" "$S" analyze gn $M --hess-method exact
expect_msg 2 "invalid value 'fd' for --hess-method" "$S" analyze hessian $M --hess-method fd
# Exact products by default; differences on request or with batch norm (auto); exact refused
# for batch norm, which has no second-order rule.
expect 0 "$S" analyze hessian $M $D --quiet
has "$T/out" "Hessian-vector products: exact" "hessian reports exact products"
expect 0 "$S" analyze hessian $M $D --hess-method diff --quiet
has "$T/out" "Hessian-vector products: central differences" "--hess-method diff"
expect 0 "$S" analyze hessian --model mlp:8-16-3,norm=batch --seed 1 $D --quiet
has "$T/out" "Hessian-vector products: central differences" "auto falls back for batch norm"
expect_msg 1 "'batch_norm' has none" "$S" analyze hessian --model mlp:8-16-3,norm=batch --seed 1 \
  $D --hess-method exact --quiet
expect_msg 2 "--top does not apply to --ntk-mode diag" "$S" analyze ntk $M --ntk-mode diag --top 2
expect_msg 2 "--which applies to --solver lanczos" "$S" analyze gn $M --solver power --which smallest
expect_msg 2 "unexpected argument 'extra'" "$S" analyze gn $M extra
expect_msg 2 "see 'suri analyze --help'" "$S" analyze gn $M --bogus
expect_msg 2 "invalid value 'gauss:n=0' for --data" "$S" analyze gn $M --data gauss:n=0

# ---- suri train --lr auto --------------------------------------------------------------------------
TR="--model mlp:8-16-3 --data gauss:n=128,d=8,classes=3,seed=1 --optim sgd --epochs 1 --batch 32"
expect 0 "$S" train $TR --lr auto --out "$T/auto"
has "$T/err" "lr auto: lambda_max(GN) = " "train --lr auto says what it chose"
has "$T/auto/config.json" '"lr_auto"' "config.json records lr auto"
lr_half=$(sed -n 's/.*-> lr = 0.5 x 2\/lambda_max = \([0-9.eE+-]*\).*/\1/p' "$T/err")
expect 0 "$S" train $TR --lr auto=0.25 --out "$T/auto25"
lr_quarter=$(sed -n 's/.*-> lr = 0.25 x 2\/lambda_max = \([0-9.eE+-]*\).*/\1/p' "$T/err")
close "$(awk -v a="$lr_quarter" 'BEGIN { print 2 * a }')" "$lr_half" 1e-5 "--lr auto=0.25 is half of auto"
# the estimate is the λmax that `suri analyze lr` reports on the same samples (same data and model
# init; the trainer uses training-mode statistics, the same for this model without norm/dropout)
lam=$(sed -n 's/.*lambda_max(GN) = \([0-9.eE+-]*\) on.*/\1/p' "$T/err")
expect 0 "$S" analyze lr --model mlp:8-16-3 --seed 1 --data gauss:n=128,d=8,classes=3,seed=1 --samples 128
close "$(sed -n 's/^lambda_max(GN) = \([0-9.eE+-]*\)/\1/p' "$T/out")" "$lam" 1e-4 "--lr auto vs analyze lr"
expect_msg 2 "invalid value 'auto=2' for --lr" "$S" train --lr auto=2
# 784-4096-4096-10 has 20M parameters: training with SGD fits in 2 GiB, but the 81 Lanczos
# vectors of --lr auto (13 GB in double) do not, so it is refused before anything is built.
expect_msg 1 "--lr auto's lambda_max estimate" "$S" train --model mlp:784-4096-4096-10 \
  --optim sgd --lr auto --memory 2G --steps 1 --out "$T/auto-big"
has "$T/err" "Lanczos basis" "--lr auto's memory refusal names the basis"
expect_msg 2 "invalid value 'autumn' for --lr" "$S" train --lr autumn
expect_msg 2 "--lr-samples applies to --lr auto" "$S" train --lr-samples 64

finish
