"""`mnas budgets`: the preset budgets with the OPs and size the cost model computes for them."""

from __future__ import annotations

from mnas.cli.common import add_convention, add_format

EXAMPLES = """examples:
  mnas budgets                          OPs and size of mobilenet-0.25 .. mobilenet-1.0
  mnas budgets --convention larq        with the FC layer's MACs counted (MobileNet's mult-adds)
  mnas budgets --format json"""


DESCRIPTION = ("Budgets are computed, never typed in: each preset is a reference network "
               "(MobileNet-v1 at a width) costed under the chosen convention.")


def add_arguments(p) -> None:
    add_format(p)
    add_convention(p)


def run(args) -> int:
    from mnas import api
    from mnas.cost.conventions import get_convention
    from mnas.tables import format_frame

    df = api.budget_table(args.convention)
    conv = get_convention(args.convention)
    if args.format == "csv":
        df["convention"] = conv.name
    print(format_frame(df, args.format, title="Budget presets",
                       caption=f"convention '{conv.name}': {conv.description}"))
    return 0
