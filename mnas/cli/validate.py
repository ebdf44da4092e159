"""`mnas validate`: train the best K candidates of a search study; accuracy vs OPs and size."""

from __future__ import annotations

from mnas.cli.common import add_convention, add_format, add_set

EXAMPLES = """examples:
  mnas validate meliusnet-mobilenet-0.75-proxy --top-k 3 --data digits --epochs 10 \\
      --set input=[3,32,32] --set stem=cifar --optimizer adam --warmup 1
  mnas validate runs/my-study --top-k 5 --data cifar10:data --epochs 60 --nproc 2
  mnas validate /data/copied-run/best.json --top-k 2 --data folder:/data/imagenet

STUDY is a search's run folder, its best.json, or a study name (runs/STUDY). Candidates are
the ones `mnas search` listed in best.json (its --top best, one per network), best first,
each with the self-contained spec it wrote; the folder may have moved to another machine.
--set changes the candidates for training only (costs are those of the specs as searched).
Writes <out>/validate.csv, <out>/validate.png and one run folder per candidate
(default <out>: the study's run folder /validate); re-running continues where it stopped.
Each epoch's line says about how long the whole validation still takes; at the end, Kendall's
tau says how well the search's objective ranked the candidates that were trained."""


DESCRIPTION = ("Train the best K candidates a `mnas search` wrote (its best.json) and "
               "tabulate accuracy against cost.")


def add_arguments(p) -> None:
    from mnas.cli.train import add_recipe, add_runtime
    p.add_argument("study", metavar="STUDY", help="run folder, its best.json, or study name")
    p.add_argument("--top-k", type=int, default=3, help="candidates to train (default 3)")
    p.add_argument("--out", metavar="DIR", help="output folder (default RUN/validate)")
    add_recipe(p)
    add_runtime(p)
    add_set(p)
    add_format(p)
    add_convention(p)


def run(args) -> int:
    import math
    import sys

    from mnas.cli.train import job_from
    from mnas.search.retrain import validate
    from mnas.tables import format_frame
    from mnas.train.progress import Remaining, Reporter
    job = job_from(args, spec="", out=None, resume=True)
    epochs = job.recipe.total_epochs
    quiet = args.quiet or args.format != "table"
    left = Remaining(args.top_k * epochs)
    seen = {"epochs": 0}

    def note() -> str:
        return f"validation: {left.describe()}" if left.left() else ""

    with Reporter(epochs, quiet=quiet, note=note) as reporter:
        def announce(c):
            seen["epochs"] = 0
            reporter.prefix = f"[{c.rank}/{args.top_k}] "
            if not quiet:
                est = f", {left.describe()}" if left.left() else ""
                print(f"candidate {c.rank}/{args.top_k} (trial {c.trial}): {c.spec}{est}",
                      flush=True)

        def epoch(m):
            left.add(m.seconds)
            seen["epochs"] += 1
            reporter.epoch(m)

        def trained(c, result):
            left.skip(result.epochs - seen["epochs"])     # finished before this run

        df, out, tau = validate(args.study, args.top_k, args.data, job,
                                out=args.out, convention=args.convention,
                                on_candidate=announce, on_epoch=epoch, on_step=reporter.step,
                                on_trained=trained)
    shown = df.drop(columns=["run"])
    agreement = (f"Kendall's tau between the search objective and the trained accuracy: "
                 f"{tau:.3f} over {len(df)} candidates" if not math.isnan(tau) else
                 f"Kendall's tau: undefined for {len(df)} candidate(s) (needs two that differ)")
    print(format_frame(shown, args.format, title=f"Validated candidates ({args.data}, "
                       f"{epochs} epochs)",
                       caption=f"val_acc: best validation accuracy (%); ops/size: "
                               f"'{args.convention}' convention; {agreement}; table "
                               f"{out / 'validate.csv'}, plot {out / 'validate.png'}"))
    if args.format in ("csv", "json"):
        print(agreement, file=sys.stderr)
    return 0
