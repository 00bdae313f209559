#!/usr/bin/python3
"""Golden fixtures for tests/test_optim.c, from torch.optim and torch.optim.lr_scheduler.

Writes two small text files under tests/fixtures/optim/ (plain text so the C test parses them
itself, numbers printed with repr() so every float64 reads back exactly):

trajectories.txt - a fixed parameter vector p0 (n values) and a fixed gradient sequence
  g1..g10, then for each optimizer case the parameters after each of 10 steps of torch.optim
  (float64), one line per step:
    n N / steps S / p0 v... / g T v... / case NAME KIND lr momentum dampening weight_decay
    nesterov beta1 beta2 eps amsgrad / p T v... / end
  p0 and the gradients are rounded to float32 so a float build starts from exactly the same
  numbers; the reference itself is float64 (the exact-arithmetic answer to ~1e-16).

schedules.txt - learning rates from torch's LR schedulers, before each optimizer step:
    sched SPEC BASE_LR TOTAL_STEPS COUNT / then COUNT lines "STEP LR"
  SPEC is suri's spec string; the torch scheduler that implements it is built below.

Run with Debian's /usr/bin/python3 (python3-torch); the outputs are committed.
"""
import math
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "optim")
N, STEPS = 37, 10
# Gradient scales change from step to step so Adam's second moment falls as well as rises
# (which is when AMSGrad's running maximum differs from plain Adam).
SCALES = [1.0, 2.0, 0.5, 0.1, 1.5, 0.05, 3.0, 0.2, 0.7, 0.01]

# name, kind, lr, momentum, dampening, weight_decay, nesterov, beta1, beta2, eps, amsgrad
CASES = [
    ("sgd", "sgd", 0.1, 0, 0, 0, 0, 0, 0, 0, 0),
    ("sgd_wd", "sgd", 0.1, 0, 0, 0.05, 0, 0, 0, 0, 0),
    ("momentum", "momentum", 0.05, 0.9, 0, 0, 0, 0, 0, 0, 0),
    ("momentum_damp_wd", "momentum", 0.05, 0.9, 0.3, 0.01, 0, 0, 0, 0, 0),
    ("nesterov", "momentum", 0.05, 0.9, 0, 0, 1, 0, 0, 0, 0),
    ("nesterov_wd", "sgd", 0.02, 0.5, 0, 0.1, 1, 0, 0, 0, 0),
    ("adam", "adam", 0.01, 0, 0, 0, 0, 0.9, 0.999, 1e-8, 0),
    ("adam_betas_eps", "adam", 0.03, 0, 0, 0, 0, 0.5, 0.9, 1e-3, 0),
    ("adam_wd", "adam", 0.01, 0, 0, 0.1, 0, 0.9, 0.999, 1e-8, 0),
    ("adamw", "adamw", 0.01, 0, 0, 0.1, 0, 0.9, 0.999, 1e-8, 0),
    ("adam_amsgrad", "adam", 0.01, 0, 0, 0, 0, 0.9, 0.99, 1e-8, 1),
    ("adamw_amsgrad", "adamw", 0.03, 0, 0, 0.05, 0, 0.8, 0.95, 1e-6, 1),
]


def f32(a):
    return a.astype(np.float32).astype(np.float64)


def make_optimizer(case, params):
    _, kind, lr, mom, damp, wd, nest, b1, b2, eps, ams = case
    if kind in ("sgd", "momentum"):
        return torch.optim.SGD(params, lr=lr, momentum=mom, dampening=damp, weight_decay=wd,
                               nesterov=bool(nest))
    cls = torch.optim.AdamW if kind == "adamw" else torch.optim.Adam
    return cls(params, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, amsgrad=bool(ams))


def trajectory(case, p0, grads):
    p = torch.tensor(p0, dtype=torch.float64, requires_grad=True)
    opt = make_optimizer(case, [p])
    out = []
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        out.append(p.detach().numpy().copy())
    return out


def line(tag, values):
    return tag + " " + " ".join(repr(float(v)) for v in values) + "\n"


def write_trajectories():
    rng = np.random.default_rng(20240611)
    p0 = f32(rng.standard_normal(N))
    grads = [f32(s * rng.standard_normal(N)) for s in SCALES]
    text = ["# torch.optim trajectories (torch %s, float64); regenerate with "
            "tests/ref/make_optim_fixtures.py\n" % torch.__version__,
            "n %d\n" % N, "steps %d\n" % STEPS, line("p0", p0)]
    text += [line("g %d" % (t + 1), g) for t, g in enumerate(grads)]
    trajs = {}
    for case in CASES:
        traj = trajectory(case, p0, grads)
        trajs[case[0]] = traj
        text.append("case " + " ".join([case[0], case[1]] + [repr(float(x)) for x in case[2:]])
                    + "\n")
        text += [line("p %d" % (t + 1), v) for t, v in enumerate(traj)]
        text.append("end\n")
    # The variants must actually differ, or a test could pass with a feature ignored.
    assert np.abs(trajs["adam_amsgrad"][-1] - trajectory(
        ("x", "adam", 0.01, 0, 0, 0, 0, 0.9, 0.99, 1e-8, 0), p0, grads)[-1]).max() > 1e-4
    assert np.abs(trajs["adam_wd"][-1] - trajs["adamw"][-1]).max() > 1e-5
    assert np.abs(trajs["nesterov"][-1] - trajs["momentum"][-1]).max() > 1e-3
    with open(os.path.join(OUT, "trajectories.txt"), "w") as f:
        f.writelines(text)


def torch_lrs(make_sched, base, count):
    """Rates torch uses for steps 0..count-1 (read before each optimizer step)."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base)
    sched = make_sched(opt)
    lrs = []
    for _ in range(count):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def with_warmup(n_warm, make_main):
    """suri's warm-up, base (s+1)/N for s < N, then the main schedule counted from N."""
    def make(opt):
        warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0 / n_warm, end_factor=1.0,
                                                 total_iters=n_warm - 1)
        return torch.optim.lr_scheduler.SequentialLR(opt, [warm, make_main(opt)],
                                                     milestones=[n_warm])
    return make


def reference_lr(kind, base, total, warm, step_size=1, gamma=1.0, min_lr=0.0):
    """Closed forms, only to check that the torch schedulers above mean what suri means."""
    def f(s):
        if s < warm:
            return base * (s + 1) / warm
        t, T = s - warm, total - warm
        if kind == "constant":
            return base
        if kind == "step":
            return base * gamma ** (t // step_size)
        if kind == "cosine":
            return min_lr + (base - min_lr) * (1 + math.cos(math.pi * t / T)) / 2
        return base * (T - t) / T
    return f


def write_schedules():
    S = torch.optim.lr_scheduler
    cases = [
        # spec, base, total, torch scheduler factory, closed form
        ("constant", 0.1, 50, lambda o: S.ConstantLR(o, factor=1.0, total_iters=0),
         reference_lr("constant", 0.1, 50, 0)),
        ("step:30:0.1", 0.1, 100, lambda o: S.StepLR(o, step_size=30, gamma=0.1),
         reference_lr("step", 0.1, 100, 0, 30, 0.1)),
        ("step:7:0.5", 0.3, 40, lambda o: S.StepLR(o, step_size=7, gamma=0.5),
         reference_lr("step", 0.3, 40, 0, 7, 0.5)),
        ("cosine", 0.1, 100, lambda o: S.CosineAnnealingLR(o, T_max=100),
         reference_lr("cosine", 0.1, 100, 0)),
        ("cosine:0.001", 0.05, 64, lambda o: S.CosineAnnealingLR(o, T_max=64, eta_min=0.001),
         reference_lr("cosine", 0.05, 64, 0, min_lr=0.001)),
        ("linear", 0.2, 80, lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.0,
                                                 total_iters=80),
         reference_lr("linear", 0.2, 80, 0)),
        ("constant,warmup=4", 0.1, 20,
         lambda o: S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=3),
         reference_lr("constant", 0.1, 20, 4)),
        ("cosine,warmup=10", 0.1, 100,
         with_warmup(10, lambda o: S.CosineAnnealingLR(o, T_max=90)),
         reference_lr("cosine", 0.1, 100, 10)),
        ("cosine:0.0001,warmup=5", 0.01, 45,
         with_warmup(5, lambda o: S.CosineAnnealingLR(o, T_max=40, eta_min=0.0001)),
         reference_lr("cosine", 0.01, 45, 5, min_lr=0.0001)),
        ("step:20:0.5,warmup=5", 0.1, 70,
         with_warmup(5, lambda o: S.StepLR(o, step_size=20, gamma=0.5)),
         reference_lr("step", 0.1, 70, 5, 20, 0.5)),
        ("linear,warmup=8", 0.4, 50,
         with_warmup(8, lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.0,
                                             total_iters=42)),
         reference_lr("linear", 0.4, 50, 8)),
    ]
    text = ["# torch.optim.lr_scheduler rates (torch %s) before each step; regenerate with "
            "tests/ref/make_optim_fixtures.py\n" % torch.__version__]
    for spec, base, total, make, ref in cases:
        lrs = torch_lrs(make, base, total)
        for s, lr in enumerate(lrs):
            assert abs(lr - ref(s)) <= 1e-12 * base, (spec, s, lr, ref(s))
        text.append("sched %s %r %d %d\n" % (spec, base, total, len(lrs)))
        text += ["%d %r\n" % (s, lr) for s, lr in enumerate(lrs)]
    with open(os.path.join(OUT, "schedules.txt"), "w") as f:
        f.writelines(text)


if __name__ == "__main__":
    import warnings
    warnings.simplefilter("ignore")  # SequentialLR's deprecated step(epoch) inside torch
    os.makedirs(OUT, exist_ok=True)
    write_trajectories()
    write_schedules()
