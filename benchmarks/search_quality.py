"""Search quality against the exhaustive optimum, what trials are spent on, and search speed.

Enumerates every candidate of the MeliusNet space (specs/spaces/meliusnet.yaml by default:
~7.4e8 candidates) with a numpy closed form of the cost (written for this benchmark only), finds the best proxy score
within the budget, then runs `mnas search` (default SQLite storage, --objective proxy, one
worker) with several seeds and prints, over the seeds:

- best-found / optimum after 100, 300 and 1000 trials (mean and worst) and the gap in points;
- the fraction of trials spent on a network the study already held (transition widths computed
  here by the paper's rule, not by mnas) and on candidates over budget;
- per-trial time (ms, from the trials' completion times) around trials 300, 1000 and 3000 of
  one long run, and the ratio of trials 2500-3000 to trials 0-200;
- with --two-machines URL: two `mnas search` processes started at once on one study of a
  PostgreSQL (or other RDB) database, as two machines would, with the same --seed.

The numpy enumeration is a third statement of the cost, so it proves itself first: on random
candidates (and on the optimum it finds) it must match `mnas.search.costing.Costing` (itself
checked against the graph model) exactly, or the script stops.

    python benchmarks/search_quality.py                          # mobilenet-0.75, 10 seeds
    python benchmarks/search_quality.py --budget mobilenet-0.5 --trials 100 --time-trials 0
    python benchmarks/search_quality.py --trials 100,300 --skip-search   # optimum only
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from mnas.cost.budgets import resolve_budget  # noqa: E402
from mnas.search.costing import Costing  # noqa: E402
from mnas.search.objective import accuracy_fit  # noqa: E402
from mnas.search.space import load_space  # noqa: E402

PAPER_NETWORK = {"mobilenet-0.5": "MeliusNetC", "mobilenet-0.75": "MeliusNet42",
                 "mobilenet-1.0": "MeliusNet59"}
SUPPORTED = {"stem", "stages", "transitions", "reductions", "groups", "growth"}


def _window(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


class GridCost:
    """Costs of all stage-count combinations for one (stem, groups, reductions), vectorised.
    Paper convention; the space must search only `SUPPORTED` values with the melius unit."""

    def __init__(self, space):
        base = space.base
        vals = {**dict(base.blocks[base.block].args), **base.values}
        for k in space.knobs:
            if k.name not in SUPPORTED:
                raise SystemExit(f"benchmark covers {sorted(SUPPORTED)}, not '{k.name}'")
            if k.fixed:
                vals[k.name] = k.template
        if vals.get("unit") != "melius" or vals.get("transitions") is not None:
            raise SystemExit("benchmark covers unit 'melius' with reductions")
        self.vals, self.space = vals, space
        self.c_in, self.h, self.w = base.input
        stage_knob = next(k for k in space.knobs if k.name == "stages")
        self.stage_grids = [np.array(d.grid() if hasattr(d, "grid") else (d,), dtype=np.int64)
                            for d in stage_knob.template]
        self.shape = tuple(len(g) for g in self.stage_grids)

    def stem(self, kind):
        ch = self.vals["stem_channels"]
        if kind == "imagenet":
            h1, w1 = _window(self.h, 7, 2, 3), _window(self.w, 7, 2, 3)
            fp = ch * self.c_in * 49
            fm, norm = fp * h1 * w1, ch
        else:
            half = ch // 2
            h1, w1 = _window(self.h, 3, 2, 1), _window(self.w, 3, 2, 1)
            fp = half * self.c_in * 9 + half * (half // 4) * 9 + ch * (half // 8) * 9
            fm, norm = fp * h1 * w1, half + half + ch
        return fp, fm, norm, _window(h1, 3, 2, 1), _window(w1, 3, 2, 1)

    def __call__(self, stem, groups, reductions):
        g, classes, shuffle = self.vals["growth"], self.vals["classes"], self.vals["shuffle"]
        fp, fm, norm, h, w = self.stem(stem)
        k = len(self.stage_grids)
        bp = bm = 0
        c = np.int64(self.vals["stem_channels"])
        valid = True
        for i, grid in enumerate(self.stage_grids):
            n = grid.reshape((1,) * i + (-1,) + (1,) * (k - i - 1))
            s = n * (2 * c + g) + g * n * (n - 1)
            bp = bp + 9 * g * s
            bm = bm + 9 * g * s * (h * w)
            norm = norm + s
            c = c + n * g
            if i == k - 1:
                break
            norm = norm + c
            h, w = _window(h, 2, 2, 0), _window(w, 2, 2, 0)
            width = np.maximum(32, np.floor(c / reductions[i] / 32 + 0.5).astype(np.int64) * 32)
            if groups > 1 and np.any(c % shuffle):
                valid = False
            if np.any(c % groups) or np.any(width % groups):
                valid = False
            fp = fp + width * (c // groups)
            fm = fm + width * (c // groups) * (h * w)
            c = width
        norm = norm + c
        fp = fp + c * classes + classes
        fparams = fp + 2 * norm
        bits = bp + 32 * fparams
        ops = bm / 64 + fm
        size = bits / 8 / 2 ** 20
        shape = self.shape
        return {"bops": np.broadcast_to(bm, shape), "flops": np.broadcast_to(fm, shape),
                "binary_params": np.broadcast_to(bp, shape),
                "float_params": np.broadcast_to(fparams, shape),
                "ops": np.broadcast_to(ops, shape), "size_mib": np.broadcast_to(size, shape),
                "valid": valid}


def outer_combos(space):
    """(stem, groups, reductions) combinations and the param names they map to."""
    knobs = {k.name: k for k in space.knobs}

    def choices(name):
        k = knobs.get(name)
        if k is None:
            return [space.base.values.get(name)]
        if k.fixed:
            return [k.template]
        return list(k.template.grid())

    red = knobs["reductions"]
    red_grids = [d.grid() if hasattr(d, "grid") else (d,) for d in red.template]
    for stem in choices("stem"):
        for groups in choices("groups"):
            for rs in itertools.product(*red_grids):
                yield stem, groups, rs


def params_of(space, stem, groups, rs, idx, grids):
    values = {"stem": stem, "groups": groups, "reductions": list(rs),
              "stages": [int(grids[i][j]) for i, j in enumerate(idx)]}
    return {k.name: (values[k.name] if k.name in values else k.template) for k in space.knobs}


def exhaustive(space, budget, fit, verify: int, rng: random.Random):
    grid = GridCost(space)
    costing = Costing(space.base, "paper", probes=[{}])
    assert costing.method == "blocks", "block-cached costing disagrees with the graph model"
    best = (-math.inf, None)
    feasible_total = total = 0
    combos = list(outer_combos(space))
    to_check = set(rng.sample(range(len(combos)), min(verify, len(combos))))
    checked = 0
    t0 = time.perf_counter()
    for ci, (stem, groups, rs) in enumerate(combos):
        g = grid(stem, groups, rs)
        if not g["valid"]:
            raise SystemExit(f"invalid candidates at {stem, groups, rs}: not covered")
        score = fit.intercept + fit.per_ln_bops * np.log(g["bops"]) + \
            fit.per_ln_binary_params * np.log(g["binary_params"])
        ok = (g["ops"] <= budget.ops) & (g["size_mib"] <= budget.size_mib)
        total += ok.size
        n_ok = int(ok.sum())
        feasible_total += n_ok
        if ci in to_check:
            idx = tuple(rng.randrange(s) for s in grid.shape)
            _check(space, costing, g, stem, groups, rs, idx, grid)
            checked += 1
        if n_ok:
            masked = np.where(ok, score, -np.inf)
            flat = int(np.argmax(masked))
            if masked.flat[flat] > best[0]:
                idx = np.unravel_index(flat, grid.shape)
                best = (float(masked.flat[flat]), (stem, groups, rs, idx))
    seconds = time.perf_counter() - t0
    stem, groups, rs, idx = best[1]
    g = grid(stem, groups, rs)
    _check(space, costing, g, stem, groups, rs, idx, grid)
    values = params_of(space, stem, groups, rs, idx, grid.stage_grids)
    return best[0], values, costing.cost(values), total, feasible_total, checked + 1, seconds


def _check(space, costing, g, stem, groups, rs, idx, grid):
    values = params_of(space, stem, groups, rs, idx, grid.stage_grids)
    ref = costing.cost(values)
    got = tuple(int(g[k][idx]) for k in ("bops", "flops", "binary_params", "float_params"))
    want = (ref.bops, ref.flops, ref.binary_params, ref.float_params)
    if got != want:
        raise SystemExit(f"numpy enumeration disagrees with Costing at {values}: {got} != {want}")


def hand_network(params) -> tuple:
    """The network of a trial: stem, units, transition widths by the paper's rule
    (round(C / r / 32) x 32, at least 32; a stage adds 64 channels per unit), groups."""
    stages = [params[f"stages[{i}]"] for i in range(4)]
    c, widths = 64, []
    for i in range(3):
        c += 64 * stages[i]
        c = max(32, math.floor(c / params[f"reductions[{i}]"] / 32 + 0.5) * 32)
        widths.append(c)
    return params["stem"], tuple(stages), tuple(widths), params["groups"]


def spent(trials, budget) -> tuple[int, int]:
    """Trials on a network already held, and trials over budget."""
    seen, repeats, over = set(), 0, 0
    for t in trials:
        key = hand_network(t.params)
        repeats += key in seen
        seen.add(key)
        c = t.user_attrs.get("cost")
        over += c is not None and (c["ops"] > budget.ops or c["size_mib"] > budget.size_mib)
    return repeats, over


def search_run(space_path, budget, seed, trials, sampler, tmp, clock=None):
    """Run a study; `clock`, a list, gets (CPU seconds, wall seconds) after each trial."""
    from mnas.search.config import SearchConfig
    from mnas.search.run import run_search
    cfg = SearchConfig(budget=budget, space=space_path, trials=trials, seed=seed, out=tmp,
                       study="bench", sampler=sampler)
    tick = None if clock is None else \
        (lambda n: clock.append((time.process_time(), time.perf_counter())))
    run, study = run_search(cfg, advance=tick)
    return run, sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)


def curve(trials, marks):
    best, out = -math.inf, {}
    for k, t in enumerate(trials, 1):
        if t.values and all(v <= 0 for v in t.constraints.values()):
            best = max(best, t.values[0])
        if k in marks:
            out[k] = best
    return out


def per_trial_ms(clock, lo, hi) -> tuple[float, float]:
    """CPU and wall milliseconds per trial for trials lo..hi (from the first trial's end)."""
    lo = max(lo, 1)
    (c0, w0), (c1, w1) = clock[lo - 1], clock[hi - 1]
    return 1000 * (c1 - c0) / (hi - lo), 1000 * (w1 - w0) / (hi - lo)


def two_machines(url, space_path, budget, trials, seed):
    """Two processes started at once on one fresh study, as two machines would."""
    import subprocess
    import optuna
    from mnas.search.storage import open_storage
    study = f"bench-{time.time_ns() % 10**8}"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "mnas", "search", "--budget", budget.name, "--space",
               space_path, "--trials", str(trials), "--storage", url, "--study", study,
               "--seed", str(seed), "--no-plot", "--no-progress", "--format", "csv"]
        procs = [subprocess.Popen([*cmd, "--out", f"{tmp}/m{i}"], cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for i in range(2)]
        errors = [p.communicate()[1] for p in procs]
        if any(p.returncode for p in procs):
            raise SystemExit("two-machine run failed:\n" + "\n".join(e[-1500:] for e in errors))
    got = optuna.load_study(study_name=study, storage=open_storage(url))
    return sorted(got.get_trials(deepcopy=False), key=lambda t: t.number)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget", default="mobilenet-0.75")
    p.add_argument("--space", default=str(ROOT / "specs" / "spaces" / "meliusnet.yaml"))
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--trials", default="100,300,1000")
    p.add_argument("--time-trials", type=int, default=3000,
                   help="trials of the run timed per trial (0: skip; default 3000)")
    p.add_argument("--samplers", default="refine",
                   help="comma-separated: refine (mnas default), tpe, random, nsga2")
    p.add_argument("--two-machines", metavar="URL",
                   help="also run two processes at once on one study of this RDB")
    p.add_argument("--verify", type=int, default=400,
                   help="random candidates checked against Costing (default 400)")
    p.add_argument("--skip-search", action="store_true")
    args = p.parse_args(argv)
    trials = sorted(int(x) for x in args.trials.split(","))
    space = load_space(args.space)
    budget = resolve_budget(args.budget)
    fit = accuracy_fit()
    print(f"space {Path(space.file).relative_to(ROOT) if space.file.startswith(str(ROOT)) else space.file}: "
          f"{space.size():,} candidates; budget {budget.name}: OPs <= {budget.ops:.5g}, "
          f"size <= {budget.size_mib:.5g} MiB (paper convention)")
    print(f"objective proxy: {fit.describe()}")
    opt, values, cost, total, n_ok, checked, secs = exhaustive(space, budget, fit, args.verify,
                                                              random.Random(0))
    print(f"exhaustive: {total:,} candidates in {secs:.1f} s, {n_ok:,} within budget; "
          f"numpy costs matched Costing exactly on {checked} checked candidates")
    from mnas.cost.model import cost_graph
    from mnas.search.results import transition_widths
    from mnas.spec.expand import build_graph
    widths = transition_widths(cost_graph(build_graph(space.spec(values))))
    print(f"  optimum proxy {opt:.4f}: stem {values['stem']}, stages {values['stages']}, "
          f"reductions {values['reductions']}, groups {values['groups']}, widths "
          f"{'/'.join(map(str, widths))}; OPs {cost.ops:.5g} "
          f"({100 * cost.ops / budget.ops:.2f}%), size {cost.size_mib:.4f} MiB "
          f"({100 * cost.size_mib / budget.size_mib:.2f}%)")
    from mnas.api import cost as cost_spec
    from mnas.search.objective import REFERENCE_POINTS
    name = PAPER_NETWORK.get(budget.name, "MeliusNet42")
    ref = next(p for p in REFERENCE_POINTS if p.name == name)
    m = cost_spec(ROOT / "specs" / ref.spec).totals
    s = fit.predict(m.bops, m.binary_params)
    print(f"{name} (the paper's network for this budget, {ref.top1}% reported): proxy {s:.4f} "
          f"= {s / opt:.4f} of the optimum; OPs {m.ops:.5g} ({100 * m.ops / budget.ops:.2f}% of "
          f"budget), size {m.size_mib:.4f} MiB ({100 * m.size_mib / budget.size_mib:.2f}%): "
          f"{'within' if budget.fits(m.ops, m.size_mib) else 'OVER'} the budget")
    if args.skip_search:
        return 0
    for sampler in args.samplers.split(","):
        curves, rates, repeats, overs, counts, stops = [], [], [], [], [], []
        for seed in range(args.seeds):
            with tempfile.TemporaryDirectory() as tmp:
                run, got = search_run(args.space, budget, seed, max(trials), sampler, tmp)
            curves.append(curve(got, trials))
            rates.append(run.trials_run / run.seconds)
            r, o = spent(got, budget)
            repeats.append(r)
            overs.append(o)
            counts.append(len(got))
            stops.append(run.exhausted)
            print(f"  {sampler} seed {seed}: " + ", ".join(
                f"{k}: {curves[-1][k]:.4f}" for k in trials if k in curves[-1]) +
                f"  ({rates[-1]:.1f} trials/s; {r} repeated networks, {o} over budget in "
                f"{len(got)} trials{'; stopped: ' + run.exhausted if run.exhausted else ''})",
                flush=True)
        print(f"\n{sampler} sampler, {args.seeds} seeds: best feasible found / exhaustive optimum")
        print(f"{'trials':>7} {'mean':>8} {'worst':>8} {'mean gap (points)':>18}")
        for k in trials:
            got_k = [c[k] for c in curves if k in c]
            ratios = [g / opt for g in got_k]
            gaps = [opt - g for g in got_k]
            print(f"{k:>7} {statistics.mean(ratios):>8.4f} {min(ratios):>8.4f} "
                  f"{statistics.mean(gaps):>18.3f}")
        n = sum(counts)
        print(f"trials on a repeated network: {sum(repeats)} of {n} ({100 * sum(repeats) / n:.2f}%)"
              f"; over budget: {sum(overs)} of {n} ({100 * sum(overs) / n:.2f}%, worst seed "
              f"{max(overs)} of {max(trials)})")
        print(f"trials per second ({sampler}, default SQLite storage, 1 worker, "
              f"{max(trials)}-trial runs, whole run): {statistics.mean(rates):.1f}\n", flush=True)
    if args.time_trials:
        clock: list = []
        with tempfile.TemporaryDirectory() as tmp:
            search_run(args.space, budget, 0, args.time_trials, "refine", tmp, clock)
        marks = [(0, 200)] + [(k - 100, k) for k in (300, 1000, 3000) if k <= args.time_trials]
        if args.time_trials >= 3000:
            marks.append((2500, 3000))
        times = {m: per_trial_ms(clock, *m) for m in marks}
        print(f"per-trial time, refine, one {args.time_trials}-trial run (default SQLite storage, "
              f"1 worker; CPU time of the process, and wall time on a shared machine):")
        for (lo, hi), (cpu, wall) in times.items():
            print(f"  trials {lo:>4}-{hi:<4}: {cpu:6.1f} ms CPU, {wall:6.1f} ms wall")
        if (2500, 3000) in times:
            (c0, w0), (c1, w1) = times[(0, 200)], times[(2500, 3000)]
            print(f"  trials 2500-3000 / trials 0-200: {c1 / c0:.2f} (CPU), {w1 / w0:.2f} (wall)")
    if args.two_machines:
        got = two_machines(args.two_machines, args.space, budget, 100, 0)
        r, o = spent(got, budget)
        print(f"two processes at once on one study ({len(got)} trials, --seed 0 both): {r} "
              f"repeated networks, {o} over budget", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
