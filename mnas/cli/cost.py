"""`mnas cost`: per-layer BOPs/FLOPs/OPs, parameters and size of one or more specs."""

from __future__ import annotations

import json

from mnas.cli.common import add_convention, add_format, add_set

EXAMPLES = """examples:
  mnas cost specs/meliusnet22.yaml                       per-layer table and totals
  mnas cost specs/meliusnet22.yaml --summary             totals only
  mnas cost specs/meliusnet22.yaml --set stem=imagenet   with the 7x7 stem
  mnas cost specs/meliusnet42.yaml --by stage --format markdown
  mnas cost specs/meliusnet*.yaml --summary --format csv
  mnas cost specs/meliusnet22.yaml --format json --convention larq"""


DESCRIPTION = 'Cost networks with the analytic cost model (no torch).'


def add_arguments(p) -> None:
    p.add_argument("specs", nargs="+", metavar="SPEC", help="network spec YAML file(s)")
    p.add_argument("--summary", action="store_true", help="totals only, one row per spec")
    p.add_argument("--by", choices=["block", "stage"], help="roll layers up by block or stage")
    add_format(p)
    add_convention(p)
    add_set(p)


LAYER_COLUMNS = ["name", "op", "shape", "precision", "params", "macs", "bops", "flops"]


def run(args) -> int:
    from mnas import api
    from mnas.spec.load import parse_sets
    from mnas.ops.shapes import fmt
    from mnas.tables import format_table, json_default, records

    sets = parse_sets(args.sets)
    reports = [api.cost(path, sets, args.convention) for path in args.specs]
    if args.format == "json":
        objs = [api.cost_json(r, layers=not args.summary, by=args.by) for r in reports]
        print(json.dumps(objs[0] if len(objs) == 1 else objs, indent=2, default=json_default))
        return 0
    convention = reports[0].convention
    caption = f"convention '{convention.name}': {convention.description}"
    if args.summary:
        rows = [api.summary_row(r) for r in reports]
        print(format_table(rows, args.format, title="Cost summary", caption=caption))
        return 0
    chunks = []
    for report, path in zip(reports, args.specs):
        rows = (report.rollup(args.by) if args.by else
                [{c: getattr(layer, c) for c in LAYER_COLUMNS} | {"shape": fmt(layer.shape)}
                 for layer in report.layers])
        if args.format == "csv":
            rows = [{"network": report.name, **r} for r in records(rows)[1]]
            text = format_table(rows, "csv")
            chunks.append(text if not chunks else text.split("\n", 1)[1])
            continue
        title = f"{report.name} ({path})" + (f", by {args.by}" if args.by else "")
        chunks.append(format_table(rows, args.format, title=title,
                                   caption=api.totals_line(report)))
    print(("\n" if args.format == "csv" else "\n\n").join(chunks))
    return 0
