"""`mnas ops`: every op type a spec can use, from the op registry: its role, inputs, fields
with their defaults, shape rule, what it costs, what it does and how its layer starts."""

from __future__ import annotations

import json

from mnas.cli.common import add_format

EXAMPLES = """examples:
  mnas ops                          every op, one row each
  mnas ops conv2d batchnorm         some ops
  mnas ops --format json            everything, structured (fields with types and defaults)
  mnas ops --format markdown        the table of docs/spec.md"""

DESCRIPTION = ("The op types specs can use (`op:` in a layer), as the op registry defines "
               "them; a new op module shows up here by itself.")


def add_arguments(p) -> None:
    p.add_argument("ops", nargs="*", metavar="OP", help="ops to show (default: all)")
    add_format(p)


def run(args) -> int:
    from mnas.errors import MnasError, suggest
    from mnas.ops.catalog import markdown_table, op_details, op_rows
    from mnas.ops.registry import all_ops
    from mnas.tables import format_table

    known = all_ops()
    for name in args.ops:
        if name not in known:
            raise MnasError(f"unknown op '{name}'{suggest(name, known)}; known ops: "
                            f"{', '.join(sorted(known))}")
    names = args.ops or None
    if args.format == "json":
        print(json.dumps(op_details(names), indent=2, default=str))
    elif args.format == "markdown" and names is None:
        print(markdown_table())
    else:
        rows = op_rows(names)
        if args.format == "table":
            rows = [{k: r[k] for k in ("op", "role", "inputs", "fields", "meaning")}
                    for r in rows]
        print(format_table(rows, args.format, title="Ops",
                           caption="mnas ops --format json: fields with types, shape rules, "
                                   "counts and initialisation"))
    return 0
