"""Entry point of a DDP worker process: `python -m mnas.train.worker RUN/job.json`, started by
torchrun (see `mnas.train.context.launch_ddp`). Rank 0 prints progress; an input error prints
one line and exits 1."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mnas.errors import MnasError


def main(argv: list[str]) -> int:
    from mnas.train.job import TrainJob
    from mnas.train.run import start
    from mnas.train.progress import Reporter
    if len(argv) != 1:
        print("usage: python -m mnas.train.worker JOB.json", file=sys.stderr)
        return 2
    try:
        job = TrainJob.from_json(json.loads(Path(argv[0]).read_text()))
        reporter = Reporter(job.recipe.total_epochs)
        with reporter:
            start(job, reporter.epoch, reporter.step)
    except MnasError as err:
        print(f"mnas train: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
