#!/usr/bin/python3
"""torch_train.py - PyTorch peer of `suri bench train`: times SGD training steps of an MLP on
synthetic MNIST-shaped data and prints one JSON object with suri's keys.

Run with Debian's interpreter (it has python3-torch):
  /usr/bin/python3 bench/peers/torch_train.py --model mlp:784-512-512-10 --batch 128 \
      --steps 300 --warmup 20 --threads 1

What one timed step is, written as a PyTorch user writes a training loop:
  logits = model(x); loss = F.cross_entropy(logits, y)   (mean softmax cross-entropy)
  opt.zero_grad(); loss.backward(); opt.step()           (torch.optim.SGD, lr 0.01)
The data (POOL = 8 batches of uniform [0,1) inputs and uniform labels, used in turn) is made
before the clock starts, as in cli/cmd_bench.c. gflops uses suri's count of the GEMM flops of a
step (torch_common.step_flops), so both sides divide the same number by their own time.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_common as tc  # noqa: E402  (torch itself is imported after the thread settings)


def main():
    p = tc.common_args("PyTorch training-step benchmark (peer of 'suri bench train')", "--steps")
    p.add_argument("--optim", default="sgd", choices=["sgd", "momentum", "adam", "adamw"],
                   help="optimizer (default %(default)s)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: suri's)")
    args = p.parse_args()
    tc.setup_threads(args.threads)
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    spec = tc.parse_spec(args.model)
    model = tc.build_mlp(spec)
    model.train()
    # suri's defaults per optimizer (include/suri/optim.h), which are also torch's.
    if args.optim in ("sgd", "momentum"):
        lr = 0.01 if args.lr is None else args.lr
        opt = torch.optim.SGD(model.parameters(), lr=lr,
                              momentum=0.9 if args.optim == "momentum" else 0.0)
    elif args.optim == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=1e-3 if args.lr is None else args.lr)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3 if args.lr is None else args.lr,
                                weight_decay=0.01)
    xs, ys = tc.make_pool(spec, args.batch, args.seed)

    def step(k):
        x, y = xs[k % tc.POOL], ys[k % tc.POOL]
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for k in range(args.warmup):
        step(k)
    t0 = time.perf_counter()
    for k in range(args.steps):
        step(args.warmup + k)
    seconds = time.perf_counter() - t0
    tc.report("train", spec, model, args, torch.get_num_threads(), seconds,
              extra={"optim": args.optim})


if __name__ == "__main__":
    main()
