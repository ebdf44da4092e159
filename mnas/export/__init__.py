"""`mnas export`: a spec (overrides applied) as TorchScript, ONNX, a state dict, a standalone
Python module, the fully expanded YAML, or a packed file
for the bit-packed kernels. `export_spec` is the one entry point. Each format is
one registry entry (`ExportFormat`), registered by the module of this package that writes it;
a new format is one new module here. Importing the format modules does not import torch;
writing a torch format does."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnas.errors import MnasError
from mnas.registry import Registry


class ExportError(MnasError):
    """An export could not be written (bad weights file, unwritable path, ...)."""


@dataclass(frozen=True)
class ExportFormat:
    """One format: `write(graph, out, source=, description=, weights=)` writes the file and
    returns a note for the user; `weights` says whether the format carries weights (and so
    accepts `--weights`)."""

    name: str
    description: str
    write: Callable[..., str]
    weights: bool = False


#: every export format, registered by the modules of this package (loaded when first read)
FORMATS: Registry[ExportFormat] = Registry(
    "export format", ExportError, "unknown export format '{name}'{hint}; known: {known}",
    package=__name__)
register_format = FORMATS.register
get_format = FORMATS.find


@dataclass(frozen=True)
class Exported:
    path: Path
    format: str
    network: str
    layers: int
    note: str = ""


def describe_overrides(sets: Mapping[str, Any] | None) -> str:
    return " ".join(f"--set {k}={v}" for k, v in (sets or {}).items())


def export_spec(spec: str | Path, fmt: str, out: str | Path,
                sets: Mapping[str, Any] | None = None,
                weights: str | Path | None = None) -> Exported:
    """Write `spec` in format `fmt` to `out`; `weights` (a state dict, or a checkpoint dict
    with a 'model' key) are loaded first, for the formats that carry weights."""
    from mnas.spec.expand import build_graph
    from mnas.spec.load import load_spec
    entry = get_format(fmt)
    if weights is not None and not entry.weights:
        raise ExportError(f"--weights: format '{fmt}' carries no weights; export them with "
                          "--format state-dict and load them with load_state_dict")
    loaded = load_spec(spec, sets)
    graph = build_graph(loaded)
    out = Path(out)
    source = f"{spec}" + (f" ({describe_overrides(sets)})" if sets else "")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        note = entry.write(graph, out, source=source, description=loaded.description,
                           weights=weights)
    except OSError as err:
        raise ExportError(f"cannot write {out}: {err.strerror or err}") from None
    return Exported(out, fmt, graph.name, len(graph.nodes) - 1, note)
