"""Where a split's images come from: `TensorSource` (in memory, augmented on whole batches;
a small one is moved to the GPU once, so batches never cross the bus) or `FolderSource`
(image files decoded on demand by DataLoader workers that live as long as the source, with
pinned host memory for fast copies to a GPU). Both yield (images, labels) for the batches
they are given."""

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

    @property
    def nbytes(self) -> int:
        return (self.images.numel() * self.images.element_size()
                + self.labels.numel() * self.labels.element_size())

    def to(self, device) -> TensorSource:
        """The same split held on `device`."""
        return TensorSource(self.images.to(device), self.labels.to(device), self.augment,
                            self.pad)

    def iterate(self, batches: Sequence[Batch], train: bool, workers: int = 0,
                pin: bool = False) -> Iterator:
        augment = bool(train and self.augment)
        flip = self.augment == "crop-flip"
        device = self.images.device
        if device.type == "cpu":
            plan = ((b.indices, _draws(b, self.pad, flip) if augment else None) for b in batches)
        else:
            plan = zip(*pass_plan(batches, augment, self.pad, flip, device))
        for idx, draws in plan:
            x = self.images[idx]
            if draws is not None:
                x = T.crop_flip(x, self.pad, *draws)
            yield x, self.labels[idx]


def _draws(batch: Batch, pad: int, flip: bool):
    return T.crop_flip_draws(len(batch.indices), pad, torch.Generator().manual_seed(batch.seed),
                             flip)


def pass_plan(batches: Sequence[Batch], augment: bool, pad: int, flip: bool, device):
    """(indices per batch, augmentation draws per batch or Nones), on `device`, made with one
    copy per kind for the whole pass (from pinned memory on a GPU): a copy from pageable
    memory per step would wait for the GPU to finish the step before, so the host could never
    run ahead of it. The draws are those each batch's own seed gives."""
    if not batches:
        return [], []
    sizes = [len(b.indices) for b in batches]
    idx = _to_device(torch.cat([b.indices for b in batches]), device).split(sizes)
    if not augment:
        return list(idx), [None] * len(batches)
    draws = [_draws(b, pad, flip) for b in batches]
    kinds = [_to_device(torch.cat([d[k] for d in draws]), device).split(sizes)
             for k in range(3 if flip else 2)]
    return list(idx), [(kinds[0][i], kinds[1][i], kinds[2][i] if flip else None)
                       for i in range(len(batches))]


def _to_device(t: torch.Tensor, device) -> torch.Tensor:
    if torch.device(device).type == "cuda":
        t = t.pin_memory()
    return t.to(device, non_blocking=True)


def held_on_device(source, device, free_bytes: int):
    """`source` moved to `device` when it is a `TensorSource` that takes at most a quarter of
    `free_bytes`; otherwise `source` as it is."""
    if isinstance(source, TensorSource) and source.nbytes <= free_bytes // 4:
        return source.to(device)
    return source


class _FolderItems(torch.utils.data.Dataset):
    """(index, seed, train) -> a decoded, cropped uint8 image and its label; runs in
    DataLoader workers."""

    def __init__(self, files: Sequence[str], labels: torch.Tensor, size: tuple[int, int],
                 channels: int):
        self.files, self.labels, self.size, self.channels = files, labels, size, channels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, item: tuple[int, int, bool]):
        index, seed, train = item
        img = decode_image(self.files[index], self.channels)
        if train:
            img = T.random_resized_crop_flip(img, self.size, torch.Generator().manual_seed(seed))
        else:
            img = T.center_crop(img, self.size)
        return img, self.labels[index]


class _Plan(torch.utils.data.Sampler):
    """The batches of the current pass, replaced before each pass: a DataLoader with
    persistent workers keeps its sampler object, and takes a fresh iterator of it per pass."""

    def __init__(self):
        self.batches: list[list[tuple[int, int, bool]]] = []

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


class FolderSource:
    """A split of image files decoded on demand (PIL) by `workers` DataLoader processes,
    started once and kept for every later pass (persistent workers)."""

    def __init__(self, files: Sequence[str], labels: torch.Tensor, size: tuple[int, int],
                 channels: int):
        self.files, self.labels = list(files), labels.long()
        self.size, self.channels = size, channels
        self._loader = None
        self._loader_key = None
        self._plan = _Plan()

    def __len__(self) -> int:
        return len(self.labels)

    def __getstate__(self):
        return {**self.__dict__, "_loader": None, "_loader_key": None}

    def _loader_for(self, workers: int, pin: bool):
        if self._loader is None or self._loader_key != (workers, pin):
            items = _FolderItems(self.files, self.labels, self.size, self.channels)
            self._loader = torch.utils.data.DataLoader(
                items, batch_sampler=self._plan, num_workers=workers, pin_memory=pin,
                persistent_workers=workers > 0, prefetch_factor=4 if workers else None)
            self._loader_key = (workers, pin)
        return self._loader

    def iterate(self, batches: Sequence[Batch], train: bool, workers: int = 0,
                pin: bool = False) -> Iterator:
        loader = self._loader_for(workers, pin)
        self._plan.batches = [[(j, (b.seed * 1_000_003 + k) % 2**63, train)
                               for k, j in enumerate(b.indices.tolist())] for b in batches]
        yield from loader


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
