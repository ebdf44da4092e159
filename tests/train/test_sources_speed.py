"""The data paths that keep a GPU busy: small splits held on the device, folder loaders whose
workers live across passes, and the synthetic data set for speed measurements."""

import numpy as np
import pytest
import torch

from mnas.train.batches import epoch_batches
from mnas.train.datasets import DataError, open_data
from mnas.train.sources import TensorSource, held_on_device
from mnas.train.transforms import crop_flip, crop_flip_draws, random_crop_flip


def test_a_split_is_held_on_the_device_when_it_takes_at_most_a_quarter_of_the_free_memory():
    src = TensorSource(torch.zeros(10, 3, 4, 4, dtype=torch.uint8), torch.zeros(10))
    nbytes = 10 * 3 * 4 * 4 + 10 * 8                       # uint8 images, int64 labels
    assert src.nbytes == nbytes
    moved = held_on_device(src, "cpu", 4 * nbytes)
    assert moved is not src and torch.equal(moved.images, src.images)
    assert held_on_device(src, "cpu", 4 * nbytes - 1) is src
    assert held_on_device("not a tensor source", "cpu", 10**12) == "not a tensor source"


def test_crop_flip_in_two_parts_is_the_batch_augmentation():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.uint8).reshape(2, 1, 4, 4)
    a = random_crop_flip(x, 1, torch.Generator().manual_seed(5))
    b = crop_flip(x, 1, *crop_flip_draws(2, 1, torch.Generator().manual_seed(5)))
    assert torch.equal(a, b)
    # by hand: offsets (dy, dx) = (1, 1) with no flip is the image itself
    same = crop_flip(x, 1, torch.tensor([1, 1]), torch.tensor([1, 1]), torch.tensor([False, True]))
    assert torch.equal(same[0], x[0]) and torch.equal(same[1], x[1].flip(2))


def test_folder_loader_workers_live_across_passes(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        d = tmp_path / split / "a"
        d.mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(d / f"{i}.png")
    data = open_data(f"folder:{tmp_path}", (3, 16, 16))
    pids, passes = [], []
    for epoch in (1, 2):
        passes.append([x for x, _ in data.train.iterate(epoch_batches(4, 2, epoch, 0), True, 2)])
        pids.append(sorted(w.pid for w in data.train._loader._iterator._workers))
    assert len(pids[0]) == 2 and pids[0] == pids[1]                 # the same processes
    in_process = [x for x, _ in data.train.iterate(epoch_batches(4, 2, 2, 0), True, 0)]
    assert all(torch.equal(p, q) for p, q in zip(passes[1], in_process))


def test_synthetic_data_is_fixed_random_and_sized_for_the_network():
    a = open_data("synthetic:20", (3, 8, 8))
    b = open_data("synthetic:20", (3, 8, 8))
    assert (len(a.train), len(a.val), a.classes) == (20, 2, 1000)
    assert a.train.images.shape == (20, 3, 8, 8) and a.train.images.dtype == torch.uint8
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.val.labels, b.val.labels)
    assert len(open_data("synthetic", (1, 4, 4)).train) == 1280


@pytest.mark.parametrize("name, message", [("synthetic:many", "N must be a whole number"),
                                           ("synthetic:0", "N must be >= 1"),
                                           ("synthetic:100000000", "would take more than 8 GiB")])
def test_bad_synthetic_sizes_are_one_line(name, message):
    with pytest.raises(DataError, match=message):
        open_data(name, (3, 224, 224))


def test_a_pass_planned_at_once_draws_what_each_batch_would():
    from mnas.train.sources import pass_plan
    batches = epoch_batches(50, 16, 3, 7)
    idx, draws = pass_plan(batches, True, 4, True, "cpu")
    for b, i, d in zip(batches, idx, draws):
        want = crop_flip_draws(len(b.indices), 4, torch.Generator().manual_seed(b.seed), True)
        assert torch.equal(i, b.indices)
        assert all(torch.equal(p, q) for p, q in zip(d, want))
    idx, draws = pass_plan(batches, False, 4, True, "cpu")
    assert draws == [None] * 3 and all(torch.equal(i, b.indices) for i, b in zip(idx, batches))
