"""What a training command shows: a progress bar per epoch (rich, on stderr, only when it is a
terminal) and one line per finished epoch on stdout. Library code never prints; the CLI and
the DDP workers pass these methods as the `on_step`/`on_epoch` callbacks."""

from __future__ import annotations

import sys

from mnas.train.results import EpochMetrics


def duration(seconds: float) -> str:
    """42 s, 3 min 5 s, 2 h 07 min."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Remaining:
    """Time left for `total` epochs, from the mean time of the epochs seen so far."""

    def __init__(self, total: int):
        self.total, self.done, self.seconds = total, 0, 0.0

    def add(self, seconds: float) -> None:
        self.done += 1
        self.seconds += seconds

    def skip(self, epochs: int) -> None:
        """Epochs that will not run here (finished by an earlier, resumed run)."""
        self.total -= epochs

    def left(self) -> float | None:
        if not self.done:
            return None
        return self.seconds / self.done * max(0, self.total - self.done)

    def describe(self) -> str:
        left = self.left()
        return "" if left is None else f"about {duration(left)} left"


class Reporter:
    """Each epoch's line ends with `note()` when given, else with the time this run still
    needs (the mean epoch time seen here times the epochs left)."""

    def __init__(self, epochs: int, quiet: bool = False, prefix: str = "", out=None,
                 note=None):
        self.epochs, self.quiet, self.prefix, self.note = epochs, quiet, prefix, note
        self.out = out or sys.stdout
        self._seconds: list[float] = []
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
        self._seconds.append(m.seconds)
        if self.note:
            note = self.note()
        elif m.epoch < self.epochs:
            mean = sum(self._seconds) / len(self._seconds)
            note = f"about {duration(mean * (self.epochs - m.epoch))} left"
        else:
            note = ""
        print(f"{self.prefix}epoch {m.epoch}/{self.epochs}  train loss {m.train_loss:.4f} "
              f"acc {100 * m.train_acc:.2f}%  val loss {m.val_loss:.4f} acc "
              f"{100 * m.val_acc:.2f}%  lr {m.lr:.2e}  {m.seconds:.1f}s"
              + (f"  ({note})" if note else ""), file=self.out, flush=True)
