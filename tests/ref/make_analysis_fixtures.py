#!/usr/bin/python3
"""make_analysis_fixtures.py - golden curvature / NTK values from PyTorch for
tests/test_analysis_golden.c.

Run with Debian's interpreter (it has python3-torch):
    /usr/bin/python3 tests/ref/make_analysis_fixtures.py
Writes tests/fixtures/analysis/<case>.safetensors (F64 tensors, deterministic: the same bytes on
every run with the same torch build). The safetensors container is written by hand below
(8-byte little-endian header length, JSON header, raw little-endian data) so that no extra
package is needed.

Each case is a tiny MLP re-implemented functionally in float64 with suri's semantics
(include/suri/nn.h): standard u = W h + b; ntk u = sqrt(sw2/fan_in) W h + sqrt(sb2) b; layer
norm after the hidden dense layers (biased variance, eps 1e-5); gelu in its erf form; losses:
ce = mean cross-entropy, mse = mean over all N*C elements of (f - t)^2, logistic = mean BCE with
logits. With theta the parameters, f(theta) (N, C) the outputs, J = df/dtheta and a fixed
random vector v, the file holds:
  x (N, IN); labels (N) [ce] or targets (N, C) [mse, logistic]; every parameter under suri's name;
  v.<param>     the vector v;
  fv.<param>    true Fisher (1/N) sum_t J_t^T Lambda_t J_t v, Lambda: softmax diag(p) - p p^T,
                unit Gaussian I, Bernoulli s (1 - s)  (forward-mode jvp, then vjp);
  ggnv.<param>  Gauss-Newton J^T H J v of the mean loss, H = the loss Hessian in output space
                obtained by double backward of the loss as a function of f (not from the Lambda
                formulas above, so it also checks suri's loss scalings);
  efv.<param>   empirical Fisher (1/N) sum_t g_t (g_t . v), g_t = gradient of the per-sample
                negative log-likelihood (ce: cross-entropy; mse: (1/2) ||f - y||^2; logistic:
                BCE), one backward per sample;
  hv.<param>    Hessian-vector product of the mean loss by double backward;
  ntk (N C, N C) the empirical NTK, K[i C + k, j C + k'] = grad f_k(x_i) . grad f_k'(x_j), from
                explicit Jacobians (torch.autograd.functional.jacobian).
Metadata: model_spec (the suri spec string), case, n, seed, generator, torch_version.
"""
import json
import math
import os
import struct

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "..", "fixtures", "analysis")

CASES = [
    # name, spec, widths, act, param, loss, sw2, sb2, layer norm, N, seed
    ("tanh_ce", "mlp:4-5-3,act=tanh,loss=ce,sb2=0.1", [4, 5, 3], "tanh", "standard", "ce",
     1.0, 0.1, False, 6, 1),
    ("gelu_mse_ntk", "mlp:3-6-4-2,act=gelu,loss=mse,param=ntk,sw2=2,sb2=0.1", [3, 6, 4, 2], "gelu",
     "ntk", "mse", 2.0, 0.1, False, 6, 2),
    ("softplus_layernorm_logistic", "mlp:4-5-1,act=softplus,norm=layer,loss=logistic,sb2=0.1",
     [4, 5, 1], "softplus", "standard", "logistic", 1.0, 0.1, True, 6, 3),
    # relu: double backward gives the almost-everywhere Hessian (relu'' = 0), which suri's exact
    # Hessian-vector products must match; the smallest |pre-activation| is 0.05, far from a kink
    ("relu_ce", "mlp:4-6-5-3,act=relu,loss=ce,sw2=2,sb2=0.1", [4, 6, 5, 3], "relu", "standard",
     "ce", 2.0, 0.1, False, 6, 4),
]


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, float64 tensor) in file order."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors:
        raw = t.detach().contiguous().numpy().astype("<f8").tobytes()
        header[name] = {"dtype": "F64", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, path)


def param_names(widths, layer_norm):
    names = []
    for l in range(1, len(widths)):
        names += [f"fc{l}.weight", f"fc{l}.bias"]
        if layer_norm and l < len(widths) - 1:
            names += [f"ln{l}.weight", f"ln{l}.bias"]
    return names


def make_params(widths, param, sw2, sb2, layer_norm, gen):
    P = {}
    for l in range(1, len(widths)):
        fin, fout = widths[l - 1], widths[l]
        if param == "standard":
            P[f"fc{l}.weight"] = torch.randn(fout, fin, generator=gen) * math.sqrt(sw2 / fin)
            P[f"fc{l}.bias"] = torch.randn(fout, generator=gen) * math.sqrt(sb2)
        else:
            P[f"fc{l}.weight"] = torch.randn(fout, fin, generator=gen)
            P[f"fc{l}.bias"] = torch.randn(fout, generator=gen)
        if layer_norm and l < len(widths) - 1:  # gamma/beta away from 1/0 to exercise them
            P[f"ln{l}.weight"] = 1 + 0.3 * torch.randn(fout, generator=gen)
            P[f"ln{l}.bias"] = 0.2 * torch.randn(fout, generator=gen)
    return P


def act_fn(act, u):
    if act == "tanh":
        return torch.tanh(u)
    if act == "gelu":
        return F.gelu(u)  # erf form
    if act == "softplus":
        return F.softplus(u)
    if act == "relu":
        return torch.relu(u)
    raise ValueError(act)


def forward(case, names, flat_params, x):
    _, _, widths, act, param, _, sw2, sb2, layer_norm, _, _ = case
    P = dict(zip(names, flat_params))
    h = x
    L = len(widths) - 1
    for l in range(1, L + 1):
        fin = widths[l - 1]
        sw, sb = (1.0, 1.0) if param == "standard" else (math.sqrt(sw2 / fin), math.sqrt(sb2))
        u = sw * h @ P[f"fc{l}.weight"].T + sb * P[f"fc{l}.bias"]
        if l == L:
            return u
        if layer_norm:
            u = F.layer_norm(u, (u.shape[1],), P[f"ln{l}.weight"], P[f"ln{l}.bias"], eps=1e-5)
        h = act_fn(act, u)


def mean_loss(loss, f, y):
    if loss == "ce":
        return F.cross_entropy(f, y)
    if loss == "mse":
        return F.mse_loss(f, y)
    return F.binary_cross_entropy_with_logits(f, y)


def nll(loss, f, y):
    """Per-sample negative log-likelihood of the model's predictive distribution."""
    if loss == "ce":
        return F.cross_entropy(f, y, reduction="sum")
    if loss == "mse":
        return 0.5 * ((f - y) ** 2).sum()
    return F.binary_cross_entropy_with_logits(f, y, reduction="sum")


def lambda_times(loss, f, u):
    """True-Fisher output matrix Lambda_t applied to u row by row."""
    if loss == "ce":
        p = torch.softmax(f, dim=1)
        return p * (u - (p * u).sum(dim=1, keepdim=True))
    if loss == "mse":
        return u
    s = torch.sigmoid(f)
    return s * (1 - s) * u


def build(case):
    name, spec, widths, act, param, loss, sw2, sb2, layer_norm, N, seed = case
    gen = torch.Generator().manual_seed(1000 + seed)
    names = param_names(widths, layer_norm)
    P = make_params(widths, param, sw2, sb2, layer_norm, gen)
    theta = tuple(P[n] for n in names)
    C = widths[-1]
    x = torch.randn(N, widths[0], generator=gen) * 1.2
    if loss == "ce":
        y = torch.randint(0, C, (N,), generator=gen)
    elif loss == "mse":
        y = torch.randn(N, C, generator=gen)
    else:
        y = (torch.rand(N, C, generator=gen) > 0.5).to(torch.float64)
    v = tuple(torch.randn(t.shape, generator=gen) for t in theta)

    def f_of(*ps):
        return forward(case, names, ps, x)

    f0, jv = torch.autograd.functional.jvp(f_of, theta, v)
    # true Fisher
    _, fv = torch.autograd.functional.vjp(f_of, theta, lambda_times(loss, f0, jv) / N)
    # Gauss-Newton: loss Hessian in output space by double backward
    _, hjv = torch.autograd.functional.hvp(lambda ff: mean_loss(loss, ff, y), f0.detach(), jv)
    _, ggnv = torch.autograd.functional.vjp(f_of, theta, hjv)
    # empirical Fisher from per-sample NLL gradients
    efv = [torch.zeros_like(t) for t in theta]
    for t in range(N):
        ps = [p.clone().requires_grad_(True) for p in theta]
        ft = forward(case, names, ps, x[t:t + 1])
        g = torch.autograd.grad(nll(loss, ft, y[t:t + 1]), ps)
        gv = sum((gi * vi).sum() for gi, vi in zip(g, v))
        for i in range(len(efv)):
            efv[i] += g[i] * gv / N
    # Hessian-vector product by double backward
    ps = [p.clone().requires_grad_(True) for p in theta]
    L = mean_loss(loss, forward(case, names, ps, x), y)
    g = torch.autograd.grad(L, ps, create_graph=True)
    hv = torch.autograd.grad(sum((gi * vi).sum() for gi, vi in zip(g, v)), ps)
    # NTK from explicit Jacobians
    jac = torch.autograd.functional.jacobian(f_of, theta)
    J = torch.cat([j.reshape(N * C, -1) for j in jac], dim=1)
    ntk = J @ J.T

    tensors = [("x", x)]
    tensors.append(("labels", y.to(torch.float64)) if loss == "ce" else ("targets", y))
    for n, t in zip(names, theta):
        tensors.append((n, t))
    for prefix, vals in (("v.", v), ("fv.", fv), ("ggnv.", ggnv), ("efv.", efv), ("hv.", hv)):
        for n, t in zip(names, vals):
            tensors.append((prefix + n, t))
    tensors.append(("ntk", ntk))
    meta = {"model_spec": spec, "case": name, "n": N, "seed": seed,
            "generator": "tests/ref/make_analysis_fixtures.py", "torch_version": torch.__version__}
    write_safetensors(os.path.join(OUT_DIR, name + ".safetensors"), tensors, meta)
    return name


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for case in CASES:
        print("wrote", build(case))


if __name__ == "__main__":
    main()
