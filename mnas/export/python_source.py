"""A standalone Python module defining the network as a plain `nn.Module` that needs only
torch, for use in any training script. It holds a copy of `mnas.ops.layers` and
`mnas.ops.modern_layers` (the same modules `to_module` uses, so behaviour is identical) and
one class whose `__init__` builds the layers under the IR's names and whose `forward` runs
them in the IR's order, so its state dict is interchangeable with the lowered module's and
with `mnas export --format state-dict`."""

from __future__ import annotations

import ast
import inspect
import keyword
import re
from pathlib import Path

from mnas.export import ExportError, ExportFormat, register_format
from mnas.ir.graph import Graph

RESERVED = {"self", "x", "torch", "nn", "F", "functools"}


def _identifier(part: str) -> bool:
    return part.isidentifier() and not keyword.iskeyword(part)


def _attr(base: str, part: str) -> str:
    return f"{base}.{part}" if _identifier(part) else f"getattr({base}, {part!r})"


def _path(name: str) -> str:
    expr = "self"
    for part in name.split("."):
        expr = _attr(expr, part)
    return expr


def _assign(name: str, value: str) -> str:
    head, _, last = name.rpartition(".")
    base = _path(head) if head else "self"
    return f"{base}.{last} = {value}" if _identifier(last) else \
        f"setattr({base}, {last!r}, {value})"


def _literal(value) -> str:
    if isinstance(value, (bool, int, float, str, type(None))):
        return repr(value)
    if isinstance(value, tuple):
        return f"({''.join(_literal(v) + ', ' for v in value)})"
    raise ExportError(f"cannot write {value!r} as Python source")


def layer_modules() -> tuple:
    """The modules whose layer classes a network may use, in the order they are copied."""
    from mnas.ops import layers, modern_layers
    return layers, modern_layers


def _constructor(name: str, module) -> str:
    args, kwargs = getattr(module, "init_args", (None, None))
    cls = type(module).__name__
    sources = layer_modules()
    if args is None or not any(getattr(m, cls, None) is type(module) for m in sources):
        raise ExportError(f"layer '{name}': its module {cls} is not from "
                          f"{' or '.join(m.__name__ for m in sources)}")
    parts = [_literal(a) for a in args] + [f"{k}={_literal(v)}" for k, v in kwargs.items()]
    return f"{cls}({', '.join(parts)})"


def _layers_source() -> str:
    """The layer modules without their docstrings; after the first, without the imports of
    `__future__` and of mnas (the names they import are defined above them)."""
    parts = []
    for i, module in enumerate(layer_modules()):
        text = inspect.getsource(module)
        doc = ast.parse(text).body[0]
        lines = text.splitlines()[doc.end_lineno:]
        if i:
            lines = [ln for ln in lines if not ln.startswith(("from __future__", "from mnas"))]
        parts.append("\n".join(lines).strip("\n"))
    return "\n\n\n".join(parts)


def _variables(graph: Graph) -> dict[str, str]:
    """A Python variable per node: `x` when only the next node reads the value, else a name
    made from the node's (unique) name."""
    users, order = graph.users, [n.name for n in graph.nodes]
    out, taken = {}, set(RESERVED)
    for i, node in enumerate(graph.nodes):
        if i + 1 < len(order) and users[node.name] == (order[i + 1],):
            out[node.name] = "x"
            continue
        base = re.sub(r"\W", "_", node.name)
        if not _identifier(base) or base in RESERVED:
            base = f"v_{base}"
        var, k = base, 1
        while var in taken:
            k += 1
            var = f"{base}_{k}"
        taken.add(var)
        out[node.name] = var
    return out


def python_source(graph: Graph, source: str = "") -> str:
    import torch

    from mnas.lower.torch import class_name, lower_node_modules
    with torch.device("meta"):
        modules = lower_node_modules(graph)
    cls = class_name(graph)
    if any(hasattr(m, cls) for m in layer_modules()) or cls in RESERVED:
        cls += "Network"  # do not shadow a layer class or a name the code uses
    shape = tuple(graph.input.params.shape)
    var = _variables(graph)
    init, made = [], set()
    for node in graph.nodes[1:]:
        parts = node.name.split(".")
        for depth in range(1, len(parts)):
            scope = ".".join(parts[:depth])
            if scope not in made:
                made.add(scope)
                init.append(_assign(scope, "nn.Module()"))
        init.append(_assign(node.name, _constructor(node.name, modules[node.name])))
    last_use = {}
    for i, node in enumerate(graph.nodes):
        for src in node.inputs:
            last_use[src] = i
    forward = [] if var[graph.input.name] == "x" else [f"{var[graph.input.name]} = x"]
    for i, node in enumerate(graph.nodes[1:], 1):
        args = ", ".join(var[s] for s in node.inputs)
        forward.append(f"{var[node.name]} = {_path(node.name)}({args})")
        dead = sorted({var[s] for s in node.inputs if last_use[s] == i and var[s] != "x"
                       and var[s] != var[node.name]})
        if dead:
            forward.append(f"del {', '.join(dead)}")
    forward.append(f"return {var[graph.output.name]}")
    header = f'''"""{graph.name} as a plain PyTorch module, generated by `mnas export --format python`{
        " from " + source if source else ""}.

Needs only torch. The layer classes below are copied from mnas.ops; `{cls}` builds
the network under the spec's layer names, so state dicts from `mnas export --format
state-dict` (or from mnas training checkpoints' 'model' entry) load into it:

    model = {cls}()
    model.load_state_dict(torch.load("weights.pt"))
    logits = model(images)  # images: N x {" x ".join(map(str, shape))}
"""'''
    body = "\n        ".join(init)
    fwd = "\n        ".join(forward)
    network = f'''class {cls}(nn.Module):
    """{graph.name}: {len(graph.nodes) - 1} layers; input N x {" x ".join(map(str, shape))}."""

    input_shape = {shape!r}

    def __init__(self):
        super().__init__()
        {body}

    def forward(self, x):
        {fwd}


Network = {cls}
'''
    return f"{header}\n{_layers_source()}\n\n\n{network}"


def write_python_source(graph: Graph, path: str | Path, source: str = "") -> Path:
    path = Path(path)
    path.write_text(python_source(graph, source))
    return path


def _write(graph: Graph, out: Path, source: str = "", description: str = "",
           weights=None) -> str:
    write_python_source(graph, out, source)
    return "standalone nn.Module, needs only torch"


PYTHON = register_format(ExportFormat(
    "python", "standalone .py defining the network as a plain nn.Module (needs only torch)",
    _write))
