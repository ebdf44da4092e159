"""What a training command shows: a progress bar per epoch (rich, on stderr, only when it is a
terminal) and one line per finished epoch on stdout. Library code never prints; the CLI and
the DDP workers pass these methods as the `on_step`/`on_epoch` callbacks."""

from __future__ import annotations

import sys

from mnas.train.results import EpochMetrics


class Reporter:
    def __init__(self, epochs: int, quiet: bool = False, prefix: str = "", out=None):
        self.epochs, self.quiet, self.prefix = epochs, quiet, prefix
        self.out = out or sys.stdout
        self.bar_enabled = not quiet and sys.stderr.isatty()
        self._progress = None
        self._task = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def step(self, epoch: int, step: int, total: int) -> None:
        if not self.bar_enabled:
            return
        if self._progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, \
                TimeRemainingColumn
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      MofNCompleteColumn(), TimeRemainingColumn(),
                                      console=Console(file=sys.stderr), transient=True)
            self._progress.start()
        if self._task is None:
            self._task = self._progress.add_task(f"{self.prefix}epoch {epoch}/{self.epochs}",
                                                 total=total)
        self._progress.update(self._task, completed=step)
        if step >= total:
            self._progress.remove_task(self._task)
            self._task = None

    def epoch(self, m: EpochMetrics) -> None:
        self.close()          # the bar goes before the epoch's line; the next step redraws it
        self._task = None
        if self.quiet:
            return
        print(f"{self.prefix}epoch {m.epoch}/{self.epochs}  train loss {m.train_loss:.4f} "
              f"acc {100 * m.train_acc:.2f}%  val loss {m.val_loss:.4f} acc "
              f"{100 * m.val_acc:.2f}%  lr {m.lr:.2e}  {m.seconds:.1f}s", file=self.out,
              flush=True)
