"""`spec_path`: every network spec in specs/ (globbed, so a new spec is tested automatically)
and tests/lower/data/all_ops.yaml, which uses every registered op type."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALL_OPS = Path(__file__).resolve().parent / "data" / "all_ops.yaml"
LOWER_SPECS = sorted((ROOT / "specs").glob("*.yaml")) + [ALL_OPS]


def pytest_generate_tests(metafunc):
    if "spec_path" in metafunc.fixturenames:
        metafunc.parametrize("spec_path", LOWER_SPECS, ids=[p.stem for p in LOWER_SPECS])


# Tests that compute real forward/backward passes: seconds per network on 2 shared cores.
SLOW_PER_NETWORK = {"test_forward_backward_reaches_every_parameter"}


def pytest_collection_modifyitems(config, items):
    import pytest
    for item in items:
        if item.originalname in SLOW_PER_NETWORK and "[all_ops]" not in item.name:
            item.add_marker(pytest.mark.slow)
