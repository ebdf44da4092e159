"""Image augmentation with plain torch ops (torchvision stays optional). Randomness always
comes from an explicit `torch.Generator`, so a batch's augmentation depends only on the seed,
the epoch and the batch, and a resumed run sees the same images as an uninterrupted one.

Batched transforms work on (N, C, H, W) tensors; per-image ones (the ImageNet crops, used by
the folder loader's workers) on (C, H, W) uint8 tensors."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)


def normalize(x: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 (0..255) or float (0..1) images -> float, channel-wise (x - mean) / std."""
    return Normalizer(mean, std, x.device)(x)


class Normalizer:
    """`normalize` with the mean and std already on the device (the loop calls it per
    batch; building them each time would copy two small tensors to the GPU per step)."""

    def __init__(self, mean, std, device):
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float().div_(255) if x.dtype == torch.uint8 else x.float()
        return (x - self.mean) / self.std


def random_crop_flip(x: torch.Tensor, pad: int, gen: torch.Generator,
                     flip: bool = True) -> torch.Tensor:
    """The usual CIFAR augmentation for a whole batch: zero-pad by `pad`, take a random crop of
    the original size per image, and mirror half of the images left-right."""
    return crop_flip(x, pad, *crop_flip_draws(len(x), pad, gen, flip))


def crop_flip_draws(n: int, pad: int, gen: torch.Generator, flip: bool = True):
    """The random part of `random_crop_flip` for `n` images, on the CPU: row and column
    offsets in 0..2 pad, and which images to mirror (None without flipping)."""
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    mirror = torch.rand(n, generator=gen) < 0.5 if flip else None
    return dy, dx, mirror


def crop_flip(x: torch.Tensor, pad: int, dy: torch.Tensor, dx: torch.Tensor,
              mirror: torch.Tensor | None) -> torch.Tensor:
    """The crops and flips that `crop_flip_draws` chose, applied on x's device (the draws
    may already be there: then nothing crosses the bus)."""
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy, dx = dy.to(x.device), dx.to(x.device)
    cols = dx[:, None] + torch.arange(w, device=x.device)[None, :]
    if mirror is not None:
        cols = torch.where(mirror.to(x.device)[:, None], cols.flip(1), cols)
    rows = dy[:, None] + torch.arange(h, device=x.device)[None, :]
    idx_n = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


def resized_crop_box(h: int, w: int, gen: torch.Generator, scale=(0.08, 1.0),
                     ratio=(3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a random crop covering `scale` of the area with an aspect
    ratio in `ratio` (log-uniform), as in Inception/XNOR-Net training; after 10 misses, the
    largest centred crop within the ratio range."""
    area = h * w
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        u = torch.rand(2, generator=gen).tolist()
        target = area * (scale[0] + (scale[1] - scale[0]) * u[0])
        aspect = math.exp(log_lo + (log_hi - log_lo) * u[1])
        cw = round(math.sqrt(target * aspect))
        ch = round(math.sqrt(target / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(torch.randint(0, h - ch + 1, (1,), generator=gen))
            left = int(torch.randint(0, w - cw + 1, (1,), generator=gen))
            return top, left, ch, cw
    in_ratio = w / h
    if in_ratio < ratio[0]:
        cw, ch = w, round(w / ratio[0])
    elif in_ratio > ratio[1]:
        ch, cw = h, round(h * ratio[1])
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def resize(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(C, H, W) uint8 -> (C, *size) uint8, bilinear with antialiasing when shrinking."""
    if tuple(img.shape[1:]) == tuple(size):
        return img
    out = F.interpolate(img[None].float(), size=size, mode="bilinear", align_corners=False,
                        antialias=True)[0]
    return out.round_().clamp_(0, 255).to(torch.uint8)


def random_resized_crop_flip(img: torch.Tensor, size: tuple[int, int],
                             gen: torch.Generator) -> torch.Tensor:
    """ImageNet training augmentation of one (C, H, W) image: random resized crop, then a
    left-right flip with probability 1/2."""
    top, left, ch, cw = resized_crop_box(img.shape[1], img.shape[2], gen)
    out = resize(img[:, top:top + ch, left:left + cw], size)
    if float(torch.rand(1, generator=gen)) < 0.5:
        out = out.flip(2)
    return out


def center_crop(img: torch.Tensor, size: tuple[int, int],
                crop_fraction: float = 0.875) -> torch.Tensor:
    """ImageNet evaluation: resize the shorter side to size / 0.875, take the centre crop."""
    h, w = img.shape[1:]
    th, tw = size
    short = round(max(th, tw) / crop_fraction)
    scale = short / min(h, w)
    nh, nw = max(th, round(h * scale)), max(tw, round(w * scale))
    img = resize(img, (nh, nw))
    top, left = (nh - th) // 2, (nw - tw) // 2
    return img[:, top:top + th, left:left + tw]
