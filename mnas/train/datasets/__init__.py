"""Training data sets, one registry entry each (`DatasetDef`), found by the name `--data`
gives: `NAME` or `NAME:ARG` (a folder, for the sets that read files). Each built-in set is a
module of this package that registers itself; a new data set is one new module here.

Importing this package (and its modules) does not import torch; opening a data set does."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mnas.errors import MnasError, suggest
from mnas.registry import Registry


class DataError(MnasError):
    """Data cannot be found or read, or does not fit the network."""


@dataclass(frozen=True)
class Data:
    """A dataset ready for training: its splits (`mnas.train.sources`), class count, image
    shape (what the network's input must be) and the normalisation the loop applies on the
    device."""

    name: str
    classes: int
    shape: tuple[int, int, int]
    train: Any
    val: Any
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class DatasetDef:
    """One data set. `arg` says whether `NAME:ARG` takes an argument ('none', 'optional' with
    `default_arg`, or 'required'), shown to users as `usage`. `prepare(arg, download)` checks
    that the data is there (downloading when asked and possible) without loading it;
    `classes(arg)` counts classes without loading; `open(arg, shape, download)` returns the
    `Data` shaped for a network input (C, H, W)."""

    name: str
    usage: str
    description: str
    prepare: Callable[[str | None, bool], None]
    classes: Callable[[str | None], int]
    open: Callable[[str | None, tuple[int, int, int], bool], Data]
    arg: str = "none"
    default_arg: str | None = None


#: every data set, registered by the modules of this package (loaded when first read)
DATASETS: Registry[DatasetDef] = Registry("data set", DataError, package=__name__)


def register_dataset(entry: DatasetDef) -> DatasetDef:
    if entry.arg not in ("none", "optional", "required"):
        raise ValueError(f"data set '{entry.name}': arg must be none, optional or required")
    return DATASETS.register(entry)


def usage() -> str:
    return " | ".join(d.usage for d in DATASETS.values())


def parse_name(name: str) -> tuple[DatasetDef, str | None]:
    """`--data NAME[:ARG]` -> (its entry, ARG or the entry's default)."""
    kind, _, arg = name.partition(":")
    kind = kind.strip().lower()
    if kind not in DATASETS:
        raise DataError(f"--data: unknown dataset '{name}'{suggest(kind, DATASETS)}; choose "
                        f"from {', '.join(d.usage for d in DATASETS.values())}")
    entry = DATASETS[kind]
    if entry.arg == "required" and not arg:
        raise DataError(f"--data {entry.usage}: give the {entry.usage.partition(':')[2]} "
                        f"({entry.description})")
    if entry.arg == "none" and arg:
        raise DataError(f"--data {entry.name} takes no path ({entry.description})")
    return entry, (arg or entry.default_arg)


def prepare_data(name: str, download: bool = False) -> None:
    """Check that the data is there (downloading when asked) before any worker starts, so a
    missing dataset is one error in one process and DDP ranks never download at once."""
    entry, arg = parse_name(name)
    entry.prepare(arg, download)


def count_classes(name: str) -> int:
    """The class count of a dataset without loading it (for checks before DDP starts)."""
    entry, arg = parse_name(name)
    return entry.classes(arg)


def open_data(name: str, input_shape: Sequence[int], download: bool = False) -> Data:
    """The dataset `name` shaped for a network whose input is `input_shape` (C, H, W)."""
    entry, arg = parse_name(name)
    if len(input_shape) != 3:
        raise DataError(f"the network's input {list(input_shape)} is not an image shape (C, H, W)")
    return entry.open(arg, tuple(int(s) for s in input_shape), download)


def short_name(name: str) -> str:
    """The data set's registry name (`cifar10` for `cifar10:/data`), for run folder names."""
    return parse_name(name)[0].name
