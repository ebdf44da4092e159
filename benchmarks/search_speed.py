"""How long a search takes: costing one candidate (graph model against the closed form, cache
off), then the whole default `mnas search --budget mobilenet-0.75` as a user runs it (interpreter
start-up, costing check, trials, results, plot), with one worker and with two.

    python benchmarks/search_speed.py                   # 300 trials, workers 1 and 2
    python benchmarks/search_speed.py --trials 100 --workers 1

Prints the machine (CPU model, cores, load average) with the figures: wall times on a shared
machine move with its load, so quote them with it.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mnas.search.costing import Costing, graph_cost  # noqa: E402
from mnas.search.space import load_space  # noqa: E402


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{model}, {cores} cores available, load average {load}, Python {platform.python_version()}"


def per_call(fn, n: int) -> float:
    """Median seconds per call over 5 rounds of n calls."""
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        rounds.append((time.perf_counter() - start) / n)
    return statistics.median(rounds)


def costing_speed(samples: int) -> None:
    space = load_space()
    rng = random.Random(0)
    candidates = [space.values(space.sample(rng)) for _ in range(samples)]
    formula = Costing(space.base, method="formula")
    graph = Costing(space.base, method="graph")
    mismatch = sum(not formula._formula(v).same_counts(graph_cost(space.spec(v), formula.convention))
                   for v in candidates[:20])
    if mismatch:
        raise SystemExit(f"closed form disagrees with the graph model on {mismatch} of 20")
    it = iter(range(10 ** 9))
    t_formula = per_call(lambda: formula._formula(candidates[next(it) % samples]), 200)
    t_graph = per_call(lambda: graph_cost(space.spec(candidates[next(it) % samples]),
                                          graph.convention), 5)
    print(f"costing a candidate of {Path(space.file).name} (base {space.base.name}), cache off:")
    print(f"  graph model (expand + shapes + cost): {t_graph * 1e3:8.2f} ms")
    print(f"  closed form (mnas/search/formula.py): {t_formula * 1e6:8.1f} us  "
          f"({t_graph / t_formula:.0f}x faster)")


def search_speed(trials: int, workers: list[int]) -> None:
    print(f"\nmnas search --budget mobilenet-0.75 --trials {trials} (whole command, fresh study):")
    for n in workers:
        with tempfile.TemporaryDirectory() as tmp:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-m", "mnas", "search", "--budget", "mobilenet-0.75",
                 "--trials", str(trials), "--workers", str(n), "--out", f"{tmp}/run"],
                cwd=ROOT, capture_output=True, text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)})
            seconds = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if result.returncode:
            raise SystemExit(result.stderr)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(f"  --workers {n}: wall {seconds:6.1f} s ({trials / seconds:5.1f} trials/s), "
              f"CPU {cpu:6.1f} s (all its processes)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--samples", type=int, default=50, help="candidates for costing")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    costing_speed(args.samples)
    search_speed(args.trials, [int(w) for w in args.workers.split(",")])


if __name__ == "__main__":
    main()
