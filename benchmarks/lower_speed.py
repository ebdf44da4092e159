"""Speed of the lowered module and of analytic costing (issue 3).

1. Training step (forward + backward) of MeliusNet22 at 224x224, batch 8, on CPU: the module
   `to_module` builds from specs/meliusnet22.yaml next to the same network written by hand as
   plain PyTorch below. The two are checked to be the same network first (the hand-written
   one loads the lowered module's weights in order and gives the same outputs). Steps
   alternate between the two so load on the machine hits both alike; medians are compared.
   Target: lowered / hand-written <= 1.05.
2. Costing: `mnas.api.cost` on the spec (read, expand, infer shapes, count; the YAML file
   cache warm, as in a search) next to counting the lowered module's forward pass with
   torch's FlopCounterMode on CPU (batch 1; the module built beforehand). Also shown: the
   FlopCounterMode count on the meta device, which skips the arithmetic. Target: >= 1000x.

Run: python benchmarks/lower_speed.py [--steps 5] [--batch 8] [--size 224] [--threads N]
On a machine shared with other work, wall times swing by seconds between steps; the CPU
time of this process is steadier, and both ratios are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mnas import api  # noqa: E402
from mnas.cost.model import cost_graph  # noqa: E402
from mnas.lower.torch import to_module  # noqa: E402

SPEC = ROOT / "specs" / "meliusnet22.yaml"


# -- MeliusNet22 by hand: grouped stem, (4, 5, 4, 4) units of dense + improvement blocks,
# -- transitions to 160, 224, 256 channels, BN-ReLU-pool-FC head. ---------------------------

class HandSign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x >= 0, 1.0, -1.0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1.3)


class HandWeightSign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w):
        return torch.where(w >= 0, 1.0, -1.0)

    @staticmethod
    def backward(ctx, grad):
        return grad


class HandBinConv(nn.Module):
    def __init__(self, c_in, c_out=64):
        super().__init__()
        self.bn = nn.BatchNorm2d(c_in)
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)

    def forward(self, x):
        x = HandSign.apply(self.bn(x))
        return F.conv2d(x, HandWeightSign.apply(self.conv.weight), padding=1)


class HandDense(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.binconv = HandBinConv(c)

    def forward(self, x):
        return torch.cat([x, self.binconv(x)], 1)


class HandImprovement(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.binconv = HandBinConv(c)

    def forward(self, x):
        return torch.cat([x[:, :-64], x[:, -64:] + self.binconv(x)], 1)


class HandTransition(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.bn = nn.BatchNorm2d(c_in)
        self.conv = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x):
        return self.conv(F.relu(F.max_pool2d(self.bn(x), 2, 2)))


class HandMeliusNet22(nn.Module):
    def __init__(self, stages=(4, 5, 4, 4), transitions=(160, 224, 256), classes=1000):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, 1, 1, groups=4, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, 1, 1, groups=8, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(3, 2, 1))
        layers, c = [], 64
        for i, units in enumerate(stages):
            for _ in range(units):
                layers += [HandDense(c), HandImprovement(c + 64)]
                c += 64
            if i < len(transitions):
                layers.append(HandTransition(c, transitions[i]))
                c = transitions[i]
        self.body = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(c)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        x = F.relu(self.bn(self.body(self.stem(x))))
        return self.fc(x.mean((2, 3)))


def copy_weights(src: nn.Module, dst: nn.Module) -> None:
    """Load `src`'s state into `dst` by position (both list layers in network order)."""
    a, b = src.state_dict(), dst.state_dict()
    assert len(a) == len(b), (len(a), len(b))
    for (ka, va), (kb, vb) in zip(a.items(), b.items()):
        assert va.shape == vb.shape, (ka, kb, va.shape, vb.shape)
    dst.load_state_dict(dict(zip(b, a.values())))


def same_network(lowered: nn.Module, hand: nn.Module) -> float:
    copy_weights(lowered, hand)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return (lowered(x) - hand(x)).abs().max().item()


def step_time(model: nn.Module, x: torch.Tensor) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one forward + backward."""
    model.zero_grad(set_to_none=True)
    start, cpu = time.perf_counter(), time.process_time()
    model(x).square().mean().backward()
    return time.perf_counter() - start, time.process_time() - cpu


def best_of(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per network")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")

    graph = api.graph(SPEC, {"input": [3, args.size, args.size]})
    lowered, hand = to_module(graph), HandMeliusNet22()
    n_low = sum(p.numel() for p in lowered.parameters())
    n_hand = sum(p.numel() for p in hand.parameters())
    diff = same_network(lowered, hand)
    print(f"same network: params {n_low:,} vs {n_hand:,}, max output difference {diff:.2e}")
    if n_low != n_hand or diff > 1e-4:
        raise SystemExit("the hand-written network differs from the lowered one")

    x = torch.randn(args.batch, 3, args.size, args.size)
    for model in (lowered, hand):  # warm-up: allocator and oneDNN primitives
        step_time(model, x)
    t_low, t_hand = [], []
    for _ in range(args.steps):
        t_low.append(step_time(lowered, x))
        t_hand.append(step_time(hand, x))
    print(f"\nMeliusNet22 {args.size}x{args.size} batch {args.batch}, forward+backward, "
          f"{args.steps} alternating steps each (wall ms; CPU ms = all threads of this process)")
    ratios = []
    for kind, k in (("wall", 0), ("CPU", 1)):
        low = statistics.median(t[k] for t in t_low)
        hand_t = statistics.median(t[k] for t in t_hand)
        ratios.append(low / hand_t)
        print(f"  {kind:4} lowered {low * 1e3:9.1f} ms  hand-written {hand_t * 1e3:9.1f} ms  "
              f"ratio {low / hand_t:6.3f}   steps lowered "
              + " ".join(f"{t[k] * 1e3:.0f}" for t in t_low) + "  hand "
              + " ".join(f"{t[k] * 1e3:.0f}" for t in t_hand))
    print(f"  step-time ratio lowered/hand-written (median wall): {ratios[0]:.3f}; "
          f"(median CPU): {ratios[1]:.3f}   target <= 1.05")

    spec224 = {"input": [3, 224, 224]}
    api.cost(SPEC, spec224)  # warm the YAML file cache, as a search loop would have it
    graph224 = api.graph(SPEC, spec224)
    report = api.cost(SPEC, spec224)
    x1 = torch.randn(1, 3, 224, 224)

    def count(module, inp):
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            module.eval()(inp)
        return counter.get_total_flops()

    def count_from_spec(device):
        with torch.device(device):
            module = to_module(api.graph(SPEC, spec224))
        return count(module, x1.to(device))

    module224 = to_module(graph224)
    assert count(module224, x1) == 2 * report.totals.macs  # warm-up, and the counts agree
    with torch.device("meta"):
        meta_module = to_module(graph224)
    x_meta = x1.to("meta")
    rows = [
        ("from the spec file", statistics.median(best_of(lambda: api.cost(SPEC, spec224), 30)),
         statistics.median(best_of(lambda: count_from_spec("cpu"), 3)),
         statistics.median(best_of(lambda: count_from_spec("meta"), 5))),
        ("from the graph / built module", statistics.median(best_of(lambda: cost_graph(graph224), 30)),
         statistics.median(best_of(lambda: count(module224, x1), 3)),
         statistics.median(best_of(lambda: count(meta_module, x_meta), 5))),
    ]
    print(f"\nCosting MeliusNet22 at 224x224 ({report.totals.macs:,} MACs; FlopCounterMode "
          f"counts 2 per MAC and agrees). Analytic: load + expand + shapes + cost (or cost_graph "
          "alone); FlopCounterMode: build the lowered module + a counted forward, batch 1 "
          "(or the forward alone)")
    print(f"  {'':30}{'analytic':>11}{'FlopCounter CPU':>17}{'ratio':>9}"
          f"{'FlopCounter meta':>18}{'ratio':>8}")
    for label, analytic, cpu, meta in rows:
        print(f"  {label:30}{analytic * 1e3:9.2f}ms{cpu * 1e3:15.1f}ms{cpu / analytic:8.0f}x"
              f"{meta * 1e3:16.1f}ms{meta / analytic:7.0f}x")
    print("  target: analytic >= 1000x faster than FlopCounterMode on the lowered module (CPU)")


if __name__ == "__main__":
    main()
