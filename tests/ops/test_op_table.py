"""The op table of docs/spec.md is the registry's (a changed or new op fails this test until
`python docs/update_op_table.py` regenerates it), and `mnas ops` shows every op with its
fields and defaults as the params dataclasses declare them."""

from __future__ import annotations

import json

from conftest import ROOT, run_cli
from mnas.ops.catalog import DOC_BEGIN, DOC_END, markdown_table
from mnas.ops.registry import ROLES, all_ops

DOC = ROOT / "docs" / "spec.md"


def test_docs_op_table_is_the_registrys():
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index(DOC_BEGIN) + len(DOC_BEGIN):text.index(DOC_END)].strip("\n")
    assert table == markdown_table(), \
        "docs/spec.md's op table differs from the op registry: run python docs/update_op_table.py"


def test_docs_table_names_every_op_once():
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index(DOC_BEGIN):text.index(DOC_END)]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert sorted(r.split("`")[1] for r in rows) == sorted(all_ops())
    assert "| `approx_sign` | binarize |" in table      # once missing from the hand-made table


def test_every_op_declares_a_known_role():
    assert {op.role for op in all_ops().values()} <= set(ROLES)
    roles = {name: op.role for name, op in all_ops().items()}
    assert roles["sign"] == roles["approx_sign"] == "binarize"
    assert roles["conv2d"] == roles["linear"] == "compute"
    assert roles["batchnorm"] == "norm"


def test_mnas_ops_json_lists_fields_with_defaults():
    out = run_cli("ops", "--format", "json")
    assert out.returncode == 0, out.stderr
    ops = {o["op"]: o for o in json.loads(out.stdout)}
    assert set(ops) == set(all_ops())
    conv = {f["name"]: f for f in ops["conv2d"]["fields"]}
    assert "default" not in conv["kernel"] and conv["kernel"]["type"] == "int"     # required
    assert conv["multiple"]["default"] == 32 and conv["stride"]["default"] == 1
    assert conv["binary"]["default"] is False
    assert ops["sign"]["fields"] == [{"name": "clip", "type": "float", "default": 1.3}]
    assert ops["concat"]["inputs"] == {"min": 2, "max": None}


def test_mnas_ops_unknown_name_is_one_line():
    out = run_cli("ops", "batchnrom")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        f"mnas ops: error: unknown op 'batchnrom' (did you mean 'batchnorm'?); known ops: "
        f"{', '.join(sorted(all_ops()))}"]
