"""`mnas search`: Optuna over a spec's design space under a cost budget; writes the best
feasible candidates as specs, the trials as CSV and a Pareto plot to runs/<study>/."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mnas.cli.common import add_convention, add_format

EXAMPLES = """examples:
  mnas search --budget mobilenet-0.75                  MeliusNets within MobileNet-v1 0.75
  mnas search --budget mobilenet-0.5 --trials 1000 --workers 2
  mnas search --budget resnete18                       as cheap as ResNetE18 (any spec or zoo name)
  mnas search --max-ops 3.25e8 --max-size-mib 10       explicit limits
  mnas search --budget mobilenet-0.75 --max-latency-ms 40 --latency-table m22.json
  mnas search --budget mobilenet-1.0 --objective pareto
  mnas search --budget mobilenet-0.75 --space my_space.yaml --study mine --seed 3
  mnas search --budget mobilenet-0.75 --storage journal:runs/shared.log --workers 4
  mnas search --budget mobilenet-0.5 --objective train --data digits --epochs 3 \\
      --train-set input=[3,32,32]
  mnas search --budget mobilenet-0.5 --objective train --data cifar10:data --epochs 9 \\
      --train-set input=[3,32,32] --train-set stem=cifar --precision bf16 --pruner hyperband
Re-running the same command resumes the study (only missing trials run). Every trial is a
new network; the search stops early when the space has no new one left. With --objective
train and several GPUs visible, one worker per GPU runs by default, each on its own GPU.
The space: specs/spaces/meliusnet.yaml (copy and edit it; docs/search.md)."""


DESCRIPTION = ("Search a spec's design space under an OPs/size budget with Optuna; candidates "
               "over budget are rejected by cost alone.")


def add_arguments(p) -> None:
    from mnas.cost.budgets import PRESETS
    from mnas.search.objective import OBJECTIVES
    from mnas.search.samplers import SAMPLERS
    from mnas.search.objective import PRUNERS
    from mnas.train.execution import PRECISIONS
    from mnas.train.recipe import OPTIMIZERS
    b = p.add_argument_group("budget (a preset or a network, explicit limits, or either with a "
                             "limit replaced)")
    b.add_argument("--budget", metavar="NAME|SPEC",
                   help="preset: " + ", ".join(PRESETS) + " (see 'mnas budgets'); or a network "
                        "spec (file or zoo name, e.g. resnete18): its own OPs and size")
    b.add_argument("--max-ops", type=float, metavar="OPS", help="OPs limit, e.g. 3.25e8")
    b.add_argument("--max-size-mib", type=float, metavar="MIB", help="size limit in MiB")
    b.add_argument("--max-latency-ms", type=float, metavar="MS",
                   help="latency limit in milliseconds, judged by --latency-table")
    b.add_argument("--latency-table", metavar="FILE",
                   help="latency table written by 'mnas bench' (layers it did not measure "
                        "are estimated from its per-MAC rates)")
    add_convention(p)
    s = p.add_argument_group("search")
    s.add_argument("--space", metavar="FILE",
                   help="search space YAML (default: specs/spaces/meliusnet.yaml)")
    s.add_argument("--objective", choices=list(OBJECTIVES), default="proxy",
                   help="; ".join(f"{o.name}: {o.description}" for o in OBJECTIVES.values()))
    s.add_argument("--trials", type=int, metavar="N",
                   help="trials in the study in total (default: " +
                        ", ".join(f"{o.name} {o.default_trials}" for o in OBJECTIVES.values())
                        + ")")
    s.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local processes sharing the storage (default: 1; with --objective "
                        "train, one per visible GPU)")
    s.add_argument("--seed", type=int, default=0, help="sampler seed (default: 0)")
    s.add_argument("--sampler", choices=list(SAMPLERS), default="refine",
                   help="; ".join(f"{d.name}: {d.description}" for d in SAMPLERS.values()))
    st = p.add_argument_group("study and output")
    st.add_argument("--study", metavar="NAME",
                    help="study name (default: <space>-<budget>-<objective>)")
    st.add_argument("--storage", metavar="URL",
                    help="Optuna storage: sqlite:///PATH (default runs/<study>/study.db), "
                         "postgresql://..., mysql://..., or journal:PATH")
    st.add_argument("--out", metavar="DIR", help="run folder (default: runs/<study>)")
    st.add_argument("--top", type=int, default=5, metavar="K",
                    help="best candidates to print and write as specs (default: 5)")
    st.add_argument("--no-plot", action="store_true", help="skip pareto.png")
    st.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_format(st)
    t = p.add_argument_group("--objective train")
    t.add_argument("--data", default="digits", help="data set as for `mnas train --data`")
    t.add_argument("--epochs", type=int, default=3, help="epochs per candidate (default: 3)")
    t.add_argument("--batch-size", type=int, help="batch size")
    t.add_argument("--lr", type=float, help="learning rate")
    t.add_argument("--optimizer", choices=OPTIMIZERS,
                   help="optimizer (default: the paper's RAdam; short runs learn faster with "
                        "adam and --warmup 1)")
    t.add_argument("--warmup", type=float, metavar="EPOCHS", help="linear warm-up epochs")
    t.add_argument("--device", default="auto", help="cpu, cuda, or auto")
    t.add_argument("--train-set", dest="train_sets", action="append", default=[],
                   metavar="KEY=VALUE", help="override a value for training only (the cost "
                   "is judged on the spec as searched), e.g. input=[3,32,32]; repeatable")
    t.add_argument("--pruner", choices=PRUNERS, default="hyperband",
                   help="multi-fidelity pruning over epochs: Hyperband, successive halving "
                        "(both reduction factor 3 from 1 epoch) or the median rule (default: "
                        "hyperband)")
    t.add_argument("--no-prune", action="store_true", help="train every epoch of every trial")
    t.add_argument("--label-smoothing", type=float, metavar="EPS", help="as for `mnas train`")
    t.add_argument("--steps", type=int, choices=(1, 2),
                   help="2: two-step schedule, --epochs per step (as for `mnas train`)")
    t.add_argument("--teacher", metavar="RUN|CHECKPOINT",
                   help="distil from this trained network (as for `mnas train`)")
    t.add_argument("--precision", choices=PRECISIONS, help="autocast precision (default fp32)")
    t.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="NHWC memory format (default: on CUDA)")
    t.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile each candidate (pays off only for long trials)")


def run(args) -> int:
    from mnas.cost.budgets import resolve_budget
    from mnas.errors import MnasError
    from mnas.search.objective import TrainOptions
    from mnas.search.config import SearchConfig
    from mnas.spec.load import parse_sets

    if args.top < 1:
        raise MnasError(f"--top must be >= 1, got {args.top}")
    budget = resolve_budget(args.budget, args.max_ops, args.max_size_mib, args.convention,
                            args.max_latency_ms, args.latency_table)
    train = None
    workers = args.workers
    if args.objective == "train":
        teacher = args.teacher
        if teacher and Path(teacher).exists():
            teacher = str(Path(teacher).resolve())
        train = TrainOptions(args.data, args.epochs, args.batch_size, args.lr, args.device,
                             args.seed, tuple(parse_sets(args.train_sets).items()),
                             not args.no_prune, args.optimizer, args.warmup,
                             args.label_smoothing, args.steps, teacher, args.precision,
                             args.channels_last, args.compile, args.pruner)
        if workers is None and args.device in ("auto", "cuda"):
            from mnas.train.context import visible_gpus
            workers = max(1, visible_gpus())
    elif args.train_sets:
        raise MnasError("--train-set applies to --objective train only")
    config = SearchConfig(budget=budget, space=args.space, objective=args.objective,
                          trials=args.trials, workers=workers or 1, seed=args.seed,
                          study=args.study, storage=args.storage, out=args.out,
                          sampler=args.sampler, top=args.top, convention=args.convention,
                          train=train)
    return _search(config, args)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _search(config, args) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, \
        TimeElapsedColumn, TimeRemainingColumn

    from mnas import api
    from mnas.search.objective import accuracy_fit
    from mnas.search.results import best_frame
    from mnas.tables import format_frame

    b = config.budget
    _say(f"budget {b.name}: OPs <= {b.ops:.5g}" if b.ops else f"budget {b.name}: OPs unbounded")
    _say(f"  size <= {b.size_mib:.5g} MiB" if b.size_mib else "  size unbounded")
    if b.latency_ms:
        _say(f"  latency <= {b.latency_ms:g} ms by {b.latency_table}")
    _say(f"  convention '{b.convention}', from {b.source}")
    if config.objective != "train":
        _say(f"objective {config.objective}: {accuracy_fit().describe()}")
    else:
        _say(f"objective train: validation accuracy on {config.train.data} after "
             f"{config.train.epochs} epochs (budget checked by cost before training)")
    console = Console(stderr=True)
    progress = Progress(TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                        disable=args.no_progress, transient=False)
    task = {}

    def start(done: int, total: int) -> None:
        task["id"] = progress.add_task("search", total=total, completed=done)
        progress.start()

    def advance(n: int) -> None:
        progress.advance(task["id"], n)

    try:
        outcome = api.search(config, advance=advance, start=start, plot=not args.no_plot)
    finally:
        progress.stop()
    r = outcome.run
    cfg = r.config
    rate = r.trials_run / r.seconds if r.seconds > 0 and r.trials_run else 0.0
    _say(f"study '{cfg.study}' ({cfg.storage}): {outcome.trials} trials "
         f"({', '.join(f'{k.lower()} {v}' for k, v in sorted(outcome.states.items()))}), "
         f"{outcome.feasible} within budget; this run: {r.trials_run} trials in "
         f"{r.seconds:.1f} s ({rate:.1f}/s) with {cfg.workers} worker(s), costing by the "
         f"{r.costing_method} model")
    df = best_frame(outcome.best, outcome.value_names)
    title = ("Pareto front (feasible), by " if len(outcome.value_names) > 1 else
             "Best feasible candidates, by ") + outcome.value_names[0]
    caption = (f"budget {b.name}: OPs {b.ops:.5g}, size {b.size_mib:.5g} MiB; convention "
               f"'{b.convention}'; %: share of the budget used" if b.ops and b.size_mib else
               f"budget {b.name}; convention '{b.convention}'")
    if args.format == "json":
        print(json.dumps({"study": cfg.study, "storage": cfg.storage, "budget": {
            "name": b.name, "ops": b.ops, "size_mib": b.size_mib, "convention": b.convention,
            "latency_ms": b.latency_ms, "latency_table": b.latency_table},
            "best": json.loads(format_frame(df, "json")),
            "files": {k: str(v) for k, v in outcome.files.items()}}, indent=2))
    else:
        print(format_frame(df, args.format, title=title, caption=caption))
    if r.exhausted:
        _say(f"stopped after {outcome.trials} of {cfg.trials} trials: {r.exhausted}")
    for lost in r.lost_workers:
        _say(f"warning: {lost}; the other workers finished its share")
    if outcome.extrapolated:
        fit = accuracy_fit()
        _say(f"note: {outcome.extrapolated} of {outcome.trials} trials lie outside the range the "
             f"proxy was fitted on (BOPs {fit.bops_range[0]:.3g}..{fit.bops_range[1]:.3g}, "
             f"binary params {fit.binary_params_range[0]:.3g}..{fit.binary_params_range[1]:.3g}"
             f"); their proxy is an extrapolation (trials.csv: proxy_outside)")
    _say(f"wrote to {cfg.out}/: " + ", ".join(p.name for p in outcome.files.values()))
    return 0
