"""`--data synthetic[:N]`: N random images (default 1280) of the network's input shape with
random labels of 1000 classes, and N/10 for validation; fixed by seed 0, held in memory (on
the GPU when it fits) and augmented with crop + flip like CIFAR. Nothing is learnable: it
measures how fast a network trains on a machine (`benchmarks/train_gpu.py`), as `--synthetic`
does in other training scripts."""

from __future__ import annotations

from mnas.train.datasets import Data, DataError, DatasetDef, register_dataset

CLASSES = 1000
DEFAULT_IMAGES = 1280
MAX_BYTES = 8 * 2**30


def _count(arg: str | None) -> int:
    try:
        n = int(arg) if arg else DEFAULT_IMAGES
    except ValueError:
        raise DataError(f"--data synthetic:{arg}: N must be a whole number of images") from None
    if n < 1:
        raise DataError(f"--data synthetic:{arg}: N must be >= 1")
    return n


def synthetic(n: int, shape: tuple[int, int, int]) -> Data:
    import torch
    from mnas.train import sources
    n_val = max(1, n // 10)
    if (n + n_val) * shape[0] * shape[1] * shape[2] > MAX_BYTES:
        raise DataError(f"--data synthetic:{n}: {n + n_val} images of {list(shape)} would take "
                        f"more than {MAX_BYTES // 2**30} GiB; use fewer")
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n + n_val, *shape), generator=gen, dtype=torch.uint8)
    labels = torch.randint(0, CLASSES, (n + n_val,), generator=gen)
    return Data("synthetic", CLASSES, shape,
                sources.TensorSource(images[:n], labels[:n], "crop-flip", 4),
                sources.TensorSource(images[n:], labels[n:]),
                (0.5,) * shape[0], (0.2887,) * shape[0])   # uniform 0..1


SYNTHETIC = register_dataset(DatasetDef(
    "synthetic", "synthetic[:N]", f"N random images (default {DEFAULT_IMAGES}) with random "
    f"labels of {CLASSES} classes, for speed measurements",
    prepare=lambda arg, download: _count(arg), classes=lambda arg: CLASSES,
    open=lambda arg, shape, download: synthetic(_count(arg), shape), arg="optional"))
