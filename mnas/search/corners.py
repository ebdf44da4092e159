"""A space checked against its base before the first trial: every combination of the
dimensions' extremes (each choice of a categorical) must build. A space whose candidates cannot
build (a 5-stage space with three reductions, a group count that divides no width) is refused
with an error that points at the dimension of the space file to blame, instead of failing trial
after trial with messages from the block library."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from mnas.errors import MnasError, SpecError
from mnas.search.costing import Costing
from mnas.search.space import Knob, Space

#: corners built at most (a sample beyond); the block path costs one in well under a
#: millisecond once its cache is warm, the graph model in ~10 ms
CORNER_LIMIT = {"blocks": 4096, "graph": 128}


def check_corners(space: Space, costing: Costing) -> int:
    """Build the space's corners; raise a SpecError located in the space file if one fails.
    Returns how many corners were built."""
    corners = list(space.corners())
    limit = CORNER_LIMIT[costing.method]
    if len(corners) > limit:
        corners = random.Random(0).sample(corners, limit)
    good, failures = None, []
    for params in corners:
        try:
            costing.cost(space.values(params))
        except MnasError as err:
            failures.append((params, err))
        else:
            good = good or params
    if not failures:
        return len(corners)
    params, err = failures[0]
    knob = _blame(space, costing, params, good)
    shown = ", ".join(f"{k.name}={_fmt(k.value(params))}" for k in space.knobs if not k.fixed)
    share = ("no corner of this space builds" if good is None else
             f"{len(failures)} of {len(corners)} corners of this space do not build")
    where = knob.loc
    message = f"{share} from {space.base.name} (e.g. {shown}): {err}"
    if where is None:
        raise SpecError(message, file=space.file, field=f"dimensions.{knob.name}")
    raise where.error(message, f"dimensions.{knob.name}")


def _blame(space: Space, costing: Costing, bad: Mapping[str, Any],
           good: Mapping[str, Any] | None) -> Knob:
    """The searched knob that breaks `bad`: the one that alone turns a corner that builds into
    one that fails, or (when none builds) the one whose base value makes `bad` build."""
    searched = [k for k in space.knobs if not k.fixed]
    for knob in searched:
        params = dict(good) if good is not None else dict(bad)
        if good is not None:
            params.update({d.param: bad[d.param] for d in knob.dimensions()})
            values = space.values(params)
        else:
            values = space.values(params)
            base = space.base.values.get(knob.name, _block_default(space, knob.name))
            values[knob.name] = base
        try:
            costing.cost(values)
        except MnasError:
            if good is not None:
                return knob
        else:
            if good is None:
                return knob
    return searched[0]


def _block_default(space: Space, name: str) -> Any:
    base = space.base
    return dict(base.blocks[base.block].args).get(name) if base.block in base.blocks else None


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_fmt(v) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)
