"""`mnas validate`: train the best K candidates of a search study; accuracy vs OPs and size."""

from __future__ import annotations

from mnas.cli.common import add_convention, add_format, add_set

EXAMPLES = """examples:
  mnas validate meliusnet-mobilenet-0.75-proxy --top-k 3 --data digits --epochs 10 \\
      --set input=[3,32,32] --set stem=cifar --optimizer adam --warmup 1
  mnas validate runs/my-study --top-k 5 --data cifar10:data --epochs 60 --nproc 2
  mnas validate my-study --storage postgresql://host/db --top-k 2 --data folder:/data/imagenet

STUDY is a study name (runs/STUDY/study.db), a run folder or a .db file. Candidates are the
study's best feasible trials; each one's spec is the best-K.yaml `mnas search` wrote for it.
--set changes the candidates for training only (costs are those of the specs as searched).
Writes <out>/validate.csv, <out>/validate.png and one run folder per candidate
(default <out>: the study's run folder /validate); re-running continues where it stopped."""


DESCRIPTION = ("Train the best K candidates of an Optuna study written by `mnas search` and "
               "tabulate accuracy against cost.")


def add_arguments(p) -> None:
    from mnas.cli.train import add_recipe, add_runtime
    p.add_argument("study", metavar="STUDY", help="study name, run folder or study .db file")
    p.add_argument("--top-k", type=int, default=3, help="candidates to train (default 3)")
    p.add_argument("--storage", help="Optuna storage URL (default: sqlite of the run folder)")
    p.add_argument("--out", metavar="DIR", help="output folder (default RUN/validate)")
    add_recipe(p)
    add_runtime(p)
    add_set(p)
    add_format(p)
    add_convention(p)


def run(args) -> int:
    from mnas.cli.train import backend_from, recipe_from, sets_from
    from mnas.tables import format_frame
    from mnas.train.progress import Reporter
    from mnas.search.retrain import validate
    from mnas.train.job import TrainJob
    sets = sets_from(args)
    job = TrainJob(spec="", data=args.data, recipe=recipe_from(args), sets=tuple(sets.items()),
                   seed=args.seed, device=args.device, workers=args.workers,
                   download=args.download, eval_batch_size=args.eval_batch_size,
                   backend=backend_from(args), nproc=args.nproc)
    quiet = args.quiet or args.format != "table"
    with Reporter(job.recipe.epochs, quiet=quiet) as reporter:
        def announce(c):
            if not quiet:
                print(f"candidate {c.rank} (trial {c.trial}): {c.spec}", flush=True)
        df, out = validate(args.study, args.top_k, args.data, job, storage=args.storage,
                           out=args.out, convention=args.convention, on_candidate=announce,
                           on_epoch=reporter.epoch, on_step=reporter.step)
    shown = df.drop(columns=["run"])
    print(format_frame(shown, args.format, title=f"Validated candidates ({args.data}, "
                       f"{job.recipe.epochs} epochs)",
                       caption=f"val_acc: best validation accuracy (%); ops/size: "
                               f"'{args.convention}' convention; table {out / 'validate.csv'}, "
                               f"plot {out / 'validate.png'}"))
    return 0
