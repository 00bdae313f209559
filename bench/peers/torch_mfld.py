"""torch_mfld.py - the PyTorch peer of bench/mfld.c: one mean-field Langevin step of a two-layer
tanh network with M neurons (particles), written the way a PyTorch user would: parameters W (M, d),
b (M), a (M) as leaf tensors, the mean-field output f = tanh(X W^T + b) a / M, the squared loss,
autograd for the gradient, then the MFLD update on the raw parameters (mfld.md section 3: learning
rate eta * M on the data term, eta on the decay 2 lambda1 theta, Gaussian noise of standard
deviation sqrt(2 eta lambda2) per coordinate, not scaled by M). --manual writes the gradient by
hand instead (no autograd): the same GEMMs as suri.

Data: a pool of 8 batches of N(0, 1/d) inputs and N(0, 1) targets made before the clock starts.
Timing: --warmup untimed steps, then --steps timed steps; the median step time is reported.
Prints one JSON object (keys as bench-mfld's). Threads: OPENBLAS_NUM_THREADS / OMP_NUM_THREADS
are set to --threads before torch is imported (unless already set), plus torch.set_num_threads.

  /usr/bin/python3 bench/peers/torch_mfld.py --M 1000 --d 30 --batch 250 --steps 300 --threads 1
"""
import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_common import blas_info, setup_threads  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--M", type=int, default=4096)
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--manual", action="store_true", help="hand-written gradient, no autograd")
    a = p.parse_args()
    setup_threads(a.threads)
    import torch
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    M, d, B = a.M, a.d, a.batch
    eta, l1, l2 = 0.05, 1e-3, 1e-4
    sigma = math.sqrt(2 * eta * l2)  # per coordinate, NOT scaled by M
    xs = [torch.randn(B, d) / math.sqrt(d) for _ in range(8)]
    ys = [torch.randn(B) for _ in range(8)]
    W = torch.randn(M, d).requires_grad_(not a.manual)
    b = torch.randn(M).requires_grad_(not a.manual)
    av = torch.randn(M).requires_grad_(not a.manual)

    def step_autograd(x, y):
        f = torch.tanh(x @ W.t() + b) @ av / M
        loss = 0.5 * ((f - y) ** 2).mean()
        gW, gb, ga = torch.autograd.grad(loss, (W, b, av))
        with torch.no_grad():
            for t, g in ((W, gW), (b, gb), (av, ga)):
                t.mul_(1 - 2 * eta * l1).add_(g, alpha=-eta * M).add_(torch.randn_like(t), alpha=sigma)

    def step_manual(x, y):
        s = torch.tanh(x @ W.t() + b)           # (B, M)
        r = (s @ av / M - y) / B                 # (B) residuals / B
        D = (r[:, None] * (1 - s * s)) * av      # (B, M)
        gW, gb, ga = D.t() @ x, D.sum(0), s.t() @ r  # drifts (first-variation units)
        for t, g in ((W, gW), (b, gb), (av, ga)):
            t.mul_(1 - 2 * eta * l1).add_(g, alpha=-eta).add_(torch.randn_like(t), alpha=sigma)

    step = step_manual if a.manual else step_autograd
    times, cpu = [], []
    for k in range(-a.warmup, a.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step(xs[k % 8], ys[k % 8])
        if k >= 0:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    times.sort()
    cpu.sort()
    n = len(times)
    med = times[n // 2] if n % 2 else 0.5 * (times[n // 2 - 1] + times[n // 2])
    flops = 4.0 * B * M * d
    print(json.dumps({"side": "torch-manual" if a.manual else "torch", "M": M, "d": d, "batch": B,
                      "threads": a.threads, "steps": a.steps, "ms_per_step": round(1e3 * med, 4),
                      "mean_ms_per_step": round(1e3 * sum(times) / n, 4),
                      "updates_per_s": round(M / med, 1), "gflops": round(flops / med / 1e9, 2),
                      "cpu_ms_per_step": round(1e3 * cpu[n // 2], 4),
                      "torch": torch.__version__, "blas": blas_info()}))


if __name__ == "__main__":
    main()
