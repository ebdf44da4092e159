"""Speed of the bit-packed binary kernels against float PyTorch (issue 15).

1. One MeliusNet-like layer: binary 3x3 convolution, 256 -> 64 channels, 14x14, batch 1, one
   thread. Float: torch's conv2d of the +-1 tensors (oneDNN), in both memory layouts (the
   faster one is the baseline). Kernels: packing the +-1 activations (what the `sign` layer
   becomes) plus the xor/popcount convolution, on each code path this CPU runs. Also the
   rates behind the ratio: 32-bit MACs per second of the float conv, and xor-popcount
   64-bit words per second of the kernel. Target: >= 8x.
2. The whole of specs/meliusnet22.yaml, as `mnas bench` measures it (one thread, batch 1):
   end to end on the kernels against the float simulation, per stage, and the layers that
   take the most time. Target: >= 3x.

Timing: rounds of each side alternate; each figure is the minimum over rounds of the mean
time per call (mnas.bench.timing), as interference from other processes only adds time; a
layer ratio divides the fastest float time seen in the run (either layout, or the rounds
alternating with the kernel) by the kernel's. Both outputs are checked equal before timing.

Run: python benchmarks/binary_kernels.py [--rounds 15] [--threads 1] [--skip-network]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mnas import api  # noqa: E402
from mnas.bench.network import assumed_speedup, bench_graph  # noqa: E402
from mnas.bench.timing import cpu_model, time_one, time_pair  # noqa: E402
from mnas.kernels import ops  # noqa: E402


def layer(rounds: int) -> None:
    c, o, size, k = 256, 64, 14, 3
    gen = torch.Generator().manual_seed(0)
    x = torch.where(torch.randn(1, c, size, size, generator=gen) >= 0, 1.0, -1.0)
    w = torch.randn(o, c, k, k, generator=gen)
    signed = torch.where(w >= 0, 1.0, -1.0)
    packed_w = ops.pack_weight(w)
    macs = o * c * k * k * size * size
    words = macs // 64
    x_last = x.contiguous(memory_format=torch.channels_last)
    w_last = signed.contiguous(memory_format=torch.channels_last)
    expected = F.conv2d(x, signed, padding=1)
    with torch.no_grad():
        nchw = time_one(lambda: F.conv2d(x, signed, padding=1), rounds)
        nhwc = time_one(lambda: F.conv2d(x_last, w_last, padding=1), rounds)
    base, layout = min((nchw, "NCHW"), (nhwc, "NHWC"))
    print(f"binary 3x3 conv {c}->{o}, {size}x{size}, batch 1, {torch.get_num_threads()} "
          f"thread(s), {macs:,} MACs")
    print(f"  float conv2d (oneDNN): NCHW {nchw * 1e6:.1f} us, NHWC {nhwc * 1e6:.1f} us; "
          f"baseline {layout}: {macs / base / 1e9:.1f} GMAC/s")
    for path in [p for p in ("avx512", "avx2", "portable") if ops.supported(p)] + ["torch"]:
        def run():
            return ops.binary_conv2d(ops.pack_signs(x, path=path), packed_w, c, o, (k, k),
                                     (1, 1), (1, 1), path=path)
        assert torch.equal(run(), expected), path
        xp = ops.pack_signs(x, path=path)
        conv_only = time_one(lambda: ops.binary_conv2d(xp, packed_w, c, o, (k, k), (1, 1),
                                                       (1, 1), path=path), rounds)
        pair = time_pair(run, lambda: F.conv2d(x_last if layout == "NHWC" else x,
                                               w_last if layout == "NHWC" else signed,
                                               padding=1), rounds)
        fastest = min(base, pair.b)     # the fastest float time seen in this run
        print(f"  {path:8s} pack + conv {pair.a * 1e6:8.1f} us (conv alone "
              f"{conv_only * 1e6:7.1f} us, {words / conv_only / 1e9:5.2f} G words/s): "
              f"{fastest / pair.a:5.2f}x faster than float ({fastest * 1e6:.1f} us); "
              "target >= 8x")


def network(rounds: int, threads: int) -> None:
    spec = ROOT / "specs" / "meliusnet22.yaml"
    graph = api.graph(spec)
    for channels_last in (True, False):
        r = bench_graph(graph, 1, threads, rounds, spec=str(spec), channels_last=channels_last)
        bmacs = sum(layer.binary_macs for layer in r.layers)
        fmacs = sum(layer.float_macs for layer in r.layers)
        layout = "channels-last" if channels_last else "contiguous"
        print(f"\nmnas bench specs/meliusnet22.yaml --threads {threads} --layout "
              f"{'nhwc' if channels_last else 'nchw'} ({layout}, {r.kernels} kernels): "
              f"end to end {r.network_ms:.2f} ms on the kernels vs {r.network_float_ms:.2f} ms "
              f"float simulation = {r.network_float_ms / r.network_ms:.2f}x (target >= 3x; the "
              f"cost model assumes {assumed_speedup(bmacs, fmacs):.1f}x); outputs "
              f"{'identical' if r.identical else 'DIFFER'}")
        print("  stage      ms   float_ms  speedup  assumed  share")
        for s in r.stages():
            print(f"  {s['stage']:7s} {s['ms']:7.2f} {s['float_ms']:9.2f} {s['speedup']:7.2f}x "
                  f"{s['assumed'] or 1:7.1f}x {s['share_pct']:5.1f}%")
        print("  slowest layers on the kernels' side:")
        for lay in sorted(r.layers, key=lambda lay: -lay.ms)[:6]:
            print(f"    {lay.name:42s} {lay.op:9s} {lay.runs_on:7s} {lay.ms:6.2f} ms "
                  f"(float {lay.float_ms:6.2f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-network", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"CPU: {cpu_model()}; torch {torch.__version__}; kernels: {ops.active()}; "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    layer(args.rounds)
    if not args.skip_network:
        network(args.rounds, args.threads)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
