"""`--format packed`: a network for the bit-packed kernels in one file.

The file (torch.save) holds the fully expanded spec (the network's structure, as
`--format yaml` writes it) and the state dict of its `kernels` inference form
(mnas.lower.inference): binary weights as their signs, 1 bit each (`weight_bits`), and the
32-bit parts (other layers' weights, BatchNorm's affine parameters and running statistics,
Bi-Real Net's weight scales). `load_packed` rebuilds the module that runs inference on the
kernels. Its size is the cost model's size plus BatchNorm's running statistics (the cost
model counts 2 of BatchNorm's 4 values per channel) and the container's headers."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mnas.export import ExportError, ExportFormat, register_format
from mnas.ir.graph import Graph

FORMAT = "mnas-packed/1"


def write_packed(graph: Graph, module, out: Path, source: str = "") -> str:
    """Write `module` (lowered from `graph`) to `out`; returns a note with the file's size
    next to the cost model's."""
    import torch

    from mnas.cost.model import cost_graph
    from mnas.export.flat_yaml import flat_yaml
    from mnas.lower.inference import inference_module
    packed = inference_module(graph, module, "kernels")
    torch.save({"format": FORMAT, "network": graph.name, "spec": flat_yaml(graph, source),
                "state": packed.state_dict()}, out)
    mib = out.stat().st_size / 2 ** 20
    model = cost_graph(graph).totals.size_mib
    return (f"binary weights 1 bit each, for the bit-packed kernels; {mib:.3f} MiB on disk, "
            f"cost model {model:.3f} MiB")


def load_packed(path: str | Path):
    """The module (a torch.fx.GraphModule) a packed file describes, in eval mode, running on
    the kernels."""
    import torch

    from mnas.lower.inference import inference_module
    from mnas.lower.torch import to_module
    from mnas.spec.expand import build_graph
    from mnas.spec.load import load_spec
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ExportError(f"{path}: no such file") from None
    except Exception as err:  # torch raises several types for files it cannot read
        raise ExportError(f"{path}: not a packed mnas network ({type(err).__name__})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ExportError(f"{path}: not a packed mnas network (expected format {FORMAT}; "
                          "write one with 'mnas export SPEC --format packed')")
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "network.yaml"
        spec.write_text(obj["spec"])
        graph = build_graph(load_spec(spec))
    module = inference_module(graph, to_module(graph), "kernels")
    module.load_state_dict(obj["state"])
    return module


def _write(graph, out, source="", description="", weights=None) -> str:
    from mnas.export.torch_formats import build
    return write_packed(graph, build(graph, weights), out, source)


PACKED = register_format(ExportFormat(
    "packed", "binary weights bit-packed (1 bit each) plus the 32-bit parts; "
    "mnas.export.packed.load_packed runs it on the bit-packed kernels", _write, weights=True))
