"""Mutation testing of the core modules: does a test fail when the code is broken?

For each target (a group of core modules and the small, fast test subset that should guard
them) the script copies the checkout's tracked files to a temporary folder, runs the subset
once on the unmutated code (it must pass), then applies one mutant at a time (an AST edit of
one module: an operator, comparison, boolean or constant swapped, a call argument dropped, a
statement, guard or `with` removed) and runs the subset again. A mutant is *killed* when the
subset fails (or times out), *survives* when it passes. Survivors are listed with their line;
each is either a missing test or an equivalent mutant (docs/testing.md says which).

Not part of CI (minutes per target). Run it alone on a shared machine (one test process at a
time, one torch thread):

    python benchmarks/mutation.py                       # every target, report to stdout
    python benchmarks/mutation.py --target cost-model --target lowering
    python benchmarks/mutation.py --list                # mutants only, no tests run
    python benchmarks/mutation.py --target resume --match "storage.py:360"   # some mutants
    nohup python benchmarks/mutation.py --out mutation.md > mutation.log 2>&1 &

Speed: the parent imports the heavy third-party packages once (torch, optuna, pandas, ...,
never mnas) and forks a child per mutant, which imports the mutated mnas from the temporary
copy and runs pytest in-process; tests that start `python -m mnas` get the copy too
(PYTHONPATH and the working directory point at it).
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Target:
    """Modules to mutate (`path`, or `path::Qualified.name,other` to mutate only those
    functions or classes, `Name[word]` only the lines of Name that contain `word`) and the
    tests that must kill their mutants."""

    name: str
    modules: tuple[str, ...]
    tests: tuple[str, ...]
    select: str | None = None       # pytest -k expression, to leave slow cases out


PRECISION = "tests/lower/test_precision_equality.py"
TARGETS = (
    Target("cost-model",
           ("mnas/cost/model.py", "mnas/cost/conventions.py", "mnas/ir/precision.py"),
           ("tests/cost/test_tally.py", "tests/cost/test_layer_costs.py",
            "tests/cost/test_model.py",
            "tests/cost/test_paper_figures.py", "tests/cost/test_zoo_published.py",
            "tests/cost/test_budgets_mobilenet.py", "tests/cost/test_modern_zoo.py",
            "tests/ir/test_precision.py", "tests/bench/test_bench.py")),
    Target("op-counts",
           ("mnas/ops/conv.py::Conv2dParams.pad,out_channels,_infer,_count,_lower",
            "mnas/ops/linear.py::infer_linear,count_linear,lower_linear",
            "mnas/ops/norm.py::_infer,_count,_lower",
            "mnas/ops/shapes.py::window_out,round_half_up"),
           ("tests/cost/test_layer_costs.py", "tests/cost/test_model.py",
            "tests/cost/test_zoo_published.py", "tests/ops/test_op_rules.py",
            "tests/lower/test_lowered_semantics.py", "tests/lower/test_ops.py",
            f"{PRECISION}::test_all_ops_fixture_by_hand",
            f"{PRECISION}::test_variants_reachable_only_through_set")),
    Target("lowering",
           ("mnas/ops/layers.py", "mnas/lower/torch.py",
            "mnas/ops/activation.py::_lower_sign,_lower_approx_sign,_lower_relu",
            "mnas/ops/pool.py::_lower,_lower_gap", "mnas/ops/merge.py::_lower",
            "mnas/ops/reshape.py::_lower_shuffle,_lower_flatten"),
           ("tests/lower/test_layers.py", "tests/lower/test_layer_details.py",
            "tests/lower/test_layer_behaviour.py",
            "tests/export/test_export.py::test_torchscript_loads_back_with_the_modules_outputs"
            "[all_ops]",
            "tests/lower/test_ops.py", "tests/ops/test_op_rules.py", "tests/ops/test_modern_ops.py",
            "tests/lower/test_lowered_semantics.py", "tests/lower/test_training.py",
            f"{PRECISION}::test_all_ops_fixture_by_hand",
            f"{PRECISION}::test_binary_layers_carry_bops_only_and_float_layers_flops_only"
            "[meliusnet22]"),
           select="not test_forward_backward or all_ops or cifar"),
    Target("budgets-constraints",
           ("mnas/cost/budgets.py", "mnas/search/ranking.py::feasible",
            "mnas/search/worker.py::Worker._judge,Worker.evaluate[budget]"),
           ("tests/cost/test_budgets_mobilenet.py", "tests/search/test_constraints.py",
            "tests/search/test_latency_budget.py")),
    Target("resume",
           ("mnas/train/checkpoint.py",
            "mnas/search/storage.py::open_study,study_attrs,settings_change"),
           ("tests/train/test_checkpoint.py", "tests/train/test_run_folder.py",
            "tests/search/test_constraints.py")),
    Target("study-locking",
           ("mnas/search/storage.py::file_lock,lock_file,study_lock",
            "mnas/search/worker.py::Worker.run,Worker._instant,Worker._write,Worker.sync"),
           ("tests/search/test_constraints.py", "tests/search/test_worker_bookkeeping.py",
            "tests/search/test_postgres.py::test_the_study_lock_is_held_on_the_server")),
)

# Imported once in the parent so each forked child starts warm; never mnas itself.
PRELOAD = ("numpy", "torch", "torch.fx", "torch.utils.flop_counter", "pandas", "yaml",
           "optuna", "sqlalchemy", "matplotlib", "matplotlib.pyplot", "networkx", "rich",
           "_pytest", "pytest")


# -- mutants -----------------------------------------------------------------------------------

BINOPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
          ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult}
CMPOPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
          ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
          ast.Is: ast.IsNot, ast.IsNot: ast.Is}
BOOLOPS = {ast.And: ast.Or, ast.Or: ast.And}


@dataclass(frozen=True)
class Mutant:
    file: str
    index: int          # position of the mutated node in ast.walk order
    kind: str
    line: int
    detail: str

    def label(self) -> str:
        return f"{self.file}:{self.line} {self.kind}: {self.detail}"


def _skipped_ids(tree: ast.AST) -> set[int]:
    """Nodes no mutant touches: docstrings, annotations, decorators, imports, f-strings,
    exception messages, and `__all__`."""
    skip: set[int] = set()

    def mark(node):
        for sub in ast.walk(node):
            skip.add(id(sub))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.JoinedStr)):
            mark(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for d in node.decorator_list:
                mark(d)
            if not isinstance(node, ast.ClassDef):
                if node.returns is not None:
                    mark(node.returns)
                for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
                          node.args.vararg, node.args.kwarg):
                    if a is not None and a.annotation is not None:
                        mark(a.annotation)
        elif isinstance(node, ast.AnnAssign):
            mark(node.annotation)
        elif isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc
            if isinstance(exc, ast.Call):
                for arg in (*exc.args, *(k.value for k in exc.keywords)):
                    mark(arg)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                mark(body[0])
    return skip


def _scope_lines(tree: ast.AST, source: str, names: tuple[str, ...]) -> set[int] | None:
    """The lines of the functions / classes named `Outer.inner` (None: the whole module).
    `Outer.inner[word]` keeps only the lines of that function that contain `word` (for
    example the budget lines of a function that also does other work)."""
    if not names:
        return None
    found: dict[str, tuple[int, int]] = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                qual = f"{prefix}{child.name}"
                found[qual] = (child.lineno, child.end_lineno)
                visit(child, qual + ".")
    visit(tree, "")
    text = source.splitlines()
    lines: set[int] = set()
    for name in names:
        qual, _, word = name.partition("[")
        if qual not in found:
            raise SystemExit(f"no function or class '{qual}' in the module (it changed? update "
                             "TARGETS in benchmarks/mutation.py)")
        lo, hi = found[qual]
        word = word.rstrip("]")
        lines |= {n for n in range(lo, hi + 1) if not word or word in text[n - 1]}
    return lines


def _describe(node) -> str:
    try:
        return ast.unparse(node)[:70]
    except Exception:
        return type(node).__name__


def _site_mutations(node, parent_field):
    """(kind, detail, apply) for each mutation of `node`; apply(node_copy, parent_copy,
    field, index) edits the copy in place."""
    out = []
    if isinstance(node, ast.BinOp) and type(node.op) in BINOPS:
        new = BINOPS[type(node.op)]
        out.append(("operator", f"{type(node.op).__name__} -> {new.__name__} in {_describe(node)}",
                    lambda n, *_: setattr(n, "op", new())))
    if isinstance(node, ast.AugAssign):
        if type(node.op) in BINOPS:
            new = BINOPS[type(node.op)]
            out.append(("operator", f"{type(node.op).__name__}= -> {new.__name__}= in "
                                    f"{_describe(node)}",
                        lambda n, *_: setattr(n, "op", new())))
        out.append(("statement", f"removed {_describe(node)}", _replace_with_pass))
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in CMPOPS:
                new = CMPOPS[type(op)]

                def swap(n, *_, i=i, new=new):
                    n.ops[i] = new()
                out.append(("comparison", f"{type(op).__name__} -> {new.__name__} in "
                                          f"{_describe(node)}", swap))
    if isinstance(node, ast.BoolOp):
        new = BOOLOPS[type(node.op)]
        out.append(("boolean", f"{type(node.op).__name__} -> {new.__name__} in "
                               f"{_describe(node)}", lambda n, *_: setattr(n, "op", new())))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        out.append(("unary", f"dropped {type(node.op).__name__} in {_describe(node)}",
                    lambda n, parent, fld, idx: _set_child(parent, fld, idx, n.operand)))
    if isinstance(node, ast.Constant) and not isinstance(node.value, (str, bytes)) \
            and node.value is not None and node.value is not Ellipsis:
        v = node.value
        new_v = (not v) if isinstance(v, bool) else v + 1
        out.append(("constant", f"{v!r} -> {new_v!r}",
                    lambda n, *_, new_v=new_v: setattr(n, "value", new_v)))
    if isinstance(node, ast.Call):
        if node.args and not isinstance(node.args[-1], ast.Starred):
            out.append(("argument", f"dropped last argument ({_describe(node.args[-1])}) of "
                                    f"{_describe(node.func)}(...)",
                        lambda n, *_: n.args.pop()))
        for i, kw in enumerate(node.keywords):
            if kw.arg is None:
                continue

            def drop_kw(n, *_, i=i):
                del n.keywords[i]
            out.append(("argument", f"dropped {kw.arg}= of {_describe(node.func)}(...)", drop_kw))
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        out.append(("statement", f"removed {_describe(node)}", _replace_with_pass))
    if isinstance(node, ast.If):
        out.append(("guard", f"`if {_describe(node.test)}` never taken",
                    lambda n, *_: setattr(n, "test", ast.Constant(False))))
    if isinstance(node, ast.With):
        out.append(("with", f"unwrapped `with {_describe(node.items[0].context_expr)}`",
                    lambda n, parent, fld, idx: _splice(parent, fld, idx, n.body)))
    return out


def _replace_with_pass(n, parent, fld, idx):
    _set_child(parent, fld, idx, ast.Pass())


def _set_child(parent, fld, idx, new):
    if idx is None:
        setattr(parent, fld, new)
    else:
        getattr(parent, fld)[idx] = new


def _splice(parent, fld, idx, body):
    seq = getattr(parent, fld)
    seq[idx:idx + 1] = body


def _parents(tree):
    """{id(child): (parent, field, index or None)}."""
    out = {}
    for parent in ast.walk(tree):
        for fld, value in ast.iter_fields(parent):
            if isinstance(value, list):
                for i, v in enumerate(value):
                    if isinstance(v, ast.AST):
                        out[id(v)] = (parent, fld, i)
            elif isinstance(value, ast.AST):
                out[id(value)] = (parent, fld, None)
    return out


def enumerate_mutants(root: Path, spec: str) -> tuple[str, list[Mutant]]:
    path, _, names = spec.partition("::")
    source = (root / path).read_text(encoding="utf-8")
    tree = ast.parse(source)
    skip = _skipped_ids(tree)
    lines = _scope_lines(tree, source, tuple(n for n in names.split(",") if n))
    mutants = []
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skip or not hasattr(node, "lineno"):
            continue
        if lines is not None and node.lineno not in lines:
            continue
        for kind, detail, _ in _site_mutations(node, None):
            mutants.append(Mutant(path, index, kind, node.lineno, detail))
    # several mutants of one node share an index: number them apart by order
    return source, mutants


def mutated_source(source: str, mutant: Mutant, ordinal: int) -> str:
    tree = ast.parse(source)
    nodes = list(ast.walk(tree))
    node = nodes[mutant.index]
    parent, fld, idx = _parents(tree).get(id(node), (None, None, None))
    kind, detail, apply = _site_mutations(node, None)[ordinal]
    apply(node, parent, fld, idx)
    ast.fix_missing_locations(tree)
    return ast.unparse(tree) + "\n"


def ordinals(mutants: list[Mutant]) -> list[int]:
    """Position of each mutant among the mutations of its node."""
    seen: dict[tuple[str, int], int] = {}
    out = []
    for m in mutants:
        key = (m.file, m.index)
        out.append(seen.get(key, 0))
        seen[key] = out[-1] + 1
    return out


# -- running -----------------------------------------------------------------------------------

def copy_checkout(dest: Path) -> None:
    """The tracked and untracked-but-not-ignored files of the checkout (what a commit would
    hold), symlinks kept."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, check=True, capture_output=True).stdout.split(b"\0")
    for raw in files:
        if not raw:
            continue
        rel = raw.decode()
        src, dst = ROOT / rel, dest / rel
        if not src.exists() and not src.is_symlink():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)


def run_tests(copy_root: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, float]:
    """Fork a child that runs pytest on `tests` inside `copy_root`: ('pass' | 'fail' |
    'timeout', seconds)."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.setpgid(0, 0)
            os.chdir(copy_root)
            sys.path.insert(0, str(copy_root))
            os.environ["PYTHONPATH"] = str(copy_root)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            import pytest
            code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                                "--rootdir", str(copy_root), *tests])
            os._exit(0 if code == 0 else 1)
        except BaseException:
            os._exit(1)
    deadline = start + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            seconds = time.perf_counter() - start
            return ("pass" if os.waitstatus_to_exitcode(status) == 0 else "fail"), seconds
        if time.perf_counter() > deadline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            return "timeout", time.perf_counter() - start
        time.sleep(0.02)


@dataclass
class Result:
    target: str
    killed: int = 0
    timeouts: int = 0
    survivors: list[str] = field(default_factory=list)
    total: int = 0
    seconds: float = 0.0
    baseline_s: float = 0.0

    @property
    def score(self) -> float:
        return (self.killed + self.timeouts) / self.total if self.total else float("nan")


def run_target(target: Target, work: Path, log, match: tuple[str, ...] = ()) -> Result:
    result = Result(target.name)
    t0 = time.perf_counter()
    missing = [t for t in target.tests if not (work / t.split("::")[0]).exists()]
    if missing:
        raise SystemExit(f"{target.name}: test files missing: {missing}")
    plan = []
    for spec in target.modules:
        source, mutants = enumerate_mutants(work, spec)
        plan.append((spec.partition("::")[0], source, mutants))
    # baseline on the unparsed (unmutated) sources, as the mutants are written
    for path, source, _ in plan:
        (work / path).write_text(ast.unparse(ast.parse(source)) + "\n", encoding="utf-8")
    tests = (*target.tests, *(("-k", target.select) if target.select else ()))
    status, base = run_tests(work, tests, timeout=600)
    if status != "pass":
        raise SystemExit(f"{target.name}: the tests fail on the unmutated code; fix that first")
    result.baseline_s = base
    timeout = max(30.0, 5 * base)
    print(f"[{target.name}] baseline {base:.1f}s; "
          f"{sum(len(m) for *_, m in plan)} mutants", file=log, flush=True)
    for path, source, mutants in plan:
        for mutant, ordinal in zip(mutants, ordinals(mutants)):
            if match and not any(text in mutant.label() for text in match):
                continue
            (work / path).write_text(mutated_source(source, mutant, ordinal), encoding="utf-8")
            status, secs = run_tests(work, tests, timeout)
            result.total += 1
            if status == "fail":
                result.killed += 1
            elif status == "timeout":
                result.timeouts += 1
            else:
                result.survivors.append(mutant.label())
            print(f"[{target.name}] {result.total:4d} {status:7s} {secs:5.1f}s  "
                  f"{mutant.label()}", file=log, flush=True)
        (work / path).write_text(source, encoding="utf-8")
    result.seconds = time.perf_counter() - t0
    return result


def report(results: list[Result], commit: str) -> str:
    lines = [f"Mutation score on commit {commit} (`python benchmarks/mutation.py`)", "",
             "| target | mutants | killed | timeouts | survived | score | baseline s | total s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r.target} | {r.total} | {r.killed} | {r.timeouts} | "
                     f"{len(r.survivors)} | {100 * r.score:.1f}% | {r.baseline_s:.1f} | "
                     f"{r.seconds:.0f} |")
    total = sum(r.total for r in results)
    killed = sum(r.killed + r.timeouts for r in results)
    if total:
        lines.append(f"| all | {total} | | | {total - killed} | {100 * killed / total:.1f}% | | |")
    for r in results:
        if r.survivors:
            lines += ["", f"Survivors, {r.target}:", ""]
            lines += [f"- `{s}`" for s in r.survivors]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", action="append", choices=[t.name for t in TARGETS],
                        help="run only this target (repeatable; default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--out", help="also write the report (markdown) to this file")
    parser.add_argument("--match", action="append", default=[], metavar="TEXT",
                        help="run only the mutants whose label contains TEXT (repeatable), "
                             "e.g. a survivor's line to check the test that should kill it")
    args = parser.parse_args(argv)
    targets = [t for t in TARGETS if not args.target or t.name in args.target]
    if args.list:
        for t in targets:
            for spec in t.modules:
                _, mutants = enumerate_mutants(ROOT, spec)
                for m in mutants:
                    if not args.match or any(text in m.label() for text in args.match):
                        print(f"{t.name}: {m.label()}")
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.dont_write_bytecode = True
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    commit += " (with uncommitted changes)" if dirty else ""
    results = []
    with tempfile.TemporaryDirectory(prefix="mnas-mutation-") as tmp:
        work = Path(tmp)
        copy_checkout(work)
        for target in targets:
            results.append(run_target(target, work, sys.stdout, tuple(args.match)))
    text = report(results, commit)
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
