"""Specs a hostile or careless user might write, through `mnas cost FILE` under a 3 GB address
space limit and a timeout: each ends in one line naming the file, line, column and the limit,
exit status 1, no traceback, no hang and no MemoryError. One subprocess runs every case
through the CLI's entry point (starting one per case would cost a second each)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import pytest

from conftest import ROOT

HEAD = "name: x\ninput: [3, 8, 8]\n"
LAUGHS = "".join(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 9))

# name: (spec text or bytes, [include target to create], fragments of the one line)
CASES = {
    "string_repeat": (HEAD + "layers:\n  - {op: conv2d, kernel: 1, out: \"${len('ab' * 10**10)}\"}\n",
                      ["net.yaml:4:", "layers[0].out:", "would build a value of "
                       "20,000,000,000 items (limit: value size 100,000 items)"]),
    "list_repeat": (HEAD + "layers:\n  - {op: conv2d, kernel: 1, out: '${len([0] * 10**9)}'}\n",
                    ["net.yaml:4:", "(limit: value size 100,000 items)"]),
    "huge_range": (HEAD + "layers:\n  - {op: conv2d, kernel: 1, out: '${len(range(10**12))}'}\n",
                   ["net.yaml:4:", "1,000,000,000,000 items (limit: value size"]),
    "nested_powers": (HEAD + "layers:\n  - {op: conv2d, kernel: 1, out: '${((9**60)**60)**60}'}\n",
                      ["net.yaml:4:", "(limit: integer size 1024 bits)"]),
    "printf_width": (HEAD + "layers:\n  - {op: relu, name: \"${'%0999999999d' % 1}\"}\n",
                     ["net.yaml:4:", "layers[0].name: '%' formatting of strings is not allowed"]),
    "chained_terms": (HEAD + "layers:\n  - {op: conv2d, kernel: 1, out: '${"
                      + "+".join(["1"] * 50_000) + "}'}\n",
                      ["net.yaml:4:", "layers[0].out: expression", "(limit: expression depth 100)"]),
    "repeat_1e8": (HEAD + "layers:\n  - {op: relu, repeat: 100000000}\n",
                   ["net.yaml:4:24: layers[0].repeat:", "(limit: expansion size 100,000)"]),
    "for_1e8": (HEAD + "layers:\n  - {op: relu, name: 'r${i}', for: {i: '${range(10**8)}'}}\n",
                ["net.yaml:4:", "layers[0].for.i:", "(limit: value size 100,000 items)"]),
    "nested_repeats": (HEAD + "layers:\n  - {layers: [{op: relu, repeat: 10000}], repeat: 10000}\n",
                       ["net.yaml:4:", "(limit: expansion size 100,000)"]),
    "self_call": (HEAD + "blocks:\n  a:\n    layers: [{block: a}]\nlayers:\n  - {block: a}\n",
                  ["net.yaml:5:", "block 'a' calls itself: a -> a"]),
    "mutual_calls": (HEAD + "blocks:\n  a:\n    layers: [{block: b}]\n  b:\n    layers: [{block: a}]\n"
                     "layers:\n  - {block: a}\n", ["net.yaml:7:", "block 'a' calls itself: a -> b -> a"]),
    "deep_yaml": (HEAD + "values: {a: " + "[" * 100_000 + "]" * 100_000 + "}\nlayers: [{op: relu}]\n",
                  ["net.yaml:3:", "(limit: YAML depth 64)"]),
    "alias_laughs": (HEAD + "values:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + LAUGHS
                     + "layers: [{op: relu}]\n", ["net.yaml:", "(limit: YAML values 1,000,000)"]),
    "huge_int": (HEAD + "values: {a: " + "9" * 100_000 + "}\nlayers: [{op: relu}]\n",
                 ["net.yaml:3:13:", "(limit: integer size 1024 bits)"]),
    "huge_width": (HEAD + "layers: [{op: conv2d, kernel: 1, out: 99999999999999}]\n",
                   ["net.yaml:3:", "layers[0].out:", "(limit: dimension 2,147,483,647)"]),
    "batch_in_input": ("name: x\ninput: [1, 3, 32, 32]\nlayers: [{op: relu}]\n",
                       ["net.yaml:2:8: input: expected [C, H, W]", "got [1, 3, 32, 32]"]),
    "include_dev_zero": (HEAD + "include: [/dev/zero]\nlayers: [{op: relu}]\n",
                         ["net.yaml:3:11: include[0]: /dev/zero: cannot read: not a regular file"]),
    "include_fifo": (HEAD + "include: [fifo]\nlayers: [{op: relu}]\n",
                     ["net.yaml:3:11: include[0]:", "fifo: cannot read: not a regular file"]),
    "include_directory": (HEAD + "include: [.]\nlayers: [{op: relu}]\n",
                          ["net.yaml:3:11: include[0]:", "cannot read: a directory"]),
    "include_huge": (HEAD + "include: [huge.yaml]\nlayers: [{op: relu}]\n",
                     ["net.yaml:3:11: include[0]:", "(limit: file size 1,048,576 bytes)"]),
    "nul_bytes": ((HEAD + "layers: [{op: relu}]\x00\x00\n").encode(),
                  ["net.yaml:3:21: invalid YAML: a NUL byte is not allowed"]),
    "not_utf8": (HEAD.encode() + b"layers: [{op: relu, name: \xff\xfe}]\n",
                 ["net.yaml:3:27: not UTF-8 text: byte 0xff"]),
}

DRIVER = r"""
import contextlib, io, json, sys, traceback
from mnas.cli import main
for name, argv in json.loads(sys.argv[1]).items():
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(argv)
        except BaseException:
            rc = "raised"
            traceback.print_exc(file=err)
    print(json.dumps([name, rc, err.getvalue()]), flush=True)
"""


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    os.mkfifo(folder / "fifo")
    (folder / "huge.yaml").write_text("#" * (2 ** 20 + 1))
    argv = {}
    for name, (text, _) in CASES.items():
        (folder / name).mkdir()
        path = folder / name / "net.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        for extra in ("fifo", "huge.yaml"):
            os.symlink(folder / extra, folder / name / extra)
        argv[name] = ["cost", str(path), "--summary"]
    argv["top_level_dev_zero"] = ["cost", "/dev/zero"]
    argv["top_level_fifo"] = ["cost", str(folder / "fifo")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    try:
        done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(argv)], cwd=folder,
                              env=env, capture_output=True, timeout=120, preexec_fn=_limit_memory)
        stdout, stderr = done.stdout, done.stderr
    except subprocess.TimeoutExpired as err:  # the cases finished so far still report
        stdout, stderr = err.stdout or b"", (err.stderr or b"") + b"\n(timed out after 120 s)"
    results = {}
    for line in stdout.decode().splitlines():
        name, rc, case_stderr = json.loads(line)
        results[name] = (rc, case_stderr)
    return results, stderr.decode(errors="replace")


def _one_line(outcomes, name: str) -> str:
    results, driver_stderr = outcomes
    assert name in results, f"the driver stopped before {name}: {driver_stderr[-2000:]}"
    rc, stderr = results[name]
    assert not any(word in stderr for word in ("Traceback", "MemoryError", "RecursionError")), \
        stderr[-3000:]
    lines = stderr.strip().splitlines()
    assert rc == 1 and len(lines) == 1, (rc, stderr[-3000:])
    assert lines[0].startswith("mnas cost: error: ")
    return lines[0]


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_spec_gives_one_line(outcomes, name):
    line = _one_line(outcomes, name)
    for fragment in CASES[name][1]:
        assert fragment in line, line


def test_odd_spec_files_are_refused_without_reading(outcomes):
    assert _one_line(outcomes, "top_level_dev_zero") == \
        "mnas cost: error: /dev/zero: cannot read: not a regular file (a spec is a YAML file)"
    assert "fifo: cannot read: not a regular file" in _one_line(outcomes, "top_level_fifo")
