"""The teacher of knowledge distillation (`--teacher`), a trained network frozen in eval mode:

- a run folder of `mnas train` (its final.pt) or a checkpoint it wrote (best.pt, final.pt):
  the network is rebuilt from the spec, values and input recorded in the checkpoint;
- a spec (a bundled name or a YAML file) with `--teacher-weights FILE` (a state dict, or a
  checkpoint dict with a 'model' entry), its class count fitted to the data as for training.

The teacher must take the student's input shape and end in the data's class count. Every
problem with it is one line naming the teacher."""

from __future__ import annotations

from pathlib import Path

from mnas.errors import MnasError
from mnas.train import checkpoint as ckpt


class TeacherError(MnasError):
    """The teacher cannot be built, loaded or does not fit the student's data."""


def _is_spec(text: str) -> bool:
    return Path(text).suffix.lower() in (".yaml", ".yml") or (
        not Path(text).exists() and "/" not in text)


def load_teacher(teacher: str, weights: str | None, data, device):
    """The frozen teacher module on `device` (its digest goes into the run's fingerprint)."""
    from mnas.spec.load import load_spec
    state = None
    if _is_spec(teacher):
        if not weights:
            raise TeacherError(f"--teacher {teacher}: a spec needs trained weights: add "
                               f"--teacher-weights FILE, or give a checkpoint or run folder "
                               f"of `mnas train`")
        spec = load_spec(teacher)
        state = _weights(weights)
    else:
        path = Path(teacher)
        if path.is_dir():
            path = path / ckpt.FINAL
            if not path.is_file():
                raise TeacherError(f"--teacher {teacher}: no {ckpt.FINAL} in this folder (a "
                                   f"finished `mnas train` run has one)")
        saved = ckpt.load(path)
        if weights:
            raise TeacherError(f"--teacher-weights: the checkpoint {path} holds the teacher's "
                               f"weights already")
        if "spec" not in saved:
            raise TeacherError(f"--teacher {teacher}: the checkpoint does not say which spec it "
                               f"belongs to (not written by `mnas train`); give "
                               f"--teacher SPEC --teacher-weights {teacher}")
        spec = load_spec(saved["spec"])
        values = {k: v for k, v in (saved.get("values") or {}).items() if k in spec.settable()}
        if saved.get("input"):
            values["input"] = list(saved["input"])
        spec = spec.with_values(values, origin="teacher checkpoint")
        state = saved["model"]
    if tuple(spec.input) != tuple(data.shape):
        raise TeacherError(f"--teacher {teacher}: its input is {list(spec.input)} but the "
                           f"student's is {list(data.shape)}")
    spec, graph = _fit_classes(spec, data, teacher)
    from mnas.train.network import lower
    module = lower(graph)
    ckpt.restore_module(module, state, teacher)
    module.eval().requires_grad_(False)
    return module.to(device)


def _fit_classes(spec, data, teacher: str):
    from mnas.spec.expand import build_graph
    from mnas.train.network import output_classes
    graph = build_graph(spec)
    classes = output_classes(graph)
    if classes != data.classes and "classes" in spec.settable():
        spec = spec.with_values({"classes": data.classes}, origin="data")
        graph = build_graph(spec)
        classes = output_classes(graph)
    if classes != data.classes:
        raise TeacherError(f"--teacher {teacher}: it ends in {classes} outputs but {data.name} "
                           f"has {data.classes} classes")
    return spec, graph


def _weights(path: str) -> dict:
    import torch
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise TeacherError(f"--teacher-weights {path}: no such file") from None
    except Exception as err:
        raise TeacherError(f"--teacher-weights {path}: cannot read it ({type(err).__name__}: "
                           f"{str(err).splitlines()[0] if str(err) else ''})") from None
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict):
        raise TeacherError(f"--teacher-weights {path}: not a state dict or checkpoint")
    return obj
