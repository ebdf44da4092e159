"""Options several commands share: `--set`, `--format`, `--convention`."""

from __future__ import annotations

import argparse

from mnas.tables import FORMATS


def add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override a spec value (YAML syntax), e.g. --set stem=imagenet "
                             "--set stages=[4,5,4,4]; repeatable")


def add_format(parser: argparse.ArgumentParser, default: str = "table") -> None:
    parser.add_argument("--format", choices=FORMATS, default=default,
                        help=f"output format (default: {default})")


def convention_name(text: str) -> str:
    """A known convention, or measured:FILE (read when costing, so errors stay one line)."""
    from mnas.cost.conventions import CONVENTIONS, MEASURED
    if text in CONVENTIONS or (text.startswith(MEASURED) and len(text) > len(MEASURED)):
        return text
    raise argparse.ArgumentTypeError(f"invalid choice: '{text}' (choose from "
                                     f"{', '.join(CONVENTIONS)}, {MEASURED}FILE)")


def add_convention(parser: argparse.ArgumentParser) -> None:
    from mnas.cost.conventions import CONVENTIONS, MEASURED
    parser.add_argument("--convention", default="paper", type=convention_name,
                        metavar="{" + ",".join(CONVENTIONS) + f",{MEASURED}FILE}}",
                        help="counting convention (default: paper, the MeliusNet paper's); "
                             f"{MEASURED}FILE: OPs are the milliseconds of a latency table "
                             "written by 'mnas bench'")
