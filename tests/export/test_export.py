"""`mnas export`: each format loads back and computes what the lowered module computes; the
expanded YAML reads back to the same graph and costs for every spec; --weights is applied."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import warnings

import pytest

from mnas import api
from mnas.cli import main
from mnas.errors import MnasError
from mnas.export import export_spec

from conftest import NETWORK_SPECS, ROOT

ALL_OPS = ROOT / "tests" / "lower" / "data" / "all_ops.yaml"
MELIUSNET22 = ROOT / "specs" / "meliusnet22.yaml"
SPECS = [*NETWORK_SPECS, ALL_OPS]
SMALL = {"input": [3, 32, 32]}
# (spec, overrides) for the torch formats: every op type, and a real network at a small input
NETWORKS = [pytest.param(ALL_OPS, None, id="all_ops"),
            pytest.param(MELIUSNET22, SMALL, id="meliusnet22-32px", marks=pytest.mark.slow)]


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_expanded_yaml_reads_back_to_the_same_graph_and_costs(spec, tmp_path):
    out = export_spec(spec, "yaml", tmp_path / "flat.yaml").path
    assert api.graph(out).nodes == api.graph(spec).nodes  # names, ops, inputs, params
    assert api.cost(out).layers == api.cost(spec).layers
    assert api.cost(out).totals == api.cost(spec).totals
    assert "block:" not in out.read_text() and "${" not in out.read_text()


def test_expanded_yaml_applies_overrides_and_mnas_cost_reads_it(tmp_path, cli):
    sets = ["--set", "stem=imagenet", "--set", "stages=[2,2,2,2]"]
    out = tmp_path / "flat.yaml"
    done = cli("export", MELIUSNET22, "--format", "yaml", "-o", out, *sets)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout
    flat = cli("cost", out, "--summary", "--format", "csv")
    direct = cli("cost", MELIUSNET22, "--summary", "--format", "csv", *sets)
    assert flat.returncode == 0 and flat.stdout == direct.stdout
    assert "stem.conv" in out.read_text() and "stage4.unit2." in out.read_text()


def _randomized(graph, seed=0):
    """The lowered module with random BatchNorm statistics and affine parameters, so eval
    mode and loaded weights are visibly different from a fresh module."""
    import torch
    from mnas.lower.torch import to_module
    torch.manual_seed(seed)
    module = to_module(graph)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                if m.weight is not None:
                    m.weight.uniform_(0.5, 1.5)
                if m.bias is not None:
                    m.bias.normal_(0, 0.1)
    return module.eval()


def assert_same_but_for_sign_flips(module, x, got, rtol=1e-5):
    """Another runtime rounds the 32-bit layers differently in the last bits, so a pre-sign
    value within that rounding of zero may binarise the other way, and that sample's outputs
    then differ far beyond rounding (docs/kernels.md). So each sample must agree with torch
    to rounding, unless torch's own run of it had a pre-sign value that close to zero; and
    most samples must agree."""
    import torch
    from mnas.ops.layers import ApproxSign, RSign, Sign, per_channel
    closest = torch.full((x.shape[0],), float("inf"))

    def record(module, inputs, __):
        pre = inputs[0].detach()
        if isinstance(module, RSign):       # it binarises x - threshold
            pre = pre - per_channel(module.threshold.detach(), module.ndim)
        pre = pre.flatten(1)
        scale = pre.abs().amax(1).clamp_min(1e-30)
        nonlocal closest
        closest = torch.minimum(closest, (pre.abs().amin(1) / scale))

    hooks = [m.register_forward_hook(record) for m in module.modules()
             if isinstance(m, (Sign, ApproxSign, RSign))]
    try:
        with torch.no_grad():
            expected = module(x)
    finally:
        for h in hooks:
            h.remove()
    error = (got - expected).abs().flatten(1).amax(1)
    agree = error <= rtol * expected.abs().max()
    assert agree.float().mean() >= 0.5, error
    for i in torch.nonzero(~agree).flatten().tolist():
        assert closest[i] < 1e-4, (i, error[i], closest[i])   # only a near-zero can flip


def _trained_weights(spec, sets, tmp_path, checkpoint=False):
    import torch
    graph = api.graph(spec, sets)
    module = _randomized(graph)
    path = tmp_path / "weights.pt"
    state = module.state_dict()
    torch.save({"model": state, "epoch": 3} if checkpoint else state, path)
    return graph, module, path


@pytest.mark.parametrize("spec, sets", NETWORKS)
def test_torchscript_loads_back_with_the_modules_outputs(spec, sets, tmp_path):
    import torch
    from mnas.lower.torch import example_input
    graph, module, weights = _trained_weights(spec, sets, tmp_path)
    out = export_spec(spec, "torchscript", tmp_path / "net.ts", sets, weights).path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated in 2.13
        loaded = torch.jit.load(str(out))
    x = example_input(graph, batch=3, seed=1)
    with torch.no_grad():
        got = loaded(x)
        assert_same_but_for_sign_flips(module, x, got)
        assert not torch.allclose(_randomized(graph, seed=1)(x), module(x))  # weights matter


@pytest.mark.parametrize("spec, sets", NETWORKS)
def test_onnx_loads_back_with_the_modules_outputs(spec, sets, tmp_path):
    import onnx
    import onnxruntime
    import torch
    from mnas.lower.torch import example_input
    graph, module, weights = _trained_weights(spec, sets, tmp_path, checkpoint=True)
    out = export_spec(spec, "onnx", tmp_path / "net.onnx", sets, weights).path
    onnx.checker.check_model(onnx.load(str(out)))
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = example_input(graph, batch=3, seed=1)  # exported at batch 1: the batch is dynamic
    got = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
    assert_same_but_for_sign_flips(module, x, got)


def test_state_dict_loads_into_the_lowered_module(tmp_path):
    import torch
    from mnas.lower.torch import to_module
    graph, module, weights = _trained_weights(ALL_OPS, None, tmp_path, checkpoint=True)
    out = export_spec(ALL_OPS, "state-dict", tmp_path / "sd.pt", weights=weights).path
    state = torch.load(out, weights_only=True)
    fresh = to_module(graph)
    fresh.load_state_dict(state)  # strict: same names and shapes
    for key, value in module.state_dict().items():
        assert torch.equal(state[key], value), key


@pytest.mark.parametrize("spec, sets", NETWORKS)
def test_python_source_is_the_same_network(spec, sets, tmp_path):
    """Same state-dict keys in the same order, same outputs and gradients in training mode."""
    import torch
    from mnas.lower.torch import example_input, to_module
    graph = api.graph(spec, sets)
    out = export_spec(spec, "python", tmp_path / "net.py", sets).path
    loaded = importlib.util.spec_from_file_location("exported_net", out)
    source = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(source)
    torch.manual_seed(0)
    lowered = to_module(graph)
    standalone = source.Network()
    assert list(standalone.state_dict()) == list(lowered.state_dict())
    standalone.load_state_dict(lowered.state_dict())
    x = example_input(graph, batch=4)
    torch.manual_seed(1)  # the same dropout masks in both
    a = standalone(x)
    torch.manual_seed(1)
    b = lowered(x)
    assert torch.equal(a, b)
    a.square().mean().backward()
    b.square().mean().backward()
    grads = dict(lowered.named_parameters())
    for name, p in standalone.named_parameters():
        if p.requires_grad:
            assert torch.equal(p.grad, grads[name].grad), name
        else:  # fixed weights (the blur-pool filter)
            assert p.grad is None and grads[name].grad is None, name


@pytest.mark.slow  # a fresh interpreter importing torch: seconds
def test_python_source_needs_only_torch(tmp_path):
    """Run the exported file in a fresh interpreter where importing mnas fails."""
    import torch
    graph, module, weights = _trained_weights(ALL_OPS, None, tmp_path)
    out = export_spec(ALL_OPS, "python", tmp_path / "net.py").path
    script = f"""
import sys, importlib.util, torch
sys.modules["mnas"] = None  # any 'import mnas' now raises ImportError
spec = importlib.util.spec_from_file_location("net", {str(out)!r})
net = importlib.util.module_from_spec(spec)
spec.loader.exec_module(net)
model = net.Network()
model.load_state_dict(torch.load({str(weights)!r}))
x = torch.load({str(tmp_path / 'x.pt')!r})
torch.save(model.eval()(x), {str(tmp_path / 'y.pt')!r})
"""
    x = torch.randn(2, *graph.input.params.shape)
    torch.save(x, tmp_path / "x.pt")
    done = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    with torch.no_grad():
        assert torch.equal(torch.load(tmp_path / "y.pt"), module(x))


@pytest.mark.parametrize("fmt, weights, message", [
    ("yaml", "w.pt", "--weights: format 'yaml' carries no weights"),
    ("python", "w.pt", "--weights: format 'python' carries no weights"),
    ("onnx", "missing.pt", "--weights {}: no such file"),
    ("torchscript", "garbage.pt", "--weights {}: not a PyTorch state dict or checkpoint "
                                  "(UnpicklingError"),
    ("state-dict", "other.pt", "--weights {}: {} entries missing for this network: "
                               "bconv.weight, sconv.weight, small.weight and {} more"),
])
def test_bad_exports_are_one_line_errors(tmp_path, capsys, fmt, weights, message):
    import torch
    (tmp_path / "garbage.pt").write_text("not a checkpoint")
    state = _randomized(api.graph(ALL_OPS)).state_dict()
    kept = ("conv.", "bn.", "fc.")
    torch.save({k: v for k, v in state.items() if k.startswith(kept)}, tmp_path / "other.pt")
    missing = sum(not k.startswith(kept) for k in state)
    path = tmp_path / weights
    code = main(["export", str(ALL_OPS), "--format", fmt, "-o", str(tmp_path / "out"),
                 "--weights", str(path)])
    stderr = capsys.readouterr().err
    assert code == 1
    message = message.format(path, missing, missing - 3)
    assert stderr.startswith(f"mnas export: error: {message}"), stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_unknown_format_is_an_error(tmp_path):
    with pytest.raises(MnasError, match="unknown export format 'tflite'"):
        export_spec(ALL_OPS, "tflite", tmp_path / "x")


def test_yaml_export_does_not_import_torch(tmp_path):
    code = ("import sys; from mnas.cli import main; "
            f"rc = main(['export', 'specs/meliusnet22.yaml', '--format', 'yaml', '-o', "
            f"{str(tmp_path / 'flat.yaml')!r}]); "
            "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "flat.yaml").is_file()


def test_python_source_network_named_like_a_layer_class(tmp_path):
    spec = tmp_path / "sign.yaml"
    spec.write_text("name: Sign\ninput: [4, 1, 1]\nlayers:\n  - {name: s, op: sign}\n"
                    "  - {op: flatten}\n  - {name: fc, op: linear, out: 2, binary: true}\n")
    out = export_spec(spec, "python", tmp_path / "net.py").path
    loaded = importlib.util.spec_from_file_location("sign_net", out)
    source = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(source)
    assert source.Network.__name__ == "SignNetwork" and source.Sign is not source.Network
    assert source.Network()(source.torch.ones(3, 4, 1, 1)).shape == (3, 2)
