"""`mnas export`: write a spec as TorchScript, ONNX, a state dict, standalone Python, the
fully expanded YAML or a bit-packed file for the binary kernels."""

from __future__ import annotations

from mnas.cli.common import add_set

EXAMPLES = """examples:
  mnas export specs/meliusnet22.yaml --format python -o meliusnet22.py
  mnas export specs/meliusnet22.yaml --format yaml -o flat.yaml --set stem=imagenet
  mnas export specs/meliusnet22.yaml --format onnx -o m22.onnx --weights runs/m22/best.pt
  mnas export specs/meliusnet22.yaml --format torchscript -o m22.ts
  mnas export specs/meliusnet22.yaml --format state-dict -o init.pt
  mnas export specs/meliusnet22.yaml --format packed -o m22.packed --weights runs/m22/best.pt

formats:
  torchscript  traced inference graph (eval mode), loads with torch.jit.load
  onnx         inference graph (eval mode, dynamic batch), for onnxruntime and others
               (both store binary weights as signs, 1 bit each)
  packed       binary weights bit-packed + 32-bit parts, runs on mnas's binary kernels:
               mnas.export.packed.load_packed(PATH) gives the module; about the cost
               model's size
  state-dict   the lowered module's weights under the spec's layer names (torch.save)
  python       standalone .py defining the network as a plain nn.Module (needs only torch)
  yaml         the fully expanded spec, overrides applied; 'mnas cost' reads it back"""


DESCRIPTION = "Export a spec's network in a format other tools read."


def add_arguments(p) -> None:
    p.add_argument("spec", metavar="SPEC", help="network spec YAML file")
    from mnas.export import FORMATS     # torch-free; a format imports torch to write
    p.add_argument("--format", required=True, choices=list(FORMATS), help="what to write")
    p.add_argument("-o", "--output", required=True, metavar="PATH", help="file to write")
    p.add_argument("--weights", metavar="CKPT",
                   help="trained weights to export: a state dict, or a checkpoint dict with "
                        "the state dict under 'model' (torchscript, onnx, state-dict, packed)")
    add_set(p)


def run(args) -> int:
    from mnas.export import export_spec
    from mnas.spec.load import parse_sets

    done = export_spec(args.spec, args.format, args.output, parse_sets(args.sets), args.weights)
    print(f"wrote {done.path} ({done.format}: {done.network}, {done.layers} layers; {done.note})")
    return 0
