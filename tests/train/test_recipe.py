"""The paper's recipe: cosine schedule per step with optional warm-up, optimizers, He init."""

import math

import pytest
import torch

from mnas.train.recipe import CosineWarmup, Recipe, RecipeError, he_init, make_optimizer, \
    make_scheduler


def test_cosine_follows_the_papers_formula_per_step():
    recipe = Recipe(epochs=4, lr=0.002)
    model = torch.nn.Linear(2, 2)
    opt = make_optimizer(recipe, model.parameters())
    sched = make_scheduler(recipe, opt, steps_per_epoch=5)
    total = 20
    seen = []
    for step in range(total):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    expected = [0.002 * (1 + math.cos(math.pi * t / total)) / 2 for t in range(total)]
    assert seen == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)   # t = 1 at the end


def test_warmup_is_linear_then_cosine_over_the_rest():
    f = CosineWarmup(total=10, warmup=4)
    assert [f(s) for s in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert f(4) == pytest.approx(1.0)
    assert f(7) == pytest.approx((1 + math.cos(math.pi * 3 / 6)) / 2)


def test_optimizers_are_torchs_own():
    p = [torch.nn.Parameter(torch.zeros(2))]
    assert type(make_optimizer(Recipe(), p)) is torch.optim.RAdam
    assert type(make_optimizer(Recipe(optimizer="adam"), p)) is torch.optim.Adam
    assert make_optimizer(Recipe(), p).param_groups[0]["lr"] == 0.002


@pytest.mark.parametrize("kw, field", [({"optimizer": "sgd"}, "--optimizer"),
                                       ({"epochs": 0}, "--epochs"),
                                       ({"lr": -1.0}, "--lr"),
                                       ({"warmup_epochs": 5, "epochs": 5}, "--warmup")])
def test_bad_recipe_names_the_option(kw, field):
    with pytest.raises(RecipeError, match=f"^{field}:"):
        Recipe(**kw).check()


def test_he_init_std_matches_fan_in():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(64, 256, 3, bias=True)
    bn = torch.nn.BatchNorm2d(8)
    with torch.no_grad():
        conv.bias.fill_(1.0)
        bn.weight.fill_(3.0)
    he_init(torch.nn.Sequential(conv, bn))
    fan_in = 64 * 9
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.02)
    assert conv.bias.abs().max().item() == 0
    assert torch.equal(bn.weight, torch.ones(8))


def test_he_init_starts_each_layer_as_its_op_declares(monkeypatch):
    """A lowered network's layers start as their ops declare, carried out by each layer's
    `reset_parameters`: a PReLU-like op with 1-D slopes starting at 0.25 keeps 0.25 (reset
    'every 1-D weight to 1' would turn it into the identity), and a conv is He-initialised."""
    from dataclasses import dataclass

    from mnas.ir.graph import Graph, Node
    from mnas.lower.torch import to_module
    from mnas.ops.conv import Conv2dParams
    from mnas.ops.io import InputParams
    from mnas.ops.registry import NO_COST, REGISTRY, OpDef

    class Slopes(torch.nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.empty(channels))
            self.reset_parameters()

        def reset_parameters(self):
            torch.nn.init.constant_(self.weight, 0.25)

        def forward(self, x):
            return torch.where(x >= 0, x, self.weight[None, :, None, None] * x)

    @dataclass(frozen=True)
    class NoFields:
        pass

    monkeypatch.setitem(REGISTRY, "slopes", OpDef(
        name="slopes", params=NoFields, infer_shape=lambda p, ins: ins[0],
        count=lambda p, ins, out: NO_COST, lower=lambda p, ins, out: Slopes(ins[0][0]),
        doc="test op", role="activation", init="slopes 0.25"))
    graph = Graph("t", (Node("input", "input", (), InputParams((16, 8, 8))),
                        Node("conv", "conv2d", ("input",), Conv2dParams(kernel=3, out=64)),
                        Node("act", "slopes", ("conv",), NoFields())))
    torch.manual_seed(0)
    module = to_module(graph)
    with torch.no_grad():
        module.act.weight.fill_(7.0)
        module.conv.weight.fill_(7.0)
    he_init(module, graph)
    assert torch.equal(module.act.weight, torch.full((64,), 0.25))
    assert module.conv.weight.std().item() == pytest.approx(math.sqrt(2 / (16 * 9)), rel=0.05)
