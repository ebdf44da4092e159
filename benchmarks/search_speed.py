"""Search throughput and what costing takes of it, block-cached costing (`mnas.cost.blocks`,
what the search uses) against the graph model (`build_graph` + `cost_graph`) as the baseline,
in one process, runs alternated so machine load affects both alike.

    python benchmarks/search_speed.py [--trials 150] [--repeat 2] [--candidates 1000]

Prints, per costing method: microseconds per candidate over random candidates of the default
space (the block cache starts empty and warms as a search's would), then trials per second of
a seeded proxy search under mobilenet-0.75 and the share of its time spent costing; and the
ratios blocks / graph."""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mnas.cost.budgets import resolve_budget  # noqa: E402
from mnas.errors import MnasError  # noqa: E402
from mnas.search import costing as costing_module  # noqa: E402
from mnas.search.config import SearchConfig  # noqa: E402
from mnas.search.run import run_search  # noqa: E402
from mnas.search.space import load_space  # noqa: E402

METHODS = ("graph", "blocks")


def per_candidate(method: str, candidates: int) -> float:
    space = load_space()
    rng = random.Random(0)
    values = [space.values(space.sample(rng)) for _ in range(candidates)]
    costing = costing_module.Costing(space.base, "paper", method=method)
    t0 = time.perf_counter()
    for v in values:
        try:
            costing.cost(v)
        except MnasError:
            pass
    return (time.perf_counter() - t0) / candidates * 1e6


def search(method: str, trials: int) -> tuple[float, float]:
    """(trials per second, share of the run spent in costing)"""
    spent = [0.0]
    compute = costing_module.Costing._compute

    def timed(self, values):
        t = time.perf_counter()
        try:
            return compute(self, values)
        finally:
            spent[0] += time.perf_counter() - t

    costing_module.Costing._compute = timed
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = SearchConfig(budget=resolve_budget("mobilenet-0.75"), trials=trials,
                                  out=tmp, study="speed", costing=method, seed=0)
            run, _ = run_search(config)
    finally:
        costing_module.Costing._compute = compute
    return run.trials_run / run.seconds, spent[0] / run.seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=150)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--candidates", type=int, default=1000)
    args = p.parse_args()
    us = {m: per_candidate(m, args.candidates) for m in METHODS}
    rates: dict[str, list[float]] = {m: [] for m in METHODS}
    shares: dict[str, list[float]] = {m: [] for m in METHODS}
    for _ in range(args.repeat):
        for m in METHODS:
            rate, share = search(m, args.trials)
            rates[m].append(rate)
            shares[m].append(share)
    print(f"{'costing':<8}{'us/candidate':>14}{'trials/s':>10}{'costing share':>15}")
    for m in METHODS:
        print(f"{m:<8}{us[m]:>14.0f}{statistics.median(rates[m]):>10.2f}"
              f"{100 * statistics.median(shares[m]):>14.1f}%")
    print(f"blocks / graph: {us['graph'] / us['blocks']:.1f}x faster per candidate, "
          f"{statistics.median(rates['blocks']) / statistics.median(rates['graph']):.2f}x "
          f"the trials per second ({args.trials} trials, median of {args.repeat} runs each, "
          f"alternated)")


if __name__ == "__main__":
    main()
