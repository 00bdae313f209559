#!/usr/bin/python3
"""startup.py - start-up time and peak memory of `suri train` on the bundled data.

Start-up is measured from outside, on the real command: the time from just before the process
is started until the first step record appears in DIR/metrics.jsonl (`--log-every 1`: the
trainer writes it right after the first optimizer step). That is an upper bound of "process
start to first training step": it includes the exec, the dynamic loader, reading and
converting mnist10k, building and initialising the model, the first step and one write.
The script polls the file every 0.1 ms, so it adds at most that much. It also reports the
process's total wall time, its CPU time (user + system, whole run: less sensitive to other
load on the machine than wall times) and its peak resident set (ru_maxrss from wait4).

With --torch it measures the same for a plain PyTorch script that loads mnist10k's gzip IDX
files with numpy (torch has no reader for them), builds the same MLP and takes SGD steps; its
"first step" is the moment it prints one.

The sides take turns (run 1 of every side, then run 2 of every side, ...), so drift in the
machine's load affects all of them alike; --suri may be given several times (e.g. an old and a
new build) and each binary is one side. The load average before and after is reported.

Usage: bench/startup.py [--suri build/suri ...] [--model SPEC] [--runs 9] [--steps N] [--torch]
Prints one JSON object per side with the medians.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

TORCH_SCRIPT = r"""
import gzip, sys, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(int(sys.argv[3]))
root, widths = sys.argv[1], [int(w) for w in sys.argv[2].split("-")]
def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    nd = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)
x = torch.from_numpy(idx(root + "/train-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255.0)
y = torch.from_numpy(idx(root + "/train-labels-idx1-ubyte.gz").astype(np.int64))
layers = []
for l in range(1, len(widths)):
    layers.append(nn.Linear(widths[l - 1], widths[l]))
    if l < len(widths) - 1:
        layers.append(nn.ReLU())
model = nn.Sequential(*layers)
opt = torch.optim.SGD(model.parameters(), lr=0.01)
steps = int(sys.argv[4])
for k in range(steps):
    i = (k * 128) % (x.shape[0] - 128)
    loss = F.cross_entropy(model(x[i:i + 128]), y[i:i + 128])
    opt.zero_grad(); loss.backward(); opt.step()
    if k == 0:
        print("step", flush=True)
"""


def run_suri(args, binary, out):
    metrics = os.path.join(out, "metrics.jsonl")
    cmd = [binary, "train", "--model", args.model, "--optim", "sgd", "--batch", "128",
           "--steps", str(args.steps), "--log-every", "1", "--test-data", "none",
           "--threads", str(args.threads), "--out", out, "--quiet"]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = None
    while first is None and p.poll() is None:
        try:
            with open(metrics, "rb") as f:
                if b'"kind":"step"' in f.read():
                    first = time.perf_counter() - t0
                    break
        except OSError:
            pass
        time.sleep(0.0001)
    _, status, ru = os.wait4(p.pid, 0) if p.returncode is None else (0, p.returncode, None)
    total = time.perf_counter() - t0
    if status != 0:
        sys.exit(f"startup.py: {' '.join(cmd)} failed (status {status})")
    if first is None:  # the process ended between two polls
        first = total
    if ru is None:
        return first, total, float("nan"), float("nan")
    return first, total, ru.ru_maxrss / 1024, ru.ru_utime + ru.ru_stime


def run_torch(args):
    data = os.path.join(ROOT, "data", "mnist10k")
    cmd = ["/usr/bin/python3", "-c", TORCH_SCRIPT, data, args.model.split(",")[0][4:],
           str(args.threads), str(args.steps)]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = p.stdout.readline()
    first = time.perf_counter() - t0
    p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    total = time.perf_counter() - t0
    if status != 0 or not line.startswith(b"step"):
        sys.exit("startup.py: the torch script failed")
    return first, total, ru.ru_maxrss / 1024, ru.ru_utime + ru.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suri", action="append",
                    help="suri binary (repeat to compare builds; default build/suri)")
    ap.add_argument("--model", default="mlp:784-512-512-10,act=relu")
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--torch", action="store_true", help="also measure the PyTorch script")
    args = ap.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    if args.threads > 1:  # fairness rule 3 of docs/performance.md: libgomp's spinning workers
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # took 2x the start-up (99 vs 40 ms)
    binaries = args.suri or [os.path.join(ROOT, "build", "suri")]
    sides = [("suri", b) for b in binaries] + ([("torch", None)] if args.torch else [])
    res = {i: ([], [], [], []) for i in range(len(sides))}
    load0 = os.getloadavg()[0]
    for _ in range(args.runs):
        for i, (side, binary) in enumerate(sides):
            with tempfile.TemporaryDirectory() as tmp:
                f, t, r, c = (run_suri(args, binary, os.path.join(tmp, "run")) if side == "suri"
                              else run_torch(args))
            res[i][0].append(f * 1e3)
            res[i][1].append(t * 1e3)
            res[i][2].append(r)
            res[i][3].append(c * 1e3)
    load1 = os.getloadavg()[0]
    for i, (side, binary) in enumerate(sides):
        firsts, totals, rss, cpu = res[i]
        print(json.dumps({"side": side, "binary": binary, "model": args.model, "runs": args.runs,
                          "first_step_ms_median": round(statistics.median(firsts), 2),
                          "first_step_ms_min": round(min(firsts), 2),
                          "total_ms_median": round(statistics.median(totals), 2),
                          "cpu_ms_median": round(statistics.median(cpu), 1),
                          "peak_rss_mb": round(max(rss), 1),
                          "loadavg_before_after": [round(load0, 2), round(load1, 2)],
                          "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "unset")}))


if __name__ == "__main__":
    main()
