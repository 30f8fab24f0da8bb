"""random_split, Subset, ConcatDataset and DataLoader's collate_fn, compared with torch.utils.data."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import ConcatDataset, DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split

from conftest import requires_torch, torch


def _tdata():
    return torch.utils.data


class Squares(Dataset):
    """A per-sample dataset (no array indices)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return np.array([i, i * i], np.float32), i


# ------------------------------------------------------------------------------ random_split
@requires_torch
@pytest.mark.parametrize(
    "n, lengths",
    [(10, [3, 7]), (10, [0.5, 0.5]), (11, [0.3, 0.3, 0.4]), (7, [0.1, 0.2, 0.7]), (5, [1.0]), (13, [0.25] * 4)],
)
def test_random_split_sizes_match_torch(n, lengths):
    ds = TensorDataset(np.arange(n))
    parts = random_split(ds, lengths, generator=0)
    tparts = _tdata().random_split(_tdata().TensorDataset(torch.arange(n)), lengths, torch.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [len(p) for p in tparts]
    assert all(isinstance(p, Subset) for p in parts)
    everything = np.concatenate([[int(p[i][0]) for i in range(len(p))] for p in parts])
    assert sorted(everything.tolist()) == list(range(n))  # disjoint, and every sample once


def test_random_split_is_reproducible():
    ds = TensorDataset(np.arange(20))
    a = [p.indices.tolist() for p in random_split(ds, [5, 15], generator=np.random.default_rng(4))]
    b = [p.indices.tolist() for p in random_split(ds, [5, 15], generator=4)]
    assert a == b
    cr.manual_seed(1)
    c = [p.indices.tolist() for p in random_split(ds, [0.5, 0.5])]
    cr.manual_seed(1)
    d = [p.indices.tolist() for p in random_split(ds, [0.5, 0.5])]
    assert c == d and c != [list(range(10)), list(range(10, 20))]


def test_random_split_errors():
    ds = TensorDataset(np.arange(10))
    with pytest.raises(cr.errors.ArgumentError, match="sum to the dataset's length 10"):
        random_split(ds, [3, 3])
    with pytest.raises(cr.errors.ArgumentTypeError, match="integers"):
        random_split(ds, [0.5, 0.6, 0.1])  # fractions that do not sum to 1


# ------------------------------------------------------------------------------ Subset
@requires_torch
def test_subset_indexes_like_torch_and_keeps_bulk_batches():
    X = np.arange(24, dtype=np.float32).reshape(8, 3)
    y = np.arange(8)
    idx = [5, 0, 7, 2]
    sub = Subset(TensorDataset(X, y), idx)
    tsub = _tdata().Subset(_tdata().TensorDataset(torch.tensor(X), torch.tensor(y)), idx)
    assert len(sub) == len(tsub) == 4
    for i in range(-4, 4):
        for a, b in zip(sub[i], tsub[i]):
            np.testing.assert_array_equal(a, b.numpy())
    assert sub.supports_batch_index
    (xb, yb), (tx, ty) = next(iter(DataLoader(sub, batch_size=4))), next(iter(_tdata().DataLoader(tsub, batch_size=4)))
    np.testing.assert_array_equal(xb.numpy(), tx.numpy())
    np.testing.assert_array_equal(yb.numpy(), ty.numpy())
    assert not Subset(Squares(5), [1, 3]).supports_batch_index
    assert Subset(Squares(5), [4, 1])[0][1] == 4


# ------------------------------------------------------------------------------ ConcatDataset
@requires_torch
def test_concat_dataset_indexes_like_torch():
    a, b, c = np.arange(6).reshape(3, 2), np.arange(100, 110).reshape(5, 2), np.arange(50, 54).reshape(2, 2)
    cat = ConcatDataset([TensorDataset(a), TensorDataset(b), TensorDataset(c)])
    tcat = _tdata().ConcatDataset([_tdata().TensorDataset(torch.tensor(v)) for v in (a, b, c)])
    assert len(cat) == len(tcat) == 10 and cat.cumulative_sizes == tcat.cumulative_sizes
    for i in range(-10, 10):
        np.testing.assert_array_equal(cat[i][0], tcat[i][0].numpy())
    with pytest.raises(IndexError):
        cat[10]
    assert cat.supports_batch_index
    batch = cat[np.array([9, 0, 4, 3, -1])]
    np.testing.assert_array_equal(batch[0], np.stack([tcat[i][0].numpy() for i in (9, 0, 4, 3, -1)]))
    loaded = np.concatenate([xb.numpy() for (xb,) in DataLoader(cat, batch_size=3, shuffle=True, seed=0)])
    assert sorted(map(tuple, loaded.tolist())) == sorted(map(tuple, np.concatenate([a, b, c]).tolist()))
    assert [x.numpy().tolist() for (x,) in DataLoader(cat, batch_size=4)] == [
        v.numpy().tolist() for (v,) in _tdata().DataLoader(tcat, batch_size=4)
    ]


def test_concat_of_per_sample_datasets_goes_sample_by_sample():
    cat = ConcatDataset([Squares(3), Squares(2)])
    assert not cat.supports_batch_index
    xb, yb = next(iter(DataLoader(cat, batch_size=5)))
    np.testing.assert_array_equal(yb.numpy(), [0, 1, 2, 0, 1])
    with pytest.raises(cr.errors.ArgumentError, match="empty"):
        ConcatDataset([])


# ------------------------------------------------------------------------------ collate_fn
def test_collate_fn_gets_the_list_of_samples():
    X = np.arange(10, dtype=np.float32).reshape(5, 2)
    seen = []

    def collate(samples):
        seen.append(len(samples))
        xs = np.stack([s[0] for s in samples])
        return {"x": cr.tensor(xs), "n": len(samples)}

    batches = list(DataLoader(TensorDataset(X, np.arange(5)), batch_size=2, collate_fn=collate))
    assert seen == [2, 2, 1] and [b["n"] for b in batches] == [2, 2, 1]
    np.testing.assert_array_equal(batches[1]["x"].numpy(), X[2:4])
    pairs = list(DataLoader(Squares(3), batch_size=3, collate_fn=lambda s: s))
    assert len(pairs) == 1 and [p[1] for p in pairs[0]] == [0, 1, 2]
    # the default is default_collate: passing it explicitly changes nothing
    a = [t.numpy().tolist() for b in DataLoader(Squares(4), batch_size=2) for t in b]
    b = [t.numpy().tolist() for b in DataLoader(Squares(4), batch_size=2, collate_fn=default_collate) for t in b]
    assert a == b
    with pytest.raises(cr.errors.ArgumentTypeError, match="collate_fn"):
        DataLoader(Squares(2), collate_fn=3)


def test_train_validation_split_trains():
    """The usual pattern: random_split into training and validation sets, fit on them."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 2)).astype(np.float32)
    y = (X[:, :1] - 2 * X[:, 1:]).astype(np.float32)
    train, val = random_split(TensorDataset(X, y), [0.8, 0.2], generator=0)
    model = cr.nn.Linear(2, 1)
    hist = cr.train.fit(
        model,
        cr.nn.MSELoss(),
        cr.optim.SGD(model.parameters(), lr=0.1),
        DataLoader(train, batch_size=32, shuffle=True, seed=0),
        epochs=20,
        val=DataLoader(val, batch_size=64),
        progress=False,
    )
    assert hist["val_loss"][-1] < 1e-3
