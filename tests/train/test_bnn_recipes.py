"""The recipes BNN papers use: Bop (Helwegen et al. 2019), the two-step schedule, label
smoothing, knowledge distillation; and that a resumed run continues all of them exactly."""

import json
import math
import shutil

import pytest
import torch
import torch.nn.functional as F

from mnas import api
from mnas.cli import main
from mnas.lower.torch import to_module
from mnas.ops.layers import BinaryConv2d
from mnas.train import train
from mnas.train.bop import Bop
from mnas.train.execution import Execution
from mnas.train.loss import TrainingLoss
from mnas.train.network import binary_weight_layers
from mnas.train.recipe import Phase, Recipe, RecipeError, make_optimizers
from tiny_run import CIFAR_SPEC, TINY_SETS, one_thread, small_digits, tiny_args, tiny_spec  # noqa


def test_bop_flips_where_the_gradient_average_passes_the_threshold_with_the_weights_sign():
    # Helwegen et al., Algorithm 1, by hand with gamma 0.5 and tau 0.1:
    # step 1: m = 0.5 g1 = [0.2, 0.2, -0.05, -0.15]; sign(w) m = [0.2, -0.2, -0.05, 0.15] > 0.1
    #         at 0 and 3 -> w = [-1, -1, 1, 1]
    # step 2: m += 0.5 (g2 - m) = [0.3, -0.2, -0.175, -0.075]; w m = [-0.3, 0.2, -0.175,
    #         -0.075] > 0.1 at 1 -> w = [-1, 1, 1, 1]
    w = torch.nn.Parameter(torch.tensor([0.5, -0.3, 0.2, -0.1]))
    opt = Bop([w], gamma=0.5, threshold=0.1)
    for grad, want in (([0.4, 0.4, -0.1, -0.3], [-1.0, -1.0, 1.0, 1.0]),
                       ([0.4, -0.6, -0.3, 0.0], [-1.0, 1.0, 1.0, 1.0])):
        w.grad = torch.tensor(grad)
        opt.step()
        assert w.tolist() == want
    assert opt.state[w]["m"].tolist() == pytest.approx([0.3, -0.2, -0.175, -0.075])


def test_bop_takes_exactly_the_binary_weights_and_adam_the_rest():
    module = to_module(api.graph(CIFAR_SPEC, dict(TINY_SETS)))
    totals = api.cost(CIFAR_SPEC, dict(TINY_SETS)).totals
    real, bop = make_optimizers(Recipe(optimizer="bop", bop_gamma=1e-3, bop_threshold=1e-6),
                                module)
    assert type(real) is torch.optim.Adam and type(bop) is Bop
    count = lambda opt: sum(p.numel() for g in opt.param_groups for p in g["params"])  # noqa
    assert count(bop) == totals.binary_params
    assert count(real) == totals.params - totals.binary_params
    assert bop.param_groups[0]["lr"] == 1e-3 and bop.param_groups[0]["threshold"] == 1e-6
    # step 1 of the two-step schedule trains 32-bit weights: one optimizer for everything
    (only,) = make_optimizers(Recipe(optimizer="bop"), module, binary_weights=False)
    assert count(only) == totals.params


def test_training_with_bop_leaves_binary_weights_at_plus_minus_one(tmp_path):
    train(tiny_spec(), small_digits(), epochs=1, batch_size=64, optimizer="bop", lr=0.005,
          device="cpu", out=tmp_path)
    state = torch.load(tmp_path / "final.pt", weights_only=False)["model"]
    binary = [k for k in state if ".binconv.conv.weight" in k]
    assert binary and all(set(state[k].abs().unique().tolist()) == {1.0} for k in binary)
    assert not set(state["stem.conv.weight"].abs().unique().tolist()) <= {1.0}


def test_two_step_schedule_binarises_weights_in_step_two_and_restarts_the_schedule():
    module = to_module(api.graph(CIFAR_SPEC, dict(TINY_SETS)))
    flags = []
    result = train(module, small_digits(), epochs=2, steps=2, batch_size=64,
                   optimizer="adam", lr=0.004, device="cpu", init=False,
                   on_epoch=lambda m: flags.append(
                       {layer.binary_weights for layer in binary_weight_layers(module)}))
    assert flags == [{False}, {False}, {True}, {True}]
    assert [m.phase for m in result.history] == [1, 1, 2, 2]
    # each step has its own cosine over its 2 epochs: half-way lr/2, then 0, then again
    assert [m.lr for m in result.history] == pytest.approx([0.002, 0.0, 0.002, 0.0], abs=1e-12)
    assert Recipe(epochs=2, steps=2).phases() == (Phase(1, False, 1, 2), Phase(2, True, 3, 4))


def test_binary_conv_forward_with_and_without_weight_binarisation():
    torch.manual_seed(0)
    conv = BinaryConv2d(4, 3, 3, padding=1, bias=False)
    x = torch.randn(2, 4, 5, 5).sign()
    assert torch.equal(conv(x), F.conv2d(x, torch.where(conv.weight >= 0, 1.0, -1.0), padding=1))
    conv.binary_weights = False
    assert torch.equal(conv(x), F.conv2d(x, conv.weight, padding=1))


def test_label_smoothing_matches_its_definition():
    # CE with smoothing eps: (1 - eps) (-log p_y) + eps mean_k (-log p_k)  (Szegedy et al.)
    logits, label, eps = [2.0, 0.0, -1.0], 0, 0.1
    log_z = math.log(sum(math.exp(v) for v in logits))
    nll = [log_z - v for v in logits]
    want = (1 - eps) * nll[label] + eps * sum(nll) / 3
    got = TrainingLoss(label_smoothing=eps)(torch.tensor([logits]), torch.tensor([label]), None)
    assert got.item() == pytest.approx(want, rel=1e-6)


def test_distillation_term_is_t_squared_kl_of_softened_outputs():
    student, teacher_out, label = [1.0, 0.5, -1.0], [3.0, -1.0, 0.0], 1
    t, w = 2.0, 0.25

    def softmax(v):
        z = sum(math.exp(a / t) for a in v)
        return [math.exp(a / t) / z for a in v]
    p, q = softmax(student), softmax(teacher_out)
    kl = sum(qi * math.log(qi / pi) for pi, qi in zip(p, q))
    ce = -math.log(math.exp(student[label]) / sum(math.exp(a) for a in student))
    teacher = lambda images: torch.tensor([teacher_out])   # noqa: E731
    loss = TrainingLoss(teacher=teacher, distill_weight=w, temperature=t)
    got = loss(torch.tensor([student]), torch.tensor([label]), torch.zeros(1))
    assert got.item() == pytest.approx((1 - w) * ce + w * t * t * kl, rel=1e-6)
    same = TrainingLoss(teacher=lambda images: torch.tensor([student]), distill_weight=1.0)
    assert same(torch.tensor([student]), torch.tensor([label]), None).item() == pytest.approx(0)


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    """A finished `mnas train` run (one epoch of the tiny network) to distil from."""
    out = tmp_path_factory.mktemp("teacher")
    torch.set_num_threads(1)
    train(tiny_spec(), small_digits(), epochs=1, batch_size=64, optimizer="adam", lr=0.005,
          device="cpu", out=out)
    return out


def test_student_distils_from_a_run_folder_and_records_it(teacher_run, tmp_path):
    assert main([*tiny_args(), "--epochs", "1", "--out", str(tmp_path / "s"), "--teacher",
                 str(teacher_run), "--distill-weight", "0.5", "--temperature", "2",
                 "--label-smoothing", "0.1"]) == 0
    final = json.loads((tmp_path / "s" / "final.json").read_text())
    assert final["recipe"]["teacher"] == str(teacher_run.resolve())
    assert final["recipe"]["distill_weight"] == 0.5 and final["recipe"]["temperature"] == 2
    assert final["recipe"]["label_smoothing"] == 0.1
    assert len(final["teacher_digest"]) == 64


def test_a_teacher_spec_takes_its_weights_from_a_file(teacher_run, tmp_path):
    blocks = CIFAR_SPEC.parent / "blocks" / "meliusnet.yaml"
    spec = tmp_path / "teacher.yaml"
    spec.write_text(f"name: Teacher\ninclude: [{blocks}]\ninput: [3, 16, 16]\nblock: meliusnet\n"
                    "values: {stem: cifar, stem_channels: 8, growth: 8, stages: [1, 1], "
                    "transitions: [16], classes: 10}\n")
    assert main([*tiny_args(), "--epochs", "1", "--out", str(tmp_path / "s"), "--teacher",
                 str(spec), "--teacher-weights", str(teacher_run / "final.pt")]) == 0
    from_folder = tmp_path / "f"
    assert main([*tiny_args(), "--epochs", "1", "--out", str(from_folder), "--teacher",
                 str(teacher_run)]) == 0
    digest = lambda run: json.loads((run / "final.json").read_text())["teacher_digest"]  # noqa
    assert digest(tmp_path / "s") == digest(from_folder)          # the same teacher


@pytest.mark.parametrize("teacher, extra, message", [
    ("meliusnet22", [], "a spec needs trained weights: add --teacher-weights FILE"),
    ("{run}/nope.pt", [], "nope.pt: no such checkpoint"),
    ("{run}", ["--teacher-weights", "{run}/final.pt"],
     "--teacher-weights: the checkpoint {run}/final.pt holds the teacher's weights already"),
    ("{run}", ["--set", "input=[3,24,24]"],
     "its input is [3, 16, 16] but the student's is [3, 24, 24]"),
])
def test_teacher_problems_are_one_line(teacher_run, tmp_path, capsys, teacher, extra, message):
    fill = lambda s: s.replace("{run}", str(teacher_run))   # noqa: E731
    assert main([*tiny_args(), "--epochs", "1", "--out", str(tmp_path / "s"),
                 "--teacher", fill(teacher), *map(fill, extra)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fill(message) in err[0], err


@pytest.mark.parametrize("kw, option", [({"steps": 3}, "--steps"),
                                        ({"label_smoothing": 1.0}, "--label-smoothing"),
                                        ({"bop_gamma": 0.0}, "--bop-gamma"),
                                        ({"distill_weight": 1.5}, "--distill-weight"),
                                        ({"temperature": 0.0}, "--temperature"),
                                        ({"teacher_weights": "w.pt"}, "--teacher-weights")])
def test_bad_recipe_options_name_the_option(kw, option):
    with pytest.raises(RecipeError, match=f"^{option}:"):
        Recipe(**kw).check()


def test_resume_continues_teacher_two_steps_bop_and_bf16_exactly(teacher_run, tmp_path):
    """Stopped in step 2 (Bop's gradient averages and Adam's moments in flight), the run
    continues to the weights of an uninterrupted one."""
    teacher = tmp_path / "teacher"
    shutil.copytree(teacher_run, teacher)
    opts = dict(epochs=2, steps=2, batch_size=64, optimizer="bop", lr=0.005,
                label_smoothing=0.1, teacher=str(teacher), distill_weight=0.5,
                temperature=2.0, device="cpu")
    whole, part = tmp_path / "whole", tmp_path / "part"
    fast = Execution("bf16", True)
    train(tiny_spec(), small_digits(), out=whole, execution=fast, **opts)

    def stop(m):
        if m.epoch == 3:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train(tiny_spec(), small_digits(), out=part, execution=fast, on_epoch=stop, **opts)
    assert torch.load(part / "checkpoint.pt", weights_only=False)["phase"] == 2
    seen = []
    result = train(tiny_spec(), small_digits(), out=part, resume=True, on_epoch=seen.append,
                   **opts)
    assert [m.epoch for m in seen] == [4]
    assert result.extra["execution"]["precision"] == "bf16"
    a, b = (torch.load(p / "final.pt", weights_only=False)["model"] for p in (whole, part))
    assert all(torch.equal(a[k], b[k]) for k in a)
    # other weights at the teacher's path make another run
    state = torch.load(teacher / "final.pt", weights_only=False)
    last = list(state["model"])[-1]
    state["model"][last] = state["model"][last] + 1
    torch.save(state, teacher / "final.pt")
    from mnas.errors import MnasError
    with pytest.raises(MnasError, match="cannot resume: the checkpoint was made with teacher="):
        train(tiny_spec(), small_digits(), out=part, resume=True, **opts)
