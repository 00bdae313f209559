#!/usr/bin/python3
"""torch_infer.py - PyTorch peer of `suri bench infer`: times inference passes (evaluation mode,
no autograd) of an MLP on synthetic MNIST-shaped data and prints one JSON object with suri's
keys.

Run with Debian's interpreter (it has python3-torch):
  /usr/bin/python3 bench/peers/torch_infer.py --model mlp:784-512-512-10 --batch 1 \
      --iters 2000 --warmup 50 --threads 1

One timed pass is `logits = model(x)` under torch.inference_mode() with model.eval(), as a
user serving a model writes it. Data: POOL = 8 batches of uniform [0,1) inputs made before the
clock starts, used in turn (cli/cmd_bench.c does the same). gflops uses suri's estimate,
2 * params * batch flops per pass.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_common as tc  # noqa: E402  (torch itself is imported after the thread settings)


def main():
    p = tc.common_args("PyTorch inference benchmark (peer of 'suri bench infer')", "--iters")
    args = p.parse_args()
    tc.setup_threads(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    spec = tc.parse_spec(args.model)
    model = tc.build_mlp(spec)
    model.eval()
    xs, _ = tc.make_pool(spec, args.batch, args.seed)

    with torch.inference_mode():
        for k in range(args.warmup):
            model(xs[k % tc.POOL])
        t0 = time.perf_counter()
        for k in range(args.steps):
            model(xs[(args.warmup + k) % tc.POOL])
        seconds = time.perf_counter() - t0
    tc.report("infer", spec, model, args, torch.get_num_threads(), seconds)


if __name__ == "__main__":
    main()
