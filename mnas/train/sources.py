"""Where a split's images come from: `TensorSource` (in memory, augmented on whole batches)
or `FolderSource` (image files decoded on demand by DataLoader workers). Both yield
(images, labels) for the batches they are given."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from mnas.train import transforms as T
from mnas.train.batches import Batch
from mnas.train.datasets import DataError


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
