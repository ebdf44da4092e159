"""The fully expanded spec: every layer of the graph as one `layers:` item with its full
dotted name, op, non-default fields and (where it is not the previous layer) its inputs.
Blocks, repeats, `for`, `when`, `${...}` and overrides are all resolved, so the file is the
graph itself in spec form; `mnas cost` reads it back to the same graph and costs. Torch-free."""

from __future__ import annotations

from dataclasses import MISSING, fields
from pathlib import Path

import yaml

from mnas.errors import MnasError
from mnas.export import ExportFormat, register_format
from mnas.ir.graph import Graph, Node
from mnas.spec.expand import ITEM_KEYS
from mnas.spec.values import plain


def _fields(node: Node) -> dict:
    """The node's params that differ from their defaults (required ones always)."""
    out = {}
    for f in fields(node.params):
        value = getattr(node.params, f.name)
        default = f.default if f.default is not MISSING else MISSING
        if default is MISSING or value != default:
            if f.name in ITEM_KEYS or f.name == "op":
                raise MnasError(f"layer '{node.name}': field '{f.name}' of op '{node.op}' "
                                "clashes with a spec keyword and cannot be written flat")
            out[f.name] = plain(value)
    return out


def _item(node: Node, previous: str) -> dict:
    item = {"name": node.name, "op": node.op, **_fields(node)}
    if node.inputs != (previous,):
        item["inputs"] = list(node.inputs)
    for text in (node.name, *node.inputs):
        if "${" in text:
            raise MnasError(f"layer '{node.name}': '${{' in a layer name would be read back "
                            "as an expression")
    return item


def _flow(obj) -> str:
    return yaml.safe_dump(obj, default_flow_style=True, sort_keys=False, width=10 ** 9).strip()


def flat_yaml(graph: Graph, source: str = "", description: str = "") -> str:
    lines = [f"# {graph.name}, fully expanded by `mnas export --format yaml`"
             + (f" from {source}" if source else "") + ".",
             "# One item per layer, named by its full path; `mnas cost` reads this file to the "
             "same costs.",
             ]
    header = {"name": graph.name, **({"description": description} if description else {}),
              "input": list(graph.input.params.shape)}
    lines += yaml.safe_dump(header, sort_keys=False, default_flow_style=None,
                            width=10 ** 9).splitlines()
    lines.append("layers:")
    previous = graph.input.name
    for node in graph.nodes[1:]:
        lines.append(f"  - {_flow(_item(node, previous))}")
        previous = node.name
    return "\n".join(lines) + "\n"


def write_flat_yaml(graph: Graph, path: str | Path, source: str = "",
                    description: str = "") -> Path:
    path = Path(path)
    path.write_text(flat_yaml(graph, source, description))
    return path


def _write(graph: Graph, out: Path, source: str = "", description: str = "",
           weights=None) -> str:
    write_flat_yaml(graph, out, source, description)
    return "fully expanded spec; 'mnas cost' reads it to the same costs"


YAML = register_format(ExportFormat(
    "yaml", "the fully expanded spec, overrides applied; 'mnas cost' reads it back", _write))
