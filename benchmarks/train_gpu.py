"""Training speed on a GPU (issue 14): images per second of MeliusNet22 at 224x224, batch 128.

1. A training step (forward, backward, plain SGD) of the lowered module (`to_module` of
   specs/meliusnet22.yaml) and of the same network written by hand (`HandMeliusNet22` of
   benchmarks/lower_speed.py, checked to give the same outputs with the same weights), in
   four modes: fp32; bf16 autocast; bf16 + channels_last; bf16 + channels_last +
   torch.compile. Median of timed windows after warm-up steps, synchronised.
2. `mnas train` end to end (its own process, as a user runs it): MeliusNet22 on 224x224
   synthetic data (`--data synthetic:N`, held on the GPU), and MeliusNet-CIFAR on 50,000
   CIFAR-format images this script writes, each in fp32 and with the fast options
   (--precision bf16 --channels-last --compile). The figure is the last epoch's training
   images per second (the first pays for compilation).

3. (CUDA) How often `mnas train`'s loop makes the host wait for the GPU: one epoch of a small
   network under torch.cuda.set_sync_debug_mode('warn'), counting the synchronising calls,
   with 10 and with 30 steps: the difference / 20 is the count per step (0 lets the host run
   ahead of the GPU; the calls once per run or epoch do not matter).

Prints a table and writes train_gpu.json (updated after every measurement, so a run cut
short keeps what it measured) to --out (default $OUT, else the current folder). cuDNN's
autotuner is on in every mode (as `mnas train` sets it on CUDA).

    PYTHONPATH=. python3 benchmarks/train_gpu.py                 # on a GPU machine
    PYTHONPATH=. python benchmarks/train_gpu.py --quick --no-compile   # a CPU smoke run
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from lower_speed import HandMeliusNet22, copy_weights  # noqa: E402

from mnas import api  # noqa: E402
from mnas.lower.torch import to_module  # noqa: E402

MODES = {                      # name -> (autocast dtype, channels_last, compile)
    "fp32": (None, False, False),
    "bf16": (torch.bfloat16, False, False),
    "bf16+channels_last": (torch.bfloat16, True, False),
    "bf16+channels_last+compile": (torch.bfloat16, True, True),
}
FAST = ["--precision", "bf16", "--channels-last", "--compile"]
BF16_CL = ["--precision", "bf16", "--channels-last", "--no-compile"]
PLAIN = ["--precision", "fp32", "--no-channels-last", "--no-compile"]


class Report:
    def __init__(self, path: Path, meta: dict):
        self.path, self.data = path, {**meta, "steps": {}, "train": {}, "syncs": {},
                                      "skipped": []}
        self.t0 = time.perf_counter()
        self.write()

    def write(self) -> None:
        self.data["elapsed_s"] = round(time.perf_counter() - self.t0, 1)
        self.path.write_text(json.dumps(self.data, indent=2) + "\n")

    def add(self, section: str, key: str, value) -> None:
        self.data[section][key] = value
        self.write()
        print(f"  {section} {key}: {value}", flush=True)


def train_step_rate(model, batch: int, size: int, device, mode: str, steps: int,
                    windows: int) -> dict:
    """Images/s of forward + backward + SGD step; median of `windows` timed windows."""
    dtype, channels_last, compiled = MODES[mode]
    model = copy.deepcopy(model).to(device).train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    run = torch.compile(model) if compiled else model
    gen = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(batch, 3, size, size, generator=gen).to(device)
    x = x.contiguous(memory_format=fmt)
    y = torch.randint(0, 1000, (batch,), generator=gen).to(device)

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = F.cross_entropy(run(x).float(), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    t0 = time.perf_counter()
    for _ in range(3):                        # warm-up (compiles on the first)
        step()
    sync()
    warm = time.perf_counter() - t0
    rates = []
    for _ in range(windows):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        rates.append(steps * batch / (time.perf_counter() - t0))
    return {"img_per_s": round(statistics.median(rates), 1),
            "windows": [round(r, 1) for r in rates], "warmup_s": round(warm, 1)}


def write_cifar(folder: Path, n_train: int, n_test: int) -> None:
    """Random images in the CIFAR-10 python format (5 training batches, one test batch)."""
    import numpy as np
    rng = np.random.default_rng(0)
    d = folder / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    per = n_train // 5
    for i, n in [(k, per) for k in range(1, 6)] + [("test", n_test)]:
        name = f"data_batch_{i}" if i != "test" else "test_batch"
        entry = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"labels": rng.integers(0, 10, n).tolist()}
        with open(d / name, "wb") as f:
            pickle.dump(entry, f)


def mnas_train(args: list[str], out: Path, timeout: float) -> dict:
    """`python -m mnas train ARGS --out OUT` in its own process; the last epoch's rate."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mnas", "train", *args, "--out", str(out),
                           "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:],
                "wall_s": round(wall, 1)}
    final = json.loads((out / "final.json").read_text())
    h = final["history"]
    return {"img_per_s": round(h[-1]["train_images"] / h[-1]["train_seconds"], 1),
            "per_epoch": [round(e["train_images"] / e["train_seconds"], 1) for e in h],
            "execution": final.get("execution"), "data_on_device": final.get("data_on_device"),
            "wall_s": round(wall, 1)}


def sync_count(device) -> dict:
    """Synchronising calls per training step of `mnas.train.train` (see the docstring)."""
    import warnings

    from mnas.train import train

    def count(steps: int) -> int:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                train("meliusnet-cifar", f"synthetic:{steps * 32}", epochs=1, batch_size=32,
                      device=str(device), sets={"input": [3, 32, 32]})
            finally:
                torch.cuda.set_sync_debug_mode(0)
        return sum("synchroniz" in str(w.message).lower() for w in seen)

    a, b = count(10), count(30)
    return {"syncs_10_steps": a, "syncs_30_steps": b, "per_step": (b - a) / 20}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes, to check the script on a CPU")
    ap.add_argument("--no-compile", action="store_true", help="skip the compiled modes")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--budget-s", type=float, default=390,
                    help="skip what is left once this many seconds have passed")
    ap.add_argument("--only-train", action="store_true",
                    help="`mnas train` end to end only (and the sync count on CUDA)")
    ap.add_argument("--only-meliusnet22", action="store_true",
                    help="the lowered module's compiled step and `mnas train` of MeliusNet22 "
                         "only (with the sync count on CUDA)")
    args = ap.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    q = args.quick
    size, batch = (64, 8) if q else (224, 128)
    steps, windows = (2, 2) if q else (10, 3)
    synthetic_n = 64 if q else 3840
    cifar_n = (500, 100) if q else (50_000, 10_000)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "torch": torch.__version__, "size": size, "batch": batch, "quick": q}
    report = Report(out / "train_gpu.json", meta)
    print(f"{meta['device']}, torch {torch.__version__}, MeliusNet22 {size}x{size} batch {batch}",
          flush=True)
    budget_left = lambda: args.budget_s - (time.perf_counter() - report.t0)  # noqa: E731

    graph = api.graph("meliusnet22", {"input": [3, size, size]})
    torch.manual_seed(0)
    lowered, hand = to_module(graph), HandMeliusNet22()
    copy_weights(lowered, hand)
    with torch.no_grad():
        xc = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
        diff = (lowered(xc) - hand(xc)).abs().max().item()
    report.data["same_network_max_diff"] = diff
    if diff > 1e-3:
        raise SystemExit(f"the hand-written network differs from the lowered one ({diff})")

    modes = [m for m in MODES if not (args.no_compile and MODES[m][2])]
    plain = [m for m in modes if not MODES[m][2]]
    compiled = [m for m in modes if MODES[m][2]]
    tmp = Path(tempfile.mkdtemp(prefix="train_gpu-"))

    def steps_of(mode, which):
        if budget_left() < 30:
            report.data["skipped"].append(f"step {which} {mode}")
            return
        model = lowered if which == "lowered" else hand
        report.add("steps", f"{which} {mode}",
                   train_step_rate(model, batch, size, device, mode, steps, windows))

    def e2e(key, spec_args, flags):
        if budget_left() < 40:
            report.data["skipped"].append(f"train {key}")
            return
        run = tmp / key.replace(" ", "_").replace("+", "_")
        report.add("train", key, mnas_train([*spec_args, *flags], run,
                                            timeout=max(30, budget_left() - 5)))

    m22 = ["meliusnet22", "--data", f"synthetic:{synthetic_n}", "--epochs", "2",
           "--batch-size", str(batch), "--device", device.type,
           "--set", f"input=[3,{size},{size}]"]
    if device.type == "cuda":
        report.add("syncs", "mnas train", sync_count(device))
    if args.only_meliusnet22:
        for mode in compiled or plain[-1:]:
            steps_of(mode, "lowered")
        e2e("meliusnet22 fp32", m22, PLAIN)
        if compiled:
            e2e("meliusnet22 fast", m22, FAST)
        else:
            e2e("meliusnet22 bf16+channels_last", m22, BF16_CL)
        return _summary(report, meta, modes, size, batch)
    if args.only_train:
        plain = compiled = []
    for mode in plain:                          # the quick part first, both networks
        steps_of(mode, "lowered")
        steps_of(mode, "hand-written")
    for mode in compiled:
        steps_of(mode, "lowered")
    e2e("meliusnet22 fp32", m22, PLAIN)
    e2e("meliusnet22 fast", m22, FAST if not args.no_compile else BF16_CL)
    for mode in compiled:
        steps_of(mode, "hand-written")
    write_cifar(tmp / "cifar", *cifar_n)
    cifar = ["meliusnet-cifar", "--data", f"cifar10:{tmp / 'cifar'}", "--epochs", "2",
             "--device", device.type]
    e2e("meliusnet-cifar fp32", cifar, PLAIN)
    e2e("meliusnet-cifar fast", cifar, FAST if not args.no_compile else BF16_CL)
    _summary(report, meta, modes, size, batch)


def _summary(report: Report, meta: dict, modes, size: int, batch: int) -> None:
    d = report.data
    print(f"\n{meta['device']}, torch {meta['torch']}: images/s, MeliusNet22 {size}x{size}, "
          f"batch {batch}, forward + backward + SGD")
    print(f"  {'mode':28}{'lowered':>10}{'hand-written':>14}{'lowered/hand':>14}")
    for mode in modes:
        a = d["steps"].get(f"lowered {mode}", {}).get("img_per_s")
        b = d["steps"].get(f"hand-written {mode}", {}).get("img_per_s")
        ratio = f"{a / b:.3f}" if a and b else "-"
        print(f"  {mode:28}{a or '-':>10}{b or '-':>14}{ratio:>14}")
    print("  target: lowered within 5% of hand-written (ratio >= 0.95) in every mode")
    print("\n`mnas train` end to end, last epoch's training images/s:")
    for key, r in d["train"].items():
        print(f"  {key:34}{r.get('img_per_s', r.get('error'))}  (process {r.get('wall_s')} s)")
    base = d["train"].get("meliusnet22 fp32", {}).get("img_per_s")
    fast = d["train"].get("meliusnet22 fast", {}).get("img_per_s")
    if base and fast:
        d["meliusnet22_speedup"] = round(fast / base, 2)
        print(f"  MeliusNet22: fast / fp32 = {fast / base:.2f}x (target >= 3x, >= 4,000 img/s)")
    if d["skipped"]:
        print(f"  skipped (time budget): {', '.join(d['skipped'])}")
    report.write()


if __name__ == "__main__":
    main()
