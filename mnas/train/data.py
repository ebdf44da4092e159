"""Training data: where images come from (`Source`s) and how one epoch is cut into batches
(`epoch_batches`), shared by every backend.

Names accepted by `open_data` (and `--data`):
  digits            scikit-learn's bundled 8x8 digits, resized to the spec's input size and
                    channels; a fixed stratified 80/20 train/val split (quick runs, tests)
  cifar10[:DIR]     the CIFAR-10 python-pickle batches (DIR/cifar-10-batches-py, default DIR
                    data/); crop + flip augmentation
  cifar100[:DIR]    the same for CIFAR-100 (DIR/cifar-100-python), fine labels
  folder:PATH       ImageNet-style folders PATH/train/<class>/*.jpg and PATH/val/<class>/...;
                    random resized crop + flip, centre crop for validation, decoded with PIL

Every random choice (order, augmentation) comes from a generator seeded by (seed, epoch,
step), so an epoch's data does not depend on what ran before it: a resumed run sees exactly
the batches an uninterrupted one would have."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from mnas.errors import MnasError, suggest
from mnas.train import transforms as T

log = logging.getLogger(__name__)

DATASETS = ("digits", "cifar10", "cifar100", "folder")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp", ".tif", ".tiff")
CIFAR_URLS = {"cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
              "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"}
CIFAR_DIRS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


class DataError(MnasError):
    """Data cannot be found or read, or does not fit the network."""


@dataclass(frozen=True)
class Batch:
    """One step's share of the data for this process: dataset indices and the seed its
    augmentation draws from."""

    indices: torch.Tensor
    seed: int


class TensorSource:
    """A split held in memory as one (N, C, H, W) tensor (uint8 0..255 or float 0..1) and its
    labels; augmentation runs on whole batches. `augment`: None, 'crop' or 'crop-flip'."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, augment: str | None = None,
                 pad: int = 4):
        if images.dim() != 4 or len(images) != len(labels):
            raise ValueError("images must be (N, C, H, W) with one label each")
        self.images, self.labels = images, labels.long()
        self.augment, self.pad = augment, pad

    def __len__(self) -> int:
        return len(self.labels)

    def iterate(self, batches: Sequence[Batch], train: bool, workers: int = 0) -> Iterator:
        for batch in batches:
            x = self.images[batch.indices]
            if train and self.augment:
                gen = torch.Generator().manual_seed(batch.seed)
                x = T.random_crop_flip(x, self.pad, gen, flip=self.augment == "crop-flip")
            yield x, self.labels[batch.indices]


class _FolderItems(torch.utils.data.Dataset):
    """(index, seed) pairs -> decoded, cropped uint8 images; runs in DataLoader workers."""

    def __init__(self, files: Sequence[str], labels: torch.Tensor, size: tuple[int, int],
                 channels: int, pairs: list[tuple[int, int]], train: bool):
        self.files, self.labels, self.size, self.channels = files, labels, size, channels
        self.pairs, self.train = pairs, train

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int):
        index, seed = self.pairs[i]
        img = decode_image(self.files[index], self.channels)
        if self.train:
            img = T.random_resized_crop_flip(img, self.size, torch.Generator().manual_seed(seed))
        else:
            img = T.center_crop(img, self.size)
        return img, self.labels[index]


class FolderSource:
    """A split of image files decoded on demand (PIL) by `workers` DataLoader processes."""

    def __init__(self, files: Sequence[str], labels: torch.Tensor, size: tuple[int, int],
                 channels: int):
        self.files, self.labels = list(files), labels.long()
        self.size, self.channels = size, channels

    def __len__(self) -> int:
        return len(self.labels)

    def iterate(self, batches: Sequence[Batch], train: bool, workers: int = 0) -> Iterator:
        pairs, sizes = [], []
        for batch in batches:
            idx = batch.indices.tolist()
            pairs += [(j, (batch.seed * 1_000_003 + k) % 2**63) for k, j in enumerate(idx)]
            sizes.append(len(idx))
        items = _FolderItems(self.files, self.labels, self.size, self.channels, pairs, train)
        sampler = _Chunks(sizes)
        loader = torch.utils.data.DataLoader(items, batch_sampler=sampler, num_workers=workers,
                                             persistent_workers=False)
        yield from loader


class _Chunks(torch.utils.data.Sampler):
    """Consecutive runs of the given lengths: batch k is items [sum(sizes[:k]), ...)."""

    def __init__(self, sizes: list[int]):
        self.sizes = sizes

    def __len__(self) -> int:
        return len(self.sizes)

    def __iter__(self):
        start = 0
        for n in self.sizes:
            yield list(range(start, start + n))
            start += n


def decode_image(path: str, channels: int) -> torch.Tensor:
    """One image file -> (C, H, W) uint8 via PIL (RGB, or L for one channel)."""
    try:
        from PIL import Image
    except ImportError:
        raise DataError("folder data needs Pillow to decode images: pip install pillow") from None
    import numpy as np
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("L" if channels == 1 else "RGB"))
    except OSError as err:
        raise DataError(f"{path}: cannot decode image: {err}") from None
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


@dataclass(frozen=True)
class Data:
    """A dataset ready for training: its splits, class count, image shape (what the network's
    input must be) and the normalisation the loop applies on the device."""

    name: str
    classes: int
    shape: tuple[int, int, int]
    train: TensorSource | FolderSource
    val: TensorSource | FolderSource
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...] = field(default=(), compare=False)


# -- epochs -> batches ------------------------------------------------------------------------

def batch_seed(seed: int, epoch: int, step: int, rank: int = 0) -> int:
    return (((seed * 1_000_003 + epoch) * 100_003 + step) * 1_009 + rank) % 2**63


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Training drops the last partial batch (a batch smaller than the rest gives a noisier
    step, and DDP needs every rank to have samples); a split smaller than one batch is one."""
    return max(1, n // batch_size)


def epoch_batches(n: int, batch_size: int, epoch: int, seed: int, rank: int = 0,
                  world: int = 1) -> list[Batch]:
    """This rank's training batches for `epoch`: a seeded permutation cut into global batches
    of `batch_size`, each split across the `world` ranks (rank r takes every world-th sample)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(batch_seed(seed, epoch, 0)))
    size = min(batch_size, n)
    return [Batch(perm[s * size:(s + 1) * size][rank::world], batch_seed(seed, epoch, s + 1, rank))
            for s in range(steps_per_epoch(n, batch_size))]


def eval_batches(n: int, batch_size: int, rank: int = 0, world: int = 1) -> list[Batch]:
    """Every sample exactly once over all ranks (no padding, so metrics are exact)."""
    idx = torch.arange(rank, n, world)
    return [Batch(idx[s:s + batch_size], 0) for s in range(0, len(idx), batch_size)]


# -- datasets ---------------------------------------------------------------------------------

def parse_name(name: str) -> tuple[str, str | None]:
    kind, _, arg = name.partition(":")
    kind = kind.strip().lower()
    if kind not in DATASETS:
        raise DataError(f"--data: unknown dataset '{name}'{suggest(kind, DATASETS)}; choose "
                        f"from digits, cifar10[:DIR], cifar100[:DIR], folder:PATH")
    if kind == "folder" and not arg:
        raise DataError("--data folder:PATH needs the folder (with train/ and val/ inside)")
    if kind == "digits" and arg:
        raise DataError("--data digits takes no path (the data ships with scikit-learn)")
    return kind, arg or None


def prepare_data(name: str, download: bool = False) -> None:
    """Check that the data is there (downloading CIFAR when asked) before any worker starts,
    so a missing dataset is one error in one process and DDP ranks never download at once."""
    kind, arg = parse_name(name)
    if kind == "digits":
        try:
            import sklearn.datasets  # noqa: F401
        except ImportError:
            raise DataError("--data digits needs scikit-learn: pip install scikit-learn") from None
    elif kind in CIFAR_DIRS:
        root = Path(arg or "data")
        if _find_cifar_dir(kind, root) is None:
            if download:
                _download_cifar(kind, root)
            if _find_cifar_dir(kind, root) is None:
                raise DataError(
                    f"{kind} not found in {root}/ (expected {root / CIFAR_DIRS[kind]}/); pass "
                    f"--download (needs torchvision) or download {CIFAR_URLS[kind]} and unpack "
                    f"it there")
    else:
        for split in ("train", "val"):
            if not (Path(arg) / split).is_dir():
                raise DataError(f"{Path(arg) / split}: missing (folder data needs train/ and "
                                f"val/ subfolders, one folder per class inside each)")


def count_classes(name: str) -> int:
    """The class count of a dataset without loading it (for checks before DDP starts)."""
    kind, arg = parse_name(name)
    if kind in ("digits", "cifar10"):
        return 10
    if kind == "cifar100":
        return 100
    return sum(1 for d in (Path(arg) / "train").iterdir() if d.is_dir())


def open_data(name: str, input_shape: Sequence[int], download: bool = False) -> Data:
    """The dataset `name` shaped for a network whose input is `input_shape` (C, H, W)."""
    kind, arg = parse_name(name)
    if len(input_shape) != 3:
        raise DataError(f"the network's input {list(input_shape)} is not an image shape (C, H, W)")
    shape = tuple(int(s) for s in input_shape)
    if kind == "digits":
        return digits(shape)
    if kind in CIFAR_DIRS:
        return cifar(kind, Path(arg or "data"), shape, download)
    return folder(Path(arg), shape)


def digits(shape: tuple[int, int, int], val_fraction: float = 0.2) -> Data:
    """scikit-learn's 1797 8x8 digits (0..16 grey levels), bilinearly resized to the input
    size, replicated to its channels; the stratified split is fixed (random_state 0)."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise DataError("--data digits needs scikit-learn: pip install scikit-learn") from None
    import numpy as np
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
    return Data("digits", 10, shape, TensorSource(xt, y[torch.as_tensor(tr)], "crop", pad),
                TensorSource(x[torch.as_tensor(va)], y[torch.as_tensor(va)]), mean, std,
                tuple(str(i) for i in range(10)))


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


def read_cifar_batch(path: Path, label_key: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One python-pickle batch -> (N, 3, 32, 32) uint8 images and labels."""
    import numpy as np
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
    return Data(kind, classes, shape, TensorSource(xt, yt, "crop-flip", 4), TensorSource(xv, yv),
                mean, std, names)


def _cifar_names(path: Path, key: bytes) -> tuple[str, ...]:
    try:
        with open(path, "rb") as f:
            return tuple(n.decode() for n in pickle.load(f, encoding="bytes")[key])
    except Exception:  # the names are cosmetic; a missing meta file is fine
        return ()


def _scan(split_dir: Path, classes: list[str] | None) -> tuple[list[str], list[int], list[str]]:
    if not split_dir.is_dir():
        raise DataError(f"{split_dir}: missing (folder data needs train/ and val/ subfolders, "
                        f"one folder per class inside each)")
    found = sorted(d.name for d in split_dir.iterdir() if d.is_dir())
    if classes is None:
        classes = found
    unknown = [c for c in found if c not in classes]
    if unknown:
        raise DataError(f"{split_dir / unknown[0]}: class '{unknown[0]}' is not in train/")
    files, labels = [], []
    for label, name in enumerate(classes):
        d = split_dir / name
        if not d.is_dir():
            continue
        for p in sorted(d.rglob("*")):
            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
                files.append(str(p))
                labels.append(label)
    return files, labels, classes


def folder(root: Path, shape: tuple[int, int, int]) -> Data:
    c, h, w = shape
    if c not in (1, 3):
        raise DataError(f"folder data gives 1 (grey) or 3 (RGB) channels, but the network's "
                        f"input has {c}")
    tr_files, tr_labels, classes = _scan(root / "train", None)
    if not classes or not tr_files:
        raise DataError(f"{root / 'train'}: no images found in class folders "
                        f"({', '.join(IMAGE_SUFFIXES)})")
    va_files, va_labels, _ = _scan(root / "val", classes)
    if not va_files:
        raise DataError(f"{root / 'val'}: no images found in class folders")
    mean = T.IMAGENET_MEAN if c == 3 else (0.449,)
    std = T.IMAGENET_STD if c == 3 else (0.226,)
    return Data(f"folder:{root}", len(classes), shape,
                FolderSource(tr_files, torch.tensor(tr_labels), (h, w), c),
                FolderSource(va_files, torch.tensor(va_labels), (h, w), c), mean, std,
                tuple(classes))
