#!/usr/bin/env bash
# make_corpus.sh - (re)writes the hand-made seeds of fuzz/corpus/<target>/ from the test fixtures
# and from a tiny real training run. Usage: fuzz/make_corpus.sh SURI_BINARY
# Seeds are small valid (and a few nearly valid) inputs; libFuzzer mutates from them. The
# targets whose first byte selects a mode (idx, csv, safetensors, langevin_ckpt) get that byte
# prepended.
set -euo pipefail
cd "$(dirname "$0")/.."
suri=${1:?usage: fuzz/make_corpus.sh SURI_BINARY}
C=fuzz/corpus
# The corpus also holds what the fuzzing campaign found (files named by their SHA-1, merged
# with FUZZ_MERGE=1 fuzz/run.sh); this script only (re)writes the hand-made seeds below.
mkdir -p "$C"/{fuzz_npy,fuzz_idx,fuzz_csv,fuzz_safetensors,fuzz_model_spec,fuzz_data_spec,fuzz_config_json}
mkdir -p "$C/fuzz_langevin_ckpt"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# prefix BYTE(octal) SRC DST: DST = one byte, then SRC.
prefix() { { printf "\\$1"; cat "$2"; } >"$3"; }

# NPY: every fixture as it is.
for f in tests/fixtures/io/*.npy tests/fixtures/data/*.npy; do cp "$f" "$C/fuzz_npy/"; done

# IDX: mode 0 = the file as it is (plain or gzip), mode 1 = the target gzips it first.
for f in tests/fixtures/io/*.idx tests/fixtures/io/*.idx.gz; do
  b=$(basename "$f")
  prefix 000 "$f" "$C/fuzz_idx/raw_$b"
done
for f in tests/fixtures/io/*.idx; do prefix 001 "$f" "$C/fuzz_idx/gz_$(basename "$f")"; done

# CSV: option byte (header mode, delimiter) then the text.
csv() { printf "\\$1%b" "$3" >"$C/fuzz_csv/$2"; }
csv 000 header.csv 'a,b,label\n1,2,0\n3.5,-4e1,1\n'
csv 001 plain.csv '1,2,3\n4,5,6\n\n7,8,9\n'
csv 002 quoted.csv '"x","y ""q""",z\r\n1,"2",3\r\n'
csv 004 semicolon.csv '\xef\xbb\xbfa;b\n1;2\n nan ; inf \n'
csv 010 tab.csv '1\t2\n3\t4\n'
csv 014 pipe.csv 'p|q\n-1|+2\n0x10|1e-3\n'

# Safetensors: mode 0 = raw parser, 1 = model file, 2 = checkpoint of the target's fixed model,
# 3 = particle file (below).
prefix 000 tests/fixtures/io/mixed.safetensors "$C/fuzz_safetensors/raw_mixed"
prefix 000 tests/fixtures/mlp/std_identity_none_mse.safetensors "$C/fuzz_safetensors/raw_mlp"
prefix 001 tests/fixtures/mlp/std_identity_none_mse.safetensors "$C/fuzz_safetensors/model_identity"
run=$tmp/run
"$suri" train --data "gauss:n=24,d=4,classes=3" --model "mlp:4-8-3,norm=batch,dropout=0.1" \
  --optim adam --batch 4 --steps 3 --threads 1 --out "$run" --quiet >/dev/null
prefix 001 "$run/model.safetensors" "$C/fuzz_safetensors/model_bn"
prefix 002 "$run/checkpoint.safetensors" "$C/fuzz_safetensors/ckpt_adam"
"$suri" train --data "gauss:n=24,d=4,classes=3,norm=standard" --model "mlp:4-3" --optim sgd \
  --batch 4 --steps 2 --threads 1 --out "$tmp/run2" --quiet >/dev/null
prefix 001 "$tmp/run2/model.safetensors" "$C/fuzz_safetensors/model_input_norm"

# Particle files (mode 3) of tiny mfld, pda and psdca runs: the final model of each (pda holds
# pda.C/pda.active, psdca weights and psdca.g), and the checkpoint of a run with bias, a
# bounded head, relu, the logistic loss and SVRG; their config.json go to fuzz_config_json.
P=parity:d=4,k=2,n=64
for o in mfld pda psdca; do
  "$suri" train --optim $o --data "$P" --particles 16 --epochs 2 --threads 1 --out "$tmp/$o" \
    --quiet >/dev/null
  prefix 003 "$tmp/$o/model.safetensors" "$C/fuzz_safetensors/particles_$o"
  cp "$tmp/$o/config.json" "$C/fuzz_config_json/config_$o.json"
done
"$suri" train --optim mfld --data "$P" --particles 16 --epochs 3 --checkpoint-every 1 \
  --threads 1 --out "$tmp/mfld_ck" --quiet --bias --head bounded --act relu --loss logistic \
  --estimator svrg --batch 16 >/dev/null
prefix 003 "$tmp/mfld_ck/checkpoint.safetensors" "$C/fuzz_safetensors/particles_ckpt_svrg"
cp "$tmp/mfld_ck/config.json" "$C/fuzz_config_json/config_mfld_svrg.json"

# Checkpoints of the Langevin samplers and asgd, with the settings fuzz_langevin_ckpt builds its
# runs with; the first byte is the method's index there (sgld 0 ... asgd 4). One sgld run stops
# at step 20 (a checkpoint from the middle of the target's 40-step run).
L=(--data "gauss:n=24,d=4,classes=3" --model mlp:4-8-3 --threads 1 --quiet)
S=(--burn-in 10 --sample-every 5 --samples-out "$tmp/s.npy")
i=0
for o in sgld svrg-ld sarah-ld noisy-gd asgd; do
  case $o in
  noisy-gd) "$suri" train --optim $o "${L[@]}" "${S[@]}" --steps 40 --out "$tmp/lv_$o" >/dev/null ;;
  asgd) "$suri" train --optim $o "${L[@]}" --batch 4 --steps 40 --out "$tmp/lv_$o" >/dev/null ;;
  *) "$suri" train --optim $o "${L[@]}" "${S[@]}" --batch 4 --steps 40 --checkpoint-every 7 \
       --out "$tmp/lv_$o" >/dev/null ;;
  esac
  prefix "00$i" "$tmp/lv_$o/checkpoint.safetensors" "$C/fuzz_langevin_ckpt/ckpt_$o"
  i=$((i + 1))
done
"$suri" train --optim sgld "${L[@]}" "${S[@]}" --batch 4 --steps 20 --out "$tmp/lv_half" >/dev/null
prefix 000 "$tmp/lv_half/checkpoint.safetensors" "$C/fuzz_langevin_ckpt/ckpt_sgld_step20"

# config.json of the adam run ($run) above, and variants.
cp "$run/config.json" "$C/fuzz_config_json/config.json"
sed 's/"steps": 3/"steps": 0/; s/"epochs": 0/"epochs": 2/' "$run/config.json" \
  >"$C/fuzz_config_json/config_epochs.json"
sed 's/"test_data": null/"test_data": "gauss:n=8,d=4,classes=3,split=test"/' "$run/config.json" \
  >"$C/fuzz_config_json/config_test.json"
sed 's/^}$/, "lr_auto": {"fraction": 0.5, "lambda_max": 12.5, "samples": 512, "operator": "ggn"}}/' \
  "$run/config.json" >"$C/fuzz_config_json/config_lr_auto.json"

# Model specs.
i=0
for s in "mlp:784-512-256-10,dropout=0.2" "mlp:4-3" "mlp:10-100-1,act=tanh,param=meanfield,loss=mse" \
         "mlp:2-5-5-1,norm=layer,act=gelu,loss=logistic,sw2=1.5,sb2=0.1" \
         "mlp:3-7-2,norm=lastbatch,param=ntk,act=leaky_relu" "mlp:8-8-8-8-8-8-8-8,norm=batch,act=softplus"; do
  printf '%s' "$s" >"$C/fuzz_model_spec/spec$((i++))"
done

# Data specs (the target's scratch directory holds these files).
i=0
for s in "npy:x.npy,y.npy" "npy:x.npy,t.npy,norm=standard" "idx:x.idx,y.idx,limit=3" "idx:x.idx.gz" \
         "csv:a.csv,label=label" "csv:b.csv,delim=semicolon,header=0,target=2" \
         "csv:a.csv,label=-1,norm=standard" "mnist10k:test,limit=2" "mnist10k:all,norm=standard" \
         "gauss:n=20,d=3,classes=4,sep=2,seed=5,split=test" \
         "teacher:n=10,d=3,out=2,width=7,act=erf,noise=0.1,split=train"; do
  printf '%s' "$s" >"$C/fuzz_data_spec/spec$((i++))"
done
echo "wrote $(find "$C" -type f | wc -l) seed files under $C"
