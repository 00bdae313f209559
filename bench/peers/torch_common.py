"""torch_common.py - shared pieces of the PyTorch peer benchmarks (torch_train.py, torch_infer.py).

The peers run the configuration of `suri bench train|infer` the way a PyTorch user would write
it: a torch.nn.Sequential of Linear (+ BatchNorm1d / LayerNorm) + activation modules, default
float32, synthetic MNIST-shaped data generated before the clock starts. They print one JSON
object with the keys `suri bench` prints, so bench/compare.sh treats both sides alike.

Thread settings must be in the environment before torch (and with it OpenBLAS and libgomp) is
loaded, so `setup_threads` runs before `import torch` and torch is imported lazily here.
"""
import argparse
import ctypes
import json
import math
import os
import resource

POOL = 8  # batches generated before timing and used in turn, as cli/cmd_bench.c does

# Default (sw2, sb2) per activation, as include/suri/nn.h documents.
DEFAULT_SW2 = {"relu": 2.0, "leaky_relu": 2.0, "gelu": 2.0, "tanh": 1.0, "sigmoid": 1.0,
               "erf": 1.0, "softplus": 1.0, "identity": 1.0}


def parse_spec(text):
    """Parses "mlp:784-512-10,act=relu,..." into a dict (the subset the peers support)."""
    if not text.startswith("mlp:"):
        raise SystemExit(f"model spec '{text}' must start with 'mlp:'")
    parts = text[4:].split(",")
    spec = {"widths": [int(w) for w in parts[0].split("-")], "act": "relu", "norm": "none",
            "param": "standard", "loss": "ce", "dropout": 0.0, "sw2": None, "sb2": 0.0}
    for kv in parts[1:]:
        k, _, v = kv.partition("=")
        if k in ("sw2", "sb2", "dropout"):
            spec[k] = float(v)
        elif k in spec:
            spec[k] = v
        else:
            raise SystemExit(f"model spec: unknown option '{k}'")
    if spec["sw2"] is None:
        spec["sw2"] = DEFAULT_SW2[spec["act"]]
    if len(spec["widths"]) < 2:
        raise SystemExit("model spec: need at least input and output widths")
    if spec["param"] != "standard" or spec["loss"] != "ce" or spec["norm"] == "lastbatch":
        raise SystemExit("the peer benchmarks support param=standard, loss=ce and norm "
                         "none|batch|layer only")
    return spec


def canonical(spec):
    """The spec in suri's canonical text form (suri_model_spec_format)."""
    w = "-".join(str(x) for x in spec["widths"])
    text = (f"mlp:{w},act={spec['act']},norm={spec['norm']},param={spec['param']},"
            f"sw2={spec['sw2']:g},sb2={spec['sb2']:g},loss={spec['loss']}")
    if spec["dropout"] > 0:
        text += f",dropout={spec['dropout']:g}"
    return text


def common_args(description, steps_flag):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--model", default="mlp:784-256-10", help="model spec (default %(default)s)")
    p.add_argument("--batch", type=int, default=128, help="samples per step (default %(default)s)")
    p.add_argument(steps_flag, dest="steps", type=int, default=100,
                   help="timed steps (default %(default)s)")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps (default %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="threads (default %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="seed of data and init (default %(default)s)")
    return p


def setup_threads(n):
    """Same thread count for OpenBLAS and OpenMP unless the caller already set them (compare.sh
    sets both); must run before torch is imported."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(n))
    os.environ.setdefault("OMP_NUM_THREADS", str(n))


def blas_info():
    """OpenBLAS core name of the library torch loaded (the same handle: dlopen of an already
    loaded soname returns it), e.g. "Haswell"; falls back to the environment."""
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
        if "libopenblas" not in maps:
            return "not OpenBLAS"
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except OSError:
        return os.environ.get("OPENBLAS_CORETYPE", "unknown")


def build_mlp(spec):
    """torch.nn.Sequential of the spec, initialised as suri's standard parametrization does:
    W ~ N(0, sw2/fan_in), b ~ N(0, sb2) (0 by default)."""
    import torch
    from torch import nn
    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU,
            "softplus": nn.Softplus, "identity": nn.Identity,
            "leaky_relu": lambda: nn.LeakyReLU(0.01)}
    if spec["act"] not in acts:
        raise SystemExit(f"the peer benchmarks do not support act={spec['act']}")
    w = spec["widths"]
    layers = []
    for l in range(1, len(w)):
        lin = nn.Linear(w[l - 1], w[l])
        with torch.no_grad():
            lin.weight.normal_(0.0, math.sqrt(spec["sw2"] / w[l - 1]))
            if spec["sb2"] > 0:
                lin.bias.normal_(0.0, math.sqrt(spec["sb2"]))
            else:
                lin.bias.zero_()
        layers.append(lin)
        if l < len(w) - 1:
            if spec["norm"] == "batch":
                layers.append(nn.BatchNorm1d(w[l]))
            elif spec["norm"] == "layer":
                layers.append(nn.LayerNorm(w[l]))
            layers.append(acts[spec["act"]]())
            if spec["dropout"] > 0:
                layers.append(nn.Dropout(spec["dropout"]))
    return nn.Sequential(*layers)


def make_pool(spec, batch, seed):
    """POOL batches of uniform [0,1) inputs (batch, IN) and uniform labels (batch)."""
    import torch
    g = torch.Generator().manual_seed(seed + 1)
    xs = [torch.rand(batch, spec["widths"][0], generator=g) for _ in range(POOL)]
    ys = [torch.randint(0, spec["widths"][-1], (batch,), generator=g) for _ in range(POOL)]
    return xs, ys


def step_flops(spec, infer, b):
    """GEMM flops of one step or pass, as cli/cmd_bench.c counts them: per layer and sample
    2*in*out forward, 2*in*out for the weight gradient, 2*in*out for the input gradient (not
    for the first layer: the data needs no gradient, and torch skips it too)."""
    w = spec["widths"]
    f = 0.0
    for l in range(1, len(w)):
        mac = w[l - 1] * w[l]
        f += 2.0 * b * mac * (1 if infer else (2 if l == 1 else 3))
    return f


def report(bench, spec, model, args, threads, seconds, extra=None):
    import torch
    params = sum(p.numel() for p in model.parameters())
    b, n = args.batch, args.steps
    flops = step_flops(spec, bench == "infer", b) * n
    out = {"bench": bench, "model": canonical(spec), "params": params, "batch": b,
           "threads": threads}
    if extra:
        out.update(extra)
    out.update({
        "steps": n, "warmup": args.warmup, "seconds": seconds,
        "samples_per_s": b * n / seconds if seconds > 0 else 0.0,
        "ms_per_step": 1e3 * seconds / n,
        "gflops": flops / seconds * 1e-9 if seconds > 0 else 0.0,
        "gflops_estimate": ("GEMM flops: 2*B*sum(in*out)" if bench == "infer"
                            else "GEMM flops: 2*B*(2*sum(in*out) + sum_{l>=2}(in*out))"),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "blas": blas_info(), "real": "f32", "impl": "pytorch " + torch.__version__})
    print(json.dumps(out))
