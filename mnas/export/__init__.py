"""`mnas export`: a spec (overrides applied) as TorchScript, ONNX, a state dict, a standalone
Python module, the fully expanded YAML, or a packed file for the bit-packed kernels. `export_spec` is the one entry point; each format
lives in its own module, and only the torch formats import torch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnas.errors import MnasError

FORMATS = ("torchscript", "onnx", "state-dict", "python", "yaml", "packed")
WEIGHTLESS = ("python", "yaml")


class ExportError(MnasError):
    """An export could not be written (bad weights file, unwritable path, ...)."""


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
    from mnas import api
    from mnas.spec.expand import build_graph
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format '{fmt}'; known: {', '.join(FORMATS)}")
    if weights is not None and fmt in WEIGHTLESS:
        raise ExportError(f"--weights: format '{fmt}' carries no weights; export them with "
                          "--format state-dict and load them with load_state_dict")
    loaded = api.load(spec, sets)
    graph = build_graph(loaded)
    out = Path(out)
    source = f"{spec}" + (f" ({describe_overrides(sets)})" if sets else "")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "yaml":
            from mnas.export.flat_yaml import write_flat_yaml
            write_flat_yaml(graph, out, source, loaded.description)
            note = "fully expanded spec; 'mnas cost' reads it to the same costs"
        elif fmt == "python":
            from mnas.export.python_source import write_python_source
            write_python_source(graph, out, source)
            note = "standalone nn.Module, needs only torch"
        elif fmt == "packed":
            from mnas.export.packed import write_packed
            from mnas.export.torch_formats import build
            note = write_packed(graph, build(graph, weights), out, source)
        else:
            from mnas.export.torch_formats import export_torch
            note = export_torch(graph, fmt, out, weights)
    except OSError as err:
        raise ExportError(f"cannot write {out}: {err.strerror or err}") from None
    return Exported(out, fmt, graph.name, len(graph.nodes) - 1, note)
