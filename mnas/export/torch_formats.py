"""The formats that carry weights: a state dict, TorchScript and ONNX.

TorchScript and ONNX hold an inference graph: the module is traced in eval mode (BatchNorm
uses its running statistics, sign is a plain `torch.where`), batch 1, with the batch
dimension left dynamic in ONNX. Binary weights are stored as their signs, 1 bit each, and
expanded to +-1 in the graph (`mnas.lower.inference`, form `bits`): the file is about the
cost model's size, not that of the 32-bit latent weights. ONNX constant folding is off, as it
would store the expanded floats; onnxruntime folds them when it loads the model. ONNX uses
torch's TorchScript-based exporter (`dynamo=False`): it needs only the `onnx` package, while
the newer torch.export-based exporter (the default since torch 2.9) also needs `onnxscript`,
which mnas does not depend on. Its deprecation warnings are silenced here; a user cannot act
on them."""

from __future__ import annotations

import warnings
from pathlib import Path

from mnas.errors import MissingDependency
from mnas.export import ExportError, ExportFormat, register_format
from mnas.ir.graph import Graph


def load_weights(module, path: str | Path) -> None:
    """Load a state dict, or a checkpoint dict holding one under 'model', into `module`."""
    import torch
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"--weights {path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for files it cannot read
        lines = str(err).strip().splitlines()
        detail = f"{type(err).__name__}: {lines[0][:200]}" if lines else type(err).__name__
        raise ExportError(f"--weights {path}: not a PyTorch state dict or checkpoint "
                          f"({detail})") from None
    state = obj.get("model", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ExportError(f"--weights {path}: expected a state dict, or a checkpoint dict "
                          "with the state dict under 'model'")
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if k in state and state[k].shape != v.shape]
    for what, names in (("missing", missing), ("unexpected", unexpected),
                        ("of the wrong shape", wrong)):
        if names:
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            raise ExportError(f"--weights {path}: {len(names)} entries {what} for this "
                              f"network: {', '.join(names[:3])}{more}")
    module.load_state_dict(state)


def build(graph: Graph, weights: str | Path | None = None):
    from mnas.lower.torch import to_module
    module = to_module(graph)
    if weights is not None:
        load_weights(module, weights)
    return module


def export_torch(graph: Graph, fmt: str, out: Path, weights: str | Path | None = None) -> str:
    """Write `graph` as 'state-dict', 'torchscript' or 'onnx'; returns a note for the user."""
    import torch

    from mnas.lower.torch import example_input
    module = build(graph, weights)
    origin = "trained weights" if weights is not None else "initial (untrained) weights"
    if fmt == "state-dict":
        torch.save(module.state_dict(), out)
        return f"state dict, {origin}"
    from mnas.lower.inference import inference_module
    module = inference_module(graph, module, "bits")
    x = example_input(graph, batch=1)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Constant folding", category=UserWarning)
        if fmt == "torchscript":
            torch.jit.save(torch.jit.trace(module, x, check_trace=False), str(out))
        elif fmt == "onnx":
            try:
                import onnx  # noqa: F401
            except ImportError:
                raise MissingDependency("onnx", "--format onnx") from None
            torch.onnx.export(module, (x,), str(out), dynamo=False, input_names=["input"],
                              output_names=["output"], do_constant_folding=False,
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        else:
            raise ExportError(f"unknown torch export format '{fmt}'")
    return f"inference graph (eval mode, binary weights as 1-bit signs), {origin}"


def _writer(fmt: str):
    def write(graph, out, source="", description="", weights=None) -> str:
        return export_torch(graph, fmt, out, weights)
    return write


TORCHSCRIPT = register_format(ExportFormat(
    "torchscript", "traced inference graph (eval mode, binary weights as 1-bit signs), "
    "loads with torch.jit.load",
    _writer("torchscript"), weights=True))
ONNX = register_format(ExportFormat(
    "onnx", "inference graph (eval mode, dynamic batch, binary weights as 1-bit signs), for "
    "onnxruntime and others",
    _writer("onnx"), weights=True))
STATE_DICT = register_format(ExportFormat(
    "state-dict", "the lowered module's weights under the spec's layer names (torch.save)",
    _writer("state-dict"), weights=True))
