"""The paper's training recipe (section 4.1) as defaults: RAdam (or Adam with a warm-up),
base learning rate 0.002, the GluonCV "cosine" schedule lr(t) = lr_base (1 + cos(pi t)) / 2
stepped every batch, cross-entropy, and He initialisation ([12] in the paper)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from mnas.errors import MnasError

OPTIMIZERS = ("radam", "adam")


class RecipeError(MnasError):
    """A training option is out of range."""


@dataclass(frozen=True)
class Recipe:
    """How to train: everything that, with the seed, determines the result."""

    epochs: int = 120
    batch_size: int = 256
    lr: float = 0.002
    optimizer: str = "radam"
    warmup_epochs: float = 0.0
    weight_decay: float = 0.0

    def check(self) -> Recipe:
        if self.optimizer not in OPTIMIZERS:
            raise RecipeError(f"--optimizer: unknown optimizer '{self.optimizer}'; "
                              f"choose from {', '.join(OPTIMIZERS)}")
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
    import torch
    cls = {"radam": torch.optim.RAdam, "adam": torch.optim.Adam}[recipe.optimizer]
    return cls(params, lr=recipe.lr, weight_decay=recipe.weight_decay)


def make_scheduler(recipe: Recipe, optimizer, steps_per_epoch: int):
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
