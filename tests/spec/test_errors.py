"""Bad input gives one line naming the file, line, column and field (or the layers), and a
non-zero exit from the CLI; never a traceback."""

from __future__ import annotations

import pytest

from conftest import SPECS, run_cli

HEAD = "name: x\ninput: [3, 8, 8]\nlayers:\n"

CASES = {
    "malformed": (HEAD + "  - {name: a, op: conv2d, out: 4, kernel: 3\n",
                  "net.yaml:5:1: invalid YAML: while parsing a flow mapping expected ',' or '}', "
                  "but got '<stream end>'"),
    "unknown_op": (HEAD + "  - {name: a, op: conv2d, out: 4, kernel: 3}\n  - {name: b, op: relux}\n",
                   "net.yaml:5:19: layers[1].op: unknown op 'relux' (did you mean 'relu'?); "
                   "known ops: "),
    "missing_field": (HEAD + "  - {name: a, op: conv2d, out: 4}\n",
                      "net.yaml:4:5: layers[0].kernel: missing required field for op 'conv2d'"),
    "wrong_type": (HEAD + "  - {name: a, op: conv2d, out: 4, kernel: 3, stride: two}\n",
                   "net.yaml:4:54: layers[0].stride: expected int, got 'two'"),
    "unknown_field": (HEAD + "  - {name: a, op: conv2d, out: 4, kernel: 3, strid: 2}\n",
                      "net.yaml:4:53: layers[0].strid: unknown field for op 'conv2d' "
                      "(did you mean 'stride'?)"),
    "shape_mismatch": (HEAD + "  - {name: a, op: conv2d, out: 4, kernel: 3}\n"
                       "  - {name: b, op: conv2d, out: 8, kernel: 3, inputs: [input]}\n"
                       "  - {name: c, op: add, inputs: [a, b]}\n",
                       "net.yaml:6:5: layer 'c': add needs equal shapes: 4x8x8 and 8x8x8 "
                       "(from layers 'a' and 'b')"),
    "cycle": (HEAD + "  - {name: a, op: relu, inputs: [c]}\n  - {name: b, op: relu}\n"
              "  - {name: c, op: relu}\n",
              "net.yaml:4:5: cycle between layers: a -> b -> c -> a"),
    "dangling": (HEAD + "  - {name: a, op: relu, inputs: [nope]}\n",
                 "net.yaml:4:33: layers[0].inputs: unknown input 'nope'"),
    "groups": (HEAD + "  - {name: a, op: conv2d, out: 4, kernel: 3, groups: 2}\n",
               "net.yaml:4:5: layer 'a': groups=2 does not divide the 3 input channels "
               "(input from layer 'input', shape 3x8x8)"),
    "non_positive": (HEAD + "  - {name: a, op: conv2d, out: 0, kernel: 3}\n",
                     "net.yaml:4:32: layers[0].out: must be positive, got 0"),
    "bad_input_shape": ("name: x\ninput: [3, 0, 8]\nlayers:\n  - {op: relu}\n",
                        "net.yaml:2:8: input: expected [C, H, W], three positive integers like "
                        "[3, 224, 224], got [3, 0, 8]"),
    "missing_name": ("input: [3, 8, 8]\nlayers:\n  - {op: relu}\n",
                     "net.yaml:1:1: name: missing required field 'name'"),
    "duplicate_key": (HEAD + "  - {name: a, name: b, op: relu}\n",
                      "net.yaml:4:15: duplicate key 'name'"),
    "window_too_big": (HEAD + "  - {name: a, op: maxpool, kernel: 4, stride: 4}\n"
                       "  - {name: b, op: maxpool, kernel: 4}\n",
                       "net.yaml:5:5: layer 'b': window 4 (dilation 1, padding 0) does not fit "
                       "input size 2 (input from layer 'a', shape 3x2x2)"),
    "attribute_access": (HEAD + "  - {name: a, op: conv2d, out: '${().__class__}', kernel: 3}\n",
                         "net.yaml:4:32: layers[0].out: '().__class__' is not allowed in an "
                         "expression"),
    "function_call": (HEAD + "  - {name: a, op: conv2d, out: '${open(1)}', kernel: 3}\n",
                      "net.yaml:4:32: layers[0].out: unknown function 'open'; allowed: "),
    "unknown_top_field": (HEAD + "  - {op: relu}\nvalus: {a: 1}\n",
                          "net.yaml:5:8: valus: unknown field in a network spec "
                          "(did you mean 'values'?)"),
    "vector_into_conv": (HEAD + "  - {op: flatten}\n  - {op: conv2d, out: 3, kernel: 1}\n",
                         "net.yaml:5:5: layer 'conv2d': conv2d expects a CxHxW input, got 192 "
                         "(input from layer 'flatten', shape 192)"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_spec_gives_one_line(tmp_path, case):
    text, expected = CASES[case]
    (tmp_path / "net.yaml").write_text(text)
    out = run_cli("cost", "net.yaml", cwd=tmp_path)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(f"mnas cost: error: {expected}"), lines[0]


def at(text: str, file: str = "specs/blocks/meliusnet.yaml") -> str:
    """'file:line:col' of the first occurrence of `text` in a spec file, so the expected
    positions follow edits of the file."""
    lines = (SPECS.parent / file).read_text().splitlines()
    line = next(i for i, l in enumerate(lines) if text in l)
    return f"{file}:{line + 1}:{lines[line].index(text) + 1}"


SET_CASES = {
    "unknown key": (["stagse=[1,1,1,1]"], "--set stagse: unknown value 'stagse' (did you mean "
                                          "'stages'?)"),
    "no equals": (["stages"], "--set: expected KEY=VALUE, got 'stages'"),
    "bad yaml": (["stages=[4,5"], "--set stages: cannot read value '[4,5': invalid YAML"),
    "bad stem": (["stem=foo"], at('"stem_${stem}"') + ": blocks.meliusnet.layers[0].block: "
                               "unknown block 'stem_foo' (did you mean 'stem_cifar'?)"),
    "bad count": (["stages=[4,five,4,4]"], at('"${stages[i]}"') + ": "
                  "blocks.meliusnet.layers[1].layers[0].repeat: expected a count >= 0, "
                  "got 'five' (in stage2)"),
    "bad groups": (["groups=3"], at("{name: conv, op: conv2d, kernel: 1") + ": layer 'stage1.transition.conv': "
                   "groups=3 does not divide the 320 input channels"),
    "stages and transitions disagree": (
        ["stages=[4,5]"], at('test: "${len(transitions') + ": blocks.meliusnet.checks[1]: need "
        "one transition width (or reduction) between each pair of stages (stages=[4, 5], "
        "transitions=[160, 224, 256], reductions=None)"),
    "widths and reductions both": (
        ["reductions=[2,2,2]"], at('test: "${(transitions') + ": blocks.meliusnet.checks[0]: "
        "give exactly one of 'transitions' (widths) and 'reductions' (factors)"),
}


@pytest.mark.parametrize("case", sorted(SET_CASES))
def test_bad_set(case):
    sets, expected = SET_CASES[case]
    args = [a for s in sets for a in ("--set", s)]
    out = run_cli("cost", "specs/meliusnet22.yaml", "--summary", *args)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith(f"mnas cost: error: {expected}"), out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_missing_file():
    out = run_cli("cost", "nothere.yaml")
    assert out.returncode == 1
    assert out.stderr.strip() == "mnas cost: error: nothere.yaml: no such file"


def test_bad_option_exits_nonzero():
    out = run_cli("cost", "specs/meliusnet22.yaml", "--format", "xml")
    assert out.returncode == 2 and "invalid choice: 'xml'" in out.stderr
