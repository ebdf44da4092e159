"""Timing callables on a shared, noisy machine. A round repeats a call until it lasts
`min_round_s` and gives the mean time per call; a figure is the minimum over rounds, since
interference from other processes only ever adds time. Two callables compared are timed in
alternating rounds, so both see the same conditions."""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Pair:
    """Seconds per call of `a` and of `b` (minimum over `rounds` alternating rounds)."""

    a: float
    b: float
    rounds: int


def calls_per_round(fn: Callable[[], object], min_round_s: float) -> int:
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    return max(1, min(10_000, math.ceil(min_round_s / max(once, 1e-7))))


def time_round(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def time_pair(a: Callable[[], object], b: Callable[[], object], rounds: int = 7,
              min_round_s: float = 2e-3) -> Pair:
    a(), b()                                  # warm up: allocations, caches, lazy init
    na, nb = calls_per_round(a, min_round_s), calls_per_round(b, min_round_s)
    ta, tb = [], []
    for _ in range(rounds):
        ta.append(time_round(a, na))
        tb.append(time_round(b, nb))
    return Pair(min(ta), min(tb), rounds)


def time_one(fn: Callable[[], object], rounds: int = 7, min_round_s: float = 2e-3) -> float:
    fn()
    calls = calls_per_round(fn, min_round_s)
    return min(time_round(fn, calls) for _ in range(rounds))


def cpu_model() -> str:
    """The CPU as /proc/cpuinfo names it, with family and model numbers (a virtual machine's
    name alone can be as vague as 'AMD EPYC')."""
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "cpu family", "model") and key not in info:
                    info[key] = value.strip()
                if not line.strip() and info:
                    break
    except OSError:
        return platform.processor() or platform.machine()
    name = info.get("model name", platform.machine())
    if "cpu family" in info and "model" in info:
        name += f" (family {info['cpu family']}, model {info['model']})"
    return name
