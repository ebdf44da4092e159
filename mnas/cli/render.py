"""`mnas render`: draw a spec's network with graphviz, at block or layer level."""

from __future__ import annotations

import sys
from pathlib import Path

from mnas.cli.common import add_convention, add_set

EXAMPLES = """examples:
  mnas render specs/meliusnet22.yaml                      block diagram -> meliusnet22.svg
  mnas render specs/meliusnet22.yaml -o docs/m22.png      format from the file name
  mnas render specs/meliusnet22.yaml --costs              OPs/params per block, totals
  mnas render specs/meliusnet22.yaml --level layer --fold every layer, BN/sign with convs
  mnas render specs/mobilenet_v1.yaml --format dot -o -   DOT source to stdout
without graphviz's 'dot' program the DOT source is written (FILE.dot) and the exit status is 1."""


DESCRIPTION = ("Draw a spec's network from its graph IR (no torch): blocks with repeat counts, "
               "or every layer; tensor shapes on edges; binary and 32-bit parts in distinct "
               "colours.")


def add_arguments(p) -> None:
    from mnas.render.dot import FORMATS
    from mnas.render.layout import LEVELS
    p.add_argument("spec", metavar="SPEC", help="network spec YAML file")
    p.add_argument("--level", choices=LEVELS, default="block",
                   help="block: stem, stages with repeated units '× n', transitions, head "
                        "(default); layer: every IR node")
    p.add_argument("--fold", action="store_true",
                   help="layer level: draw BatchNorm/sign/ReLU with the conv they belong to")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="output format (default: from -o's suffix, else svg)")
    p.add_argument("-o", "--output", metavar="FILE", default=None,
                   help="output file, '-' for stdout (default: SPEC's name, e.g. "
                        "meliusnet22.svg or meliusnet22-layers.svg, in the current directory)")
    p.add_argument("--costs", action="store_true",
                   help="add OPs and parameters per box and the totals to the title")
    add_convention(p)
    add_set(p)


def output_format(args) -> str:
    if args.format:
        return args.format
    from mnas.render.dot import FORMATS
    suffix = Path(args.output).suffix.lstrip(".").lower() if args.output else ""
    return suffix if suffix in FORMATS else "svg"


def output_path(args, fmt: str) -> Path | None:
    if args.output == "-":
        return None
    if args.output:
        return Path(args.output)
    suffix = "" if args.level == "block" else "-layers"
    return Path(f"{Path(args.spec).stem}{suffix}.{fmt}")


def run(args) -> int:
    from mnas import api
    from mnas.render.dot import INSTALL_HINT, render
    from mnas.spec.load import parse_sets

    if args.fold and args.level != "layer":
        print("mnas render: note: --fold applies to --level layer only", file=sys.stderr)
    layout = api.diagram(args.spec, parse_sets(args.sets), level=args.level, fold=args.fold,
                         costs=args.costs, convention=args.convention)
    fmt = output_format(args)
    out = output_path(args, fmt)
    done = render(layout, fmt, out)
    if done.dot_missing:
        print(f"mnas render: graphviz's 'dot' program was not found, so wrote the DOT source to "
              f"{done.path} instead of {out}; {INSTALL_HINT}, then run this again "
              f"(or: dot -T{fmt} {done.path} -o {out})", file=sys.stderr)
        return 1
    if done.path is not None:
        print(f"wrote {done.path} ({layout.level} level, {len(layout.boxes)} boxes)")
    return 0
