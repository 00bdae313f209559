#!/usr/bin/python3
"""torch_analysis.py - PyTorch peer of `suri analyze`: the top eigenvalue of the Gauss-Newton,
the empirical Fisher and the Hessian of an MLP's mean cross-entropy over N samples by power
iteration, and the empirical NTK Gram matrix, written the way a PyTorch (1.13) user writes them
with torch.autograd. Prints one JSON object.

Run with Debian's interpreter (it has python3-torch):
  /usr/bin/python3 bench/peers/torch_analysis.py gn --model-file M.safetensors --samples 512 \
      --iters 50 --threads 1
  /usr/bin/python3 bench/peers/torch_analysis.py ntk-sum --model-file M.safetensors --samples 256
  /usr/bin/python3 bench/peers/torch_analysis.py init --model mlp:784-256-256-10 --seed 1 \
      --write-model M.safetensors          # the network both sides analyse

Workloads (x: the first N mnist10k training digits / 255, y their labels; f = model(x), (N, C)):
  gn       G v = (1/N) sum_t J_t^T (diag p_t - p_t p_t^T) J_t v, p = softmax f   (= true Fisher)
  efisher  E v = (1/N) sum_t g_t (g_t . v), g_t the per-sample loss gradient, computed as
           J^T [r_t (r_t . J_t v)] / N with r_t = p_t - e_{y_t} (no per-sample gradients)
  hessian  H v of the mean loss by double backward
  ntk-sum  K_ij = grad s(x_i) . grad s(x_j), s = sum_k f_k (one backward per sample)
  ntk-full K_(ik),(jl) = grad f_k(x_i) . grad f_l(x_j) (one backward per sample and output)
How the products are formed (a user's efficient torch.autograd code, set up once per run and
counted in the time):
  J v ("--jvp dvjp", the default): the double-vjp trick. With a dummy u (N, C) requiring grad,
      g(u) = J^T u = autograd.grad(f, params, u, create_graph=True) is built once; then
      J v = autograd.grad(g, u, v) is one backward pass through that graph per product.
  J v ("--jvp fwd"): torch.autograd.forward_ad dual numbers through
      torch.nn.utils.stateless.functional_call, one forward pass per product.
  J^T s: autograd.grad(f, params, s, retain_graph=True) on the retained forward graph.
  H v: g = autograd.grad(loss, params, create_graph=True) once, then autograd.grad(g, params, v).
Power iteration: v0 ~ N(0, I) normalised (torch.manual_seed(seed)); v <- A v / ||A v||; the
Rayleigh quotient v . A v after every iteration goes into "history" as [seconds, estimate], so
the time to reach a given accuracy can be read off afterwards (each entry: wall seconds,
estimate, process CPU seconds since the products were set up). --reference instead runs 60
Lanczos steps with full reorthogonalisation in float64 (a reference eigenvalue, not timed for
comparison).
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_common as tc  # noqa: E402  (torch is imported after the thread settings)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def read_idx_u8(path):
    """IDX file (gzip): 0x00 0x00 0x08 RANK, RANK big-endian u32 dims, u8 data."""
    import numpy as np
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype, rank = struct.unpack_from(">HBB", raw, 0)
    if zero != 0 or dtype != 0x08:
        raise SystemExit(f"{path}: not a u8 IDX file")
    dims = struct.unpack_from(f">{rank}I", raw, 4)
    n = int(np.prod(dims))
    return np.frombuffer(raw, dtype=np.uint8, count=n, offset=4 + 4 * rank).reshape(dims)


def load_mnist(n, dtype):
    """First n mnist10k training digits as (n, 784) pixels / 255 and labels."""
    import numpy as np
    import torch
    d = os.environ.get("SURI_DATA_DIR", os.path.join(ROOT, "data"))
    x = read_idx_u8(os.path.join(d, "mnist10k", "train-images-idx3-ubyte.gz"))[:n]
    y = read_idx_u8(os.path.join(d, "mnist10k", "train-labels-idx1-ubyte.gz"))[:n]
    x = torch.from_numpy(x.reshape(len(x), -1).astype(np.float64) / 255.0).to(dtype)
    return x, torch.from_numpy(y.astype(np.int64))


# ---- model files (safetensors, written and read by hand) --------------------------------------
def write_safetensors(path, tensors, meta):
    import numpy as np
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy().astype("<f4"))
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(tmp, path)


def read_safetensors(path):
    import numpy as np
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack_from("<Q", raw, 0)
    header = json.loads(raw[8:8 + hlen].decode())
    meta = header.pop("__metadata__", {}) or {}
    dt = {"F32": "<f4", "F64": "<f8"}
    out = {}
    for name, h in header.items():
        lo, hi = h["data_offsets"]
        out[name] = np.frombuffer(raw[8 + hlen + lo:8 + hlen + hi], dt[h["dtype"]]).reshape(h["shape"])
    return out, meta


def linear_layers(model):
    from torch import nn
    return [m for m in model if isinstance(m, nn.Linear)]


def load_model(path, dtype):
    import torch
    tensors, meta = read_safetensors(path)
    spec = tc.parse_spec(meta["model_spec"])
    model = tc.build_mlp(spec)
    with torch.no_grad():
        for i, lin in enumerate(linear_layers(model)):
            lin.weight.copy_(torch.from_numpy(tensors[f"fc{i + 1}.weight"].copy()))
            lin.bias.copy_(torch.from_numpy(tensors[f"fc{i + 1}.bias"].copy()))
    return spec, model.to(dtype)


# ---- products ----------------------------------------------------------------------------------
class Products:
    """v -> A v for the curvature workloads, on flat parameter vectors."""

    def __init__(self, model, x, y, workload, jvp):
        import torch
        import torch.nn.functional as F
        self.torch, self.F = torch, F
        self.model, self.x, self.y, self.workload, self.jvp_kind = model, x, y, workload, jvp
        self.params = [p for p in model.parameters()]
        self.shapes = [p.shape for p in self.params]
        self.n = sum(p.numel() for p in self.params)
        self.N = x.shape[0]
        self.f = model(x)                                   # forward graph, kept
        if workload == "hessian":
            loss = F.cross_entropy(self.f, y)
            self.g = torch.autograd.grad(loss, self.params, create_graph=True)
            return
        self.p = torch.softmax(self.f.detach(), dim=1)
        if workload == "efisher":
            self.r = self.p - F.one_hot(y, self.f.shape[1]).to(self.p.dtype)
        if jvp == "dvjp":
            self.u = torch.zeros_like(self.f, requires_grad=True)
            self.gu = torch.autograd.grad(self.f, self.params, self.u, create_graph=True)

    def split(self, v):
        out, k = [], 0
        for s in self.shapes:
            m = 1
            for d in s:
                m *= d
            out.append(v[k:k + m].view(s))
            k += m
        return out

    def jv(self, v):
        torch = self.torch
        vs = self.split(v)
        if self.jvp_kind == "dvjp":
            return torch.autograd.grad(self.gu, self.u, vs, retain_graph=True)[0]
        import torch.autograd.forward_ad as fwAD
        from torch.nn.utils import stateless
        names = [n for n, _ in self.model.named_parameters()]
        with fwAD.dual_level():
            duals = {n: fwAD.make_dual(p.detach(), t) for n, p, t in zip(names, self.params, vs)}
            out = stateless.functional_call(self.model, duals, (self.x,))
            return fwAD.unpack_dual(out).tangent

    def __call__(self, v):
        torch = self.torch
        if self.workload == "hessian":
            hv = torch.autograd.grad(self.g, self.params, self.split(v), retain_graph=True)
            return torch.cat([h.reshape(-1) for h in hv])
        u = self.jv(v)
        if self.workload == "gn":
            s = self.p * (u - (self.p * u).sum(1, keepdim=True)) / self.N
        else:
            s = self.r * (self.r * u).sum(1, keepdim=True) / self.N
        jt = torch.autograd.grad(self.f, self.params, s, retain_graph=True)
        return torch.cat([t.reshape(-1) for t in jt])


def power(A, iters, seed, dtype):
    import torch
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(A.n, generator=g, dtype=dtype)
    v /= v.norm()
    hist, lam, t0, c0 = [], float("nan"), time.perf_counter(), time.process_time()
    for _ in range(iters):
        w = A(v)
        lam = float(v @ w)
        v = w / w.norm()
        hist.append([time.perf_counter() - t0, lam, time.process_time() - c0])
    return lam, hist


def lanczos_top(A, steps, seed):
    """Largest eigenvalue by Lanczos with full reorthogonalisation (float64 reference)."""
    import torch
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(A.n, generator=g, dtype=torch.float64)
    Q = [q / q.norm()]
    alpha, beta = [], []
    for j in range(steps):
        w = A(Q[-1])
        a = float(Q[-1] @ w)
        alpha.append(a)
        Qm = torch.stack(Q)
        for _ in range(2):
            w = w - Qm.T @ (Qm @ w)
        b = float(w.norm())
        if b < 1e-12 or j == steps - 1:
            break
        beta.append(b)
        Q.append(w / b)
    T = torch.diag(torch.tensor(alpha, dtype=torch.float64))
    for i, b in enumerate(beta[:len(alpha) - 1]):
        T[i, i + 1] = T[i + 1, i] = b
    return float(torch.linalg.eigvalsh(T)[-1]), len(alpha)


def ntk_gram(model, x, full):
    """Per-sample gradients by one backward pass each (per sample and output for full)."""
    import torch
    params = [p for p in model.parameters()]
    rows = []
    for i in range(x.shape[0]):
        f = model(x[i:i + 1])[0]
        outs = range(f.shape[0]) if full else [None]
        for k in outs:
            s = f[k] if full else f.sum()
            g = torch.autograd.grad(s, params, retain_graph=full)
            rows.append(torch.cat([t.reshape(-1) for t in g]))
    J = torch.stack(rows)
    return J @ J.T


def main():
    p = argparse.ArgumentParser(description="PyTorch peer of 'suri analyze'")
    p.add_argument("workload", choices=["gn", "efisher", "hessian", "ntk-sum", "ntk-full", "init"])
    p.add_argument("--model", default="mlp:784-256-256-10", help="spec for init (default %(default)s)")
    p.add_argument("--model-file", help="safetensors model (written by 'init')")
    p.add_argument("--write-model", help="init: where to write the initialised model")
    p.add_argument("--seed", type=int, default=1, help="init / start vector seed (default %(default)s)")
    p.add_argument("--samples", type=int, default=512, help="first N mnist10k digits (default %(default)s)")
    p.add_argument("--iters", type=int, default=50, help="power iterations (default %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="threads (default %(default)s)")
    p.add_argument("--jvp", choices=["dvjp", "fwd"], default="dvjp", help="J v method (default %(default)s)")
    p.add_argument("--reference", action="store_true", help="float64 Lanczos reference eigenvalue")
    p.add_argument("--gram-out", help="ntk: save the Gram as .npy")
    args = p.parse_args()
    tc.setup_threads(args.threads)
    import torch
    torch.set_num_threads(args.threads)
    if args.workload == "init":
        torch.manual_seed(args.seed)
        spec = tc.parse_spec(args.model)
        model = tc.build_mlp(spec)
        ts = {}
        for i, lin in enumerate(linear_layers(model)):
            ts[f"fc{i + 1}.weight"], ts[f"fc{i + 1}.bias"] = lin.weight, lin.bias
        write_safetensors(args.write_model, ts, {"format": "pt", "model_spec": tc.canonical(spec)})
        print(json.dumps({"wrote": args.write_model, "model": tc.canonical(spec)}))
        return
    dtype = torch.float64 if args.reference else torch.float32
    spec, model = load_model(args.model_file, dtype)
    model.eval()
    x, y = load_mnist(args.samples, dtype)
    out = {"impl": "pytorch " + torch.__version__, "workload": args.workload,
           "model": tc.canonical(spec), "samples": int(x.shape[0]), "threads": args.threads,
           "dtype": str(dtype).replace("torch.", ""), "blas": tc.blas_info()}
    if args.workload.startswith("ntk"):
        t0, c0 = time.perf_counter(), time.process_time()
        K = ntk_gram(model, x, args.workload == "ntk-full")
        out["seconds"] = time.perf_counter() - t0
        out["cpu_seconds"] = time.process_time() - c0
        t1 = time.perf_counter()
        ev = torch.linalg.eigvalsh(K.double())
        out.update({"eig_seconds": time.perf_counter() - t1, "eigenvalue": float(ev[-1]),
                    "trace": float(K.double().diagonal().sum()), "shape": list(K.shape)})
        if args.gram_out:
            import numpy as np
            np.save(args.gram_out, K.double().numpy())
    else:
        t0, c0 = time.perf_counter(), time.process_time()
        A = Products(model, x, y, args.workload, args.jvp)
        setup, setup_cpu = time.perf_counter() - t0, time.process_time() - c0
        if args.reference:
            lam, steps = lanczos_top(A, 60, args.seed)
            out.update({"eigenvalue": lam, "lanczos_steps": steps})
        else:
            lam, hist = power(A, args.iters, args.seed, dtype)
            out.update({"eigenvalue": lam, "iters": args.iters, "jvp": args.jvp,
                        "setup_seconds": setup, "seconds": setup + hist[-1][0],
                        "cpu_seconds": setup_cpu + hist[-1][2],
                        "history": [[setup + t, l, setup_cpu + c] for t, l, c in hist]})
    out["peak_rss_mb"] = __import__("resource").getrusage(
        __import__("resource").RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(out))


if __name__ == "__main__":
    main()
