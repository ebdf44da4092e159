"""`mnas train`: train a spec with the paper's recipe on one process or with DDP; resumable."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mnas.cli.common import add_set

EXAMPLES = """examples:
  mnas train specs/meliusnet-cifar.yaml --data digits --epochs 10 --optimizer adam --warmup 1
  mnas train specs/meliusnet-cifar.yaml --data cifar10:data --epochs 120 --out runs/c10
  mnas train specs/meliusnet-cifar.yaml --data cifar10 --out runs/c10 --resume   (after a kill)
  mnas train meliusnet22 --data folder:/data/imagenet --precision bf16 --compile --workers 12
  mnas train meliusnet22 --data synthetic --epochs 2 --batch-size 128 --precision bf16 --compile
  mnas train specs/meliusnet-cifar.yaml --data cifar10 --steps 2 --teacher runs/c10-float \
      --label-smoothing 0.1 --optimizer adam --warmup 5          (ReActNet-style recipe)
  mnas train specs/meliusnet22.yaml --data folder:/data/imagenet --nproc 4 --workers 8
  torchrun --nproc_per_node 4 -m mnas train specs/meliusnet22.yaml --data folder:... --backend ddp

The run folder (--out, default runs/train/SPEC-DATA) gets metrics.csv, final.json,
checkpoint.pt (every epoch; --resume continues from it), best.pt and final.pt ({'model': ...},
for `mnas export --weights`). A folder that holds a run is never overwritten: --resume
continues it, --force starts over. Defaults are the paper's (section 4.1): RAdam, lr 0.002,
cosine schedule per step, He init, STE clip 1.3 (a spec value: --clip or --set clip=...), fp32.
--precision, --channels-last and --compile are recorded in the run; --resume keeps them.
The network's class count is set to the data's when the spec has a `classes` value."""


def add_recipe(p) -> None:
    """Options of the training recipe, shared with `mnas validate`."""
    from mnas.train.recipe import OPTIMIZERS, Recipe
    d = Recipe()
    g = p.add_argument_group("recipe (defaults: the paper's, section 4.1)")
    g.add_argument("--epochs", type=int, default=d.epochs,
                   help=f"epochs (per step with --steps 2; default {d.epochs})")
    g.add_argument("--batch-size", type=int, default=d.batch_size,
                   help=f"global batch size, split over DDP processes (default {d.batch_size})")
    g.add_argument("--lr", type=float, default=d.lr, help=f"base learning rate (default {d.lr})")
    g.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer,
                   help=f"torch's RAdam or Adam, or bop: Larq's Bop for the binary weights and "
                        f"Adam for the rest (default {d.optimizer})")
    g.add_argument("--warmup", type=float, default=d.warmup_epochs, metavar="EPOCHS",
                   help="linear warm-up epochs before the cosine decay (the paper: 5 with Adam)")
    g.add_argument("--weight-decay", type=float, default=d.weight_decay)
    g.add_argument("--label-smoothing", type=float, default=d.label_smoothing, metavar="EPS",
                   help="label smoothing of the cross-entropy (ReActNet, QuickNet: 0.1)")
    g.add_argument("--steps", type=int, choices=(1, 2), default=d.steps,
                   help="2: the two-step schedule, binary activations with 32-bit weights for "
                        "--epochs, then binary weights too for --epochs more (default 1)")
    g.add_argument("--bop-gamma", type=float, default=d.bop_gamma, metavar="GAMMA",
                   help=f"Bop's adaptivity rate, decayed like the lr (default {d.bop_gamma})")
    g.add_argument("--bop-threshold", type=float, default=d.bop_threshold, metavar="TAU",
                   help=f"Bop's flip threshold (default {d.bop_threshold})")
    g.add_argument("--teacher", metavar="RUN|CHECKPOINT|SPEC",
                   help="distil from a trained teacher: a run folder or checkpoint of `mnas "
                        "train`, or a spec with --teacher-weights")
    g.add_argument("--teacher-weights", metavar="FILE",
                   help="the weights of a --teacher given as a spec")
    g.add_argument("--distill-weight", type=float, default=d.distill_weight, metavar="W",
                   help=f"share of the distillation term, (1 - W) for cross-entropy (default "
                        f"{d.distill_weight}: ReActNet's distributional loss)")
    g.add_argument("--temperature", type=float, default=d.temperature, metavar="T",
                   help=f"softening of teacher and student logits (default {d.temperature})")
    g.add_argument("--clip", type=float, default=None,
                   help="STE clip of the sign layers (sets the spec value 'clip'; "
                        "spec default 1.3)")
    g.add_argument("--seed", type=int, default=0, help="seed of init, order and augmentation")


def add_runtime(p) -> None:
    g = p.add_argument_group("where it runs")
    from mnas.train.backends import BACKENDS
    from mnas.train.datasets import usage
    g.add_argument("--data", required=True, metavar="NAME",
                   help=f"{usage()} (DIR default data/)")
    g.add_argument("--download", action="store_true",
                   help="fetch CIFAR into DIR if missing (needs torchvision)")
    g.add_argument("--backend", choices=list(BACKENDS), default=None,
                   help="local (one process) or ddp (torch.distributed); default local, or ddp "
                        "when --nproc > 1")
    g.add_argument("--nproc", type=int, default=1, help="DDP processes to start (torchrun)")
    g.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default auto)")
    g.add_argument("--workers", type=int, default=0, help="data loader processes (folder data)")
    g.add_argument("--eval-batch-size", type=int, default=0, help="default: --batch-size")
    g.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")
    from mnas.train.execution import PRECISIONS
    e = p.add_argument_group("speed (recorded in the run; --resume keeps what was used)")
    e.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="autocast precision; fp16 steps through a gradient scaler (default "
                        "fp32)")
    e.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="images and conv weights in NHWC (default: on CUDA only)")
    e.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile the training forward (minutes to start; default off)")


DESCRIPTION = 'Train a network spec and write a run folder.'


def add_arguments(p) -> None:
    p.add_argument("spec", metavar="SPEC", help="network spec YAML file")
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/train/SPEC-DATA)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint")
    p.add_argument("--force", action="store_true",
                   help="start over in an --out that holds a run (its files are replaced)")
    add_recipe(p)
    add_runtime(p)
    add_set(p)


def recipe_from(args):
    from mnas.train.recipe import Recipe
    teacher = args.teacher
    if teacher and Path(teacher).exists():
        teacher = str(Path(teacher).resolve())     # the same teacher from any directory
    return Recipe(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                  optimizer=args.optimizer, warmup_epochs=args.warmup,
                  weight_decay=args.weight_decay, label_smoothing=args.label_smoothing,
                  steps=args.steps, bop_gamma=args.bop_gamma, bop_threshold=args.bop_threshold,
                  teacher=teacher, teacher_weights=args.teacher_weights,
                  distill_weight=args.distill_weight, temperature=args.temperature).check()


def execution_from(args):
    from mnas.train.execution import Execution
    return Execution(args.precision, args.channels_last, args.compile).check()


def job_from(args, spec: str, out: str | None, resume: bool, force: bool = False):
    """The TrainJob of the options shared by `mnas train` and `mnas validate`."""
    from mnas.train.job import TrainJob
    return TrainJob(spec=spec, data=args.data, recipe=recipe_from(args),
                    sets=tuple(sets_from(args).items()), seed=args.seed, out=out,
                    resume=resume, device=args.device, workers=args.workers,
                    download=args.download, eval_batch_size=args.eval_batch_size,
                    backend=backend_from(args), nproc=args.nproc,
                    execution=execution_from(args), force=force)


def sets_from(args) -> dict:
    from mnas.spec.load import parse_sets
    sets = parse_sets(args.sets)
    if args.clip is not None:
        sets["clip"] = args.clip
    return sets


def backend_from(args) -> str:
    from mnas.train.backends import BackendError
    if args.nproc < 1:
        raise BackendError(f"--nproc: must be >= 1, got {args.nproc}")
    backend = args.backend or ("ddp" if args.nproc > 1 else "local")
    if backend == "local" and args.nproc > 1:
        raise BackendError("--nproc > 1 needs --backend ddp")
    return backend


def run(args) -> int:
    from mnas.train.progress import Reporter
    from mnas.train.job import default_out
    from mnas.train.run import start
    job = job_from(args, args.spec, args.out or default_out(args.spec, args.data), args.resume,
                   args.force)
    with Reporter(job.recipe.total_epochs, quiet=args.quiet) as reporter:
        result = start(job, reporter.epoch, reporter.step)
    if int(os.environ.get("RANK", "0")) == 0 and not args.quiet:
        print(f"{result.name} on {result.extra.get('data')}: best val acc "
              f"{100 * result.best_val_acc:.2f}% (epoch {result.best_epoch}), last "
              f"{100 * result.last_val_acc:.2f}%, {result.epochs} epochs in {result.seconds:.1f} s "
              f"({result.images_per_second:.0f} images/s); run folder {result.out}")
    return 0
