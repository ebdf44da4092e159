"""`--data digits`: scikit-learn's bundled 8x8 digits, resized to the spec's input size and
channels; a fixed stratified 80/20 train/val split (quick runs, tests)."""

from __future__ import annotations

from mnas.train.datasets import Data, DataError, DatasetDef, register_dataset


def _prepare(arg, download: bool) -> None:
    try:
        import sklearn.datasets  # noqa: F401
    except ImportError:
        raise DataError("--data digits needs scikit-learn: pip install scikit-learn") from None


def digits(shape: tuple[int, int, int], val_fraction: float = 0.2) -> Data:
    """scikit-learn's 1797 8x8 digits (0..16 grey levels), bilinearly resized to the input
    size, replicated to its channels; the stratified split is fixed (random_state 0)."""
    import torch
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise DataError("--data digits needs scikit-learn: pip install scikit-learn") from None
    import numpy as np
    from mnas.train import sources
    bunch = load_digits()
    idx = np.arange(len(bunch.target))
    tr, va = train_test_split(idx, test_size=val_fraction, stratify=bunch.target, random_state=0)
    c, h, w = shape
    x = torch.as_tensor(bunch.images, dtype=torch.float32)[:, None] / 16.0
    if (h, w) != (8, 8):
        x = torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    x = x.clamp_(0, 1).expand(-1, c, -1, -1).contiguous()
    y = torch.as_tensor(bunch.target, dtype=torch.long)
    xt = x[torch.as_tensor(tr)]
    mean = tuple(float(m) for m in xt.mean(dim=(0, 2, 3)))
    std = tuple(float(s) for s in xt.std(dim=(0, 2, 3)))
    pad = max(1, h // 16)
    return Data("digits", 10, shape, sources.TensorSource(xt, y[torch.as_tensor(tr)], "crop", pad),
                sources.TensorSource(x[torch.as_tensor(va)], y[torch.as_tensor(va)]), mean, std,
                tuple(str(i) for i in range(10)))


DIGITS = register_dataset(DatasetDef(
    "digits", "digits", "scikit-learn's bundled 8x8 digits, resized to the network's input",
    prepare=_prepare, classes=lambda arg: 10,
    open=lambda arg, shape, download: digits(shape)))
