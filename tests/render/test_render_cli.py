"""`mnas render` as a user runs it: without graphviz's `dot`, DOT output, no torch, errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mnas.cli import main

ROOT = Path(__file__).resolve().parents[2]
M22 = ROOT / "specs" / "meliusnet22.yaml"


def run_without_dot(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the CLI with a PATH that has no `dot` on it (an empty folder)."""
    empty = tmp_path / "empty-path"
    empty.mkdir(exist_ok=True)
    env = {**os.environ, "PATH": str(empty)}
    return subprocess.run([sys.executable, "-m", "mnas", "render", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_without_dot_writes_the_dot_source_and_says_what_to_install(tmp_path):
    out = tmp_path / "m22.svg"
    proc = run_without_dot(tmp_path, str(M22), "-o", str(out))
    assert proc.returncode == 1
    assert not out.exists()
    source = (tmp_path / "m22.dot").read_text()
    assert source.startswith("digraph") and "unit × 4" in source
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "apt-get install graphviz" in lines[0] and "brew install graphviz" in lines[0]
    assert str(tmp_path / "m22.dot") in lines[0]
    assert "Traceback" not in proc.stderr


def test_dot_format_needs_no_graphviz_program(tmp_path):
    proc = run_without_dot(tmp_path, str(M22), "--format", "dot", "-o", "-")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("digraph") and "cluster_" in proc.stdout


def test_stdout_image_without_dot_is_a_one_line_error(tmp_path):
    proc = run_without_dot(tmp_path, str(M22), "--format", "svg", "-o", "-")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "apt-get install graphviz" in proc.stderr


def test_render_never_imports_torch(tmp_path):
    code = (
        "import sys\n"
        "from mnas.cli import main\n"
        f"spec = {str(M22)!r}; out = {str(tmp_path)!r}\n"
        "assert main(['render', spec, '--format', 'dot', '-o', out + '/a.dot']) == 0\n"
        "assert main(['render', spec, '--level', 'layer', '--fold', '--costs', '--format', "
        "'dot', '-o', out + '/b.dot']) == 0\n"
        "main(['render', spec, '-o', out + '/c.svg'])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr


def test_default_output_name_follows_the_spec_and_level(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["render", str(M22), "--format", "dot"]) == 0
    assert main(["render", str(M22), "--format", "dot", "--level", "layer"]) == 0
    assert (tmp_path / "meliusnet22.dot").read_text().startswith("digraph")
    assert (tmp_path / "meliusnet22-layers.dot").read_text().startswith("digraph")


def test_bad_input_is_one_line_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mnas", "render", "specs/nope.yaml"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "nope.yaml" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "mnas", "render", str(M22), "--set",
                           "transitions=[160]", "--format", "dot", "-o", str(tmp_path / "x.dot")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "transitions" in proc.stderr
