"""TensorDataset and DataLoader: bulk batches, shuffling, seeds, the three descent variants."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import DataLoader, Dataset, TensorDataset


def test_batches_cover_the_data_once():
    X = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
    y = np.arange(10)
    for bs, drop, expect in [(1, False, 10), (3, False, 4), (3, True, 3), (10, False, 1), (32, False, 1)]:
        dl = DataLoader(TensorDataset(X, y), batch_size=bs, drop_last=drop)
        batches = list(dl)
        assert len(batches) == len(dl) == expect
        seen = np.concatenate([b[1].numpy() for b in batches])
        assert len(seen) == (10 - 10 % bs if drop else 10)
        for xb, yb in batches:
            np.testing.assert_array_equal(xb.numpy(), X[yb.numpy()])
            assert isinstance(xb, cr.Tensor) and xb.dtype == np.float32 and yb.dtype == np.int64


def test_shuffle_is_a_permutation_and_seeded():
    X = np.arange(100, dtype=np.float32).reshape(100, 1)
    a = [b[0].numpy().ravel() for b in DataLoader((X,), batch_size=7, shuffle=True, seed=3)]
    b = [b[0].numpy().ravel() for b in DataLoader((X,), batch_size=7, shuffle=True, seed=3)]
    c = [b[0].numpy().ravel() for b in DataLoader((X,), batch_size=7, shuffle=True, seed=4)]
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c))
    assert sorted(np.concatenate(a).tolist()) == list(range(100))
    dl = DataLoader((X,), batch_size=100, shuffle=True, seed=0)
    e1, e2 = next(iter(dl))[0].numpy(), next(iter(dl))[0].numpy()
    assert not np.array_equal(e1, e2)  # a new order each epoch


def test_state_dict_replays_the_order():
    X = np.arange(50, dtype=np.float32).reshape(50, 1)
    dl = DataLoader((X,), batch_size=50, shuffle=True, seed=1)
    next(iter(dl))
    st = dl.state_dict()
    want = next(iter(dl))[0].numpy()
    dl2 = DataLoader((X,), batch_size=50, shuffle=True, seed=99)
    dl2.load_state_dict(st)
    np.testing.assert_array_equal(next(iter(dl2))[0].numpy(), want)


def test_per_sample_dataset_is_collated():
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.array([i, i * i], np.float32), i

    batches = list(DataLoader(Squares(), batch_size=2))
    assert [b[0].shape for b in batches] == [(2, 2), (2, 2), (1, 2)]
    np.testing.assert_array_equal(batches[1][0].numpy(), [[2, 4], [3, 9]])


def test_errors():
    with pytest.raises(cr.errors.ShapeError, match="same first dimension"):
        TensorDataset(np.ones((3, 2)), np.ones(4))
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader((np.ones(3),), batch_size=0)


@pytest.mark.parametrize("batch_size", [None, 1, 16])
def test_full_batch_stochastic_and_minibatch_descent_all_fit_a_line(batch_size):
    """Seed 002's three variants are one loop with three batch sizes; each fits y = 3x - 1."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (64, 1)).astype(np.float32)
    y = 3 * X - 1
    w = cr.tensor([[0.0]], requires_grad=True)
    b = cr.tensor([0.0], requires_grad=True)
    opt = cr.optim.SGD([w, b], lr=0.1)
    dl = DataLoader((X, y), batch_size=batch_size or len(X), shuffle=True, seed=0)
    steps = {None: 300, 1: 5, 16: 40}[batch_size]
    for _ in range(steps):
        for xb, yb in dl:
            opt.zero_grad()
            cr.nn.functional.mse_loss(cr.nn.functional.linear(xb, w, b), yb).backward()
            opt.step()
    assert w.item() == pytest.approx(3.0, abs=0.05) and b.item() == pytest.approx(-1.0, abs=0.05)


# ---------------------------------------------------------------------- shuffling without an explicit seed
def test_manual_seed_makes_unseeded_shuffling_repeatable():
    X = np.arange(20.0).reshape(10, 2)

    def first_batch():
        cr.manual_seed(3)
        return next(iter(cr.data.DataLoader((X, np.arange(10)), batch_size=4, shuffle=True)))[1].numpy()

    np.testing.assert_array_equal(first_batch(), first_batch())


def test_building_a_shuffling_loader_does_not_draw_from_the_default_generator():
    cr.manual_seed(5)
    expected = cr.creation.default_generator().integers(2**63)
    cr.manual_seed(5)
    cr.data.DataLoader(cr.data.TensorDataset(np.arange(10.0)), batch_size=2, shuffle=True)
    assert cr.creation.default_generator().integers(2**63) == expected


def test_an_unseeded_loader_draws_its_seed_at_the_first_iteration():
    """So manual_seed between building a loader and iterating it still makes the order repeatable."""
    cr.manual_seed(5)
    loader = cr.data.DataLoader(cr.data.TensorDataset(np.arange(10.0)), batch_size=2, shuffle=True)
    cr.manual_seed(7)
    first = [b[0].numpy().tolist() for b in loader]
    cr.manual_seed(7)
    again = cr.data.DataLoader(cr.data.TensorDataset(np.arange(10.0)), batch_size=2, shuffle=True)
    assert [b[0].numpy().tolist() for b in again] == first


# ---------------------------------------------------------------------- collating samples
def test_loader_collates_dict_list_pair_and_scalar_samples():
    class Samples(cr.data.Dataset):
        def __init__(self, kind):
            self.kind = kind

        def __len__(self):
            return 4

        def __getitem__(self, i):
            x = np.full(2, float(i), np.float32)
            return {"dict": {"x": x, "y": i}, "list": [x, i], "pair": [float(i), i], "scalar": float(i)}[self.kind]

    b = next(iter(cr.data.DataLoader(Samples("dict"), batch_size=4)))
    assert set(b) == {"x", "y"} and b["x"].shape == (4, 2) and b["y"].numpy().tolist() == [0, 1, 2, 3]
    xb, yb = next(iter(cr.data.DataLoader(Samples("list"), batch_size=4)))
    assert xb.shape == (4, 2) and yb.shape == (4,)
    xb, yb = next(iter(cr.data.DataLoader(Samples("pair"), batch_size=4)))
    assert xb.dtype == np.float32 and yb.dtype == np.int64 and xb.shape == (4,)
    sb = next(iter(cr.data.DataLoader(Samples("scalar"), batch_size=4)))
    assert isinstance(sb, cr.Tensor) and sb.shape == (4,)


def test_loader_accepts_dict_samples_in_any_key_order():
    class Samples(cr.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return {"x": float(i), "y": i} if i % 2 else {"y": i, "x": float(i)}

    b = next(iter(cr.data.DataLoader(Samples(), batch_size=4)))
    assert b["y"].numpy().tolist() == [0, 1, 2, 3]


def test_changing_a_batch_never_changes_the_data_set():
    X = np.ones((6, 2), np.float32)
    for (xb,) in cr.data.DataLoader(cr.data.TensorDataset(X), batch_size=3):
        xb.numpy()[...] = 0.0
    assert (X == 1.0).all()
