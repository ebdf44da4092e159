"""Training-loop throughput: mnas's loop (`mnas.train.train`, which adds batch assembly,
augmentation, normalisation, the per-step schedule and metric sums) against a minimal
hand-written loop (pre-normalised tensors, slice, forward, loss, backward, step) on the same
lowered model, data and batch size. Prints images/s of each (median of the repeats, the two
alternating so both see the same machine load) and the ratio mnas / hand-written.

    python benchmarks/train_speed.py                      # specs/meliusnet-cifar.yaml, digits
    python benchmarks/train_speed.py --threads 1 --repeats 5
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def hand_written(model, x, y, batch_size: int, epochs: int, lr: float) -> float:
    """images/s of the plainest loop that trains the same way (Adam, cross-entropy)."""
    import torch
    import torch.nn.functional as F
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    steps = len(x) // batch_size
    images, start = 0, time.perf_counter()
    for epoch in range(epochs):
        perm = torch.randperm(len(x))
        for s in range(steps):
            idx = perm[s * batch_size:(s + 1) * batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            images += len(idx)
    return images / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default="specs/meliusnet-cifar.yaml")
    ap.add_argument("--data", default="digits")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    args = ap.parse_args()

    import torch
    from mnas import api
    from mnas.lower.torch import to_module
    from mnas.train import train
    from mnas.train.datasets import open_data
    from mnas.train.transforms import normalize
    if args.threads:
        torch.set_num_threads(args.threads)
    graph = api.graph(args.spec)
    data = open_data(args.data, graph.input.params.shape)
    torch.manual_seed(0)
    base = to_module(graph)
    x = normalize(data.train.images, data.mean, data.std)
    y = data.train.labels
    ours, theirs = [], []
    for r in range(args.repeats):
        result = train(copy.deepcopy(base), data, epochs=args.epochs, batch_size=args.batch_size,
                       optimizer="adam", init=False, device="cpu")
        ours.append(result.images_per_second)
        theirs.append(hand_written(copy.deepcopy(base), x, y, args.batch_size, args.epochs,
                                   0.002))
        print(f"repeat {r + 1}: mnas {ours[-1]:.1f} images/s, hand-written {theirs[-1]:.1f} "
              f"images/s", flush=True)
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"{graph.name} on {data.name}, batch {args.batch_size}, {args.epochs} epoch(s) x "
          f"{args.repeats}, {torch.get_num_threads()} thread(s), torch {torch.__version__}")
    print(f"mnas training loop:   {a:.1f} images/s (median)")
    print(f"hand-written loop:    {b:.1f} images/s (median)")
    print(f"ratio mnas / hand-written: {a / b:.3f} (target >= 0.95)")


if __name__ == "__main__":
    main()
