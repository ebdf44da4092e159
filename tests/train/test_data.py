"""Loaders read the real on-disk formats (written here in miniature), cut epochs into
deterministic, rank-disjoint batches, and fail with one clear line."""

import pickle

import numpy as np
import pytest
import torch

from mnas.train.batches import epoch_batches, eval_batches, steps_per_epoch
from mnas.train.datasets import DataError, open_data


def _write_batch(path, images, labels, label_key=b"labels"):
    """The CIFAR python format: rows of 3072 bytes (R plane, G plane, B plane), bytes keys."""
    with open(path, "wb") as f:
        pickle.dump({b"data": images.reshape(len(images), -1), label_key: list(labels),
                     b"batch_label": b"test"}, f)


def _cifar10(root, per_batch=3):
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    all_x, all_y = [], []
    for i in range(1, 6):
        x = rng.integers(0, 256, (per_batch, 3, 32, 32), dtype=np.uint8)
        y = rng.integers(0, 10, per_batch)
        _write_batch(d / f"data_batch_{i}", x, y)
        all_x.append(x)
        all_y.append(y)
    xv = rng.integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    _write_batch(d / "test_batch", xv, [9, 0, 1, 2])
    with open(d / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, f)
    return np.concatenate(all_x), np.concatenate(all_y), xv


def test_cifar10_batches_are_read_in_order_with_channels_planar(tmp_path):
    xt, yt, xv = _cifar10(tmp_path)
    data = open_data(f"cifar10:{tmp_path}", (3, 32, 32))
    assert data.classes == 10 and data.class_names[3] == "c3"
    assert len(data.train) == 15 and len(data.val) == 4
    assert torch.equal(data.train.images, torch.from_numpy(xt))
    assert data.train.labels.tolist() == yt.tolist()
    assert data.val.labels.tolist() == [9, 0, 1, 2]
    # the first 1024 bytes of a row are the red plane
    row = xt[0].reshape(-1)
    assert torch.equal(data.train.images[0, 0].reshape(-1), torch.from_numpy(row[:1024]))
    x, y = next(data.val.iterate(eval_batches(4, 4), train=False))
    assert torch.equal(x, torch.from_numpy(xv))
    (x, y), = data.train.iterate(epoch_batches(15, 15, 1, 0), train=True)   # crop + flip
    assert x.dtype == torch.uint8 and x.shape == (15, 3, 32, 32)
    assert not torch.equal(x, data.train.images[epoch_batches(15, 15, 1, 0)[0].indices])


def test_cifar100_uses_fine_labels(tmp_path):
    d = tmp_path / "cifar-100-python"
    d.mkdir()
    x = np.zeros((3, 3, 32, 32), dtype=np.uint8)
    for name, labels in (("train", [99, 5, 0]), ("test", [42, 1, 2])):
        with open(d / name, "wb") as f:
            pickle.dump({b"data": x.reshape(3, -1), b"fine_labels": labels,
                         b"coarse_labels": [0, 1, 2]}, f)
    data = open_data(f"cifar100:{tmp_path}", (3, 32, 32))
    assert data.classes == 100
    assert data.train.labels.tolist() == [99, 5, 0] and data.val.labels.tolist() == [42, 1, 2]


def test_missing_cifar_says_where_to_get_it(tmp_path):
    with pytest.raises(DataError, match=r"cifar10 not found in .*cifar-10-python.tar.gz"):
        open_data(f"cifar10:{tmp_path}", (3, 32, 32))


def test_download_without_torchvision_explains_by_hand(tmp_path, monkeypatch):
    import builtins
    real = builtins.__import__

    def no_torchvision(name, *a, **kw):
        if name.startswith("torchvision"):
            raise ImportError("no torchvision")
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_torchvision)
    with pytest.raises(DataError, match=r"--download needs torchvision.*tar xz -C"):
        open_data(f"cifar100:{tmp_path}", (3, 32, 32), download=True)


def test_cifar_refuses_a_network_of_another_input_size(tmp_path):
    _cifar10(tmp_path, per_batch=1)
    with pytest.raises(DataError, match=r"3x32x32 but the network's input is \[3, 224, 224\]"):
        open_data(f"cifar10:{tmp_path}", (3, 224, 224))


def test_truncated_batch_names_the_file(tmp_path):
    _cifar10(tmp_path, per_batch=1)
    (tmp_path / "cifar-10-batches-py" / "data_batch_2").write_bytes(b"\x80\x04garbage")
    with pytest.raises(DataError, match="data_batch_2: not a CIFAR python batch"):
        open_data(f"cifar10:{tmp_path}", (3, 32, 32))


COLOURS = {"blue": (0, 0, 255), "red": (255, 0, 0)}


def _folder(root):
    from PIL import Image
    for split, n in (("train", 3), ("val", 2)):
        for name, rgb in COLOURS.items():
            d = root / split / name
            d.mkdir(parents=True)
            for i in range(n):
                size = (40 + 7 * i, 30 + 5 * i)
                fmt = "png" if i % 2 else "jpeg"
                Image.new("RGB", size, rgb).save(d / f"{i}.{fmt}")
    (root / "train" / "red" / "notes.txt").write_text("not an image")


def test_folder_decodes_crops_and_labels_images(tmp_path):
    _folder(tmp_path)
    data = open_data(f"folder:{tmp_path}", (3, 24, 20))
    assert data.classes == 2 and data.class_names == ("blue", "red")
    assert len(data.train) == 6 and len(data.val) == 4
    for split, batches, train in ((data.train, epoch_batches(6, 6, 1, 0), True),
                                  (data.val, eval_batches(4, 3), False)):
        for x, y in split.iterate(batches, train=train, workers=0):
            assert x.dtype == torch.uint8 and x.shape[1:] == (3, 24, 20)
            for img, label in zip(x, y):
                want = COLOURS[data.class_names[label]]
                mean = img.float().mean(dim=(1, 2))
                assert torch.allclose(mean, torch.tensor(want, dtype=torch.float32), atol=3)


def test_folder_augmentation_is_fixed_by_the_seed_even_with_workers(tmp_path):
    from PIL import Image
    d = tmp_path / "train" / "a"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(d / f"{i}.png")
    (tmp_path / "val" / "a").mkdir(parents=True)
    Image.new("RGB", (40, 40)).save(tmp_path / "val" / "a" / "0.png")
    data = open_data(f"folder:{tmp_path}", (3, 16, 16))
    batches = epoch_batches(4, 2, 1, 0)
    a = [x for x, _ in data.train.iterate(batches, train=True, workers=0)]
    b = [x for x, _ in data.train.iterate(batches, train=True, workers=2)]
    assert all(torch.equal(p, q) for p, q in zip(a, b)) and len(a) == 2
    c = [x for x, _ in data.train.iterate(epoch_batches(4, 2, 2, 0), train=True)]
    assert not all(torch.equal(p, q) for p, q in zip(a, c))


def test_folder_without_val_says_what_is_expected(tmp_path):
    _folder(tmp_path)
    import shutil
    shutil.rmtree(tmp_path / "val")
    with pytest.raises(DataError, match=r"val: missing \(folder data needs train/ and val/"):
        open_data(f"folder:{tmp_path}", (3, 24, 24))


def test_digits_resized_to_the_input_with_a_fixed_stratified_split():
    a = open_data("digits", (3, 32, 32))
    b = open_data("digits", (1, 16, 16))
    assert a.train.images.shape[1:] == (3, 32, 32) and b.train.images.shape[1:] == (1, 16, 16)
    assert len(a.train) + len(a.val) == 1797 and len(a.val) == 360
    assert torch.equal(a.train.labels, b.train.labels)          # the split is fixed
    assert torch.equal(a.train.images[:, 0], a.train.images[:, 2])
    val_share = torch.bincount(a.val.labels, minlength=10) / torch.bincount(
        torch.cat([a.train.labels, a.val.labels]), minlength=10)
    assert torch.all((val_share - 0.2).abs() < 0.02)             # stratified


@pytest.mark.parametrize("name, msg", [("imagenet", "unknown dataset 'imagenet'"),
                                       ("cifar", "did you mean 'cifar10'"),
                                       ("folder", "folder:PATH: give the PATH")])
def test_bad_data_names(name, msg):
    with pytest.raises(DataError, match=msg):
        open_data(name, (3, 32, 32))


def test_epoch_batches_are_seeded_disjoint_and_split_over_ranks():
    n, bs = 103, 16
    one = epoch_batches(n, bs, epoch=3, seed=7)
    assert len(one) == steps_per_epoch(n, bs) == 6
    assert [b.indices.tolist() for b in one] == [b.indices.tolist()
                                                 for b in epoch_batches(n, bs, 3, 7)]
    assert [b.indices.tolist() for b in one] != [b.indices.tolist()
                                                 for b in epoch_batches(n, bs, 4, 7)]
    flat = torch.cat([b.indices for b in one])
    assert len(set(flat.tolist())) == 96
    r0, r1 = epoch_batches(n, bs, 3, 7, rank=0, world=2), epoch_batches(n, bs, 3, 7, 1, 2)
    for g, a, b in zip(one, r0, r1):
        assert sorted(a.indices.tolist() + b.indices.tolist()) == sorted(g.indices.tolist())
        assert len(a.indices) == len(b.indices) == 8 and a.seed != b.seed


def test_eval_batches_cover_every_sample_once_over_ranks():
    got = [i for r in range(3) for b in eval_batches(10, 2, r, 3) for i in b.indices.tolist()]
    assert sorted(got) == list(range(10))
