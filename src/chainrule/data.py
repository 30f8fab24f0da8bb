"""Datasets and the DataLoader.

``DataLoader`` draws whole batches with one fancy-indexing operation per array
(no per-sample Python loop) when the dataset supports array indices, as
``TensorDataset`` does. Full-batch, stochastic and mini-batch gradient descent
are the same loop with ``batch_size=len(data)``, ``1`` and anything between.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ArgumentError, ShapeError
from .tensor import Tensor, from_numpy

__all__ = ["Dataset", "TensorDataset", "DataLoader"]


class Dataset:
    """A sized collection of samples: subclass and define ``__len__`` and ``__getitem__``.

    ``__getitem__`` receives an int. If it can also take an integer array and
    return a whole batch (a tuple of arrays with the batch axis first), set
    ``supports_batch_index = True`` and DataLoader will use it.
    """

    supports_batch_index = False

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index):
        raise NotImplementedError


class TensorDataset(Dataset):
    """Samples are the rows of equally long arrays: ``TensorDataset(X, y)``."""

    supports_batch_index = True

    def __init__(self, *arrays):
        if not arrays:
            raise ArgumentError("TensorDataset: give at least one array")
        self.arrays = tuple(a.data if isinstance(a, Tensor) else np.asarray(a) for a in arrays)
        n = len(self.arrays[0])
        for k, a in enumerate(self.arrays):
            if a.ndim == 0 or len(a) != n:
                raise ShapeError(
                    f"TensorDataset: all arrays need the same first dimension; array 0 has {n} rows, "
                    f"array {k} has shape {a.shape}"
                )

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)


class DataLoader:
    """Iterate over a dataset in batches of tensors.

    ``shuffle`` reorders the samples every epoch with a generator seeded by
    ``seed`` (so two loaders with the same seed give the same batches); with
    ``seed=None`` the generator is seeded from chainrule's default generator
    when the loader is first iterated (not when it is built), so
    ``cr.manual_seed`` makes the shuffling repeatable too;
    ``drop_last`` drops a final short batch. ``state_dict()`` captures the
    shuffling generator, so a resumed training run draws the same batches.
    """

    def __init__(
        self, dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False, seed: int | None = None
    ):
        if isinstance(dataset, (tuple, list)):
            dataset = TensorDataset(*dataset)
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ArgumentError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self._seed = seed
        self._rng = None

    @property
    def rng(self) -> np.random.Generator:
        """The shuffling generator, made on first use (from the default generator when ``seed`` is None)."""
        if self._rng is None:
            seed = self._seed
            if seed is None and self.shuffle:
                from .creation import default_generator

                seed = int(default_generator().integers(2**63))
            self._rng = np.random.default_rng(seed)
        return self._rng

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self) -> np.ndarray | None:
        if self.shuffle:
            return self.rng.permutation(len(self.dataset))
        return None

    def __iter__(self):
        n = len(self.dataset)
        order = self._order()
        bs = self.batch_size
        stop = n - n % bs if self.drop_last else n
        ds = self.dataset
        bulk = getattr(ds, "supports_batch_index", False)
        for start in range(0, stop, bs):
            end = min(start + bs, n)
            idx = order[start:end] if order is not None else slice(start, end)
            if bulk:
                # a slice gives views of the data set: copy, so that changing a batch in place never
                # changes the data (shuffled batches are copies already)
                batch = ds[idx]
                yield tuple(from_numpy(np.array(b) if order is None else np.asarray(b)) for b in batch)
            else:
                ids = range(start, end) if order is None else idx
                yield _collate([ds[int(i)] for i in ids])

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]


def _collate(samples):
    """Samples to one batch, shaped like a sample: a tuple or list of fields gives a tuple of tensors,
    a dict a dict of tensors, anything else one tensor."""
    first = samples[0]
    if isinstance(first, dict):
        keys = list(first)
        for s in samples:
            if not isinstance(s, dict) or s.keys() != first.keys():
                raise ShapeError(f"DataLoader: every sample must be a dict with the keys {keys}, got {s!r:.80}")
        return {k: _stack([s[k] for s in samples], repr(k)) for k in keys}
    if isinstance(first, (tuple, list)):
        for s in samples:
            if not isinstance(s, (tuple, list)) or len(s) != len(first):
                raise ShapeError(
                    f"DataLoader: every sample must have {len(first)} fields like the first, got {s!r:.80}"
                )
        return tuple(_stack([s[i] for s in samples], f"field {i}") for i in range(len(first)))
    return _stack(samples, "the samples")


def _stack(values, what: str) -> Tensor:
    arrays = [v.data if isinstance(v, Tensor) else np.asarray(v) for v in values]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ShapeError(f"DataLoader: {what} have different shapes {sorted(shapes)} within one batch; they must match")
    out = np.stack(arrays)
    if out.dtype == np.float64 and not isinstance(values[0], (np.ndarray, np.generic, Tensor)):
        out = out.astype(np.float32)  # Python floats: the default float, as in cr.tensor
    return from_numpy(out)
