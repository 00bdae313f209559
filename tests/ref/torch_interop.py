#!/usr/bin/python3
"""torch_interop.py - checks that a model trained and saved by suri loads into PyTorch and
computes the same outputs there.

Run with Debian's interpreter (it has python3-torch):
  /usr/bin/python3 tests/ref/torch_interop.py [SURI_BIN] [--model SPEC ...] [--keep DIR]
SURI_BIN: path of the suri command (default: $SURI_BIN, else build/suri under the repository).

For each model spec (default: the CASES below, which cover the standard, NTK and mean-field
parametrizations, relu/tanh/gelu, biases, batch norm, layer norm and batch norm on the output):
  1. `suri train --data mnist10k --model SPEC --epochs 1 --out DIR` (a real trained model, so
     biases and batch-norm running statistics are far from their initial values);
  2. writes the 2,000 mnist10k test images (data/mnist10k/test-images-idx3-ubyte.gz, read here
     with gzip + struct: IDX, big-endian dimensions, u8 pixels) as a u8 NPY (N, 28, 28) and runs
     `suri predict --model DIR/model.safetensors --input X.npy --output Y.npy`;
  3. parses DIR/model.safetensors by hand (8-byte little-endian header length, JSON header with
     dtype/shape/data_offsets and __metadata__, raw little-endian data), builds the torch.nn
     module that the metadata's "model_spec" describes (include/suri/nn.h), loads the tensors
     into it with load_state_dict by their names (fc1.weight, bn1.running_mean, ...), and runs it
     in eval mode (batch norm uses its running statistics, dropout is off) in float64 on the
     same images scaled by 1/255, as suri's predict does for u8 input;
  4. rel = max |suri - torch| / max |torch| over all logits; fails if rel > 1e-4. The same is
     checked against the module run in float32 (torch's default dtype, what a user gets).
Tolerance: suri computes in float32 (accumulating dot products of length <= 784 in float32
BLAS), so its outputs carry relative rounding errors of order sqrt(784) * 6e-8 ~ 2e-6 of the
largest terms; 1e-4 leaves a wide margin while any real mismatch (a missing multiplier, a wrong
transpose, biased vs unbiased variance, eps) gives 1e-3 or more.
Exit status: 0 all cases pass, 1 a case fails, 2 setup error (no suri binary, no data).
"""
import argparse
import gzip
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TOL = 1e-4
CASES = [
    "mlp:784-64-10",
    "mlp:784-64-10,norm=batch",
    "mlp:784-48-32-10,act=tanh,param=ntk,sb2=0.05",
    "mlp:784-32-10,act=gelu,norm=layer,sb2=0.01",
    "mlp:784-40-10,act=tanh,param=meanfield",
    "mlp:784-32-24-10,act=relu,norm=lastbatch",
]
DEFAULT_SW2 = {"relu": 2.0, "leaky_relu": 2.0, "gelu": 2.0, "tanh": 1.0, "sigmoid": 1.0,
               "erf": 1.0, "softplus": 1.0, "identity": 1.0}


# ---- files ---------------------------------------------------------------------------------
def read_idx_u8(path):
    """IDX file (optionally gzip): 0x00 0x00 0x08 RANK, RANK big-endian u32 dims, u8 data."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype, rank = struct.unpack_from(">HBB", raw, 0)
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not a u8 IDX file (magic {zero:#x} {dtype:#x})")
    dims = struct.unpack_from(f">{rank}I", raw, 4)
    start = 4 + 4 * rank
    n = int(np.prod(dims))
    if len(raw) - start != n:
        raise ValueError(f"{path}: {len(raw) - start} data bytes, dims {dims} need {n}")
    return np.frombuffer(raw, dtype=np.uint8, count=n, offset=start).reshape(dims)


ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4"}


def read_safetensors(path):
    """Returns ({name: float64 numpy array}, metadata dict). BF16 is widened by hand."""
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack_from("<Q", raw, 0)
    if 8 + hlen > len(raw):
        raise ValueError(f"{path}: header length {hlen} exceeds the file ({len(raw)} bytes)")
    header = json.loads(raw[8:8 + hlen].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + hlen
    tensors = {}
    for name, h in header.items():
        lo, hi = h["data_offsets"]
        if not 0 <= lo <= hi <= len(raw) - base:
            raise ValueError(f"{path}: tensor {name}: offsets {lo}..{hi} outside the data")
        buf = raw[base + lo:base + hi]
        if h["dtype"] == "BF16":
            a = (np.frombuffer(buf, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(buf, ST_DTYPES[h["dtype"]])
        if a.size != int(np.prod(h["shape"], dtype=np.int64)):
            raise ValueError(f"{path}: tensor {name}: {a.size} values for shape {h['shape']}")
        tensors[name] = a.astype(np.float64).reshape(h["shape"])
    return tensors, meta


# ---- the model in torch ----------------------------------------------------------------------
def parse_spec(text):
    """suri's spec grammar (include/suri/nn.h); the saved spec is canonical (all keys)."""
    assert text.startswith("mlp:"), text
    parts = text[4:].split(",")
    s = {"widths": [int(w) for w in parts[0].split("-")], "act": "relu", "norm": "none",
         "param": "standard", "loss": "ce", "dropout": 0.0}
    for kv in parts[1:]:
        k, _, v = kv.partition("=")
        s[k] = float(v) if k in ("sw2", "sb2", "dropout") else v
    s.setdefault("sw2", DEFAULT_SW2[s["act"]])
    s.setdefault("sb2", 0.0)
    return s


class Erf(nn.Module):
    def forward(self, x):
        return torch.erf(x)


def activation(name):
    return {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
            "gelu": lambda: nn.GELU(approximate="none"), "erf": Erf, "softplus": nn.Softplus,
            "identity": nn.Identity, "leaky_relu": lambda: nn.LeakyReLU(0.01)}[name]()


class ScaledLinear(nn.Module):
    """u = sw (h W^T) + sb b: a Linear whose weight and bias carry the constant multipliers of
    the NTK / mean-field parametrizations (sw = sb = 1 is a plain nn.Linear)."""

    def __init__(self, fan_in, fan_out, sw, sb, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(fan_out, fan_in))
        self.bias = nn.Parameter(torch.empty(fan_out)) if bias else None
        self.sw, self.sb = sw, sb

    def forward(self, h):
        u = self.sw * F.linear(h, self.weight)
        return u + self.sb * self.bias if self.bias is not None else u


class SuriMLP(nn.Module):
    """The MLP of a suri model spec, with suri's tensor names (fc1, bn1, ln1, ...):
       u^l = sw_l W^l h^{l-1} + sb_l b^l, hidden h^l = act(norm(u^l)), f = u^L (or bn(u^L) for
       norm=lastbatch).
       standard: sw = sb = 1; ntk: sw = sqrt(sw2/fan_in), sb = sqrt(sb2); meanfield: hidden
       layers as ntk, output sw = 1/M (M = last hidden width), no bias."""

    def __init__(self, s):
        super().__init__()
        w, L = s["widths"], len(s["widths"]) - 1
        self.L, self.s = L, s
        for l in range(1, L + 1):
            last, fan_in = l == L, w[l - 1]
            if s["param"] == "standard":
                sw, sb = 1.0, 1.0
            elif s["param"] == "meanfield" and last:
                sw, sb = 1.0 / fan_in, 0.0
            else:
                sw, sb = math.sqrt(s["sw2"] / fan_in), math.sqrt(s["sb2"])
            has_bias = not (s["param"] == "meanfield" and last)
            if sw == 1.0 and sb == 1.0:
                setattr(self, f"fc{l}", nn.Linear(fan_in, w[l], bias=has_bias))
            else:
                setattr(self, f"fc{l}", ScaledLinear(fan_in, w[l], sw, sb, has_bias))
            if (not last and s["norm"] == "batch") or (last and s["norm"] == "lastbatch"):
                setattr(self, f"bn{l}", nn.BatchNorm1d(w[l], eps=1e-5, momentum=0.1))
            if not last and s["norm"] == "layer":
                setattr(self, f"ln{l}", nn.LayerNorm(w[l], eps=1e-5))
        self.act = activation(s["act"])
        self.drop = nn.Dropout(s["dropout"]) if s["dropout"] > 0 else nn.Identity()

    def forward(self, h):
        for l in range(1, self.L + 1):
            u = getattr(self, f"fc{l}")(h)
            for prefix in ("bn", "ln"):
                if hasattr(self, f"{prefix}{l}"):
                    u = getattr(self, f"{prefix}{l}")(u)
            h = u if l == self.L else self.drop(self.act(u))
        return h


def torch_model(path):
    tensors, meta = read_safetensors(path)
    if "model_spec" not in meta:
        raise ValueError(f"{path}: no model_spec in the metadata")
    spec = parse_spec(meta["model_spec"])
    model = SuriMLP(spec).double()
    state = {k: torch.from_numpy(v.copy()) for k, v in tensors.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    # suri keeps no batch counter (it only matters for momentum=None in torch).
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{path}: tensors missing for torch: {missing}; not used: {unexpected}")
    model.eval()
    return model, meta


# ---- one case --------------------------------------------------------------------------------
def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stderr}{r.stdout}")
    return r.stdout


def check_case(suri, spec, images, x_npy, work):
    out_dir = os.path.join(work, "run")
    shutil.rmtree(out_dir, ignore_errors=True)
    run([suri, "train", "--data", "mnist10k", "--model", spec, "--epochs", "1", "--out",
         out_dir, "--quiet"])
    model_path = os.path.join(out_dir, "model.safetensors")
    y_npy = os.path.join(work, "logits.npy")
    run([suri, "predict", "--model", model_path, "--input", x_npy, "--output", y_npy])
    ours = np.load(y_npy).astype(np.float64)
    model, meta = torch_model(model_path)
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float64) / 255.0)
    with torch.no_grad():
        ref = model(x).numpy()
        # What a user gets with torch's default dtype: the same module in float32.
        ref32 = model.float()(x.float()).double().numpy()
    if ours.shape != ref.shape:
        raise RuntimeError(f"suri predict gave shape {ours.shape}, torch {ref.shape}")
    scale = np.max(np.abs(ref))
    rel = float(np.max(np.abs(ours - ref)) / scale)
    rel32 = float(np.max(np.abs(ours - ref32)) / scale)
    agree = float(np.mean(ours.argmax(1) == ref.argmax(1)))
    return rel, rel32, agree, meta["model_spec"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("suri", nargs="?", default=os.environ.get("SURI_BIN",
                    os.path.join(ROOT, "build", "suri")), help="path of the suri command")
    ap.add_argument("--model", action="append", help="model spec (repeatable; default: all cases)")
    ap.add_argument("--keep", help="work directory to keep (default: a temporary one)")
    ap.add_argument("--tol", type=float, default=TOL, help="max relative difference (%(default)g)")
    a = ap.parse_args()
    if not (os.path.isfile(a.suri) and os.access(a.suri, os.X_OK)):
        print(f"torch_interop: suri binary '{a.suri}' not found (pass it or set SURI_BIN)",
              file=sys.stderr)
        return 2
    images_path = os.path.join(ROOT, "data", "mnist10k", "test-images-idx3-ubyte.gz")
    try:
        images = read_idx_u8(images_path)
    except (OSError, ValueError) as e:
        print(f"torch_interop: cannot read the test images: {e}", file=sys.stderr)
        return 2
    work = a.keep or tempfile.mkdtemp(prefix="suri-interop-")
    os.makedirs(work, exist_ok=True)
    x_npy = os.path.join(work, "test_images_u8.npy")
    np.save(x_npy, np.ascontiguousarray(images, dtype=np.uint8))
    failed = 0
    try:
        for spec in a.model or CASES:
            try:
                rel, rel32, agree, canon = check_case(a.suri, spec, images, x_npy, work)
            except (RuntimeError, ValueError, OSError) as e:
                print(f"FAIL {spec}: {e}")
                failed += 1
                continue
            ok = rel <= a.tol and rel32 <= a.tol
            failed += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {canon}: max relative difference {rel:.3e} "
                  f"(torch float64), {rel32:.3e} (torch float32); tolerance {a.tol:g}; "
                  f"argmax agreement {agree:.4f}, {len(images)} images")
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"torch_interop: {'all cases pass' if not failed else f'{failed} case(s) failed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
