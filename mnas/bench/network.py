"""`bench_graph`: run a network for inference on this machine, layer by layer, twice: as
deployed on the kernels (binary layers bit-packed, 32-bit layers in PyTorch; inference form
`kernels`) and as the float simulation (binary weights as +-1 float constants, every layer
in PyTorch: form `signed`). Each layer is timed on its real input at that point of the
network, both forms alternating (mnas.bench.timing); a layer that runs in PyTorch in both
forms is the same module on the same values, so it is timed once and both columns show that
time. The whole network is timed end to end, both forms alternating. Both forms must give
the same output, to the bit; the result says so.

The weights do not change the timings (the kernels do the same work for any signs), so an
untrained network is measured unless a module is given."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from mnas import __version__
from mnas.bench.timing import cpu_model, time_one, time_pair
from mnas.cost.latency import FORMAT, layer_key, layer_work
from mnas.cost.model import cost_graph
from mnas.ir.graph import Graph
from mnas.ir.shapes import infer_shapes
from mnas.ops.registry import Shape


@dataclass(frozen=True)
class LayerTime:
    """One layer: where it ran ('kernels' or 'torch'), its MACs by precision, and the median
    milliseconds per call as deployed (`ms`) and simulated in float (`float_ms`)."""

    name: str
    op: str
    stage: str
    precision: str
    shape: Shape
    runs_on: str
    key: str
    binary_macs: int
    float_macs: int
    ms: float
    float_ms: float

    @property
    def macs(self) -> int:
        return self.binary_macs + self.float_macs


def speedup(ms: float, float_ms: float) -> float | None:
    return float_ms / ms if ms > 0 else None


def assumed_speedup(binary_macs: int, float_macs: int, binary_speedup: float = 64) -> float | None:
    """What the cost model assumes: OPs of the float simulation over OPs as deployed."""
    ops = binary_macs / binary_speedup + float_macs
    return (binary_macs + float_macs) / ops if ops else None


@dataclass(frozen=True)
class BenchResult:
    network: str
    spec: str
    input: Shape
    batch: int
    threads: int
    kernels: str
    cpu: str
    rounds: int
    channels_last: bool
    layers: tuple[LayerTime, ...]
    network_ms: float
    network_float_ms: float
    identical: bool

    def stages(self) -> list[dict[str, Any]]:
        """Per stage, in network order: layers, MACs, milliseconds, speed-ups, share."""
        order: dict[str, list[LayerTime]] = {}
        for layer in self.layers:
            order.setdefault(layer.stage, []).append(layer)
        total = sum(layer.ms for layer in self.layers)
        rows = []
        for stage, layers in order.items():
            ms = sum(layer.ms for layer in layers)
            float_ms = sum(layer.float_ms for layer in layers)
            bmacs = sum(layer.binary_macs for layer in layers)
            fmacs = sum(layer.float_macs for layer in layers)
            rows.append({"stage": stage, "layers": len(layers), "macs": bmacs + fmacs,
                         "binary_macs": bmacs, "ms": ms, "float_ms": float_ms,
                         "speedup": speedup(ms, float_ms),
                         "assumed": assumed_speedup(bmacs, fmacs),
                         "share_pct": 100 * ms / total if total else None})
        return rows

    def to_json(self) -> dict[str, Any]:
        """The latency table (format mnas-latency/1, read by mnas.cost.latency)."""
        return {
            "format": FORMAT, "network": self.network, "spec": self.spec,
            "input": list(self.input), "batch": self.batch, "threads": self.threads,
            "memory_format": "channels_last" if self.channels_last else "contiguous",
            "machine": {"cpu": self.cpu, "kernels": self.kernels, "torch": torch.__version__,
                        "mnas": __version__},
            "timing": f"minimum over {self.rounds} rounds of the mean ms per call; 'ms' as "
                      "deployed (binary layers on the kernels), 'float_ms' simulated in float "
                      "(layers that run in PyTorch either way are timed once)",
            "network_ms": {"end_to_end": self.network_ms,
                           "end_to_end_float": self.network_float_ms,
                           "sum_of_layers": sum(layer.ms for layer in self.layers),
                           "sum_of_layers_float": sum(layer.float_ms for layer in self.layers)},
            "identical_outputs": self.identical,
            "layers": [{"name": layer.name, "op": layer.op, "stage": layer.stage,
                        "precision": layer.precision, "runs_on": layer.runs_on,
                        "shape": list(layer.shape), "key": layer.key,
                        "work": layer_work(layer.macs, layer.shape),
                        "binary_macs": layer.binary_macs, "float_macs": layer.float_macs,
                        "ms": layer.ms, "float_ms": layer.float_ms}
                       for layer in self.layers],
            "stages": self.stages(),
        }


def bench_graph(graph: Graph, batch: int = 1, threads: int = 1, rounds: int = 7,
                module: torch.nn.Module | None = None, spec: str = "",
                channels_last: bool = True,
                progress: Callable[[int, int, str], None] | None = None) -> BenchResult:
    """Time `graph` (lowered to `module`, or freshly initialised) with `threads` threads at
    batch `batch`, both forms in channels-last memory unless told otherwise;
    `progress(done, total, layer)` is called as layers finish."""
    from mnas.kernels.ops import active
    from mnas.kernels.modules import PackedBinaryConv2d, PackSigns
    from mnas.lower.inference import inference_module
    from mnas.lower.torch import example_input, to_module
    shapes = infer_shapes(graph)
    report = cost_graph(graph, "larq", shapes)         # larq: the FC's MACs count as well
    lowered = module if module is not None else to_module(graph, shapes)
    simulated = inference_module(graph, lowered, "signed", channels_last)
    deployed = inference_module(graph, lowered, "kernels", channels_last)
    kernels = active()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    x = example_input(graph, batch)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    last_use = {i: k for k, node in enumerate(graph.nodes) for i in node.inputs}
    env_sim, env_dep = {graph.input.name: x}, {graph.input.name: x}
    layers = []
    try:
        with torch.no_grad():
            total = len(graph.nodes) - 1
            for k, (node, cost) in enumerate(zip(graph.nodes[1:], report.layers[1:]), 1):
                sim, dep = simulated.get_submodule(node.name), deployed.get_submodule(node.name)
                args_sim = [env_sim[i] for i in node.inputs]
                args_dep = [env_dep[i] for i in node.inputs]
                on_kernels = isinstance(dep, (PackedBinaryConv2d, PackSigns))
                if on_kernels:
                    pair = time_pair(lambda: dep(*args_dep), lambda: sim(*args_sim), rounds)
                    ms, float_ms = pair.a * 1e3, pair.b * 1e3
                else:   # the same module on the same values in both forms: timed once
                    ms = float_ms = time_one(lambda: dep(*args_dep), rounds) * 1e3
                env_dep[node.name], env_sim[node.name] = dep(*args_dep), sim(*args_sim)
                for i in set(node.inputs):
                    if last_use[i] == k:
                        del env_sim[i], env_dep[i]
                layers.append(LayerTime(
                    node.name, node.op, node.stage, cost.precision, shapes[node.name],
                    "kernels" if on_kernels else "torch",
                    layer_key(node.op, node.params, tuple(shapes[i] for i in node.inputs),
                              shapes[node.name]),
                    cost.bops, cost.flops, ms, float_ms))
                if progress:
                    progress(k, total, node.name)
            out = graph.output.name
            identical = torch.equal(env_dep[out], env_sim[out])
            whole = time_pair(lambda: deployed(x), lambda: simulated(x), rounds)
    finally:
        torch.set_num_threads(before)
    return BenchResult(graph.name, spec, graph.input.params.shape, batch, threads, kernels,
                       cpu_model(), rounds, channels_last, tuple(layers), whole.a * 1e3,
                       whole.b * 1e3,
                       identical)
