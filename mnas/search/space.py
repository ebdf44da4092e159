"""A search space as data: a YAML file naming the base spec to mutate and, for each of its
values, a range, a list of choices or a fixed value. Any value the base spec accepts with
`--set` can be a dimension; a list value (like `stages`) gets one dimension per item.

    base: ../meliusnet42.yaml          # relative to this file
    dimensions:
      stem: {choices: [grouped, imagenet]}
      stages: [{low: 2, high: 12}, {low: 2, high: 16}, {low: 2, high: 32}, {low: 2, high: 16}]
      transitions: null                # a plain value is fixed, not searched
      reductions: [{low: 1.5, high: 3.5, step: 0.25}, 2.5, {low: 1.5, high: 3.5, step: 0.25}]
      groups: {choices: [1, 2, 4, 8]}

A dimension is `{choices: [...]}` or `{low, high[, step][, log]}` (integers when low, high and
step are integers, else floats); `{fixed: VALUE}` fixes a value that is itself a mapping.
Optuna parameter names are the value's name, with `[i]` for list items (`stages[0]`)."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from mnas.errors import SpecError, suggest
from mnas.zoo import SPACES_DIR, resolve_space, resolve_spec
from mnas.spec.load import Spec, load_spec
from mnas.spec.source import Loc, YamlMap, YamlSeq, read_yaml
from mnas.spec.values import plain

SPACE_KEYS = ("description", "base", "dimensions")
DIMENSION_KEYS = ("choices", "low", "high", "step", "log", "fixed")
DEFAULT_SPACE = SPACES_DIR / "meliusnet.yaml"


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: `kind` is 'int', 'float' or 'choice'."""

    param: str
    kind: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple = ()

    def suggest(self, trial) -> Any:
        if self.kind == "choice":
            return trial.suggest_categorical(self.param, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.param, self.low, self.high, step=self.step or 1,
                                     log=self.log)
        return trial.suggest_float(self.param, self.low, self.high, step=self.step, log=self.log)

    def grid(self) -> tuple | None:
        """Every value this dimension can take, or None when it is continuous."""
        if self.kind == "choice":
            return self.choices
        if self.kind == "int":
            return tuple(range(self.low, self.high + 1, self.step or 1))
        if self.step is None:
            return None
        n = int(math.floor((self.high - self.low) / self.step + 1e-9))
        return tuple(round(self.low + k * self.step, 12) for k in range(n + 1))

    def sample(self, rng: random.Random) -> Any:
        grid = self.grid()
        if grid is not None:
            return rng.choice(grid)
        if self.log:
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return rng.uniform(self.low, self.high)

    def describe(self) -> str:
        if self.kind == "choice":
            return "{" + ", ".join(map(str, self.choices)) + "}"
        step = f" step {self.step}" if self.step not in (None, 1) else ""
        return f"[{self.low}, {self.high}]{step}{' log' if self.log else ''}"


@dataclass(frozen=True)
class Knob:
    """One spec value: `template` is a Dimension, a tuple of Dimensions and fixed items (a
    list value), or a fixed value (`fixed`)."""

    name: str
    template: Any
    fixed: bool
    loc: Loc | None = field(default=None, compare=False)    # where the space file sets it

    def dimensions(self) -> tuple[Dimension, ...]:
        if isinstance(self.template, Dimension):
            return (self.template,)
        if isinstance(self.template, tuple) and not self.fixed:
            return tuple(d for d in self.template if isinstance(d, Dimension))
        return ()

    def value(self, params: Mapping[str, Any]) -> Any:
        if self.fixed:
            return self.template
        if isinstance(self.template, Dimension):
            return params[self.template.param]
        return [params[d.param] if isinstance(d, Dimension) else d for d in self.template]


@dataclass(frozen=True)
class Space:
    """The base spec and its knobs; `values(params)` turns Optuna parameters into the
    overrides of the base spec's values."""

    file: str
    description: str
    base: Spec
    knobs: tuple[Knob, ...]

    @cached_property
    def dimensions(self) -> tuple[Dimension, ...]:
        return tuple(d for k in self.knobs for d in k.dimensions())

    @property
    def searched(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.knobs if not k.fixed)

    def suggest(self, trial) -> dict[str, Any]:
        """Ask `trial` for every dimension (in file order); returns the candidate's values."""
        params = {d.param: d.suggest(trial) for d in self.dimensions}
        return self.values(params)

    def values(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {k.name: k.value(params) for k in self.knobs}

    def spec(self, values: Mapping[str, Any]) -> Spec:
        return self.base.with_values(values, origin=self.file)

    def size(self) -> int | None:
        """Number of distinct candidates, or None when a dimension is continuous."""
        grids = [d.grid() for d in self.dimensions]
        return None if any(g is None for g in grids) else math.prod(len(g) for g in grids)

    def grid(self) -> Iterator[dict[str, Any]]:
        """Every parameter combination (the space must be finite), in a fixed order."""
        dims = self.dimensions
        grids = [d.grid() for d in dims]
        if any(g is None for g in grids):
            raise SpecError("a continuous dimension cannot be enumerated; give it a step",
                            file=self.file)
        for combo in itertools.product(*grids):
            yield dict(zip((d.param for d in dims), combo))

    def sample(self, rng: random.Random) -> dict[str, Any]:
        return {d.param: d.sample(rng) for d in self.dimensions}

    def corners(self) -> Iterator[dict[str, Any]]:
        """Every combination of the dimensions' extremes (each choice of a categorical), in a
        fixed order."""
        dims = self.dimensions
        ends = [d.choices if d.kind == "choice" else tuple(dict.fromkeys((d.low, d.high)))
                for d in dims]
        for combo in itertools.product(*ends):
            yield dict(zip((d.param for d in dims), combo))

    def n_corners(self) -> int:
        return math.prod(len(d.choices) if d.kind == "choice" else len({d.low, d.high})
                         for d in self.dimensions)

    def fingerprint(self) -> dict[str, str]:
        """What a study must agree on to be resumed with this space."""
        return {"base": Path(self.base.file).name,
                **{d.param: d.describe() for d in self.dimensions},
                **{k.name: repr(k.template) for k in self.knobs if k.fixed}}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _dimension(raw: YamlMap, param: str, loc: Loc, field: str) -> Dimension | Any:
    for key in raw:
        if key not in DIMENSION_KEYS:
            raise raw.loc_of(key).error(f"unknown dimension field{suggest(key, DIMENSION_KEYS)}; "
                                        f"allowed: {', '.join(DIMENSION_KEYS)}", f"{field}.{key}")
    if "fixed" in raw:
        if len(raw) > 1:
            raise loc.error("'fixed' takes no other fields", field)
        return _Fixed(raw["fixed"])
    if "choices" in raw:
        choices = raw["choices"]
        if len(raw) > 1:
            raise loc.error("'choices' takes no other fields", field)
        if not isinstance(choices, list) or not choices:
            raise raw.loc_of("choices").error("expected a non-empty list", f"{field}.choices")
        if len({repr(c) for c in choices}) != len(choices):
            raise raw.loc_of("choices").error("choices repeat a value", f"{field}.choices")
        for i, c in enumerate(choices):
            if not (c is None or isinstance(c, (bool, int, float, str))):
                raise choices.loc_of(i).error("choices must be plain values (numbers, strings, "
                                              "null); use several knobs for lists",
                                              f"{field}.choices[{i}]")
        return Dimension(param, "choice", choices=tuple(choices))
    if "low" not in raw or "high" not in raw:
        raise loc.error("a dimension needs 'choices', or 'low' and 'high'", field)
    low, high, step, log = raw["low"], raw["high"], raw.get("step"), raw.get("log", False)
    for key, v in (("low", low), ("high", high)) + ((("step", step),) if step is not None else ()):
        if not _number(v):
            raise raw.loc_of(key).error(f"expected a number, got {v!r}", f"{field}.{key}")
    if not isinstance(log, bool):
        raise raw.loc_of("log").error(f"expected true or false, got {log!r}", f"{field}.log")
    if low > high:
        raise raw.loc_of("high").error(f"high ({high}) is below low ({low})", f"{field}.high")
    if step is not None and not step > 0:
        raise raw.loc_of("step").error(f"must be > 0, got {step}", f"{field}.step")
    if log and (step is not None or not low > 0):
        raise raw.loc_of("log").error("a log dimension needs low > 0 and no step", f"{field}.log")
    ints = all(isinstance(v, int) for v in (low, high) + ((step,) if step is not None else ()))
    if ints:
        if step is not None and (high - low) % step:
            raise raw.loc_of("high").error(f"high - low ({high - low}) is not a multiple of "
                                           f"step {step}", f"{field}.high")
        return Dimension(param, "int", low, high, step, log)
    if step is not None and abs((high - low) / step - round((high - low) / step)) > 1e-9:
        raise raw.loc_of("high").error(f"high - low ({high - low:g}) is not a multiple of step "
                                       f"{step:g}", f"{field}.high")
    return Dimension(param, "float", float(low), float(high), step, log)


@dataclass(frozen=True)
class _Fixed:
    value: Any


def _knob(name: str, raw: Any, loc: Loc) -> Knob:
    field = f"dimensions.{name}"
    if isinstance(raw, YamlMap):
        d = _dimension(raw, name, loc, field)
        return (Knob(name, plain(d.value), True, loc) if isinstance(d, _Fixed) else
                Knob(name, d, False, loc))
    if isinstance(raw, YamlSeq) and any(isinstance(item, YamlMap) for item in raw):
        items = []
        for i, item in enumerate(raw):
            if isinstance(item, YamlMap):
                d = _dimension(item, f"{name}[{i}]", raw.loc_of(i), f"{field}[{i}]")
                items.append(plain(d.value) if isinstance(d, _Fixed) else d)
            else:
                items.append(plain(item))
        return Knob(name, tuple(items), False, loc)
    return Knob(name, plain(raw), True, loc)


def load_space(path: str | Path | None = None) -> Space:
    """Read a space file; its base spec is loaded and every knob checked against it."""
    path = resolve_space(path) if path is not None else DEFAULT_SPACE
    data = read_yaml(path)
    where = Loc(str(path), 1, 1)
    if not isinstance(data, YamlMap):
        raise where.error("expected a mapping with 'base' and 'dimensions'")
    for key in data:
        if key not in SPACE_KEYS:
            raise data.loc_of(key).error(f"unknown field in a search space{suggest(key, SPACE_KEYS)}; "
                                         f"allowed: {', '.join(SPACE_KEYS)}", key)
    base_name = data.get("base")
    if not isinstance(base_name, str) or not base_name:
        raise data.loc_of("base").error("expected the path of the spec to search (relative to "
                                        "this file)", "base")
    base_path = path.parent / base_name
    if not base_path.exists():
        base_path = resolve_spec(base_name)
    if not base_path.exists():
        raise data.loc_of("base").error(f"spec not found: {base_path}", "base")
    base = load_spec(base_path)
    dims = data.get("dimensions")
    if not isinstance(dims, YamlMap) or not dims:
        raise data.loc_of("dimensions").error("expected a mapping of spec values to ranges, "
                                              "choices or fixed values", "dimensions")
    allowed = base.settable()
    knobs = []
    for name, raw in dims.items():
        if name not in allowed:
            raise dims.loc_of(name).error(
                f"'{name}' is not a value of {base_path.name}{suggest(name, allowed)}; "
                f"it sets: {', '.join(allowed)}", f"dimensions.{name}")
        knobs.append(_knob(name, raw, dims.loc_of(name)))
    if not any(not k.fixed for k in knobs):
        raise data.loc_of("dimensions").error("nothing to search: every value is fixed",
                                              "dimensions")
    description = data.get("description", "")
    return Space(str(path), description if isinstance(description, str) else "", base,
                 tuple(knobs))
