"""Bi-Real Net's additions to the registry: the approximated sign and magnitude-aware binary
weights. Neither adds parameters or ops; bad use is a one-line spec error."""

from __future__ import annotations

import pytest

from mnas import api
from mnas.errors import SpecError
from mnas.ops.registry import get_op

SPEC = """name: tiny
input: [8, 8, 8]
layers:
  - {name: sign, op: %s}
  - {name: conv, op: conv2d, kernel: 3, out: 8, binary: %s, weight_scale: %s}
  - {name: pool, op: global_avgpool}
  - {name: fc, op: linear, out: 10}
"""


def _write(tmp_path, sign="approx_sign", binary="true", weight_scale="true"):
    path = tmp_path / "tiny.yaml"
    path.write_text(SPEC % (sign, binary, weight_scale))
    return path


def test_approx_sign_is_registered_with_a_lowering_and_costs_nothing():
    op = get_op("approx_sign")
    assert op.lower is not None and op.doc
    assert op.infer_shape(op.params(), ((64, 56, 56),)) == (64, 56, 56)
    counts = op.count(op.params(), ((64, 56, 56),), (64, 56, 56))
    assert counts.macs == 0 and counts.binary_params == counts.float_params == 0


def test_weight_scale_changes_neither_params_nor_ops(tmp_path):
    scaled = api.cost(_write(tmp_path, weight_scale="true")).totals
    plain = api.cost(_write(tmp_path, sign="sign", weight_scale="false")).totals
    assert (scaled.bops, scaled.flops, scaled.params, scaled.size_bits) == \
        (plain.bops, plain.flops, plain.params, plain.size_bits)
    assert scaled.bops == 8 * 8 * 9 * 8 * 8 and scaled.binary_params == 8 * 8 * 9


def test_weight_scale_on_a_32_bit_conv_is_a_spec_error_at_its_line(tmp_path):
    path = _write(tmp_path, binary="false", weight_scale="true")
    with pytest.raises(SpecError) as err:
        api.graph(path)
    message = str(err.value)
    assert message.startswith(f"{path}:5:")
    assert "weight_scale" in message and "binary: true" in message and "\n" not in message


def test_approx_sign_takes_no_fields(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(SPEC.replace("op: %s}", "op: %s, clip: 1.0}") % ("approx_sign", "true", "true"))
    with pytest.raises(SpecError, match="unknown field for op 'approx_sign'"):
        api.graph(path)
