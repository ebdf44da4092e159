"""Augmentations written with torch ops: they move pixels exactly as described, and a seed
fixes them."""

import torch

from mnas.train import transforms as T


def _images(n=6, c=3, h=8, w=8):
    return torch.arange(n * c * h * w, dtype=torch.float32).reshape(n, c, h, w) + 1


def test_crop_without_padding_or_flip_is_identity():
    x = _images()
    assert torch.equal(T.random_crop_flip(x, 0, torch.Generator().manual_seed(1), flip=False), x)


def test_crop_flip_output_is_a_window_of_the_padded_image():
    x = _images(n=16)
    out = T.random_crop_flip(x, 2, torch.Generator().manual_seed(3))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    flips = 0
    for i in range(len(x)):
        windows = [(dy, dx, f) for dy in range(5) for dx in range(5) for f in (False, True)
                   if torch.equal(out[i], (padded[i, :, dy:dy + 8, dx:dx + 8].flip(2) if f else
                                           padded[i, :, dy:dy + 8, dx:dx + 8]))]
        assert len(windows) == 1, i
        flips += windows[0][2]
    assert 0 < flips < len(x)
    again = T.random_crop_flip(x, 2, torch.Generator().manual_seed(3))
    assert torch.equal(out, again)


def test_normalize_uint8_and_float_agree():
    x = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    a = T.normalize(x, (0.5, 0.4, 0.3), (0.2, 0.2, 0.25))
    b = T.normalize(x.float() / 255, (0.5, 0.4, 0.3), (0.2, 0.2, 0.25))
    assert torch.allclose(a, b)
    assert torch.allclose(a[:, 1], (x[:, 1].float() / 255 - 0.4) / 0.2)


def test_resized_crop_box_stays_inside_and_covers_the_scale():
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        top, left, h, w = T.resized_crop_box(60, 90, gen)
        assert 0 <= top and top + h <= 60 and 0 <= left and left + w <= 90
        assert 0.07 * 60 * 90 <= h * w <= 60 * 90


def test_random_resized_crop_flip_and_center_crop_sizes():
    img = torch.randint(0, 256, (3, 50, 70), dtype=torch.uint8)
    gen = torch.Generator().manual_seed(0)
    assert T.random_resized_crop_flip(img, (24, 32), gen).shape == (3, 24, 32)
    out = T.center_crop(img, (16, 16))
    assert out.shape == (3, 16, 16) and out.dtype == torch.uint8


def test_center_crop_takes_the_middle():
    # shorter side already size / 0.875: no resize, just the centre
    img = torch.zeros(1, 32, 40, dtype=torch.uint8)
    img[:, 2:30, 6:34] = 200
    out = T.center_crop(img, (28, 28))
    assert torch.all(out == 200)


def test_resize_of_a_flat_image_keeps_its_colour():
    img = torch.full((3, 40, 30), 77, dtype=torch.uint8)
    assert torch.all(T.resize(img, (9, 13)) == 77)
