"""A run folder is never silently overwritten, every bad checkpoint is one line, and --resume
really continues: the epochs before the checkpoint are not trained again (issues 12, 16)."""

import shutil

import pytest
import torch

from mnas.cli import main
from mnas.train import train
from tiny_run import one_thread, small_digits, tiny_args, tiny_spec  # noqa: F401 (autouse)

RUN_FILES = ("final.json", "metrics.csv", "final.pt", "best.pt")


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished one-epoch run of the tiny network."""
    out = tmp_path_factory.mktemp("finished") / "run"
    torch.set_num_threads(1)          # module fixtures run before the autouse one_thread
    train(tiny_spec(), small_digits(), epochs=1, batch_size=64, optimizer="adam", lr=0.005,
          device="cpu", out=out)
    return out


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A two-epoch run stopped after its first checkpoint."""
    out = tmp_path_factory.mktemp("interrupted") / "run"
    torch.set_num_threads(1)

    def stop(m):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train(tiny_spec(), small_digits(), epochs=2, batch_size=64, optimizer="adam",
              lr=0.005, device="cpu", out=out, on_epoch=stop)
    return out


def test_resume_of_a_finished_run_without_checkpoint_refuses_and_keeps_it(finished, tmp_path,
                                                                          capsys):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "checkpoint.pt").unlink()
    before = {f: (run / f).read_bytes() for f in RUN_FILES}
    assert main([*tiny_args(), "--epochs", "1", "--out", str(run), "--resume"]) == 1
    line = _one_line_error(capsys)
    assert "cannot resume" in line and "no checkpoint.pt" in line and "--force" in line
    assert main([*tiny_args(), "--epochs", "1", "--out", str(run)]) == 1
    line = _one_line_error(capsys)
    assert "already holds a finished run (final.json, metrics.csv, final.pt, best.pt)" in line
    assert {f: (run / f).read_bytes() for f in RUN_FILES} == before     # untouched
    assert main([*tiny_args(), "--epochs", "1", "--out", str(run), "--resume", "--force"]) == 1
    assert "give one of them" in _one_line_error(capsys)
    assert main([*tiny_args(), "--epochs", "1", "--out", str(run), "--force"]) == 0
    assert (run / "checkpoint.pt").is_file()
    assert (run / "final.json").read_bytes() != before["final.json"]     # trained again


def _corrupt(kind: str, path):
    if kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return "truncated or not a torch checkpoint"
    if kind == "not a checkpoint":
        torch.save([1, 2, 3], path)
        return "not an mnas checkpoint (no 'model' state dict)"
    if kind == "text":
        path.write_text("hello\n")
        return "truncated or not a torch checkpoint"
    state = torch.load(path, weights_only=False)
    if kind == "missing weight":
        del state["model"]["stem.conv.weight"]
        message = "entries 1 missing (first 'stem.conv.weight')"
    elif kind == "wrong shape":
        state["model"]["stem.conv.weight"] = torch.zeros(1, 2, 3, 3)
        message = "1 of another shape (first 'stem.conv.weight': [1, 2, 3, 3]"
    elif kind == "no optimizer":
        del state["optimizers"]
        message = "incomplete checkpoint, no 'optimizers' entry"
    else:
        state["optimizers"] = [{"state": {}, "param_groups": []}]
        message = "the optimizer state does not fit this run"
    torch.save(state, path)
    return message


@pytest.mark.parametrize("kind", ["truncated", "not a checkpoint", "text", "missing weight",
                                  "wrong shape", "no optimizer", "bad optimizer"])
def test_every_bad_checkpoint_is_one_line(interrupted, tmp_path, capsys, kind):
    run = tmp_path / "run"
    shutil.copytree(interrupted, run)
    message = _corrupt(kind, run / "checkpoint.pt")
    args = [*tiny_args(), "--epochs", "2", "--out", str(run), "--resume", "--device", "cpu"]
    assert main(args) == 1
    line = _one_line_error(capsys)
    assert f"{run / 'checkpoint.pt'}: " in line and message in line, line


def test_resume_continues_after_the_checkpoint_and_keeps_the_first_epochs_rows(interrupted,
                                                                               tmp_path):
    """If --resume trained from epoch 1 again, epoch 1 would be reported again and its row
    (with its wall time to the millisecond) would be rewritten."""
    run = tmp_path / "run"
    shutil.copytree(interrupted, run)
    first_row = (run / "metrics.csv").read_text().splitlines()[1]
    seen = []
    result = train(tiny_spec(), small_digits(), epochs=2, batch_size=64, optimizer="adam",
                   lr=0.005, device="cpu", out=run, resume=True, on_epoch=seen.append)
    assert [m.epoch for m in seen] == [2]
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[1] == first_row and rows[2].startswith("2,") and len(rows) == 3
    assert [m.epoch for m in result.history] == [1, 2]
