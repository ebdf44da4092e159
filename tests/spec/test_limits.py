"""The limits of mnas/spec/limits.py: each is refused with a one-line SpecError that names the
limit, the file, line, column and field, and the nearest input within it still works. The
expected figures are the literal limits documented in docs/spec.md, not the constants.

Inputs here stay small even if a limit broke (at most a few hundred thousand layers); the
ones that would take the machine's memory run in test_hostile_specs.py, in a subprocess
under an address-space limit."""

from __future__ import annotations

import os

import pytest

from mnas.errors import SpecError
from mnas.spec.expand import build_graph
from mnas.spec.expr import ExprError, render
from mnas.spec.load import load_spec
from mnas.spec.source import parse_yaml, read_yaml

HEAD = "name: x\ninput: [3, 8, 8]\n"


def build(tmp_path, text: str, name: str = "net.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return build_graph(load_spec(path))


def at(text: str, token: str, line: int) -> str:
    """'line:col' of the first `token` on 1-based `line` of `text`, counted from the text."""
    return f"{line}:{text.splitlines()[line - 1].index(token) + 1}"


def refused(call, *fragments: str) -> str:
    """The one-line message of the SpecError (or ExprError) `call` raises, containing every
    fragment."""
    with pytest.raises((SpecError, ExprError)) as err:
        call()
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# -- values an expression builds: 100,000 items, 1024-bit integers -----------------------------
@pytest.mark.parametrize("ok,too_big", [
    ("len('a' * 100000)", "len('a' * 100001)"),
    ("len([0] * 100000)", "len([0] * 100001)"),
    ("len(range(100000))", "len(range(100001))"),
    ("len([[0] * 999] * 100)", "len([[0] * 1000] * 100)"),  # 100 + 99,900 items / 100 + 100,000
    ("len('ab' * 25000 + 'ab' * 25000)", "len('ab' * 25000 + 'ab' * 25001)"),
])
def test_value_size(ok, too_big):
    assert render(f"${{{ok}}}", {}) > 0
    refused(lambda: render(f"${{{too_big}}}", {}), "(limit: value size 100,000 items)")


@pytest.mark.parametrize("text", ["${'a' * 10**12}", "${[0] * 2**1000}", "${range(0, 2**1000)}"])
def test_huge_values_are_refused_before_they_are_built(text):
    refused(lambda: render(text, {}), "would build a value of", "(limit: value size 100,000")


def test_interpolated_text_is_a_value_too():
    env = {"s": "x" * 50_000}
    assert len(render("${s}${s}", env)) == 100_000
    refused(lambda: render("${s}${s}!", env), "(limit: value size 100,000 items)")


def test_integer_size():
    assert render("${2 ** 1023}", {}).bit_length() == 1024
    assert render("${int('9' * 308)}", {}) == 10 ** 308 - 1
    refused(lambda: render("${2 ** 1024}", {}), "an integer of 1,025 bits",
            "(limit: integer size 1024 bits)")
    refused(lambda: render("${int('9' * 309)}", {}), "(limit: integer size 1024 bits)")
    refused(lambda: render("${2 ** 1023 * 2}", {}), "1,025 bits")
    # 9**3600 has floor(3600 * log2 9) + 1 = 11,412 bits; computed without building it
    refused(lambda: render("${((9**60)**60)**60}", {}), "11,412 bits")


def test_string_formatting_and_summing_lists_are_refused():
    assert render("${7 % 3}", {}) == 1 and render("${sum([1, 2.5])}", {}) == 3.5
    refused(lambda: render("${'%0999999999d' % 1}", {}), "'%' formatting of strings")
    refused(lambda: render("${sum([[1]] * 3, [])}", {}), "sum adds numbers only")
    refused(lambda: render("${round(1.5, 10**6)}", {}), "ndigits")


# -- expression depth: 100 ---------------------------------------------------------------------
def test_expression_depth():
    assert render("${" + "+".join(["1"] * 100) + "}", {}) == 100
    refused(lambda: render("${" + "+".join(["1"] * 101) + "}", {}),
            "is nested 101 deep (limit: expression depth 100)")
    refused(lambda: render("${" + "+".join(["1"] * 50_000) + "}", {}),
            "(limit: expression depth 100)")
    assert render("${" + "(" * 99 + "1" + ")" * 99 + "}", {}) == 1


def test_value_depth():
    assert render("${" + "[" * 64 + "]" * 64 + "}", {})
    refused(lambda: render("${" + "[" * 65 + "]" * 65 + "}", {}),
            "lists nested more than 64 deep (limit: value depth 64)")


def test_evaluation_work(tmp_path):
    """Each evaluation of len('a' * 99990) takes 99,990 steps for the string and a few for
    its nodes: 99 evaluations fit in 10,000,000 steps, 101 do not."""
    item = "  - {op: conv2d, kernel: 1, out: \"${len('a' * 99990) // 99990 * 3}\", repeat: %d}\n"
    assert len(build(tmp_path, HEAD + "layers:\n" + item % 99).nodes) == 100
    refused(lambda: build(tmp_path, HEAD + "layers:\n" + item % 101),
            "net.yaml:4:", "layers[0].out: evaluating the spec takes more than 10,000,000 steps "
            "(limit: evaluation work 10,000,000 steps)")


# -- expansion: 100,000 layers, inputs, block calls and loop iterations ------------------------
def test_repeat_just_under_the_expansion_limit_works(tmp_path):
    """The item (1), its 49,999 copies and their 49,999 inputs: 99,999."""
    graph = build(tmp_path, HEAD + "layers:\n  - {op: relu, repeat: 49999}\n")
    assert len(graph.nodes) == 50_000


@pytest.mark.parametrize("layers,where", [
    ("  - {op: relu, repeat: 100001}\n", "net.yaml:4:24: layers[0].repeat"),
    ("  - {op: relu, repeat: 50000}\n", "net.yaml:4:5: layers[0]"),
    ("  - {op: relu, name: 'r${i}', for: {i: '${range(60000)}'}}\n"
     "  - {op: relu, name: 's${i}', for: {i: '${range(60000)}'}}\n", "net.yaml:5:5: layers[1]"),
    ("  - {layers: [{op: relu, repeat: 400}], repeat: 300}\n",
     "net.yaml:4:34: layers[0].layers[0].repeat"),
])
def test_expansion_limit(tmp_path, layers, where):
    refused(lambda: build(tmp_path, HEAD + "layers:\n" + layers), where,
            "the spec expands to more than 100,000 layers, inputs, block calls and loop "
            "iterations (limit: expansion size 100,000)")


def test_cached_block_copies_count_too(tmp_path):
    """A block called again with the same arguments is copied, not expanded: its layers still
    count (1,000 calls of 100 chained layers)."""
    text = (HEAD + "blocks:\n  hundred:\n    layers: [{op: relu, repeat: 100}]\n"
            "layers:\n  - {block: hundred, repeat: %d}\n")
    assert len(build(tmp_path, text % 400).nodes) == 1 + 400 * 100
    refused(lambda: build(tmp_path, text % 1000), "net.yaml:7:", "layers[0].block",
            "(limit: expansion size 100,000)")


# -- blocks: no recursion, 64 nested blocks and groups -----------------------------------------
def test_block_calling_itself(tmp_path):
    text = HEAD + "blocks:\n  a:\n    layers: [{op: relu}, {block: a}]\nlayers:\n  - {block: a}\n"
    refused(lambda: build(tmp_path, text), f"net.yaml:{at(text, 'a}', 5)}: "
            "blocks.a.layers[1].block: block 'a' calls itself: a -> a")


def test_blocks_calling_each_other(tmp_path):
    text = (HEAD + "blocks:\n  a:\n    layers: [{block: b}]\n  b:\n    layers: [{block: c}]\n"
            "  c:\n    layers: [{op: relu}, {block: b, when: '${True}'}]\n"
            "layers:\n  - {block: a}\n")
    refused(lambda: build(tmp_path, text), f"net.yaml:{at(text, 'b, when', 9)}: "
            "blocks.c.layers[1].block: block 'b' calls itself: b -> c -> b")


def _chain(depth: int, leaf: str) -> str:
    """Blocks b1 -> b2 -> ... -> b{depth} passing a nested list on; b{depth} holds `leaf`."""
    blocks = "".join(f"  b{i}:\n    args: {{v: ~}}\n    layers: [{{block: b{i + 1}, args: "
                     f"{{v: '${{v}}'}}}}]\n" for i in range(1, depth))
    blocks += f"  b{depth}:\n    args: {{v: ~}}\n    layers:\n      - {leaf}\n"
    return (HEAD + "values: {v: " + "[" * 60 + "1" + "]" * 60 + "}\nblocks:\n" + blocks
            + "layers:\n  - {block: b1, args: {v: '${v}'}}\n")


def test_deepest_nesting_allowed_works_together(tmp_path):
    """64 nested block calls, a list nested 60 deep passed through all of them and an
    expression 100 deep at the bottom: no RecursionError."""
    leaf = "{op: conv2d, kernel: 1, out: '${" + "+".join(["1"] * 98) + " + len(v) - 96}'}"
    graph = build(tmp_path, _chain(64, leaf))
    conv = graph.nodes[-1]
    assert conv.params.out == 3 and len(conv.scopes) == 64


def test_scope_depth(tmp_path):
    refused(lambda: build(tmp_path, _chain(65, "{op: relu}")), "blocks.b64.layers[0]: "
            "blocks and groups nested more than 64 deep (limit: scope depth 64)")


# -- names, dimensions, input ------------------------------------------------------------------
def test_name_length(tmp_path):
    layer = "  - {op: relu, name: \"${'a' * %d}\"}\n"
    assert build(tmp_path, HEAD + "layers:\n" + layer % 1000).nodes[-1].name == "a" * 1000
    refused(lambda: build(tmp_path, HEAD + "layers:\n" + layer % 1001),
            "layers[0].name: layer name of 1,001 characters (limit: name length 1,000)")


def test_dimension(tmp_path):
    conv = "name: x\ninput: [1, 1, 1]\nlayers:\n  - {op: conv2d, kernel: 1, out: %d}\n"
    graph = build(tmp_path, conv % (2 ** 31 - 1))
    assert graph.nodes[-1].params.out == 2_147_483_647
    refused(lambda: build(tmp_path, conv % 2 ** 31),
            f"net.yaml:{at(conv, '%d', 4)}: layers[0].out: 2,147,483,648 is too large "
            "(limit: dimension 2,147,483,647)")
    refused(lambda: build(tmp_path, "name: x\ninput: [3, 2147483648, 1]\nlayers: [{op: relu}]\n"),
            "net.yaml:2:8: input: dimension 2,147,483,648 is too large")


@pytest.mark.parametrize("shape", ["[1, 3, 32, 32]", "[32]", "[3, 32]"])
def test_input_is_exactly_c_h_w(tmp_path, shape):
    assert build(tmp_path, "name: x\ninput: [3, 32, 32]\nlayers: [{op: relu}]\n")
    refused(lambda: build(tmp_path, f"name: x\ninput: {shape}\nlayers: [{{op: relu}}]\n"),
            f"net.yaml:2:8: input: expected [C, H, W], three positive integers like "
            f"[3, 224, 224], got {shape}")


def test_set_input_is_exactly_c_h_w(tmp_path):
    (tmp_path / "net.yaml").write_text(HEAD + "layers: [{op: relu}]\n")
    assert load_spec(tmp_path / "net.yaml", {"input": [3, 16, 16]}).input == (3, 16, 16)
    refused(lambda: load_spec(tmp_path / "net.yaml", {"input": [1, 3, 16, 16]}),
            "--set input: expected [C, H, W]")


# -- YAML: depth 64, 1,000,000 values through aliases, 1024-bit integers -----------------------
def test_yaml_depth():
    assert parse_yaml("[" * 64 + "]" * 64) is not None
    refused(lambda: parse_yaml("[" * 65 + "]" * 65, "x.yaml"),
            "x.yaml:1:65: YAML nested more than 64 deep (limit: YAML depth 64)")
    refused(lambda: parse_yaml("a: " + "[" * 5000 + "]" * 5000, "x.yaml"), "(limit: YAML depth 64)")
    block = "".join(" " * (2 * i) + f"k{i}:\n" for i in range(70)) + " " * 140 + "v: 1\n"
    refused(lambda: parse_yaml(block, "x.yaml"), "x.yaml:64:", "(limit: YAML depth 64)")


def test_yaml_aliases_count_as_copies():
    """Seven levels of ten aliases stand for 10**7 values."""
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7)]
    refused(lambda: parse_yaml("\n".join(levels), "x.yaml"), "x.yaml:",
            "YAML of more than 1,000,000 values counting each use of an alias "
            "(limit: YAML values 1,000,000)")
    assert len(parse_yaml("\n".join(levels[:5]))["a4"]) == 10  # 10**5 values
    merged = parse_yaml("base: &b {kernel: 3, out: 8}\nconv: {<<: *b, stride: 2}\n")
    assert merged["conv"] == {"kernel": 3, "out": 8, "stride": 2}


def test_yaml_alias_cannot_nest_past_the_depth():
    deep = "a: &a " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 30 + "*a" + "]" * 30 + "\n"
    refused(lambda: parse_yaml(deep, "x.yaml"), "(limit: YAML depth 64) through an alias")
    ok = "a: &a " + "[" * 30 + "]" * 30 + "\nb: " + "[" * 30 + "*a" + "]" * 30 + "\n"
    assert parse_yaml(ok)["b"]


def test_yaml_integers():
    assert parse_yaml(f"a: {2 ** 1023}")["a"] == 2 ** 1023
    refused(lambda: parse_yaml(f"a: {2 ** 1024}", "x.yaml"),
            "x.yaml:1:4: an integer of 1,025 bits (limit: integer size 1024 bits)")
    refused(lambda: parse_yaml("a: " + "9" * 5000, "x.yaml"), "(limit: integer size 1024 bits)")
    refused(lambda: parse_yaml("a: 0x" + "f" * 300, "x.yaml"), "1,200 bits")


# -- files: regular, at most 1 MiB, UTF-8 without NUL ------------------------------------------
def test_file_size(tmp_path):
    text = HEAD + "layers: [{op: relu}]\n"
    pad = "#" * (2 ** 20 - len(text) - 1) + "\n"
    (tmp_path / "max.yaml").write_text(text + pad)
    assert (tmp_path / "max.yaml").stat().st_size == 1_048_576
    assert read_yaml(tmp_path / "max.yaml")["name"] == "x"
    (tmp_path / "big.yaml").write_text(text + "#" + pad)
    refused(lambda: read_yaml(tmp_path / "big.yaml"), "big.yaml: file of more than 1,048,576 "
            "bytes (limit: file size 1,048,576 bytes)")


def test_odd_files_are_refused_without_reading(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    refused(lambda: read_yaml(tmp_path / "fifo"), "fifo: cannot read: not a regular file")
    refused(lambda: read_yaml("/dev/zero"), "/dev/zero: cannot read: not a regular file")
    refused(lambda: read_yaml(tmp_path), "cannot read: a directory")


def test_nested_includes_of_regular_files_work(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.yaml").write_text("include: b.yaml\nblocks:\n  a:\n"
                                             "    layers: [{block: b}]\n")
    (tmp_path / "lib" / "b.yaml").write_text("include: [../c.yaml]\nblocks:\n  b:\n"
                                             "    layers: [{block: c}]\n")
    (tmp_path / "c.yaml").write_text("blocks:\n  c:\n    layers: [{op: relu}]\n")
    graph = build(tmp_path, HEAD + "include: [lib/a.yaml]\nlayers: [{block: a}]\n")
    assert [n.op for n in graph.nodes] == ["input", "relu"]


def test_include_depth(tmp_path):
    """net.yaml includes f1.yaml, which includes f2.yaml, ...: 32 levels work, 33 do not."""
    def chain(depth: int) -> None:
        for i in range(1, depth + 1):
            more = f"include: [f{i + 1}.yaml]\n" if i < depth else ""
            (tmp_path / f"f{i}.yaml").write_text(more + f"blocks:\n  b{i}:\n"
                                                 f"    layers: [{{op: relu}}]\n")
    chain(32)
    assert build(tmp_path, HEAD + "include: [f1.yaml]\nlayers: [{block: b32}]\n")
    chain(33)
    refused(lambda: build(tmp_path, HEAD + "include: [f1.yaml]\nlayers: [{block: b33}]\n"),
            "f32.yaml:1:11: include[0]: includes nested more than 32 deep "
            "(limit: include depth 32)")


@pytest.mark.parametrize("target,message", [
    ("/dev/zero", "/dev/zero: cannot read: not a regular file"),
    ("fifo", "fifo: cannot read: not a regular file"),
    ("sub", "sub: cannot read: a directory"),
    ("big.yaml", "big.yaml: file of more than 1,048,576 bytes"),
])
def test_include_of_an_odd_file_is_refused_at_the_include(tmp_path, target, message):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "sub").mkdir()
    (tmp_path / "big.yaml").write_text("#" * (2 ** 20 + 1))
    refused(lambda: build(tmp_path, HEAD + f"include: [{target}]\nlayers: [{{op: relu}}]\n"),
            "net.yaml:3:11: include[0]: ", message)


def test_nul_byte_and_invalid_utf8_name_their_position(tmp_path):
    text = "name: x\ninput: [3, 8, 8]\nlayers: [{op: relu}]  \x00\n"
    (tmp_path / "nul.yaml").write_bytes(text.encode())
    refused(lambda: read_yaml(tmp_path / "nul.yaml"),
            f"nul.yaml:{at(text, chr(0), 3)}: invalid YAML: a NUL byte is not allowed in YAML text")
    (tmp_path / "latin1.yaml").write_bytes("name: caf\u00e9\n".encode("latin-1"))
    refused(lambda: read_yaml(tmp_path / "latin1.yaml"),
            "latin1.yaml:1:10: not UTF-8 text: byte 0xe9 cannot be decoded")
    (tmp_path / "utf8.yaml").write_text("name: caf\u00e9\n", encoding="utf-8")
    assert read_yaml(tmp_path / "utf8.yaml")["name"] == "caf\u00e9"
