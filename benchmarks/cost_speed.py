"""How long costing takes: in-process per spec (load + expand + validate + shapes + cost; the
YAML parse is cached after the first load, as in a search), per layer, and a whole
`mnas cost --summary` process (interpreter start-up included).

    .venv/bin/python benchmarks/cost_speed.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mnas.cost.model import cost_graph  # noqa: E402
from mnas.spec.expand import build_graph  # noqa: E402
from mnas.spec.load import load_spec  # noqa: E402


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    specs = sorted(p for p in (ROOT / "specs").glob("*.yaml"))
    print(f"{'spec':<28}{'layers':>7}{'in-process ms':>15}{'us/layer':>10}{'process ms':>12}")
    for path in specs:
        def cost():
            return cost_graph(build_graph(load_spec(path)))
        layers = len(cost().layers)
        seconds = median_seconds(cost, args.repeat)
        proc = median_seconds(lambda: subprocess.run(
            [sys.executable, "-m", "mnas", "cost", str(path), "--summary"], cwd=ROOT,
            check=True, capture_output=True), max(3, args.repeat // 5))
        print(f"{path.name:<28}{layers:>7}{seconds * 1e3:>15.2f}{seconds / layers * 1e6:>10.1f}"
              f"{proc * 1e3:>12.0f}")
    start = median_seconds(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), 5)
    print(f"(bare python start-up: {start * 1e3:.0f} ms)")


if __name__ == "__main__":
    main()
