"""Costing speed of this tree against a baseline commit, in one process: both trees' `mnas` are
imported side by side (the baseline from `git archive`), and their `api.cost` calls alternate,
so both see the same machine load. Prints milliseconds per costing (best and median of the
rounds) and the ratios current / baseline, with the YAML parse cached (as in a search) and
without. On a shared machine the best-of ratio is the steadier one.

    .venv/bin/python benchmarks/cost_speed_against.py [--baseline REF] [--repeat N] [SPEC ...]
"""

from __future__ import annotations

import argparse
import importlib
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def import_tree(root: Path):
    """The `mnas` package under `root`, imported fresh: (api module, spec.load module)."""
    for name in [n for n in sys.modules if n == "mnas" or n.startswith("mnas.")]:
        del sys.modules[name]
    sys.path.insert(0, str(root))
    try:
        api = importlib.import_module("mnas.api")
        load = importlib.import_module("mnas.spec.load")
    finally:
        sys.path.remove(str(root))
    assert Path(api.__file__).resolve().is_relative_to(root.resolve()), api.__file__
    return api, load


def extract(ref: str, into: Path) -> Path:
    data = subprocess.run(["git", "archive", ref, "mnas"], cwd=ROOT, check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=None,
                        help="git ref to compare with (default: the merge base with main)")
    parser.add_argument("--repeat", type=int, default=30, help="rounds per spec (median)")
    parser.add_argument("specs", nargs="*", default=["meliusnet59", "meliusnet22", "resnete18"])
    args = parser.parse_args()
    ref = args.baseline or subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=ROOT,
                                          check=True, capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"baseline": import_tree(extract(ref, Path(tmp))), "current": import_tree(ROOT)}
        print(f"baseline {ref[:12]} vs current tree ({ROOT}); best and median of {args.repeat} rounds")
        print(f"{'spec':<14}{'parse':<8}{'baseline ms':>13}{'current ms':>12}{'best ratio':>11}"
              f"{'median ratio':>13}")
        for spec in args.specs:
            for cached in (True, False):
                times: dict[str, list[float]] = {name: [] for name in trees}
                for _ in range(args.repeat):
                    for name, (api, load) in trees.items():
                        if not cached:
                            load._FILE_CACHE.clear()
                        t = time.perf_counter()
                        api.cost(spec)
                        times[name].append(time.perf_counter() - t)
                base, cur = (min(times[n]) for n in ("baseline", "current"))
                mid_base, mid_cur = (statistics.median(times[n]) for n in ("baseline", "current"))
                print(f"{spec:<14}{'cached' if cached else 'fresh':<8}{base * 1e3:>13.2f}"
                      f"{cur * 1e3:>12.2f}{cur / base:>11.3f}{mid_cur / mid_base:>13.3f}")


if __name__ == "__main__":
    main()
