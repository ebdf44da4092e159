"""Bop, the binary optimizer of Helwegen et al. 2019 ("Latent weights do not exist"), as Larq
implements it (`larq.optimizers.Bop`). Each binary weight w in {-1, +1} keeps an exponential
moving average m of its gradient, m <- m + gamma (g - m); the weight flips its sign when
w * m > tau, i.e. when |m| exceeds the threshold tau and m has w's sign (gradient descent
would push w through zero). There are no latent magnitudes: after the first step every weight
is exactly +-1. Real-valued parameters are trained by another optimizer (Larq's
`CaseOptimizer`; here `mnas.train.recipe.make_optimizers`).

gamma is the param group's `lr` entry, so a learning-rate scheduler decays it as it decays a
learning rate (Larq accepts a schedule for gamma the same way)."""

from __future__ import annotations

import torch


class Bop(torch.optim.Optimizer):
    def __init__(self, params, gamma: float = 1e-4, threshold: float = 1e-8):
        if not gamma > 0:
            raise ValueError(f"Bop: gamma must be > 0, got {gamma}")
        if threshold < 0:
            raise ValueError(f"Bop: threshold must be >= 0, got {threshold}")
        super().__init__(params, {"lr": gamma, "threshold": threshold})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            gamma, tau = group["lr"], group["threshold"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                state = self.state[w]
                if "m" not in state:
                    state["m"] = torch.zeros_like(w, memory_format=torch.preserve_format)
                m = state["m"]
                m.add_(w.grad - m, alpha=gamma)
                sign = torch.where(w >= 0, 1.0, -1.0).to(w.dtype)
                w.copy_(torch.where(sign * m > tau, -sign, sign))
        return loss

