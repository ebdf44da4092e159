"""`mnas bench`: measure a network's latency on this machine, binary layers on the bit-packed
kernels against the float simulation, per layer and per stage; write the latency table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mnas.cli.common import add_format, add_set

EXAMPLES = """examples:
  mnas bench specs/meliusnet22.yaml                       one thread, batch 1, per layer + stage
  mnas bench specs/meliusnet22.yaml --by stage --threads 2
  mnas bench specs/birealnet18.yaml --batch 8 -o bireal-b8.json
  mnas bench specs/meliusnet22.yaml --format json > table.json
  mnas bench specs/meliusnet22.yaml --kernels avx2      force a code path (or MNAS_KERNELS=avx2)
then:
  mnas cost specs/meliusnet22.yaml --convention measured:runs/bench/meliusnet22-b1-t1.json
  mnas search --max-latency-ms 40 --latency-table runs/bench/meliusnet22-b1-t1.json

Columns: ms (as deployed: binary layers on the kernels, 32-bit layers in PyTorch),
float_ms (every layer in PyTorch, binary weights as +-1 floats: the float simulation),
speedup = float_ms / ms (measured), assumed = what the cost model's OPs assume
(a binary MAC costs 1/64 of a 32-bit one). Each figure is the minimum over --rounds rounds;
on a shared machine, expect a few percent of noise."""


DESCRIPTION = ("Run a network for inference on this machine and time every layer: binary "
               "layers on mnas's bit-packed kernels against the same layers simulated in "
               "float. Writes a latency table for 'mnas cost --convention measured:FILE' and "
               "'mnas search --max-latency-ms'.")


def add_arguments(p) -> None:
    p.add_argument("spec", metavar="SPEC", help="network spec YAML file (or a bundled name)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="CPU threads for the kernels and PyTorch (default: 1)")
    p.add_argument("--batch", type=int, default=1, metavar="N", help="batch size (default: 1)")
    p.add_argument("--rounds", type=int, default=7, metavar="N",
                   help="timing rounds per layer; the minimum is kept (default: 7)")
    p.add_argument("--layout", choices=["nhwc", "nchw"], default="nhwc",
                   help="memory layout of image tensors in both forms: nhwc (channels-last, "
                        "default; PyTorch pools and grouped convs run faster) or nchw")
    p.add_argument("--kernels", choices=["auto", "avx512", "avx2", "portable", "torch"],
                   help="kernel code path (default: MNAS_KERNELS or auto, the best this CPU "
                        "runs; torch: the pure-PyTorch path)")
    p.add_argument("--weights", metavar="CKPT",
                   help="trained weights (timings do not depend on them; the outputs do)")
    p.add_argument("--by", choices=["layer", "stage"],
                   help="print only the per-layer or only the per-stage table")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="latency table to write (default: runs/bench/<spec>-b<batch>-"
                        "t<threads>.json)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_format(p)
    add_set(p)


LAYER_COLUMNS = ("name", "op", "precision", "shape", "runs_on", "macs", "ms", "float_ms",
                 "speedup", "assumed")


def _ratio(value):
    return None if value is None else round(value, 2)


def layer_rows(result) -> list[dict]:
    from mnas.bench.network import assumed_speedup, speedup
    return [{"stage": layer.stage, "name": layer.name, "op": layer.op,
             "precision": layer.precision, "shape": "x".join(map(str, layer.shape)),
             "runs_on": layer.runs_on, "macs": layer.macs, "ms": round(layer.ms, 4),
             "float_ms": round(layer.float_ms, 4),
             "speedup": _ratio(speedup(layer.ms, layer.float_ms)),
             "assumed": _ratio(assumed_speedup(layer.binary_macs, layer.float_macs))}
            for layer in result.layers]


def stage_rows(result) -> list[dict]:
    from mnas.bench.network import assumed_speedup, speedup
    rows = [{"stage": r["stage"], "layers": r["layers"], "macs": r["macs"],
             "ms": round(r["ms"], 3), "float_ms": round(r["float_ms"], 3),
             "speedup": _ratio(r["speedup"]), "assumed": _ratio(r["assumed"]),
             "share_%": None if r["share_pct"] is None else round(r["share_pct"], 1)}
            for r in result.stages()]
    layers = result.layers
    bmacs = sum(layer.binary_macs for layer in layers)
    fmacs = sum(layer.float_macs for layer in layers)
    for label, ms, float_ms in (
            ("sum of layers", sum(layer.ms for layer in layers),
             sum(layer.float_ms for layer in layers)),
            ("end to end", result.network_ms, result.network_float_ms)):
        rows.append({"stage": label, "layers": len(layers), "macs": bmacs + fmacs,
                     "ms": round(ms, 3), "float_ms": round(float_ms, 3),
                     "speedup": _ratio(speedup(ms, float_ms)),
                     "assumed": _ratio(assumed_speedup(bmacs, fmacs)), "share_%": None})
    return rows


def summary(result, path: Path) -> str:
    from mnas.bench.network import assumed_speedup, speedup
    bmacs = sum(layer.binary_macs for layer in result.layers)
    fmacs = sum(layer.float_macs for layer in result.layers)
    threads = f"{result.threads} thread" + ("s" if result.threads > 1 else "")
    return (f"{result.network} on {result.cpu}, {result.kernels} kernels, {threads}, batch "
            f"{result.batch}, {'channels-last' if result.channels_last else 'contiguous'}: "
            f"{result.network_ms:.2f} ms deployed vs {result.network_float_ms:.2f} ms float "
            f"simulation end to end = {speedup(result.network_ms, result.network_float_ms):.2f}x "
            f"measured; the cost model assumes {assumed_speedup(bmacs, fmacs):.2f}x. Outputs "
            f"{'identical' if result.identical else 'DIFFER (a bug: please report)'}.\n"
            f"wrote {path}; use it: mnas cost SPEC --convention measured:{path}")


def run(args) -> int:
    from mnas import api
    from mnas.errors import MnasError
    from mnas.spec.load import parse_sets
    from mnas.tables import format_table

    for name in ("threads", "batch", "rounds"):
        if getattr(args, name) < 1:
            raise MnasError(f"--{name} must be >= 1, got {getattr(args, name)}")
    graph = api.graph(args.spec, parse_sets(args.sets))
    out = Path(args.output) if args.output else (
        Path("runs") / "bench" / f"{Path(args.spec).stem}-b{args.batch}-t{args.threads}.json")
    result = _measure(graph, args)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    except OSError as err:
        raise MnasError(f"cannot write {out}: {err.strerror or err}") from None
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
        return 0
    layers, stages = layer_rows(result), stage_rows(result)
    if args.format == "csv":
        chunks = ([format_table(layers, "csv")] if args.by != "stage" else []) + \
                 ([format_table(stages, "csv")] if args.by != "layer" else [])
        print("\n\n".join(chunks))
    else:
        title = f"{result.network} ({args.spec})"
        chunks = []
        if args.by != "stage":
            chunks.append(format_table([{k: r[k] for k in LAYER_COLUMNS} for r in layers],
                                       args.format, title=f"{title}, per layer"))
        if args.by != "layer":
            chunks.append(format_table(stages, args.format, title=f"{title}, per stage"))
        print("\n\n".join(chunks))
    print(summary(result, out), file=sys.stderr if args.format == "csv" else sys.stdout)
    return 0


def _measure(graph, args):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from mnas.bench.network import bench_graph
    from mnas.kernels import ops

    if args.kernels:
        ops.use_path(args.kernels)
    if ops.active() == "torch":
        print("mnas bench: the bit-packed kernels are not in use (pure-PyTorch path: slow, "
              "and not what a deployment would measure)", file=sys.stderr)
    module = None
    if args.weights:
        from mnas.export.torch_formats import build
        module = build(graph, args.weights)
    progress = Progress(TextColumn("[bold]bench"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.description}"), console=Console(stderr=True),
                        disable=args.no_progress, transient=True)
    task = progress.add_task("", total=len(graph.nodes) - 1)

    def advance(done: int, total: int, layer: str) -> None:
        progress.update(task, completed=done, description=layer)

    with progress:
        return bench_graph(graph, args.batch, args.threads, args.rounds, module, str(args.spec),
                           args.layout == "nhwc", advance)
