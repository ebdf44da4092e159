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
  mnas cost specs/meliusnet22.yaml --format json --convention larq
  mnas cost meliusnet22 meliusnet42 --summary --by stage --format csv
--format json prints a list with one object per spec (docs/spec.md, "Output"); csv rows carry
the convention."""


DESCRIPTION = 'Cost networks with the analytic cost model (no torch).'


def add_arguments(p) -> None:
    p.add_argument("specs", nargs="+", metavar="SPEC", help="network spec YAML file(s)")
    p.add_argument("--summary", action="store_true",
                   help="totals only, one row per spec (with --by: one row per spec and group)")
    p.add_argument("--by", choices=["block", "stage"], help="roll layers up by block or stage")
    add_format(p)
    add_convention(p)
    add_set(p)


LAYER_COLUMNS = ["name", "op", "shape", "precision", "params", "macs", "bops", "flops"]


def run(args) -> int:
    from mnas import api
    from mnas.ops.shapes import fmt
    from mnas.spec.load import parse_sets
    from mnas.tables import format_table, json_default, records

    sets = parse_sets(args.sets)
    reports = [api.cost(path, sets, args.convention) for path in args.specs]
    if args.format == "json":        # always a list, one object per spec (docs/spec.md)
        objs = [api.cost_json(r, str(path), layers=not args.summary, by=args.by)
                for r, path in zip(reports, args.specs)]
        print(json.dumps(objs, indent=2, default=json_default))
        return 0
    convention = reports[0].convention
    caption = f"convention '{convention.name}': {convention.description}"
    csv_extra = {"convention": convention.name} if args.format == "csv" else {}
    if args.summary and not args.by:
        rows = [api.summary_row(r) | csv_extra for r in reports]
        print(format_table(rows, args.format, title="Cost summary", caption=caption))
        return 0
    if args.summary:                 # --summary --by: one table of every spec's groups
        rows = [{"network": r.name, **row} | csv_extra
                for r in reports for row in records(r.rollup(args.by))[1]]
        print(format_table(rows, args.format, title=f"Cost summary by {args.by}",
                           caption=caption))
        return 0
    chunks = []
    for report, path in zip(reports, args.specs):
        rows = (report.rollup(args.by) if args.by else
                [{c: getattr(layer, c) for c in LAYER_COLUMNS} | {"shape": fmt(layer.shape)}
                 for layer in report.layers])
        if args.format == "csv":
            rows = [{"network": report.name, **r} | csv_extra for r in records(rows)[1]]
            text = format_table(rows, "csv")
            chunks.append(text if not chunks else text.split("\n", 1)[1])
            continue
        title = f"{report.name} ({path})" + (f", by {args.by}" if args.by else "")
        chunks.append(format_table(rows, args.format, title=title,
                                   caption=api.totals_line(report)))
    print(("\n" if args.format == "csv" else "\n\n").join(chunks))
    return 0
