"""The `mnas` command. Each subcommand is a module here with `register(subparsers)` (which
adds its parser and sets `run`) and imports nothing heavy at module level. Errors caused by
input (`MnasError`) print one line and exit 1; anything else is a bug and keeps its
traceback."""

from __future__ import annotations

import argparse
import importlib
import sys

from mnas import __version__
from mnas.errors import MnasError

COMMANDS = ["cost", "budgets", "compare", "search", "render", "export", "train", "validate",
            "bench"]

EPILOG = """examples:
  mnas cost specs/meliusnet22.yaml
  mnas cost specs/meliusnet22.yaml --set stem=imagenet --summary
  mnas cost specs/*.yaml --summary --format markdown
  mnas budgets
  mnas compare specs/*.yaml --budget mobilenet-0.75
  mnas render specs/meliusnet22.yaml -o meliusnet22.png
  mnas export specs/meliusnet22.yaml --format python -o meliusnet22.py
  mnas search --budget mobilenet-0.75
  mnas train specs/meliusnet-cifar.yaml --data digits --epochs 6 --optimizer adam --warmup 1
  mnas validate STUDY --top-k 3 --data digits
  mnas bench specs/meliusnet22.yaml --threads 1
run 'mnas COMMAND --help' for a command's options."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mnas", description="Design binary neural networks (MeliusNet-style) from YAML "
        "specs: cost them exactly, lower them to PyTorch, search, train, render.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"mnas {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"mnas.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except MnasError as err:
        print(f"mnas {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"mnas {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def run() -> None:
    sys.exit(main())
