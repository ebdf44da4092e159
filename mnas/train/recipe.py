"""The paper's training recipe (section 4.1) as defaults: RAdam (or Adam with a warm-up),
base learning rate 0.002, the GluonCV "cosine" schedule lr(t) = lr_base (1 + cos(pi t)) / 2
stepped every batch, cross-entropy, and He initialisation ([12] in the paper).

What later BNN papers add, each off by default:

- label smoothing (Szegedy et al. 2016), as used by ReActNet and QuickNet;
- knowledge distillation from a trained teacher (`mnas.train.teacher`): the loss is
  (1 - w) CE(student, labels) + w T^2 KL(softmax(teacher / T) || softmax(student / T)); ReActNet's
  distributional loss is w = 1, T = 1;
- the two-step schedule of Real-to-Binary Nets (Martinez et al. 2020) and ReActNet (Liu et al.
  2020): step 1 trains binary activations with 32-bit weights, step 2 binarises the weights
  too, starting from step 1's; each step runs `epochs` epochs with a fresh optimizer and its
  own warm-up and cosine schedule;
- Bop (`mnas.train.bop`) for the binary weights, Adam for the rest, as in Larq."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from mnas.errors import MnasError

OPTIMIZERS = ("radam", "adam", "bop")


class RecipeError(MnasError):
    """A training option is out of range."""


@dataclass(frozen=True)
class Phase:
    """One step of the schedule: its number, whether weights are binary, its epochs (global
    numbering, inclusive)."""

    number: int
    binary_weights: bool
    first_epoch: int
    last_epoch: int


@dataclass(frozen=True)
class Recipe:
    """How to train: everything that, with the seed, determines the result. `epochs` is per
    step of the schedule (`steps` 1 or 2)."""

    epochs: int = 120
    batch_size: int = 256
    lr: float = 0.002
    optimizer: str = "radam"
    warmup_epochs: float = 0.0
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    steps: int = 1
    bop_gamma: float = 1e-4
    bop_threshold: float = 1e-8
    teacher: str | None = None
    teacher_weights: str | None = None
    distill_weight: float = 1.0
    temperature: float = 1.0

    def check(self) -> Recipe:
        if self.optimizer not in OPTIMIZERS:
            raise RecipeError(f"--optimizer: unknown optimizer '{self.optimizer}'; "
                              f"choose from {', '.join(OPTIMIZERS)}")
        if self.steps not in (1, 2):
            raise RecipeError(f"--steps: 1 (the paper's) or 2 (binary activations, then "
                              f"binary weights), got {self.steps}")
        if not 0 <= self.label_smoothing < 1:
            raise RecipeError(f"--label-smoothing: must be in [0, 1), got {self.label_smoothing}")
        if not self.bop_gamma > 0:
            raise RecipeError(f"--bop-gamma: must be > 0, got {self.bop_gamma}")
        if not self.bop_threshold >= 0:
            raise RecipeError(f"--bop-threshold: must be >= 0, got {self.bop_threshold}")
        if not 0 <= self.distill_weight <= 1:
            raise RecipeError(f"--distill-weight: must be in [0, 1], got {self.distill_weight}")
        if not self.temperature > 0:
            raise RecipeError(f"--temperature: must be > 0, got {self.temperature}")
        if self.teacher_weights and not self.teacher:
            raise RecipeError("--teacher-weights: give the teacher's spec with --teacher")
        if self.epochs < 1:
            raise RecipeError(f"--epochs: must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise RecipeError(f"--batch-size: must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise RecipeError(f"--lr: must be > 0, got {self.lr}")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise RecipeError(f"--warmup: must be in [0, epochs={self.epochs}), "
                              f"got {self.warmup_epochs}")
        if self.weight_decay < 0:
            raise RecipeError(f"--weight-decay: must be >= 0, got {self.weight_decay}")
        return self

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def total_epochs(self) -> int:
        return self.epochs * self.steps

    def phases(self) -> tuple[Phase, ...]:
        if self.steps == 1:
            return (Phase(1, True, 1, self.epochs),)
        return (Phase(1, False, 1, self.epochs),
                Phase(2, True, self.epochs + 1, 2 * self.epochs))

    def phase_of(self, epoch: int) -> Phase:
        return next(p for p in self.phases() if p.first_epoch <= epoch <= p.last_epoch)


class CosineWarmup:
    """Learning-rate factor for step t of `total`: linear from 1/warmup to 1 over the first
    `warmup` steps, then (1 + cos(pi u)) / 2 with u going from 0 to 1 over the rest. A class,
    not a lambda, so `LambdaLR.state_dict` keeps it and a resumed run has the same schedule."""

    def __init__(self, total: int, warmup: int = 0):
        self.total, self.warmup = max(1, total), max(0, min(warmup, total - 1))

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        u = (step - self.warmup) / max(1, self.total - self.warmup)
        return (1 + math.cos(math.pi * min(u, 1.0))) / 2


def make_optimizer(recipe: Recipe, params):
    """The optimizer of the real-valued parameters (Adam when the binary weights take Bop)."""
    import torch
    cls = torch.optim.RAdam if recipe.optimizer == "radam" else torch.optim.Adam
    return cls(params, lr=recipe.lr, weight_decay=recipe.weight_decay)


def make_optimizers(recipe: Recipe, module, binary_weights: bool = True) -> list:
    """[optimizer of the real-valued parameters, Bop for the binary weights] with `bop` in a
    step whose weights are binary; otherwise one optimizer for every parameter."""
    from mnas.train.network import binary_weight_params
    params = [p for p in module.parameters() if p.requires_grad]
    binary = binary_weight_params(module) if recipe.optimizer == "bop" and binary_weights \
        else []
    if not binary:
        return [make_optimizer(recipe, params)]
    from mnas.train.bop import Bop
    ids = {id(p) for p in binary}
    return [make_optimizer(recipe, [p for p in params if id(p) not in ids]),
            Bop(binary, gamma=recipe.bop_gamma, threshold=recipe.bop_threshold)]


def make_scheduler(recipe: Recipe, optimizer, steps_per_epoch: int):
    """The schedule of one step of the recipe (`epochs` epochs)."""
    import torch
    total = recipe.epochs * steps_per_epoch
    warmup = round(recipe.warmup_epochs * steps_per_epoch)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, CosineWarmup(total, warmup))


def he_init(model, graph=None) -> None:
    """Start every layer's parameters afresh (after seeding). A module lowered from `graph`
    starts each layer as its op declares (`OpDef.init`: He et al. 2015 normal weights for
    convs and fully connected layers, the paper's [12]; gamma 1, beta 0 for BatchNorm; ...),
    which the op's layer carries out in its `reset_parameters`. A module mnas did not build
    gets the paper's He init on its conv and linear weights (biases zero) and gamma 1, beta 0
    on its norm layers; other parameters keep what their layers gave them."""
    import torch
    from torch import nn
    with torch.no_grad():
        if graph is not None:
            for node in graph.nodes[1:]:
                layer = model.get_submodule(node.name)
                if hasattr(layer, "reset_parameters"):
                    layer.reset_parameters()
            return
        for module in model.modules():
            if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.modules.batchnorm._NormBase):
                if module.weight is not None:
                    nn.init.ones_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
