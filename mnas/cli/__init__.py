"""The `mnas` command. Each subcommand is a module here with `DESCRIPTION`, `EXAMPLES`,
`add_arguments(parser)` and `run(args)`; only the module of the command being run is imported
(the others appear in `mnas --help` by their one-line summary below), so a command needs only
the packages it uses. Errors caused by input (`MnasError`, and a missing optional package)
print one line and exit 1; anything else is a bug and keeps its traceback. Warnings about
legal but probable mistakes (`MnasWarning`) print one line too."""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from mnas import __version__
from mnas.errors import MissingDependency, MnasError, MnasWarning

#: command -> its one-line summary, in the order `mnas --help` lists them
COMMANDS = {
    "cost": "cost one or more specs (BOPs, FLOPs, OPs, params, size)",
    "budgets": "list the budget presets with their OPs and size",
    "compare": "compare networks, optionally against a budget",
    "ops": "list the op types a spec can use, with their fields and defaults",
    "search": "search a design space under a budget (Optuna)",
    "render": "draw a network diagram (graphviz: svg, png, pdf, dot)",
    "export": "export a network (torchscript, onnx, state dict, python, expanded yaml)",
    "train": "train a spec (paper recipe; local or DDP; resumable)",
    "validate": "train the best candidates of a search study",
    "bench": "measure per-layer latency on the bit-packed kernels vs float",
}

EPILOG = """examples:
  mnas cost meliusnet22                     a bundled spec, by name
  mnas cost specs/meliusnet22.yaml --set stem=imagenet --summary
  mnas cost specs/*.yaml --summary --format markdown
  mnas budgets
  mnas ops conv2d
  mnas compare specs/*.yaml --budget mobilenet-0.75
  mnas render meliusnet22 -o meliusnet22.png
  mnas export meliusnet22 --format python -o meliusnet22.py
  mnas search --budget mobilenet-0.75
  mnas train specs/meliusnet-cifar.yaml --data digits --epochs 6 --optimizer adam --warmup 1
  mnas validate STUDY --top-k 3 --data digits
  mnas bench specs/meliusnet22.yaml --threads 1
run 'mnas COMMAND --help' for a command's options."""


class Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def chosen_command(argv: list[str]) -> str | None:
    """The subcommand named in `argv` (the first word that is not an option)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser, with the full options of `command` only (its module is imported)."""
    parser = argparse.ArgumentParser(
        prog="mnas", description="Design binary neural networks (MeliusNet-style) from YAML "
        "specs: cost them exactly, lower them to PyTorch, search, train, render.",
        epilog=EPILOG, formatter_class=Formatter)
    parser.add_argument("--version", action="version", version=f"mnas {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, summary in COMMANDS.items():
        if name != command:
            sub.add_parser(name, help=summary)
            continue
        module = importlib.import_module(f"mnas.cli.{name}")
        p = sub.add_parser(name, help=summary, description=module.DESCRIPTION,
                           epilog=module.EXAMPLES, formatter_class=Formatter)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = chosen_command(argv)
    try:
        parser = build_parser(command)
        args = parser.parse_args(argv)
        if not getattr(args, "run", None):
            parser.print_help()
            return 2
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings(command, warnings.showwarning)
            return args.run(args) or 0
    except MnasError as err:
        print(f"mnas {command}: error: {err}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as err:
        if not err.name or err.name.split(".")[0] == "mnas":
            raise
        missing = MissingDependency(err.name.split(".")[0], "this command")
        print(f"mnas {command}: error: {missing}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"mnas {command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _one_line_warnings(command: str, default):
    """`showwarning` printing a MnasWarning as `mnas COMMAND: warning: ...`."""
    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, MnasWarning):
            print(f"mnas {command}: warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)
    return show


def run() -> None:
    sys.exit(main())
