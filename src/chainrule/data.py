"""Datasets and the DataLoader.

``DataLoader`` draws whole batches with one fancy-indexing operation per array
(no per-sample Python loop) when the dataset supports array indices, as
``TensorDataset`` does (and ``Subset`` and ``ConcatDataset`` of such datasets).
Full-batch, stochastic and mini-batch gradient descent are the same loop with
``batch_size=len(data)``, ``1`` and anything between. ``random_split`` cuts a
dataset into random, non-overlapping ``Subset``s.
"""

from __future__ import annotations

import bisect
import math
import numbers
import operator

import numpy as np

from .errors import ArgumentError, ArgumentTypeError, IndexOutOfRangeError, ShapeError
from .tensor import Tensor, check_data_dtype, from_numpy

__all__ = [
    "Dataset",
    "TensorDataset",
    "Subset",
    "ConcatDataset",
    "random_split",
    "DataLoader",
    "default_collate",
]


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
        for k, a in enumerate(self.arrays):
            check_data_dtype(f"TensorDataset: array {k}", a.dtype)
            if a.ndim == 0:
                raise ShapeError(
                    f"TensorDataset: array {k} is a scalar ({a!r}); each array needs one row per sample, e.g. "
                    "TensorDataset(X, y) with X of shape (N, features) and y of shape (N,)"
                )
        n = len(self.arrays[0])
        for k, a in enumerate(self.arrays):
            if len(a) != n:
                raise ShapeError(
                    f"TensorDataset: all arrays need the same first dimension; array 0 has {n} rows, "
                    f"array {k} has shape {a.shape}"
                )

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order: ``Subset(ds, [0, 5, 7])[1]`` is ``ds[5]``.

    Supports array indices (whole batches at once) when ``dataset`` does.
    """

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices.data if isinstance(indices, Tensor) else indices, dtype=np.int64).reshape(-1)

    @property
    def supports_batch_index(self) -> bool:
        return bool(getattr(self.dataset, "supports_batch_index", False))

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        if isinstance(index, (numbers.Integral, np.integer)):
            return self.dataset[int(self.indices[index])]
        if isinstance(index, list):
            return [self[int(i)] for i in index]
        return self.dataset[self.indices[index]]


class ConcatDataset(Dataset):
    """Datasets one after another: samples 0..len(a)-1 are ``a``'s, then ``b``'s, and so on.

    Supports array indices (whole batches at once) when every part does (then each returns a tuple
    of arrays with the batch axis first, as ``TensorDataset`` does).
    """

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ArgumentError("ConcatDataset: datasets should not be an empty iterable")
        self.cumulative_sizes = []
        total = 0
        for d in self.datasets:
            total += len(d)
            self.cumulative_sizes.append(total)

    @property
    def supports_batch_index(self) -> bool:
        return all(getattr(d, "supports_batch_index", False) for d in self.datasets)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        if isinstance(index, (numbers.Integral, np.integer)):
            n = len(self)
            i = int(index)
            if not -n <= i < n:
                raise IndexOutOfRangeError(f"ConcatDataset: index {i} is out of range for {n} samples")
            i %= n
            k = bisect.bisect_right(self.cumulative_sizes, i)
            return self.datasets[k][i - (self.cumulative_sizes[k - 1] if k else 0)]
        if isinstance(index, list):
            return [self[int(i)] for i in index]
        return self._batch(np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index))

    def _batch(self, idx: np.ndarray):
        """Samples at integer array ``idx`` from parts that take array indices: one lookup per part."""
        n = len(self)
        if idx.dtype.kind not in "iu" or idx.ndim != 1:
            raise ArgumentTypeError(f"ConcatDataset: a batch index must be a 1-D integer array, got {idx!r:.60}")
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexOutOfRangeError(f"ConcatDataset: indices out of range for {n} samples")
        idx = idx % n if n else idx
        part = np.searchsorted(self.cumulative_sizes, idx, side="right")
        starts = np.concatenate([[0], self.cumulative_sizes[:-1]])
        fields = None
        for k in np.unique(part):
            mask = part == k
            got = self.datasets[k][idx[mask] - starts[k]]
            got = got if isinstance(got, tuple) else (got,)
            if fields is None:
                fields = [np.empty((len(idx),) + np.shape(g)[1:], np.asarray(g).dtype) for g in got]
            for f, g in zip(fields, got):
                f[mask] = g
        return tuple(fields) if fields is not None else ()


def random_split(dataset, lengths, generator=None) -> list:
    """Split ``dataset`` into non-overlapping random ``Subset``s of the given ``lengths``.

    ``lengths`` are sample counts summing to ``len(dataset)``, or fractions summing to 1: then each
    gets floor(fraction * len) samples and the remainder is dealt one by one from the first, as
    PyTorch does. ``generator``: a ``numpy.random.Generator`` or an int seed; without it,
    chainrule's default generator draws the permutation (seed it with ``cr.manual_seed``).
    """
    n = len(dataset)
    lengths = list(lengths)
    if lengths and math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        sizes = []
        for i, frac in enumerate(lengths):
            if not 0 <= frac <= 1:
                raise ArgumentError(f"random_split: fraction at index {i} is not between 0 and 1: {frac}")
            sizes.append(math.floor(n * frac))
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        lengths = sizes
    try:
        lengths = [operator.index(k) for k in lengths]
    except TypeError:
        raise ArgumentTypeError(
            f"random_split: lengths must be integers summing to {n} or fractions summing to 1, got {lengths}"
        ) from None
    if any(k < 0 for k in lengths) or sum(lengths) != n:
        raise ArgumentError(
            f"random_split: the lengths {lengths} must be non-negative and sum to the dataset's length {n}"
        )
    if generator is None:
        from .creation import default_generator

        rng = default_generator()
    elif isinstance(generator, np.random.Generator):
        rng = generator
    else:
        rng = np.random.default_rng(generator)
    order = rng.permutation(n)
    out, start = [], 0
    for k in lengths:
        out.append(Subset(dataset, order[start : start + k]))
        start += k
    return out


class DataLoader:
    """Iterate over a dataset in batches of tensors.

    ``shuffle`` reorders the samples every epoch with a generator seeded by
    ``seed`` (so two loaders with the same seed give the same batches); with
    ``seed=None`` the generator is seeded from chainrule's default generator
    when the loader is first iterated (not when it is built), so
    ``cr.manual_seed`` makes the shuffling repeatable too;
    ``drop_last`` drops a final short batch. ``state_dict()`` captures the
    shuffling generator, so a resumed training run draws the same batches.
    ``collate_fn(samples)``, when given, makes each batch from the list of the
    batch's samples (what ``dataset[i]`` returns, one by one), as in PyTorch;
    by default samples are stacked into tensors (``default_collate``).
    ``sampler``, when given, is an iterable of dataset indices with a ``len`` (e.g.
    :class:`chainrule.distributed.DistributedSampler`) that decides the order of
    each epoch instead of ``shuffle``, as in PyTorch.
    """

    def __init__(
        self,
        dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        collate_fn=None,
        sampler=None,
    ):
        if sampler is not None and shuffle:
            raise ArgumentError("DataLoader: give either sampler or shuffle=True, not both (the sampler orders)")
        if isinstance(dataset, (tuple, list)):
            dataset = TensorDataset(*dataset)
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ArgumentError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        if collate_fn is not None and not callable(collate_fn):
            raise ArgumentTypeError(
                f"DataLoader: collate_fn must be a function of a list of samples, got {collate_fn!r}"
            )
        self.collate_fn = collate_fn
        self.sampler = sampler
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
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self) -> np.ndarray | None:
        if self.sampler is not None:
            return np.fromiter(iter(self.sampler), np.int64)
        if self.shuffle:
            return self.rng.permutation(len(self.dataset))
        return None

    def __iter__(self):
        order = self._order()
        n = len(self.dataset) if order is None else len(order)
        bs = self.batch_size
        stop = n - n % bs if self.drop_last else n
        ds = self.dataset
        collate = self.collate_fn or default_collate
        bulk = self.collate_fn is None and getattr(ds, "supports_batch_index", False)
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
                yield collate([ds[int(i)] for i in ids])

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]


def default_collate(samples):
    """Samples to one batch, shaped like a sample: a tuple or list of fields gives a tuple of tensors,
    a dict a dict of tensors, anything else one tensor (each field stacked along a new first axis)."""
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
