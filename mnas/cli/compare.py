"""`mnas compare`: networks side by side (BOPs, FLOPs, OPs, params, size), optionally as
percentages of a budget."""

from __future__ import annotations

from mnas.cli.common import add_convention, add_format, add_set

EXAMPLES = """examples:
  mnas compare specs/meliusnet42.yaml specs/mobilenet_v1.yaml --set width=0.75
  mnas compare specs/*.yaml --budget mobilenet-0.5
  mnas compare specs/resnete*.yaml specs/binarydensenet*.yaml --set stem=grouped --format markdown
  mnas compare specs/meliusnet22.yaml --max-ops 2e8 --max-size-mib 4
each --set applies to the specs that accept it (stem= leaves MobileNet alone); a --set that no
spec accepts is an error."""


DESCRIPTION = ("One row per network: BOPs, FLOPs, OPs, params, size, and with a budget the "
               "percentage of its OPs and size used.")


def add_arguments(p) -> None:
    p.add_argument("specs", nargs="+", metavar="SPEC", help="network spec YAML file(s)")
    p.add_argument("--budget", metavar="NAME",
                   help="a budget preset (see 'mnas budgets'), e.g. mobilenet-0.75")
    p.add_argument("--max-ops", type=float, metavar="N", help="OPs limit (replaces the preset's)")
    p.add_argument("--max-size-mib", type=float, metavar="MIB",
                   help="size limit in MiB (replaces the preset's)")
    add_format(p)
    add_convention(p)
    add_set(p)


def run(args) -> int:
    from mnas import api
    from mnas.cost.budgets import resolve_budget
    from mnas.cost.conventions import get_convention
    from mnas.spec.load import parse_sets
    from mnas.tables import format_frame

    budget = None
    if args.budget is not None or args.max_ops is not None or args.max_size_mib is not None:
        budget = resolve_budget(args.budget, args.max_ops, args.max_size_mib, args.convention)
    df = api.compare_table(args.specs, parse_sets(args.sets), budget, args.convention)
    conv = get_convention(args.convention)
    if args.format == "csv":
        df["convention"] = conv.name
    caption = f"convention '{conv.name}': {conv.description}"
    if budget is not None:
        caption = api.budget_line(budget) + "\n" + caption
    print(format_frame(df, args.format, title="Comparison", caption=caption))
    return 0
