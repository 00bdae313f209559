# usage.sh - the suri command line itself: help texts (exit 0, every default shown), and bad
# usage (unknown flags, missing or malformed values, conflicting flags: exit 2 and a message
# naming the flag and value) for every subcommand. Needs no data and trains nothing.
source "$(dirname "$0")/common.bash"
S=$SURI_BIN

# ---- top level -------------------------------------------------------------------------------
expect 2 "$S"
has "$T/err" "usage: suri COMMAND" "suri with no command"
expect 0 "$S" help
for c in train eval predict info bench version help; do has "$T/out" "  $c " "suri help lists $c"; done
expect 0 "$S" --help
expect 0 "$S" -h
expect 0 "$S" version
has "$T/out" "suri 0." "suri version"
expect 0 "$S" --version
expect_msg 2 "unknown command 'frobnicate'" "$S" frobnicate
expect_msg 2 "see 'suri help'" "$S" frobnicate
expect_msg 2 "unknown command 'nope'" "$S" help nope
expect_msg 2 "unexpected argument 'x'" "$S" version x

# ---- help of every command: exit 0, defaults shown --------------------------------------------
for c in train eval predict info bench version help; do
  expect 0 "$S" help "$c" && has "$T/out" "usage: suri $c" "suri help $c"
  expect 0 "$S" "$c" --help && has "$T/out" "usage: suri $c" "suri $c --help"
  expect 0 "$S" "$c" -h && has "$T/out" "usage: suri $c" "suri $c -h"
done
expect 0 "$S" train --help
for d in "(default mnist10k)" "(default mlp:784-1024-1024-10,dropout=0.3)" "(default adam)" \
         "(default 128)" "(default 20)" "(default cosine)" "(default 1)" "(default 0)" "(default 50)" \
         "mnist10k:test" "runs/YYYYmmdd-HHMMSS" "adam/adamw 0.001" "--resume DIR" \
         "--checkpoint-every" "130" "143"; do
  has "$T/out" "$d" "train --help shows $d"
done
expect 0 "$S" eval --help
for d in "(default mnist10k:test)" "(default 256)" "(default 0)"; do has "$T/out" "$d" "eval --help"; done
expect 0 "$S" predict --help
has "$T/out" "(default 256)" "predict --help"
has "$T/out" "255" "predict --help explains u8 scaling"
expect 0 "$S" bench --help
for d in "(default mlp:784-256-10)" "(default 128)" "(default 100)" "(default 10)" "(default sgd)" \
         "2 IN OUT"; do has "$T/out" "$d" "bench --help"; done

# ---- train: bad values (all rejected before any data is loaded) --------------------------------
expect_msg 2 "unknown option '--bogus'" "$S" train --bogus
expect_msg 2 "see 'suri train --help'" "$S" train --bogus
expect_msg 2 "unknown option -x" "$S" train -x
expect_msg 2 "option --batch needs a value" "$S" train --batch
expect_msg 2 "option --lr needs a value" "$S" train --lr
for v in 0 -3 abc 12x "" 1.5 99999999999999999999; do
  expect_msg 2 "invalid value '$v' for --batch" "$S" train --batch "$v"
done
for v in 0 -1 nan inf 1e999 abc 0.1x; do
  expect_msg 2 "invalid value '$v' for --lr" "$S" train --lr "$v"
done
expect_msg 2 "invalid value '0' for --epochs" "$S" train --epochs 0
expect_msg 2 "invalid value '-5' for --steps" "$S" train --steps -5
expect_msg 2 "invalid value '-1' for --seed" "$S" train --seed -1
expect_msg 2 "invalid value '9007199254740993' for --seed" "$S" train --seed 9007199254740993
expect_msg 2 "invalid value '-1' for --threads" "$S" train --threads -1
expect_msg 2 "invalid value '1.5' for --momentum" "$S" train --optim momentum --momentum 1.5
expect_msg 2 "invalid value '-0.1' for --weight-decay" "$S" train --weight-decay -0.1
expect_msg 2 "invalid value '-1' for --checkpoint-every" "$S" train --checkpoint-every -1
expect_msg 2 "invalid value 'x' for --log-every" "$S" train --log-every x
expect_msg 2 "--epochs or --steps, not both" "$S" train --epochs 2 --steps 3
expect_msg 2 "invalid value 'rmsprop' for --optim" "$S" train --optim rmsprop
expect_msg 2 "invalid value 'mlp:10' for --model" "$S" train --model mlp:10
expect_msg 2 "invalid value 'mlp:4-x-2' for --model" "$S" train --model mlp:4-x-2
expect_msg 2 "invalid value 'sometimes' for --schedule" "$S" train --schedule sometimes
expect_msg 2 "--momentum applies to sgd and momentum, not adam" "$S" train --momentum 0.5
expect_msg 2 "--nesterov needs --momentum > 0" "$S" train --optim sgd --nesterov
expect_msg 2 "--lr cannot be combined with --resume" "$S" train --resume "$T/none" --lr 0.1
expect_msg 2 "--model cannot be combined with --resume" "$S" train --model mlp:2-2 --resume "$T/none"
expect_msg 2 "unexpected argument 'extra'" "$S" train extra
expect_msg 2 "--quiet or --json" "$S" train --quiet --json
# A resume directory without config.json is a failure (1) naming the file.
mkdir -p "$T/empty"
expect_msg 1 "$T/empty/config.json" "$S" train --resume "$T/empty"
mkdir -p "$T/badcfg"
printf '{"data": 3}' >"$T/badcfg/config.json"
expect_msg 1 "key 'data' is missing or not a string" "$S" train --resume "$T/badcfg"
printf '{"data": ' >"$T/badcfg/config.json"
expect_msg 1 "$T/badcfg/config.json: not a JSON object" "$S" train --resume "$T/badcfg"
# A malformed data spec is bad usage (2); data that cannot be read a failure (1); both name it.
expect_msg 2 "invalid value 'nosuchkind:1' for --data" "$S" train --data nosuchkind:1 --model mlp:2-2 --out "$T/r1"
expect_msg 2 "invalid value 'gauss:n=0' for --test-data" "$S" train --data gauss:n=8,d=2 --test-data gauss:n=0 --model mlp:2-2 --out "$T/r1"
expect_msg 1 "$T/missing.npy" "$S" train --data "npy:$T/missing.npy" --model mlp:2-2 --out "$T/r2"
CHECKS=$((CHECKS + 1))
[ -e "$T/r1" ] || [ -e "$T/r2" ] && fail "a run that failed to load its data created its output directory"

# ---- eval ------------------------------------------------------------------------------------
expect_msg 2 "--model FILE is required" "$S" eval
expect_msg 2 "see 'suri eval --help'" "$S" eval
expect_msg 2 "unknown option '--frob'" "$S" eval --frob --model x
expect_msg 2 "option --model needs a value" "$S" eval --model
expect_msg 2 "invalid value '0' for --batch" "$S" eval --model x --batch 0
expect_msg 2 "invalid value 'two' for --threads" "$S" eval --model x --threads two
expect_msg 1 "$T/nomodel.safetensors" "$S" eval --model "$T/nomodel.safetensors"
has "$T/err" "suri: error:" "eval of a missing model"
printf 'this is not a safetensors file at all' >"$T/junk.safetensors"
expect_msg 1 "$T/junk.safetensors" "$S" eval --model "$T/junk.safetensors"

# ---- predict ---------------------------------------------------------------------------------
expect_msg 2 "--model FILE is required" "$S" predict --input a --output b
expect_msg 2 "--input FILE is required" "$S" predict --model a --output b
expect_msg 2 "--output FILE is required" "$S" predict --model a --input b
expect_msg 2 "invalid value '-2' for --batch" "$S" predict --model a --input b --output c --batch -2
expect_msg 2 "unknown option '--inptu'" "$S" predict --inptu x
expect_msg 1 "$T/nomodel.safetensors" "$S" predict --model "$T/nomodel.safetensors" --input x --output "$T/y.npy"
[ -e "$T/y.npy" ] && fail "predict with a missing model left $T/y.npy behind"

# ---- info ------------------------------------------------------------------------------------
expect_msg 2 "exactly one of --model FILE and --data SPEC" "$S" info
expect_msg 2 "exactly one of --model FILE and --data SPEC" "$S" info --model a --data b
expect_msg 2 "unknown option '--mdoel'" "$S" info --mdoel a
expect_msg 1 "$T/nomodel.safetensors" "$S" info --model "$T/nomodel.safetensors"
expect_msg 2 "invalid value 'bogus:1' for --data" "$S" info --data bogus:1
expect_msg 1 "$T/nofile.csv" "$S" info --data "csv:$T/nofile.csv"
expect_msg 2 "invalid value 'gauss:d=x' for --data" "$S" eval --model "$T/nomodel" --data gauss:d=x

# ---- bench -----------------------------------------------------------------------------------
expect_msg 2 "missing mode" "$S" bench
expect_msg 2 "unknown mode 'fly'" "$S" bench fly
expect_msg 2 "invalid value '0' for --steps" "$S" bench train --steps 0
expect_msg 2 "invalid value '0' for --iters" "$S" bench infer --iters 0
expect_msg 2 "invalid value '-1' for --warmup" "$S" bench train --warmup -1
expect_msg 2 "unknown optimizer 'lbfgs' for --optim" "$S" bench train --optim lbfgs
expect_msg 2 "invalid value 'mlp:' for --model" "$S" bench train --model mlp:
expect_msg 2 "unknown option '--bogus'" "$S" bench infer --bogus
expect_msg 2 "--no-fold applies to 'suri bench train' only" "$S" bench infer --no-fold
expect_msg 2 "--optim applies to 'suri bench train' only" "$S" bench infer --optim adam

finish
