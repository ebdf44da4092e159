"""The package import graph, read from the source with `ast` (imports inside functions
included): mnas's packages import each other without cycles, only the CLI imports
`mnas.api`, and every `mnas.*` import names a module or a name that exists."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import mnas

ROOT = Path(mnas.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _exists(module: str) -> bool:
    rel = Path(*module.split("."))
    return (ROOT.parent / rel).with_suffix(".py").is_file() or \
        (ROOT.parent / rel / "__init__.py").is_file()


def imports() -> list[tuple[str, str, int]]:
    """(importing module, imported mnas module, line) for every import statement."""
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        mod = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from mnas.ops import layers` imports the module mnas.ops.layers
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names
                                         if _exists(f"{node.module}.{a.name}")]
            else:
                continue
            out += [(mod, n, node.lineno) for n in names if n == "mnas" or n.startswith("mnas.")]
    return out


def package(module: str) -> str:
    """mnas.search.run -> mnas.search; top-level modules (mnas.api, mnas.errors) are their own."""
    return ".".join(module.split(".")[:2])


def test_every_import_resolves():
    missing = [f"{m} line {line}: {n}" for m, n, line in imports() if not _exists(n)]
    assert not missing, "imports of mnas modules that do not exist:\n" + "\n".join(missing)


def test_only_the_cli_imports_api():
    offenders = [f"{m} line {line}" for m, n, line in imports()
                 if package(n) == "mnas.api" and package(m) not in ("mnas.cli", "mnas.api")]
    assert not offenders, "the library imports mnas.api (only mnas.cli may):\n" + \
        "\n".join(offenders)


def test_packages_import_each_other_without_cycles():
    edges: dict[str, dict[str, str]] = defaultdict(dict)
    for m, n, line in imports():
        a, b = package(m), package(n)
        if a != b and b != "mnas":
            edges[a].setdefault(b, f"{m} line {line} imports {n}")

    def path_back(start: str, goal: str) -> list[str] | None:
        stack, seen = [(start, [start])], {start}
        while stack:
            node, trail = stack.pop()
            for nxt in edges.get(node, {}):
                if nxt == goal:
                    return trail + [nxt]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, trail + [nxt]))
        return None

    cycles = []
    for a in sorted(edges):
        for b in sorted(edges[a]):
            back = path_back(b, a)
            if back:
                chain = [a] + back
                cycles.append(" -> ".join(chain) + "\n    " + "\n    ".join(
                    edges[x][y] for x, y in zip(chain, chain[1:])))
    assert not cycles, "import cycles between mnas's packages:\n" + "\n".join(cycles)


def test_the_graph_sees_imports_inside_functions():
    """The reader is not blind to the imports that hid the old cycle (inside functions)."""
    found = {(m, n) for m, n, _ in imports()}
    assert ("mnas.search.objective", "mnas.train.run") in found     # inside default_trainer
