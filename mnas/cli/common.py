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


def add_convention(parser: argparse.ArgumentParser) -> None:
    from mnas.cost.conventions import CONVENTIONS
    parser.add_argument("--convention", default="paper", choices=list(CONVENTIONS),
                        help="counting convention (default: paper, the MeliusNet paper's)")
