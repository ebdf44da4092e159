"""The breaks issue 16 names, applied one at a time to a copy of the checkout: each must make
at least one of its tests fail. Prints, per break, the tests that failed.

    python benchmarks/breaks.py            # every break
    python benchmarks/breaks.py 0 3        # breaks by index

Each break is a literal text replacement; when the code it edits changes, the script stops
naming the break whose text it cannot find (update BREAKS)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mutation import ROOT, copy_checkout


@dataclass(frozen=True)
class Break:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]


CONSTRAINTS = ("tests/search/test_constraints.py",)
BREAKS = (
    Break("the spec's clip not passed to the lowered sign", "mnas/ops/activation.py",
          "    return Sign(p.clip)\n", "    return Sign()\n",
          ("tests/lower/test_lowered_semantics.py",)),
    Break("the size constraint never recorded on a trial", "mnas/search/worker.py",
          '            trial.set_constraint("size", (cost.size_mib - budget.size_mib) / '
          'budget.size_mib)\n', "            pass\n", CONSTRAINTS),
    Break("1% slack on the OPs constraint", "mnas/search/worker.py",
          '            trial.set_constraint("ops", (cost.ops - budget.ops) / budget.ops)\n',
          '            trial.set_constraint("ops", (cost.ops - 1.01 * budget.ops) / budget.ops)\n',
          CONSTRAINTS),
    Break("--resume ignoring the checkpoint (training again from epoch 1)", "mnas/train/fit.py",
          "        if continuing:\n", "        if False:\n",
          ("tests/train/test_run_folder.py", "tests/train/test_run.py")),
    Break("the count check inside the workers' lock removed", "mnas/search/worker.py",
          "            self.sync()\n            if self.count >= self.config.trials:\n"
          "                self.drop(trial)\n                return None\n"
          "            if not self.is_new(v):",
          "            self.sync()\n            if not self.is_new(v):", CONSTRAINTS),
    Break("the resume refusal under another convention removed", "mnas/search/storage.py",
          '    for key in ("convention", "budget", "objective"):\n',
          '    for key in ("budget", "objective"):\n', CONSTRAINTS),
    Break("the resume refusal under another space removed", "mnas/search/storage.py",
          "    if old == new:\n        return None\n", "    return None\n", CONSTRAINTS),
    Break("binary conv MACs booked as 32-bit FLOPs", "mnas/ops/conv.py",
          "        return Counts(binary_macs=macs, binary_params=weights, float_params=bias)\n",
          "        return Counts(float_macs=macs, binary_params=weights, float_params=bias)\n",
          ("tests/lower/test_precision_equality.py", "tests/cost/test_zoo_published.py",
           "tests/spec/test_zoo_specs.py")),
    Break("binary linear MACs booked as 32-bit FLOPs", "mnas/ops/linear.py",
          "Counts(binary_macs=weights,", "Counts(float_macs=weights,",
          ("tests/lower/test_precision_equality.py",)),
)


def main(argv: list[str]) -> int:
    chosen = [BREAKS[int(i)] for i in argv] if argv else list(BREAKS)
    unseen = 0
    with tempfile.TemporaryDirectory(prefix="mnas-breaks-") as tmp:
        work = Path(tmp)
        copy_checkout(work)
        env = {**os.environ, "PYTHONPATH": str(work)}
        for b in chosen:
            path = work / b.file
            source = path.read_text()
            if source.count(b.old) != 1:
                raise SystemExit(f"{b.name}: the text to replace is not in {b.file} once; "
                                 "update BREAKS")
            path.write_text(source.replace(b.old, b.new))
            try:
                done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p",
                                       "no:cacheprovider", "-o", "addopts=", *b.tests],
                                      cwd=work, env=env, capture_output=True, text=True)
            finally:
                path.write_text(source)
            failed = [line[len("FAILED "):].split(" - ")[0]
                      for line in done.stdout.splitlines() if line.startswith("FAILED ")]
            unseen += not failed
            print(f"{b.name}: {len(failed)} failing test(s){'' if failed else '  <-- UNSEEN'}")
            for test in failed:
                print(f"    {test}")
            sys.stdout.flush()
    return 1 if unseen else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
