"""Reproduce the MeliusNet paper's Tables 1, 2 and 4 with mnas's cost model.

Each figure the paper prints is data below (table, row, quantity, the printed text); the
computed figure comes from costing the spec in specs/. A figure agrees when the computed value
rounded to the printed number of decimals gives the printed text. Figures that
shared/paper/FACTS.md lists as truncated agree when truncated instead; figures it lists as
errata agree when the computed value rounds to the correction. Anything else is reported as a
disagreement, never hidden.

Run from the repository root:  python analysis/paper_tables.py [--out DIR]
It writes DIR/README.md (default: analysis/) and DIR/ops_vs_size.png, and prints the README.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the checkout's mnas, not an installed one
    sys.path.insert(0, str(ROOT))

from mnas import api  # noqa: E402
from mnas.cost.budgets import PRESETS, preset_budget  # noqa: E402
from mnas.cost.conventions import get_convention  # noqa: E402

SPECS = ROOT / "specs"
QUANTITIES = {"bops": "BOPs", "flops": "FLOPs", "ops": "OPs", "size": "size"}


@dataclass(frozen=True)
class Listed:
    """What FACTS.md says about a printed figure: `truncated` (printed cut off, not rounded)
    or `erratum` (the printed figure is wrong; `correction` is the right one)."""

    kind: str
    why: str
    correction: str | None = None


@dataclass(frozen=True)
class Printed:
    """One figure as the paper prints it: `text` in units of `scale` (size: MiB, scale 1)."""

    table: str
    row: str
    spec: str
    quantity: str
    text: str
    scale: float
    stem: str | None = None
    sets: tuple[tuple[str, object], ...] = ()
    convention: str = "paper"
    listed: Listed | None = None
    note: str = ""


def _t1(row, spec, bops, flops, ops, size, listed=None, note=""):
    """Table 1's four figures of one MeliusNet (all with the grouped stem, FACTS.md)."""
    listed = listed or {}
    figures = (("bops", bops, 1e9), ("flops", flops, 1e8), ("ops", ops, 1e8), ("size", size, 1))
    return [Printed("Table 1", row, spec, q, text, scale, stem="grouped", listed=listed.get(q),
                    note=note if q == "bops" else "")
            for q, text, scale in figures]


TRUNCATED = "FACTS.md: printed figure is truncated, not rounded"

TABLE1 = [
    *_t1("MeliusNet22 (4,5,4,4)", "meliusnet22.yaml", "4.62", "1.35", "2.08", "3.9",
         {"flops": Listed("truncated", TRUNCATED)}),
    *_t1("MeliusNet29 (4,6,8,6)", "meliusnet29.yaml", "5.47", "1.29", "2.14", "5.1"),
    *_t1("MeliusNet42 (5,8,14,10)", "meliusnet42.yaml", "9.69", "1.74", "3.25", "10.1"),
    *_t1("MeliusNet59 (6,12,24,12)", "meliusnet59.yaml", "18.3", "2.45", "5.25", "17.4",
         {"flops": Listed("truncated", TRUNCATED),
          "ops": Listed("erratum", "FACTS.md: Table 1's 5.25 is a typo; Table 4 prints 5.32 "
                        "(18.3e9/64 + 2.45e8 = 5.31e8)", "5.32")}),
    *_t1("(MeliusNetA) (4,5,5,6)/4", "meliusneta.yaml", "4.85", "0.86", "1.62", "4.0",
         {"flops": Listed("truncated", TRUNCATED), "ops": Listed("truncated", TRUNCATED)},
         note="the row lost its name and block counts; FACTS.md gives MeliusNetA"),
    *_t1("MeliusNetB (4,6,8,6)/2", "meliusnetb.yaml", "5.72", "1.06", "1.96", "5.0"),
    *_t1("MeliusNetC (3,5,10,6)/4", "meliusnetc.yaml", "4.35", "0.82", "1.50", "4.5",
         note="spec uses FACTS.md's transition 832->288 (the table prints 224/704)"),
]


def _t2(row, spec, ops_7x7, ops_grouped, listed_7x7=None, note=""):
    """Table 2's OPs of one network with the 7x7 and with the grouped stem."""
    return [Printed("Table 2", row, spec, "ops", ops_7x7, 1e8, stem="imagenet",
                    sets=(("stem", "imagenet"),), listed=listed_7x7, note=note),
            Printed("Table 2", row, spec, "ops", ops_grouped, 1e8, stem="grouped",
                    sets=(("stem", "grouped"),))]


BIREAL34_IS_RESNETE34 = "FACTS.md: Table 2's Bi-RealNet34 is ResNetE34"
LOGS_192 = "FACTS.md: 1.93 is neither rounded nor truncated; the authors' logs give 1.92"

TABLE2 = [
    *_t2("ResNetE18", "resnete18.yaml", "1.63", "1.14"),
    *_t2("BinaryDenseNet28", "binarydensenet28.yaml", "2.58", "2.09"),
    *_t2("MeliusNet22", "meliusnet22.yaml", "2.57", "2.08", Listed("truncated", TRUNCATED)),
    *_t2("Bi-RealNet34", "resnete34.yaml", "1.93", "1.43",
         Listed("erratum", LOGS_192, "1.92"), note=BIREAL34_IS_RESNETE34),
    *_t2("BinaryDenseNet37", "binarydensenet37.yaml", "2.71", "2.20",
         Listed("erratum", "FACTS.md: 2.71 is neither rounded nor truncated; the authors' "
                "logs give 2.70", "2.70")),
    *_t2("MeliusNet29", "meliusnet29.yaml", "2.63", "2.14", Listed("truncated", TRUNCATED)),
]

MOBILENET_NOTE = ("Table 4 quotes the MobileNet paper's mult-adds, which count the FC layer: "
                  "computed under convention 'larq'")

TABLE4 = [
    Printed("Table 4", "Bi-RealNet34", "resnete34.yaml", "ops", "1.93", 1e8, stem="imagenet",
            sets=(("stem", "imagenet"),),
            listed=Listed("erratum", "the figure of Table 2's Bi-RealNet34 7x7 row, reprinted; "
                          + LOGS_192 + " (listed there)", "1.92"),
            note=BIREAL34_IS_RESNETE34),
    Printed("Table 4", "MobileNet-v1 0.5", "mobilenet_v1.yaml", "ops", "1.49", 1e8,
            sets=(("width", 0.5),), convention="larq", note=MOBILENET_NOTE),
    Printed("Table 4", "Bi-RealNet34*", "resnete34.yaml", "ops", "1.43", 1e8, stem="grouped",
            sets=(("stem", "grouped"),), note="* trained with the grouped stem"),
    Printed("Table 4", "MeliusNetC", "meliusnetc.yaml", "ops", "1.50", 1e8, stem="grouped"),
    Printed("Table 4", "MobileNet-v1 0.75", "mobilenet_v1.yaml", "ops", "3.25", 1e8,
            sets=(("width", 0.75),), convention="larq", note=MOBILENET_NOTE),
    Printed("Table 4", "MeliusNet42", "meliusnet42.yaml", "ops", "3.25", 1e8, stem="grouped"),
    Printed("Table 4", "MobileNet-v1 1.0", "mobilenet_v1.yaml", "ops", "5.69", 1e8,
            sets=(("width", 1.0),), convention="larq", note=MOBILENET_NOTE),
    Printed("Table 4", "MeliusNet59", "meliusnet59.yaml", "ops", "5.32", 1e8, stem="grouped"),
]

# Table 4's "Model size" column labels a group of rows (the cells span rows), like Table 2's
# "~4.0MB" / "~5.1MB": a size class, not each row's own figure. Shown, not counted as checks.
TABLE4_SIZE_LABELS = [
    ("5.1MB", [r for r in TABLE4 if r.row in ("Bi-RealNet34", "MobileNet-v1 0.5",
                                              "Bi-RealNet34*")]),
    ("4.5MB", [r for r in TABLE4 if r.row == "MeliusNetC"]),
    ("10MB", [r for r in TABLE4 if r.row in ("MobileNet-v1 0.75", "MeliusNet42")]),
    ("17MB", [r for r in TABLE4 if r.row in ("MobileNet-v1 1.0", "MeliusNet59")]),
]

ALL_PRINTED = TABLE1 + TABLE2 + TABLE4


# -- computing and judging ----------------------------------------------------------------------
@lru_cache(maxsize=None)
def totals(spec: str, sets: tuple[tuple[str, object], ...] = (), convention: str = "paper"):
    return api.cost(SPECS / spec, dict(sets), convention).totals


def computed_value(fig: Printed) -> float:
    t = totals(fig.spec, fig.sets, fig.convention)
    return {"bops": t.bops, "flops": t.flops, "ops": t.ops, "size": t.size_mib}[fig.quantity]


def at_precision(value: float, text: str, mode=ROUND_HALF_UP) -> str:
    """`value` with as many decimals as `text` has, rounded (or truncated: ROUND_DOWN)."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return str(Decimal(repr(value)).quantize(Decimal(1).scaleb(-decimals), rounding=mode))


@dataclass(frozen=True)
class Check:
    figure: Printed
    value: float          # in units of figure.scale
    exact: float          # the cost model's count (ops, MACs, MiB)
    status: str           # rounded | truncated | erratum | disagrees
    verdict: str


def judge(fig: Printed) -> Check:
    exact = computed_value(fig)
    value = exact / fig.scale
    rounded = at_precision(value, fig.text)
    truncated = at_precision(value, fig.text, ROUND_DOWN)
    listed = fig.listed
    if rounded == fig.text:
        status, verdict = "rounded", "agrees (rounded)"
    elif listed and listed.kind == "truncated" and truncated == fig.text:
        status, verdict = "truncated", "agrees truncated (listed in FACTS.md)"
    elif listed and listed.kind == "erratum" and rounded == listed.correction:
        status, verdict = "erratum", f"erratum (listed): computed {rounded} = the correction"
    elif truncated == fig.text:
        status, verdict = "disagrees", (f"DISAGREES: rounds to {rounded}; agrees only "
                                        "truncated, which FACTS.md does not list")
    else:
        status, verdict = "disagrees", f"DISAGREES: computed rounds to {rounded}"
    return Check(fig, value, exact, status, verdict)


def check_all() -> list[Check]:
    return [judge(f) for f in ALL_PRINTED]


# -- report -------------------------------------------------------------------------------------
def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _exact(check: Check) -> str:
    if check.figure.quantity == "size":
        return f"{check.exact:.4f} MiB"
    return f"{check.exact:,.0f}" if float(check.exact).is_integer() else f"{check.exact:,.1f}"


def _scale(fig: Printed) -> str:
    return "MiB" if fig.quantity == "size" else f"1e{len(str(int(fig.scale))) - 1}"


def _notes(check: Check) -> str:
    fig = check.figure
    parts = [p for p in (fig.listed.why if fig.listed else "", fig.note) if p]
    if fig.convention != "paper":
        paper = computed_value(Printed(**{**fig.__dict__, "convention": "paper"}))
        parts.append(f"under 'paper' (FC not counted): {paper / fig.scale:.4f}")
    return "; ".join(parts)


def table_section(checks: list[Check], with_stem: bool) -> str:
    header = ["row"] + ["stem"] * with_stem + ["spec", "quantity", "printed", "computed",
                                               "exact", "verdict", "notes"]
    rows = []
    for c in checks:
        f = c.figure
        stem = {"imagenet": "7x7", "grouped": "grouped", None: "-"}[f.stem]
        rows.append(([f.row, stem] if with_stem else [f.row])
                    + [f"`{f.spec}`" + "".join(f" `{k}={v}`" for k, v in f.sets if k != "stem"),
                       f"{QUANTITIES[f.quantity]} ({_scale(f)})", f.text, f"{c.value:.4f}",
                       _exact(c), c.verdict, _notes(c)])
    return _md_table(header, rows)


def size_label_section() -> str:
    rows, misfits = [], 0
    for label, figs in TABLE4_SIZE_LABELS:
        shown = label.removesuffix("MB")
        for f in figs:
            size = totals(f.spec, f.sets, "paper").size_mib
            mb = size * 2 ** 20 / 1e6
            fits = at_precision(size, shown) == shown
            misfits += not fits
            rows.append([label, f.row, f"{size:.3f}", f"{mb:.3f}",
                         "fits (rounds to the label)" if fits else
                         f"does not fit: {at_precision(size, shown)} MiB"])
    table = _md_table(["size class (printed)", "row", "computed MiB", "computed MB (10^6 B)",
                       "label vs computed MiB"], rows)
    return f"{len(rows) - misfits} of {len(rows)} rows round to their class label.\n\n{table}"


def findings() -> list[str]:
    """Observations computed from the cost model, worded from the numbers."""
    out = []
    budgets = {name: preset_budget(name, "paper") for name in PRESETS}

    def against(spec: str, budget: str, sets=(("stem", "grouped"),)) -> str:
        t, b = totals(spec, sets, "paper"), budgets[budget]
        ops_pct, size_pct = 100 * t.ops / b.ops, 100 * t.size_mib / b.size_mib

        def word(pct: float) -> str:
            return "within" if pct <= 100 else "slightly over" if pct < 105 else "over"
        return (f"`{spec}` ({t.ops:.4e} OPs, {t.size_mib:.2f} MiB) against `{budget}` "
                f"({b.ops:.4e} OPs, {b.size_mib:.2f} MiB) uses {ops_pct:.1f}% of its OPs "
                f"({word(ops_pct)}) and {size_pct:.1f}% of its size ({word(size_pct)})")

    out.append("Under the paper convention the hand-designed MeliusNets sit at their MobileNet "
               "budgets, not always under them: " + against("meliusnet42.yaml", "mobilenet-0.75")
               + "; " + against("meliusnetc.yaml", "mobilenet-0.5") + "; "
               + against("meliusnet59.yaml", "mobilenet-1.0") + ".")
    mobilenets = [f for f in TABLE4 if f.convention != "paper"]
    with_fc, without = [], []
    for f in mobilenets:
        p = judge(Printed(**{**f.__dict__, "convention": "paper"}))
        with_fc.append(f"{f.row}: {judge(f).exact:.4e} with the FC, {p.exact:.4e} without")
        same_text = "the printed figure" if p.status == "rounded" else f"not the printed {f.text}"
        without.append(f"{f.row} rounds to {at_precision(p.value, f.text)} ({same_text})")
    out.append("Table 4 compares BNN OPs that leave the FC layer out with MobileNet-v1 "
               f"mult-adds that count it ({', '.join(with_fc)}). Without the FC, "
               f"{', '.join(without)}.")
    r34, r34g = totals("resnete34.yaml", (("stem", "imagenet"),)), \
        totals("resnete34.yaml", (("stem", "grouped"),))
    mb05 = budgets["mobilenet-0.5"]
    out.append(f"Table 4 files Bi-RealNet34 (= ResNetE34) under the 5.1MB size class with "
               f"MobileNet-v1 0.5 ({mb05.size_mib:.2f} MiB), but it computes to "
               f"{r34.size_mib:.2f} MiB with the 7x7 stem and {r34g.size_mib:.2f} MiB with the "
               f"grouped stem; MobileNet-v1 1.0's '17MB' is {budgets['mobilenet-1.0'].size_mib:.2f}"
               f" MiB ({budgets['mobilenet-1.0'].size_mib * 2 ** 20 / 1e6:.2f} MB of 10^6 bytes).")
    same = []
    for depth in (18, 34):
        a, b = totals(f"resnete{depth}.yaml"), totals(f"birealnet{depth}.yaml")
        extra = {layer.name: layer.params for layer in api.cost(SPECS / f"resnete{depth}.yaml")
                 .layers if layer.name in ("input_bn", "stem_bn")}
        if (a.bops, a.flops) == (b.bops, b.flops):
            same.append(f"Bi-RealNet{depth} (two binary convs per block, each with its own "
                        f"shortcut) and ResNetE{depth} have the same BOPs and FLOPs "
                        f"({b.ops:.4e} OPs); ResNetE{depth} has {a.params - b.params} more "
                        f"parameters: its input BN ({extra['input_bn']}: 2 per channel although "
                        f"it has no scale, as MXNet keeps gamma) and the BN after its stem "
                        f"({extra['stem_bn']})")
        else:
            same.append(f"Bi-RealNet{depth} ({b.ops:.4e} OPs) and ResNetE{depth} "
                        f"({a.ops:.4e} OPs) differ in cost")
    out.append("; ".join(same) + ".")
    return out


def not_reproduced() -> str:
    return ("Not reproduced: Table 4's GroupNet rows (multiple binary bases, not in the spec "
            "zoo) and every accuracy column (they need training).")


def report(checks: list[Check], plot_name: str) -> str:
    counts = {s: sum(c.status == s for c in checks)
              for s in ("rounded", "truncated", "erratum", "disagrees")}
    conv = get_convention("paper")
    by_table = {t: [c for c in checks if c.figure.table == t]
                for t in ("Table 1", "Table 2", "Table 4")}
    parts = [
        "# The MeliusNet paper's cost tables, reproduced",
        "",
        "Generated by `python analysis/paper_tables.py` (do not edit; "
        "`tests/analysis/test_paper_tables.py` reruns it and checks this file is current).",
        "",
        f"Convention: '{conv.name}' ({conv.description}), unless a row says otherwise. "
        "Printed figures are data in the script, with their table and row; computed figures "
        "come from costing `specs/`. A figure **agrees** when the computed value, rounded to the "
        "printed decimals, is the printed text; FACTS.md's truncated figures agree when "
        "truncated, its errata when the computed value rounds to the correction.",
        "",
        f"**{len(checks)} printed figures checked: {counts['rounded']} agree rounded, "
        f"{counts['truncated']} agree truncated (listed in FACTS.md), {counts['erratum']} are "
        f"errata listed in FACTS.md whose correction the computed value matches, "
        f"{counts['disagrees']} disagree.**",
        "",
        "## Table 1: MeliusNet configurations (grouped stem)",
        "",
        table_section(by_table["Table 1"], with_stem=False),
        "",
        "## Table 2: OPs with the 7x7 and the grouped stem",
        "",
        "Each OPs figure is printed in both the 'Original' and 'Ours' training rows; it is "
        "checked once. The size column ('~4.0MB', '~5.1MB') is an approximate class and is "
        "not checked.",
        "",
        table_section(by_table["Table 2"], with_stem=True),
        "",
        "## Table 4: BNNs against MobileNet-v1",
        "",
        table_section(by_table["Table 4"], with_stem=True),
        "",
        "### Table 4's model-size column",
        "",
        "Its cells span several rows: a size class, not a per-row figure, so it is shown here "
        "and not counted among the checks above.",
        "",
        size_label_section(),
        "",
        "## Findings",
        "",
        *[f"- {line}" for line in findings()],
        f"- {not_reproduced()}",
        "",
        "## OPs against size",
        "",
        "Every spec in `specs/` (filled: its default stem; hollow: the other stem), with the "
        "MobileNet-v1 budgets (convention 'paper') as dashed corners: a network inside a "
        "corner fits that budget.",
        "",
        f"![OPs against size]({plot_name})",
        "",
    ]
    return "\n".join(parts)


# -- plot ---------------------------------------------------------------------------------------
def plot_points() -> list[dict]:
    """One point per ImageNet spec (and per stem for binary networks): what the plot draws.
    Specs for other input sizes (specs/meliusnet-cifar.yaml) are not the paper's networks."""
    points = []
    for path in sorted(SPECS.glob("*.yaml")):
        spec = api.load(path)
        if tuple(spec.input[1:]) != (224, 224):
            continue
        stems = [None]
        if "stem" in spec.settable():
            default = spec.values.get("stem") or spec.blocks[spec.block].args.get("stem")
            stems = [default] + [s for s in ("imagenet", "grouped") if s != default]
        for i, stem in enumerate(stems):
            sets = (("stem", stem),) if stem else ()
            t = totals(path.name, sets, "paper")
            points.append({"name": spec.name, "spec": path.name, "stem": stem,
                           "default": i == 0, "ops": t.ops, "size_mib": t.size_mib,
                           "binary": t.bops > 0})
    return points


FAMILY_COLORS = {"MeliusNet": "tab:red", "BinaryDenseNet": "tab:blue",
                 "ResNetE / Bi-RealNet": "tab:green",
                 "ReActNet / QuickNet / Real-to-Binary (after the paper)": "tab:purple",
                 "MobileNet-v1": "tab:gray"}
LATER = ("reactnet", "quicknet", "realtobinary")
ZOOM = ((3.6, 5.6), (0.9, 2.9))  # the crowded corner: MiB, OPs / 1e8
# label offsets (points) where the default (right, below) would collide in the zoomed panel
LABEL_OFFSETS = {"MeliusNetA": (6, 4), "MeliusNetC": (6, -4), "MeliusNet22": (-62, -3),
                 "MeliusNetB": (-56, -3), "BinaryDenseNet37": (6, 2),
                 "MeliusNet29": (6, -6), "BinaryDenseNet28": (6, 2)}
FULL_LABEL_OFFSETS = {"QuickNetLarge": (-30, 7)}  # the same, in the full panel


def _family(spec: str) -> str:
    return ("MeliusNet" if spec.startswith("meliusnet") else
            "BinaryDenseNet" if spec.startswith("binarydensenet") else
            "MobileNet-v1" if spec.startswith("mobilenet") else
            "ReActNet / QuickNet / Real-to-Binary (after the paper)" if spec.startswith(LATER)
            else "ResNetE / Bi-RealNet")


def draw(points: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    fig, axes = plt.subplots(1, 2, figsize=(15, 7), dpi=100,
                             gridspec_kw={"width_ratios": [1, 1.15]})
    by_spec: dict[str, list[dict]] = {}
    for p in points:
        by_spec.setdefault(p["spec"], []).append(p)
    # networks with the same cost (ResNetE and Bi-Real Net) share one label
    labels: dict[tuple, list[str]] = {}
    for spec, pts in by_spec.items():
        d = pts[0]
        labels.setdefault((round(d["ops"]), round(d["size_mib"], 2)), []).append(d["name"])
    for ax, zoomed in zip(axes, (False, True)):
        for name in PRESETS:
            b = preset_budget(name, "paper")
            ax.plot([0, b.size_mib, b.size_mib], [b.ops / 1e8] * 2 + [0], ls="--", lw=1,
                    color="tab:gray")
            if zoomed:
                ax.annotate(name, (b.size_mib, b.ops / 1e8), textcoords="offset points",
                            xytext=(3, 3), fontsize=8, color="tab:gray", annotation_clip=True)
            else:
                ax.annotate(name, (b.size_mib, 0), textcoords="offset points", xytext=(-11, 6),
                            rotation=90, fontsize=8, color="tab:gray")
        for spec, pts in by_spec.items():
            color = FAMILY_COLORS[_family(spec)]
            ax.plot([p["size_mib"] for p in pts], [p["ops"] / 1e8 for p in pts], color=color,
                    lw=0.6, alpha=0.6)
            for p in pts:
                ax.scatter(p["size_mib"], p["ops"] / 1e8, s=36, zorder=3, edgecolors=color,
                           marker="s" if not p["binary"] else "o",
                           color=color if p["default"] else "white")
            d = pts[0]
            key = (round(d["ops"]), round(d["size_mib"], 2))
            if labels.get(key, [None])[-1] != d["name"]:
                continue  # labelled once, by the last network at this point
            x, y = d["size_mib"], d["ops"] / 1e8
            inside = ZOOM[0][0] <= x <= ZOOM[0][1] and ZOOM[1][0] <= y <= ZOOM[1][1]
            if inside != zoomed:
                continue
            ax.annotate(" = ".join(labels[key]), (x, y), textcoords="offset points",
                        xytext=(LABEL_OFFSETS if zoomed else FULL_LABEL_OFFSETS).get(
                            d["name"], (5, -10)),
                        fontsize=8, color=color)
        ax.set_xlabel("model size (MiB)")
        ax.grid(alpha=0.3)
        if zoomed:
            ax.set_xlim(*ZOOM[0])
            ax.set_ylim(*ZOOM[1])
            ax.set_title("zoomed: the ~4 MiB and ~5 MiB networks")
        else:
            ax.set_xlim(0, max(p["size_mib"] for p in points) * 1.1)
            ax.set_ylim(0, max(p["ops"] for p in points) / 1e8 * 1.08)
            ax.set_ylabel("OPs (1e8) = BOPs/64 + FLOPs")
            ax.set_title("every spec in specs/ (convention 'paper')")
            ax.add_patch(Rectangle((ZOOM[0][0], ZOOM[1][0]), ZOOM[0][1] - ZOOM[0][0],
                                   ZOOM[1][1] - ZOOM[1][0], fill=False, lw=0.8, ls=":"))
    for fam, color in FAMILY_COLORS.items():
        axes[0].scatter([], [], color=color, marker="s" if fam == "MobileNet-v1" else "o",
                        label=fam + (" (32-bit, default width)" if fam == "MobileNet-v1" else ""))
    axes[0].scatter([], [], color="white", edgecolors="black", label="the other stem")
    axes[0].plot([], [], ls="--", color="tab:gray", label="MobileNet-v1 budgets (OPs, size)")
    axes[0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="folder for README.md and ops_vs_size.png (default: analysis/)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    checks = check_all()
    text = report(checks, "ops_vs_size.png")
    (args.out / "README.md").write_text(text, encoding="utf-8")
    draw(plot_points(), args.out / "ops_vs_size.png")
    print(text)
    return 1 if any(c.status == "disagrees" for c in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
