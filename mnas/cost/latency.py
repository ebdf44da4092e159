"""Latency tables: the per-layer times `mnas bench` measures, read back as a cost.

A table (JSON, format `mnas-latency/1`) names the machine, the kernel path, the threads and
the batch it was measured with, and holds one row per layer: its key (what determines its
work: op, parameters, input and output shapes), op, precision, work and the measured
milliseconds. Under the convention `measured:FILE` (mnas.cost.conventions) a layer's OPs are
its milliseconds: a layer whose key is in the table costs its measured time (the median of
the rows with that key); any other layer is estimated from the table's measured time per
unit of work (per MAC where a layer has MACs, else per output element) for the same op and
precision, else for the same precision, and a layer of a precision the table never measured
is an error. So costing the measured network gives its measured layers (layers that do the
same work share their median), and a search candidate with layers the network did not have
gets an estimate. Torch-free."""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path

from mnas.errors import MnasError
from mnas.ops.registry import Counts, Shape

FORMAT = "mnas-latency/1"
# parameters that change neither the work nor the result at inference: the output shape
# fixes the width (out / reduction / multiple); the sign's clip acts on gradients only
NOT_IN_KEY = ("out", "reduction", "multiple", "clip")


class LatencyError(MnasError):
    """A latency table that cannot be read or cannot cost a layer."""


def layer_key(op: str, params, in_shapes: tuple[Shape, ...], out_shape: Shape) -> str:
    """What a layer's latency depends on, as text: `conv2d(kernel=3, ...) 256x14x14 -> 64x14x14`."""
    items = [] if params is None else [
        f"{f.name}={getattr(params, f.name)}" for f in fields(params) if f.name not in NOT_IN_KEY]
    shapes = ", ".join("x".join(map(str, s)) for s in in_shapes)
    return f"{op}({', '.join(items)}) {shapes} -> {'x'.join(map(str, out_shape))}"


def layer_work(macs: int, out_shape: Shape) -> int:
    """The unit a missing layer's time is scaled by: its MACs, or its output elements."""
    return macs or math.prod(out_shape)


@dataclass(frozen=True)
class LatencyTable:
    """A table read from `path`; `rows` are (key, op, precision, work, ms)."""

    path: str
    network: str
    machine: str
    kernels: str
    threads: int
    batch: int
    rows: tuple[tuple[str, str, str, int, float], ...]

    @classmethod
    def read(cls, path: str | Path) -> LatencyTable:
        path = Path(path)
        try:
            obj = json.loads(path.read_text())
        except FileNotFoundError:
            raise LatencyError(f"latency table {path}: no such file; write one with "
                               "'mnas bench SPEC -o FILE'") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise LatencyError(f"latency table {path}: not JSON ({err})") from None
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise LatencyError(f"latency table {path}: not a {FORMAT} file; write one with "
                               "'mnas bench SPEC -o FILE'")
        try:
            rows = tuple((r["key"], r["op"], r["precision"], int(r["work"]), float(r["ms"]))
                         for r in obj["layers"])
            m = obj["machine"]
            return cls(str(path), obj["network"], m["cpu"], m["kernels"], int(obj["threads"]),
                       int(obj["batch"]), rows)
        except (KeyError, TypeError, ValueError) as err:
            raise LatencyError(f"latency table {path}: malformed ({type(err).__name__}: "
                               f"{err})") from None

    def describe(self) -> str:
        return (f"milliseconds measured by mnas bench ({self.network}, {self.machine}, "
                f"{self.kernels} kernels, {self.threads} thread(s), batch {self.batch}); "
                "layers not measured are estimated from the time per MAC or per element of "
                "the same op")

    @cached_property
    def measured(self) -> dict[str, float]:
        times: dict[str, list[float]] = defaultdict(list)
        for key, _, _, _, ms in self.rows:
            times[key].append(ms)
        return {k: statistics.median(v) for k, v in times.items()}

    @cached_property
    def rates(self) -> dict[tuple[str, ...], float]:
        """ms per unit of work by (op, precision) and by (precision,)."""
        sums: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0.0, 0.0])
        for _, op, precision, work, ms in self.rows:
            for group in ((op, precision), (precision,)):
                sums[group][0] += ms
                sums[group][1] += work
        return {k: ms / work for k, (ms, work) in sums.items() if work > 0}

    def layer_ms(self, op: str, params, in_shapes: tuple[Shape, ...], out_shape: Shape,
                 counts: Counts, precision: str) -> float:
        """The layer's measured (or estimated) milliseconds; an input layer costs nothing.
        `precision` is the cost model's ('binary', 'float' or '-')."""
        if op == "input":
            return 0.0
        hit = self.measured.get(layer_key(op, params, in_shapes, out_shape))
        if hit is not None:
            return hit
        rate = self.rates.get((op, precision), self.rates.get((precision,)))
        if rate is None:
            raise LatencyError(f"latency table {self.path} has no {precision} layer to "
                               f"estimate a '{op}' layer from; measure a network that has "
                               "one with 'mnas bench'")
        return rate * layer_work(counts.macs, out_shape)
