"""The bit-packed kernels against the float simulation (torch's conv2d of the +-1 tensors):
every code path this machine runs, random shapes, padding (with 0, +1 or -1), strides,
groups, dilation, odd channel counts, scale and bias, both memory layouts; the packed words
against hand counts."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from mnas.kernels import ops, reference
from mnas.kernels.build import load

from conftest import ROOT

COMPILED = ("avx512", "avx2", "portable")
PATHS = ["torch", *[p for p in COMPILED if ops.supported(p)]]


def cpu_flags() -> set[str]:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def float_simulation(x, w, stride, padding, dilation, groups, scale=None, bias=None,
                     pad_value=0.0):
    """What the lowered module computes: conv2d of sign(x) and sign(w), the border padded
    with zeros (or `pad_value`)."""
    x = torch.where(x >= 0, 1.0, -1.0)
    if pad_value:
        x, padding = F.pad(x, (padding,) * 4, value=pad_value), 0
    y = F.conv2d(x, torch.where(w >= 0, 1.0, -1.0), None, stride, padding, dilation, groups)
    if scale is not None:
        y = y * scale.reshape(1, -1, 1, 1)
    return y if bias is None else y + bias.reshape(1, -1, 1, 1)


def random_case(seed: int):
    rng = random.Random(seed)
    groups = rng.choice([1, 1, 2, 3, 4])
    cg, og = rng.choice([1, 5, 37, 64, 65, 100, 130]), rng.choice([1, 3, 8, 9, 64, 70])
    kernel = rng.choice([1, 3, 3, 5])
    size = rng.randint(kernel, 12 if kernel < 5 else 8)
    return dict(seed=seed, batch=rng.randint(1, 3), c=cg * groups, o=og * groups, groups=groups,
                kernel=kernel, stride=rng.choice([1, 1, 2, 3]), padding=rng.randint(0, 3),
                dilation=rng.choice([1, 1, 2]) if size > 2 * kernel else 1, size=size,
                scale=rng.random() < 0.3, bias=rng.random() < 0.3,
                pad_value=rng.choice([0.0, 0.0, 1.0, -1.0]))


CASES = [random_case(seed) for seed in range(24)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "{c}-{o}-g{groups}-k{kernel}-s{stride}-"
                         "p{padding}={pad_value:g}-d{dilation}-{size}px-b{batch}".format(**c))
def test_every_path_equals_the_float_simulation(case):
    gen = torch.Generator().manual_seed(case["seed"])
    c, o, g, k = case["c"], case["o"], case["groups"], case["kernel"]
    x = torch.randn(case["batch"], c, case["size"], case["size"] + 1, generator=gen)
    x[x.abs() < 0.05] = 0.0                     # exact zeros binarise to +1
    w = torch.randn(o, c // g, k, k, generator=gen)
    scale = torch.rand(o, generator=gen) + 0.5 if case["scale"] else None
    bias = torch.randn(o, generator=gen) if case["bias"] else None
    s, p, d = case["stride"], case["padding"], case["dilation"]
    if (case["size"] + 2 * p - d * (k - 1) - 1) < 0:
        pytest.skip("empty output")
    pv = case["pad_value"]
    expected = float_simulation(x, w, s, p, d, g, scale, bias, pv)
    packed_w = ops.pack_weight(w, g)
    for path in PATHS:
        for layout in (torch.contiguous_format, torch.channels_last):
            xl = x.contiguous(memory_format=layout)
            packed = ops.pack_signs(xl, g, path=path)
            assert torch.equal(packed, reference.pack_signs(x, g)), (path, layout)
            y = ops.binary_conv2d(packed, packed_w, c, o, (k, k), (s, s), (p, p), (d, d), scale,
                                  bias, pv, channels_last=layout == torch.channels_last,
                                  path=path)
            assert y.shape == expected.shape
            assert torch.equal(y, expected), (path, layout, (y - expected).abs().max())
            assert y.is_contiguous(memory_format=layout)


def test_threads_split_the_work_without_changing_the_result():
    """Big enough for several tasks per thread (a task is at least 65,536 words)."""
    gen = torch.Generator().manual_seed(7)
    x, w = torch.randn(2, 256, 28, 28, generator=gen), torch.randn(64, 256, 3, 3, generator=gen)
    expected = float_simulation(x, w, 1, 1, 1, 1)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for path in PATHS[1:]:
            for layout in (torch.contiguous_format, torch.channels_last):
                packed = ops.pack_signs(x.contiguous(memory_format=layout), path=path)
                y = ops.binary_conv2d(packed, ops.pack_weight(w), 256, 64, (3, 3), (1, 1),
                                      (1, 1), path=path)
                assert torch.equal(y, expected), (path, layout)
    finally:
        torch.set_num_threads(before)


def test_binary_linear_is_a_1x1_convolution_of_vectors():
    x, w, b = torch.randn(5, 200), torch.randn(7, 200), torch.randn(7)
    expected = F.linear(torch.where(x >= 0, 1.0, -1.0), torch.where(w >= 0, 1.0, -1.0)) + b
    for path in PATHS:
        y = ops.binary_conv2d(ops.pack_signs(x, path=path), ops.pack_weight(w[:, :, None, None]),
                              200, 7, bias=b, path=path).flatten(1)
        assert torch.equal(y, expected), path


def test_packed_words_by_hand():
    """Bit b of word j is channel 64j + b, set where the value binarises to -1: x < 0 and NaN;
    0.0 and -0.0 are +1 (sign(x) = +1 for x >= 0)."""
    values = [1.0, -1.0, 0.0, -0.0, float("nan"), -3.5] + [2.0] * 58 + [-1.0, 0.5]
    x = torch.tensor(values).reshape(1, 66, 1, 1)
    expected = [(1 << 1) | (1 << 4) | (1 << 5), 1]          # channels 1, 4, 5; then 64
    for path in PATHS:
        words = ops.pack_signs(x, path=path)
        assert words.shape == (1, 1, 1, 1, 2)
        assert words.flatten().tolist() == expected, path
        halves = ops.pack_signs(x, groups=2, path=path)       # 33 channels per group
        assert halves.flatten().tolist() == [(1 << 1) | (1 << 4) | (1 << 5), 1 << 31], path


@pytest.mark.skipif(sys.platform != "linux" or "avx512_vpopcntdq" not in cpu_flags(),
                    reason="needs a Linux x86-64 CPU with AVX-512 VPOPCNTDQ")
def test_the_kernels_build_here_and_pick_avx512():
    build = load()
    assert build.loaded, build.detail
    assert ops.supported("avx512") and ops.supported("avx2") and ops.supported("portable")
    assert ops.active() in ("avx512", "torch") if ops.requested() != "auto" else \
        ops.active() == "avx512"


def test_unknown_or_impossible_paths_are_clear_errors(monkeypatch):
    with pytest.raises(ops.KernelError, match="unknown kernel path 'sse'; choose from auto"):
        ops.use_path("sse")
    monkeypatch.setenv("MNAS_KERNELS", "neon")
    with pytest.raises(ops.KernelError, match="MNAS_KERNELS=neon: choose from"):
        ops.active()


@pytest.mark.slow  # a fresh interpreter that tries (and fails) to compile: seconds
def test_without_a_compiler_the_pure_pytorch_path_gives_the_same_results(tmp_path):
    script = """
import warnings, torch, torch.nn.functional as F
from mnas.kernels import ops
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert ops.active() == "torch", ops.active()
assert any("pure-PyTorch path" in str(w.message) for w in caught), [str(w.message) for w in caught]
x, w = torch.randn(2, 70, 6, 6), torch.randn(9, 70, 3, 3)
y = ops.binary_conv2d(ops.pack_signs(x), ops.pack_weight(w), 70, 9, (3, 3), (1, 1), (1, 1))
ref = F.conv2d(torch.where(x >= 0, 1.0, -1.0), torch.where(w >= 0, 1.0, -1.0), padding=1)
assert torch.equal(y, ref)
print("ok")
"""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CXX": "/nonexistent/c++",
           "MNAS_KERNELS_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
