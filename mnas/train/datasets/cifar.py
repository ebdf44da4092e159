"""`--data cifar10[:DIR]` and `cifar100[:DIR]`: the CIFAR python-pickle batches
(DIR/cifar-10-batches-py or DIR/cifar-100-python, default DIR data/; fine labels for
CIFAR-100); crop + flip augmentation."""

from __future__ import annotations

import pickle
from pathlib import Path

from mnas.train.datasets import Data, DataError, DatasetDef, register_dataset

CIFAR_URLS = {"cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
              "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"}
CIFAR_DIRS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


def _find_cifar_dir(kind: str, root: Path) -> Path | None:
    marker = "data_batch_1" if kind == "cifar10" else "train"
    for d in (root / CIFAR_DIRS[kind], root):
        if (d / marker).is_file():
            return d
    return None


def _download_cifar(kind: str, root: Path) -> None:
    try:
        import torchvision.datasets as tvd
    except ImportError:
        raise DataError(
            f"--download needs torchvision, which is not installed. Get {kind} by hand: download "
            f"{CIFAR_URLS[kind]} and unpack it into {root}/ (giving {root / CIFAR_DIRS[kind]}/), "
            f"e.g. mkdir -p {root} && curl -L {CIFAR_URLS[kind]} | tar xz -C {root}") from None
    cls = tvd.CIFAR10 if kind == "cifar10" else tvd.CIFAR100
    for train in (True, False):
        cls(str(root), train=train, download=True)


def read_cifar_batch(path: Path, label_key: str):
    """One python-pickle batch -> (N, 3, 32, 32) uint8 images and labels."""
    import numpy as np
    import torch
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="bytes")
        data = np.asarray(entry[b"data"], dtype=np.uint8)
        labels = np.asarray(entry[label_key.encode()], dtype=np.int64)
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as err:
        raise DataError(f"{path}: not a CIFAR python batch ({type(err).__name__}: {err})") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DataError(f"{path}: expected N x 3072 image rows with N labels, got data "
                        f"{data.shape} and {len(labels)} labels")
    return torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()), torch.from_numpy(labels)


def cifar(kind: str, root: Path, shape: tuple[int, int, int], download: bool = False) -> Data:
    found = _find_cifar_dir(kind, root)
    if found is None and download:
        _download_cifar(kind, root)
        found = _find_cifar_dir(kind, root)
    if found is None:
        raise DataError(
            f"{kind} not found in {root}/ (expected {root / CIFAR_DIRS[kind]}/); pass "
            f"--download (needs torchvision) or download {CIFAR_URLS[kind]} and unpack it there")
    if shape != (3, 32, 32):
        raise DataError(f"{kind} images are 3x32x32 but the network's input is {list(shape)}; "
                        f"use a 32x32 spec such as specs/meliusnet-cifar.yaml, or "
                        f"--set input=[3,32,32] --set stem=cifar")
    import torch
    from mnas.train import sources
    from mnas.train import transforms as T
    if kind == "cifar10":
        parts = [read_cifar_batch(found / f"data_batch_{i}", "labels") for i in range(1, 6)
                 if (found / f"data_batch_{i}").is_file()]
        xt, yt = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
        xv, yv = read_cifar_batch(found / "test_batch", "labels")
        classes, mean, std = 10, T.CIFAR10_MEAN, T.CIFAR10_STD
        names = _cifar_names(found / "batches.meta", b"label_names")
    else:
        xt, yt = read_cifar_batch(found / "train", "fine_labels")
        xv, yv = read_cifar_batch(found / "test", "fine_labels")
        classes, mean, std = 100, T.CIFAR100_MEAN, T.CIFAR100_STD
        names = _cifar_names(found / "meta", b"fine_label_names")
    for split, y in (("train", yt), ("test", yv)):
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= classes):
            raise DataError(f"{found}: {split} labels outside 0..{classes - 1}")
    return Data(kind, classes, shape, sources.TensorSource(xt, yt, "crop-flip", 4),
                sources.TensorSource(xv, yv),
                mean, std, names)


def _cifar_names(path: Path, key: bytes) -> tuple[str, ...]:
    try:
        with open(path, "rb") as f:
            return tuple(n.decode() for n in pickle.load(f, encoding="bytes")[key])
    except Exception:  # the names are cosmetic; a missing meta file is fine
        return ()


def _prepare(kind: str):
    def prepare(arg, download: bool) -> None:
        root = Path(arg)
        if _find_cifar_dir(kind, root) is None:
            if download:
                _download_cifar(kind, root)
            if _find_cifar_dir(kind, root) is None:
                raise DataError(
                    f"{kind} not found in {root}/ (expected {root / CIFAR_DIRS[kind]}/); pass "
                    f"--download (needs torchvision) or download {CIFAR_URLS[kind]} and unpack "
                    f"it there")
    return prepare


for _kind, _classes in (("cifar10", 10), ("cifar100", 100)):
    register_dataset(DatasetDef(
        _kind, f"{_kind}[:DIR]", f"CIFAR-{_classes} from DIR/{CIFAR_DIRS[_kind]} (default "
        f"data/)", prepare=_prepare(_kind), classes=lambda arg, n=_classes: n,
        open=lambda arg, shape, download, k=_kind: cifar(k, Path(arg), shape, download),
        arg="optional", default_arg="data"))
