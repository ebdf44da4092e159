"""`--data folder:PATH`: ImageNet-style folders PATH/train/<class>/*.jpg and
PATH/val/<class>/...; random resized crop + flip, centre crop for validation, decoded with
PIL."""

from __future__ import annotations

from pathlib import Path

from mnas.train.datasets import Data, DataError, DatasetDef, register_dataset

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp", ".tif", ".tiff")


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
    import torch
    from mnas.train import sources
    from mnas.train import transforms as T
    mean = T.IMAGENET_MEAN if c == 3 else (0.449,)
    std = T.IMAGENET_STD if c == 3 else (0.226,)
    return Data(f"folder:{root}", len(classes), shape,
                sources.FolderSource(tr_files, torch.tensor(tr_labels), (h, w), c),
                sources.FolderSource(va_files, torch.tensor(va_labels), (h, w), c), mean, std,
                tuple(classes))


def _prepare(arg, download: bool) -> None:
    for split in ("train", "val"):
        if not (Path(arg) / split).is_dir():
            raise DataError(f"{Path(arg) / split}: missing (folder data needs train/ and "
                            f"val/ subfolders, one folder per class inside each)")


FOLDER = register_dataset(DatasetDef(
    "folder", "folder:PATH", "class folders under PATH/train and PATH/val (ImageNet layout)",
    prepare=_prepare,
    classes=lambda arg: sum(1 for d in (Path(arg) / "train").iterdir() if d.is_dir()),
    open=lambda arg, shape, download: folder(Path(arg), shape), arg="required"))
