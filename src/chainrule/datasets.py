"""Small data sets for examples, tests and benchmarks, as NumPy arrays.

Every loader returns a :class:`DataSplit` with a fixed train/test split: inputs
``X`` as float32, targets ``y`` as int64 class indices. A split unpacks as two
pairs::

    (X_train, y_train), (X_test, y_test) = chainrule.datasets.digits()

Loaders:

* :func:`xor` and :func:`spiral` are generated with NumPy alone.
* :func:`digits` (scikit-learn) and :func:`mnist1d` (the ``mnist1d`` package,
  generated offline) need the ``chainrule[datasets]`` extra.
* :func:`mnist` and :func:`fashion_mnist` read the original gzipped IDX files
  with :func:`load_idx`, verify them against the published MD5 checksums and,
  when allowed, download them (into a temporary file that only replaces the
  final name once it is complete and verified).

Where Fashion-MNIST is looked for, unless ``root`` is given: the directory of
Debian's ``dataset-fashion-mnist`` package (:data:`DEBIAN_FASHION_MNIST_DIR`),
then the user cache (``$CHAINRULE_DATA/fashion-mnist``, else
``~/.cache/chainrule/fashion-mnist``; :data:`DATA_HOME`, when set, takes
precedence over both). Both are module-level settings, so tests and
applications can point them elsewhere.

Hostile or broken files and servers are bounded (module-level settings too):

* IDX files are never read whole. The header comes first and the data it
  declares (dimensions x item size) must fit in :data:`MAX_IDX_BYTES` (1 GiB)
  before an array is allocated; gzip is decompressed chunk by chunk into that
  array and never further than one byte past the declared size, so a gzip
  bomb costs at most its declared size, and is refused when that is over the
  limit. The MD5 of a file is checked first, on its bytes as stored; the MD5
  of its uncompressed content (which re-compressed copies such as Debian's
  match) only when that fails, while streaming under the same limit.
* Downloads: a file may not exceed its published size by more than 1/8
  (:data:`MAX_DOWNLOAD_BYTES`, 256 MiB, from a custom ``base_url``): a larger
  Content-Length is refused before the body is read, a longer body is cut
  off. Each file must arrive within :data:`DOWNLOAD_DEADLINE_S` (10 minutes),
  however the server trickles, on top of the per-read
  :data:`DOWNLOAD_TIMEOUT_S`. A connection that closes early is tried again
  (:data:`DOWNLOAD_RETRIES`) with a fresh temporary file; no partial file is
  ever left behind. Fashion-MNIST comes over https when its bucket's https
  endpoint answers, else over http (:data:`FASHION_MNIST_MIRRORS`); the
  published checksums hold either way.

Only NumPy is imported with this module; scikit-learn, mnist1d and tqdm are
imported inside the functions that use them.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import os
import random
import socket
import struct
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import warnings
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from . import errors
from .checks import format_bytes
from .errors import ArgumentError, DatasetError

__all__ = ["DataSplit", "xor", "spiral", "digits", "mnist1d", "load_idx", "mnist", "fashion_mnist"]

#: Where Debian's ``dataset-fashion-mnist`` package installs the four files.
DEBIAN_FASHION_MNIST_DIR: str | os.PathLike | None = Path("/usr/share/datasets/fashion-mnist")

#: Root of chainrule's data cache. ``None`` means ``$CHAINRULE_DATA`` when that
#: variable is set, else ``~/.cache/chainrule``.
DATA_HOME: str | os.PathLike | None = None

#: Where :func:`fashion_mnist` downloads from when no ``base_url`` is given, tried in order: the
#: dataset authors' S3 bucket through its REST endpoint, which serves https, then the same bucket's
#: website endpoint (the address the Fashion-MNIST README links to), which serves http only. Either
#: way every file must match the published MD5 checksums, so a file altered in transit is refused.
FASHION_MNIST_MIRRORS: tuple[str, ...] = (
    "https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
#: Where :func:`mnist` downloads from when no ``base_url`` is given (PyTorch's mirror, https).
MNIST_MIRRORS: tuple[str, ...] = ("https://ossci-datasets.s3.amazonaws.com/mnist/",)

#: The most bytes of data an IDX file may declare (dimensions x item size) before anything is allocated
#: or decompressed: 1 GiB. The largest Fashion-MNIST or MNIST file holds 47 MB. :func:`load_idx` takes
#: ``max_bytes=`` too.
MAX_IDX_BYTES: int = 1 << 30
#: The most bytes one downloaded file may have when it comes from a custom ``base_url``: 256 MiB. The
#: canonical files, from the default mirrors, may not exceed their published size by more than 1/8 + 4 KiB.
MAX_DOWNLOAD_BYTES: int = 256 << 20
#: Seconds one file's download may take in all, retries included (per mirror): 10 minutes, about
#: 45 kB/s for the largest file. A server that stalls or trickles is dropped when they are up.
DOWNLOAD_DEADLINE_S: float = 600.0
#: Seconds a download waits for the server to connect or send anything before it gives up.
DOWNLOAD_TIMEOUT_S: float = 60.0
#: How many times a download whose connection closed before the end is started again, each time into
#: a fresh temporary file.
DOWNLOAD_RETRIES: int = 1

_TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
_TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
_TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
_TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
_IDX_FILES = (_TRAIN_IMAGES, _TRAIN_LABELS, _TEST_IMAGES, _TEST_LABELS)

# Published MD5 checksums, per file: (of the .gz file as distributed, of its uncompressed content).
# A file passes when either matches: Debian's package, for one, recompresses the files (gzip -n),
# which changes the .gz bytes but not the content.
# Fashion-MNIST .gz: README of github.com/zalandoresearch/fashion-mnist; content: torchvision's table.
_FASHION_MNIST_MD5 = {
    _TRAIN_IMAGES: ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
    _TRAIN_LABELS: ("25c81989df183df01b3e8a0aad5dffbe", "9018921c3c673c538a1fc5bad174d6f9"),
    _TEST_IMAGES: ("bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a"),
    _TEST_LABELS: ("bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965"),
}
# MNIST (LeCun, Cortes, Burges), as mirrored for torchvision.
_MNIST_MD5 = {
    _TRAIN_IMAGES: ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "6bbc9ace898e44ae57da46a324031adb"),
    _TRAIN_LABELS: ("d53e105ee54ea40749a09fcbcd1e9432", "a25bea736e30d166cdddb491f175f624"),
    _TEST_IMAGES: ("9fb629c4189551a2d022fa330f9573f3", "2646ac647ad5339dbf082846283269ea"),
    _TEST_LABELS: ("ec29112dd5afa0611ce80d1b7f02629c", "27ae3e4e09519cfbb04c329615203637"),
}
# Sizes in bytes of the .gz files as distributed, which bound their downloads. Fashion-MNIST: the
# Content-Length its S3 bucket serves (26421880, ...); Debian's recompressed copies are 23-24 bytes
# smaller, without the stored file name. MNIST: the sizes published with the original files.
_FASHION_MNIST_SIZES = {_TRAIN_IMAGES: 26421880, _TRAIN_LABELS: 29515, _TEST_IMAGES: 4422102, _TEST_LABELS: 5148}
_MNIST_SIZES = {_TRAIN_IMAGES: 9912422, _TRAIN_LABELS: 28881, _TEST_IMAGES: 1648877, _TEST_LABELS: 4542}

_GZIP_MAGIC = b"\x1f\x8b"
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CHUNK = 1 << 16  # network reads
_READ_CHUNK = 1 << 20  # file reads and decompression
# A gzip file whose own MD5 fails is decoded while its content is hashed (one pass) only when it
# declares at most this much data (every canonical file does); larger ones are hashed without keeping
# the data, then decoded once the checksum has passed.
_ONE_PASS_BYTES = 64 << 20


# --------------------------------------------------------------------------- the split


@dataclass(repr=False, eq=False)
class DataSplit:
    """A data set with a fixed train/test split.

    ``X_*`` are float32 arrays with one sample per row (or per leading index),
    ``y_*`` int64 class indices in ``range(n_classes)``. Iterating yields
    ``(X_train, y_train)`` then ``(X_test, y_test)``.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    name: str
    n_classes: int

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield the train pair, then the test pair."""
        yield (self.X_train, self.y_train)
        yield (self.X_test, self.y_test)

    def __repr__(self) -> str:
        return (
            f"DataSplit(name={self.name!r}, n_classes={self.n_classes}, "
            f"train={self.X_train.shape} {self.X_train.dtype}, test={self.X_test.shape} {self.X_test.dtype})"
        )


def _split(X_train: Any, y_train: Any, X_test: Any, y_test: Any, name: str, n_classes: int) -> DataSplit:
    return DataSplit(
        X_train=np.ascontiguousarray(X_train, dtype=np.float32),
        y_train=np.ascontiguousarray(y_train, dtype=np.int64),
        X_test=np.ascontiguousarray(X_test, dtype=np.float32),
        y_test=np.ascontiguousarray(y_test, dtype=np.int64),
        name=name,
        n_classes=int(n_classes),
    )


# --------------------------------------------------------------------------- generated data


def xor() -> DataSplit:
    """The four XOR points: ``[[0,0],[0,1],[1,0],[1,1]] -> [0,1,1,0]``.

    There is nothing to hold out, so the test set is the training set (equal
    values, separate arrays). Labels are int64 class indices (``n_classes=2``);
    for a regression target use ``y.astype(np.float32).reshape(-1, 1)``.
    """
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0], dtype=np.int64)
    return _split(X, y, X.copy(), y.copy(), "xor", 2)


def spiral(
    n_per_class: int = 200, n_classes: int = 3, noise: float = 0.2, test_fraction: float = 0.2, seed: int | None = 0
) -> DataSplit:
    """Interleaved 2-D spirals, one arm per class.

    Arm ``k`` holds ``n_per_class`` points at radius ``r`` evenly spaced in
    ``[0, 1]`` and angle ``2*pi*k/n_classes + 4*r`` plus Gaussian noise of
    standard deviation ``noise`` (radians). The points are shuffled, then the
    last ``round(test_fraction * n)`` become the test set. The same ``seed``
    gives the same arrays.
    """
    n_per_class = int(n_per_class)
    n_classes = int(n_classes)
    if n_per_class < 1:
        raise ArgumentError(f"spiral: n_per_class must be at least 1, got {n_per_class}")
    if n_classes < 1:
        raise ArgumentError(f"spiral: n_classes must be at least 1, got {n_classes}")
    if not 0.0 <= test_fraction < 1.0:
        raise ArgumentError(f"spiral: test_fraction must be in [0, 1), got {test_fraction}")
    if noise < 0:
        raise ArgumentError(f"spiral: noise must be non-negative, got {noise}")
    rng = np.random.default_rng(seed)
    radius = np.linspace(0.0, 1.0, n_per_class)
    X = np.empty((n_classes * n_per_class, 2), dtype=np.float64)
    for k in range(n_classes):
        angle = 2.0 * np.pi * k / n_classes + 4.0 * radius + noise * rng.standard_normal(n_per_class)
        rows = slice(k * n_per_class, (k + 1) * n_per_class)
        X[rows, 0] = radius * np.sin(angle)
        X[rows, 1] = radius * np.cos(angle)
    y = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    order = rng.permutation(len(y))
    X, y = X[order], y[order]
    n_train = len(y) - int(round(test_fraction * len(y)))
    return _split(X[:n_train], y[:n_train], X[n_train:], y[n_train:], "spiral", n_classes)


def digits(test_size: float = 0.2, random_state: int | None = 0) -> DataSplit:
    """scikit-learn's 8x8 handwritten digits (1797 samples, 64 features, 10 classes).

    Split with ``sklearn.model_selection.train_test_split(X, y, test_size=test_size,
    random_state=random_state)`` (not stratified, as in the usual benchmark): 1437
    train / 360 test by default. Pixel values 0..16 are divided by 16, so X lies
    in [0, 1]. Needs scikit-learn (``pip install 'chainrule[datasets]'``).
    """
    try:
        import sklearn  # noqa: F401  (fails first when sklearn is blocked or absent)
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise errors.missing("scikit-learn", "datasets", "chainrule.datasets.digits()") from exc
    bunch = load_digits()
    X = np.asarray(bunch.data, dtype=np.float64) / 16.0
    y = np.asarray(bunch.target, dtype=np.int64)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=random_state)
    return _split(X_train, y_train, X_test, y_test, "digits", 10)


def mnist1d(seed: int | None = None) -> DataSplit:
    """MNIST-1D (Greydanus 2020): 10 classes of 1-D signals of length 40.

    Generated offline with ``mnist1d.data.make_dataset`` and the package's
    default arguments (4000 train / 1000 test samples; seed 42 unless ``seed``
    is given); the network is never used. Generation takes about a second, so
    nothing is cached. The global ``random`` and ``np.random`` states, which the
    generator reseeds, are restored afterwards. Needs the ``mnist1d`` package
    (``pip install 'chainrule[datasets]'``).
    """
    try:
        import mnist1d as _package  # noqa: F401
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:
        name = getattr(exc, "name", None) or ""
        if name and name.split(".")[0] != "mnist1d":
            raise errors.MissingDependencyError(
                f"chainrule.datasets.mnist1d(): the mnist1d package could not be imported because "
                f"'{name}' is missing ({exc}). Reinstall it with: pip install 'chainrule[datasets]' mnist1d"
            ) from exc
        raise errors.missing("mnist1d", "datasets", "chainrule.datasets.mnist1d()") from exc
    args = get_dataset_args()
    if seed is not None:
        args.seed = int(seed)
    np_state = np.random.get_state()
    py_state = random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return _split(data["x"], data["y"], data["x_test"], data["y_test"], "mnist1d", 10)


# --------------------------------------------------------------------------- IDX files


@contextlib.contextmanager
def _reading(label: object) -> Iterator[None]:
    """Turn the errors of reading a (possibly gzipped) file into DatasetErrors naming it."""
    try:
        yield
    except EOFError as exc:
        raise DatasetError(f"{label}: the gzip stream ends early: the file is truncated ({exc})") from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise DatasetError(f"{label}: the gzip stream is corrupt ({type(exc).__name__}: {exc})") from exc
    except OSError as exc:
        raise DatasetError(f"{label}: cannot be read ({exc})") from exc


@contextlib.contextmanager
def _open_idx(path: Path, label: object) -> Iterator[tuple[BinaryIO, BinaryIO, bool]]:
    """Open ``path``; yield ``(file, stream, gzipped)``, ``stream`` giving the uncompressed bytes.

    Gzip is recognised by its magic bytes. The stream decompresses as it is read,
    so reading ``n`` bytes of it never holds more than ``n`` bytes plus a
    compressed buffer, however far the file expands.
    """
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError as exc:
        raise DatasetError(f"{path}: no such file") from exc
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc})") from exc
    with f:
        with _reading(label):
            gzipped = f.read(2) == _GZIP_MAGIC
            f.seek(0)
        if not gzipped:
            yield f, f, False
            return
        with gzip.GzipFile(fileobj=f, mode="rb") as stream:
            yield f, stream, True  # type: ignore[misc]


def _is_gzip(path: Path, label: object) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(2) == _GZIP_MAGIC
    except OSError as exc:
        raise DatasetError(f"{label}: cannot be read ({exc})") from exc


def _read_upto(stream: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes from ``stream``: fewer only at its end."""
    parts = []
    while n > 0:
        chunk = stream.read(min(n, _READ_CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


@dataclass(frozen=True)
class _IdxHeader:
    raw: bytes  # the header's bytes: magic number and dimensions
    dtype: np.dtype  # big-endian, as stored
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        """Bytes of data the header declares (exact: Python integers do not overflow)."""
        count = 1
        for d in self.shape:
            count *= d
        return count * self.dtype.itemsize

    def describe(self) -> str:
        return f"dimensions {self.shape} of {self.dtype.name}"


def _read_header(stream: BinaryIO, label: object) -> _IdxHeader:
    """Read and check the IDX header (4 + 4 * ndim bytes) at the start of ``stream``."""
    with _reading(label):
        head = _read_upto(stream, 4)
    if len(head) < 4:
        raise DatasetError(f"{label}: {len(head)} bytes is too short for an IDX header (4 bytes at least)")
    if head[0] != 0 or head[1] != 0:
        raise DatasetError(f"{label}: bad magic number 0x{head.hex()}: an IDX file starts with two zero bytes")
    code, ndim = head[2], head[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise DatasetError(f"{label}: unknown IDX data type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise DatasetError(f"{label}: the IDX header declares 0 dimensions")
    with _reading(label):
        dims = _read_upto(stream, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise DatasetError(
            f"{label}: the file is truncated inside its header "
            f"({4 + len(dims)} bytes, the header of {ndim} dimensions needs {4 + 4 * ndim})"
        )
    return _IdxHeader(head + dims, _IDX_DTYPES[code], struct.unpack(f">{ndim}I", dims))


class _OverLimit(DatasetError):
    """An IDX file declaring more data than the limit; ``fault`` says so without the advice."""

    def __init__(self, label: object, fault: str) -> None:
        super().__init__(
            f"{label}: {fault}; refused before reading it. If the file is genuine, raise the limit: "
            f"load_idx(..., max_bytes=N) or chainrule.datasets.MAX_IDX_BYTES = N"
        )
        self.fault = fault


def _check_limit(header: _IdxHeader, label: object, max_bytes: int) -> None:
    """Refuse data larger than ``max_bytes`` before anything is allocated or decompressed."""
    if header.nbytes > max_bytes:
        raise _OverLimit(
            label,
            f"the IDX header declares {header.describe()}, {header.nbytes} bytes ({format_bytes(header.nbytes)}) "
            f"of data, more than the limit of {max_bytes} bytes ({format_bytes(max_bytes)})",
        )


def _size_error(label: object, header: _IdxHeader, found: int | None) -> DatasetError:
    expected = header.nbytes
    if found is None:  # a gzip stream read only one byte past the declared size
        return DatasetError(
            f"{label}: expected {expected} bytes of data ({header.describe()}), found more: "
            f"trailing bytes after the data (the rest of the stream was not decompressed)"
        )
    if found < expected:
        return DatasetError(
            f"{label}: expected {expected} bytes of data ({header.describe()}), found {found}: the file is truncated"
        )
    return DatasetError(
        f"{label}: expected {expected} bytes of data ({header.describe()}), "
        f"found {found}: {found - expected} trailing bytes after the data"
    )


def _allocate(header: _IdxHeader, label: object) -> np.ndarray:
    """An uninitialised native-order array of the declared shape; DatasetError when memory is short."""
    try:
        return np.empty(header.shape, dtype=header.dtype.newbyteorder("="))
    except MemoryError as exc:
        raise DatasetError(
            f"{label}: cannot allocate {header.nbytes} bytes ({format_bytes(header.nbytes)}) for {header.describe()}: "
            f"not enough memory"
        ) from exc


def _copy(stream: BinaryIO, header: _IdxHeader, label: object, array: np.ndarray | None, digest: Any) -> None:
    """Read the declared data chunk by chunk into ``array`` and/or ``digest``; check that the stream ends there.

    A stream is never read further than one byte past the declared size.
    """
    buffer = memoryview(array).cast("B") if array is not None and array.size else None
    pos = 0
    with _reading(label):
        while pos < header.nbytes:
            chunk = stream.read(min(_READ_CHUNK, header.nbytes - pos))
            if not chunk:
                raise _size_error(label, header, pos)
            if buffer is not None:
                buffer[pos : pos + len(chunk)] = chunk
            if digest is not None:
                digest.update(chunk)
            pos += len(chunk)
        if stream.read(1):
            raise _size_error(label, header, None)


def _read_content(path: Path, label: object, max_bytes: int, keep_up_to: int, digest: Any = None) -> np.ndarray | None:
    """Stream the IDX file at ``path`` (gzipped or not); return its data as a native-endian, writable array.

    The header is read first; the declared size is checked against the file's
    size (uncompressed files) and against ``max_bytes`` before anything else.
    The array is allocated, at exactly the declared size, only when that is at
    most ``keep_up_to`` bytes (else None is returned); a gzip stream is
    decompressed chunk by chunk into it. ``digest`` (a hashlib object), when
    given, is fed the uncompressed content, header included.
    """
    with _open_idx(path, label) as (f, stream, gzipped):
        header = _read_header(stream, label)
        if not gzipped:
            with _reading(label):
                found = os.fstat(f.fileno()).st_size - len(header.raw)
            if found != header.nbytes:
                raise _size_error(label, header, found)
        _check_limit(header, label, max_bytes)
        if digest is not None:
            digest.update(header.raw)
        array = _allocate(header, label) if header.nbytes <= keep_up_to else None
        _copy(stream, header, label, array, digest)
    if array is not None and array.dtype.itemsize > 1 and sys.byteorder == "little":
        array.byteswap(inplace=True)  # big-endian on disk
    return array


def _decode_idx(path: Path, label: object, max_bytes: int) -> np.ndarray:
    array = _read_content(path, label, max_bytes, keep_up_to=max_bytes)
    assert array is not None
    return array


def load_idx(path: str | os.PathLike, max_bytes: int | None = None) -> np.ndarray:
    """Read an IDX file (the format of MNIST), gzipped or not, into a NumPy array.

    Gzip is recognised by its magic bytes (``1f 8b``), not by the file name.
    Supported element types: unsigned byte, signed byte, short, int, float and
    double; the result has the native byte order and the shape the header
    declares.

    The file is never read whole: its header comes first, and the data it
    declares must fit in ``max_bytes`` (default :data:`MAX_IDX_BYTES`, 1 GiB;
    the largest Fashion-MNIST file holds 47 MB) before the array is allocated.
    Then the data is read, or decompressed, chunk by chunk straight into it, so
    a small gzip file that expands to gigabytes (a "gzip bomb") costs no more
    than its declared size and is refused when that is over the limit.

    Raises :class:`~chainrule.errors.DatasetError`, naming the file and the
    fault, for a missing or unreadable file, a corrupt or truncated gzip
    stream, a bad magic number, an unknown type code, data over the limit,
    data shorter than the dimensions need (truncated) or longer (trailing
    bytes; in a gzip stream, detected one byte past the declared size).
    """
    path = Path(path)
    return _decode_idx(path, path, _idx_limit(max_bytes))


def _idx_limit(max_bytes: int | None) -> int:
    if max_bytes is None:
        return int(_setting("MAX_IDX_BYTES", integer=True))
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes < 0:
        raise ArgumentError(f"load_idx: max_bytes must be a non-negative integer (bytes), got {max_bytes!r}")
    return int(max_bytes)


# --------------------------------------------------------------------------- verification


def _file_kind(filename: str) -> str:
    return "images" if "images" in filename else "labels"


def _file_md5(path: Path, label: object) -> str:
    """MD5 of the file's bytes as stored, read in chunks."""
    digest = hashlib.md5()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_READ_CHUNK):
                digest.update(chunk)
    except FileNotFoundError as exc:
        raise DatasetError(f"{label}: no such file") from exc
    except OSError as exc:
        raise DatasetError(f"{label}: cannot be read ({exc})") from exc
    return digest.hexdigest()


def _check_md5(path: Path, accepted: frozenset[str], label: object, max_bytes: int) -> np.ndarray | None:
    """Pass when the MD5 of the file, or else of its uncompressed content, is accepted.

    The file's own MD5 is checked first, before anything is decompressed. Only
    when it fails and the file is gzipped is the content's MD5 computed, while
    streaming the decompression under the size limit. The data is kept (and
    returned, to save decoding it again) only when it declares at most
    ``_ONE_PASS_BYTES``: a file that fails its checksum never gets more memory
    than that. When the content cannot be hashed (not IDX, over the limit,
    corrupt), the checksum error says why.
    """
    digest = _file_md5(path, label)
    if digest in accepted:
        return None
    content, why, array = None, "", None
    if _is_gzip(path, label):
        md5 = hashlib.md5()
        try:
            array = _read_content(path, label, max_bytes, keep_up_to=_ONE_PASS_BYTES, digest=md5)
            content = md5.hexdigest()
        except _OverLimit as exc:
            why = exc.fault
        except DatasetError as exc:
            why = str(exc).replace(f"{label}: ", "", 1)
        if content in accepted:
            return array
    found = f"md5 {digest}" + (f" (uncompressed: {content})" if content else "")
    if why:
        found += f" (its uncompressed content was not hashed: {why})"
    raise DatasetError(
        f"{label}: checksum mismatch: the file has {found}, expected "
        f"{' or '.join(sorted(accepted))}: it is corrupt or a different file"
    )


def _read_verified(
    path: Path, filename: str, accepted: frozenset[str] | None, max_bytes: int | None = None
) -> np.ndarray:
    """Check the file ``path`` (holding ``filename``) and return its array.

    The checksum comes first (see :func:`_check_md5`); only a file that passes
    is decoded, so with checksums in force a hostile file never gets an array
    allocated for it. Then the IDX structure, element type and shape.
    """
    limit = _idx_limit(max_bytes)
    array = None if accepted is None else _check_md5(path, accepted, path, limit)
    if array is None:
        array = _decode_idx(path, path, limit)
    if array.dtype != np.uint8:
        raise DatasetError(f"{path}: expected unsigned bytes, the file holds {array.dtype.name}")
    if _file_kind(filename) == "images":
        if array.ndim != 3 or array.shape[1:] != (28, 28):
            raise DatasetError(f"{path}: expected images of shape (N, 28, 28), found {array.shape}")
    elif array.ndim != 1:
        raise DatasetError(f"{path}: expected labels of shape (N,), found {array.shape}")
    return array


# --------------------------------------------------------------------------- downloading


def _progress_bar(total: int | None, desc: str) -> Any:
    """A tqdm bar when tqdm is installed and stderr is a terminal, else None."""
    stream = sys.stderr
    try:
        interactive = stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        interactive = False
    if not interactive:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False)


def _setting(name: str, integer: bool) -> Any:
    """The module-level setting ``name``, checked: an integer >= 0 when ``integer``, else a number > 0."""
    value = globals()[name]
    if integer:
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0
        what = "an integer >= 0"
    else:
        ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and value > 0
        what = "a number of seconds > 0"
    if not ok:
        raise ArgumentError(f"chainrule.datasets.{name} must be {what}, got {value!r}")
    return value


class _Watchdog:
    """A download's overall deadline: when it passes, every socket the download opened is shut down.

    A per-read timeout alone lets a server that sends a byte now and then hold a
    download for ever. Shutting the socket down wakes whichever read is waiting,
    for the status line, the headers or the body, at the deadline; ``expired``
    then tells the reader why its connection ended.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.deadline = time.monotonic() + self.seconds
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(self.seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket | None) -> None:
        """Shut ``sock`` down at the deadline (at once when it has passed)."""
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            fired = self.fired
        if fired:
            _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def expired(self) -> bool:
        return self.fired or self.remaining() <= 0


def _shutdown(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for an SSL socket: it acts on the connection, whichever
    # thread is blocked reading it; on a socket already closed it fails harmlessly.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _watched(connection_class: type, watchdog: _Watchdog) -> Any:
    """A factory of ``connection_class`` connections whose sockets ``watchdog`` shuts down at the deadline."""

    def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
        conn = connection_class(host, **kwargs)
        connect = conn.connect

        def watched_connect() -> None:
            connect()
            watchdog.watch(conn.sock)

        conn.connect = watched_connect  # type: ignore[method-assign]
        return conn

    return make


def _opener(watchdog: _Watchdog) -> urllib.request.OpenerDirector:
    """urllib's usual opener (proxies, redirects), with connections under ``watchdog``."""

    class WatchedHTTP(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(_watched(http.client.HTTPConnection, watchdog), req)

    handlers: list[urllib.request.BaseHandler] = [WatchedHTTP()]
    if hasattr(http.client, "HTTPSConnection"):  # Python built with ssl

        class WatchedHTTPS(urllib.request.HTTPSHandler):
            def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
                # No context given: http.client's default one, which verifies the certificate and host name.
                return self.do_open(_watched(http.client.HTTPSConnection, watchdog), req)

        handlers.append(WatchedHTTPS())
    return urllib.request.build_opener(*handlers)


class _ClosedEarly(DatasetError):
    """The connection ended before the body did: worth another try with a fresh file."""


@dataclass(frozen=True)
class _Cap:
    """The most bytes a download may bring, and why."""

    nbytes: int
    reason: str


def _content_length(response: Any) -> int | None:
    length = response.headers.get("Content-Length")
    return int(length) if length and length.strip().isdigit() else None


def _stream_to(url: str, out: Any, desc: str, cap: _Cap, watchdog: _Watchdog) -> int:
    """Write the body at ``url`` into the open binary file ``out``; return its size.

    DatasetError on any failure: a Content-Length over ``cap`` (refused before
    the body is read), a body growing past it (reading stops there), the
    deadline of ``watchdog`` passing, an HTTP or network error; _ClosedEarly
    when the connection closed or reset before the end of the body.
    """
    received = 0
    total: int | None = None
    where = f"could not download {url}"
    per_read = _setting("DOWNLOAD_TIMEOUT_S", integer=False)
    try:
        timeout = min(per_read, watchdog.remaining())
        if timeout <= 0:
            raise TimeoutError("no time left before the deadline")
        with _opener(watchdog).open(url, timeout=timeout) as response:
            total = _content_length(response)
            if total is not None and total > cap.nbytes:
                raise DatasetError(
                    f"{where}: the server announces {total} bytes ({format_bytes(total)}), more than the "
                    f"{cap.nbytes} bytes ({format_bytes(cap.nbytes)}) allowed for it ({cap.reason}); "
                    f"refused before reading the body"
                )
            bar = _progress_bar(total, desc)
            try:
                while chunk := response.read(_CHUNK):
                    received += len(chunk)
                    if received > cap.nbytes:
                        raise DatasetError(
                            f"{where}: the server sent more than the {cap.nbytes} bytes ({format_bytes(cap.nbytes)}) "
                            f"allowed for it ({cap.reason}); stopped reading there"
                        )
                    try:
                        out.write(chunk)
                    except OSError as exc:
                        raise DatasetError(f"{where}: cannot write {getattr(out, 'name', 'the file')} ({exc})") from exc
                    if bar is not None:
                        bar.update(len(chunk))
                    if watchdog.expired():
                        break
            finally:
                if bar is not None:
                    bar.close()
            if watchdog.expired():
                raise TimeoutError("deadline")
    except DatasetError:
        raise
    except Exception as exc:
        raise _download_error(where, exc, watchdog, received, total, per_read) from exc
    if total is not None and received != total:
        raise _ClosedEarly(f"{where}: the connection closed after {received} of {total} bytes")
    return received


def _download_error(
    where: str, exc: Exception, watchdog: _Watchdog, received: int, total: int | None, per_read: float
) -> DatasetError:
    """The DatasetError for ``exc``, raised while downloading (``received`` bytes so far)."""
    if watchdog.expired():
        of = f" of {total}" if total is not None else ""
        return DatasetError(
            f"{where}: gave up at the deadline of {watchdog.seconds:g} s for the file, {received}{of} bytes received: "
            f"the server is too slow or stalled. On a slow link, raise chainrule.datasets.DOWNLOAD_DEADLINE_S"
        )
    if isinstance(exc, urllib.error.HTTPError):
        return DatasetError(f"{where}: HTTP error {exc.code} {exc.reason}")
    if isinstance(exc, urllib.error.URLError):
        return DatasetError(f"{where}: {exc.reason}")
    if isinstance(exc, http.client.IncompleteRead):
        return _ClosedEarly(
            f"{where}: the connection closed before the end of the body ({received + len(exc.partial)} bytes received)"
        )
    if isinstance(exc, ConnectionError):  # reset, aborted, or closed before the status line
        return _ClosedEarly(f"{where}: the connection broke after {received} bytes ({type(exc).__name__}: {exc})")
    if isinstance(exc, TimeoutError):
        return _ClosedEarly(f"{where}: no data for {per_read:g} s after {received} bytes (DOWNLOAD_TIMEOUT_S)")
    return DatasetError(f"{where}: {type(exc).__name__}: {exc}")


def _download_once(
    url: str, dest: Path, filename: str, accepted: frozenset[str] | None, cap: _Cap, watchdog: _Watchdog
) -> np.ndarray:
    """Download ``url`` to ``dest`` through a temporary file; verify; return the array.

    The temporary file (``.<name>.*.part``) lives next to ``dest`` and replaces
    it only once complete and verified; on any failure (Ctrl-C included) it is
    deleted.
    """
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part", delete=False)
    except OSError as exc:
        raise DatasetError(f"could not download {url}: cannot write into {dest.parent} ({exc})") from exc
    tmp_path = Path(tmp.name)
    try:
        with tmp:
            _stream_to(url, tmp, filename, cap, watchdog)
        try:
            array = _read_verified(tmp_path, filename, accepted)
        except DatasetError as exc:
            reason = str(exc).replace(f"{tmp_path}: ", "", 1)
            raise DatasetError(f"downloaded {url}, but it failed verification: {reason}") from exc
        with contextlib.suppress(OSError):
            os.chmod(tmp_path, 0o644)  # NamedTemporaryFile creates 0600
        os.replace(tmp_path, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise
    return array


def _download_from(url: str, dest: Path, filename: str, accepted: frozenset[str] | None, cap: _Cap) -> np.ndarray:
    """:func:`_download_once` within one deadline, tried again with a fresh file when the connection closed early."""
    retries = _setting("DOWNLOAD_RETRIES", integer=True)
    with _Watchdog(_setting("DOWNLOAD_DEADLINE_S", integer=False)) as watchdog:
        tries = 0
        while True:
            tries += 1
            try:
                return _download_once(url, dest, filename, accepted, cap, watchdog)
            except _ClosedEarly as exc:
                if tries > retries or watchdog.expired():
                    raise DatasetError(f"{exc} (tried {tries} time{'s' if tries > 1 else ''})") from exc


def _download(
    urls: tuple[str, ...], dest: Path, filename: str, accepted: frozenset[str] | None, cap: _Cap
) -> np.ndarray:
    """Download ``filename`` from the first of ``urls`` that gives a file passing verification."""
    failures = []
    for url in urls:
        try:
            return _download_from(url, dest, filename, accepted, cap)
        except DatasetError as exc:
            failures.append(exc)
    if len(failures) == 1:
        raise failures[0]
    raise DatasetError(
        f"could not download {filename} from any of its {len(urls)} mirrors: " + "; ".join(map(str, failures))
    ) from failures[-1]


# --------------------------------------------------------------------------- MNIST and Fashion-MNIST


def _data_home() -> Path:
    if DATA_HOME is not None:
        return Path(DATA_HOME).expanduser()
    env = os.environ.get("CHAINRULE_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "chainrule"


def _accepted_checksums(
    official: Mapping[str, tuple[str, str]], base_url: str | None, checksums: Mapping[str, str] | None
) -> dict[str, frozenset[str] | None]:
    """Per file, the MD5 digests that pass (None: check the IDX structure only)."""
    accepted: dict[str, frozenset[str] | None] = {
        name: (frozenset(official[name]) if base_url is None else None) for name in _IDX_FILES
    }
    if checksums is not None:
        unknown = sorted(set(checksums) - set(_IDX_FILES))
        if unknown:
            raise ArgumentError(f"checksums: unknown file names {unknown}; expected some of {list(_IDX_FILES)}")
        for name, digest in checksums.items():
            accepted[name] = frozenset({str(digest).strip().lower()})
    return accepted


@dataclass(frozen=True)
class _Fetch:
    """Where and how missing files are downloaded."""

    bases: tuple[str, ...]  # base URLs, tried in order
    sizes: Mapping[str, int] | None  # published sizes of the canonical files; None: a custom base_url
    instead: str  # what else the user can do when a download fails

    def cap(self, name: str) -> _Cap:
        if self.sizes is None:
            limit = _setting("MAX_DOWNLOAD_BYTES", integer=True)
            return _Cap(
                int(limit), "the limit for a file from a custom base_url, chainrule.datasets.MAX_DOWNLOAD_BYTES"
            )
        size = self.sizes[name]
        return _Cap(size + size // 8 + 4096, f"its published size, {size} bytes, plus 1/8 + 4 KiB")

    def urls(self, name: str) -> tuple[str, ...]:
        return tuple(base.rstrip("/") + "/" + name for base in self.bases)


def _read_directory(
    directory: Path, accepted: Mapping[str, frozenset[str] | None], fetch: _Fetch | None
) -> dict[str, np.ndarray]:
    """Read the four files from ``directory``, downloading missing or failing ones when ``fetch`` is set."""
    arrays = {}
    for name in _IDX_FILES:
        path = _local_path(directory, name)
        if path.is_file():
            try:
                arrays[name] = _read_verified(path, name, accepted[name])
                continue
            except DatasetError as exc:
                if fetch is None:
                    raise DatasetError(
                        f"{exc}. Delete the file, or call with download=True to fetch a fresh copy"
                    ) from exc
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        if fetch is None:
            raise DatasetError(f"{path}: no such file")
        try:
            arrays[name] = _download(fetch.urls(name), directory / name, name, accepted[name], fetch.cap(name))
        except DatasetError as exc:
            raise DatasetError(f"{exc}. Instead: {fetch.instead}") from exc
    return arrays


def _instead(dataset: str, directory: Path, debian: bool) -> str:
    """The alternatives to a download that failed."""
    hints = ["install Debian's package (apt-get install dataset-fashion-mnist)"] if debian else []
    hints += [
        f"fetch {', '.join(_IDX_FILES)} another way (e.g. a browser) and put them in {directory}",
        "or pass root= a directory holding them (on the command line: --data-root DIR)",
    ]
    return "; ".join(hints) + "."


def _local_path(directory: Path, name: str) -> Path:
    """``directory/name``, or the same file unpacked (without .gz) when only that is there."""
    path = directory / name
    if not path.is_file() and name.endswith(".gz") and (directory / name[:-3]).is_file():
        return directory / name[:-3]
    return path


def _missing(directory: Path) -> list[str]:
    return [name for name in _IDX_FILES if not _local_path(directory, name).is_file()]


def _assemble(arrays: Mapping[str, np.ndarray], source: Path, name: str, flatten: bool) -> DataSplit:
    parts = []
    for images_name, labels_name in ((_TRAIN_IMAGES, _TRAIN_LABELS), (_TEST_IMAGES, _TEST_LABELS)):
        images, labels = arrays[images_name], arrays[labels_name]
        if len(images) != len(labels):
            raise DatasetError(
                f"{source}: {images_name} holds {len(images)} images but {labels_name} {len(labels)} labels"
            )
        if labels.size and int(labels.max()) > 9:
            raise DatasetError(f"{source / labels_name}: label {int(labels.max())} is out of range 0..9")
        X = images.astype(np.float32)
        X /= np.float32(255.0)
        if flatten:
            X = X.reshape(len(X), -1)
        parts += [X, labels.astype(np.int64)]
    return DataSplit(X_train=parts[0], y_train=parts[1], X_test=parts[2], y_test=parts[3], name=name, n_classes=10)


def _how_to_get(dataset: str, looked: list[str], debian_hint: bool, root_hint: bool) -> DatasetError:
    hints = []
    if debian_hint:
        hints.append("install Debian's package (apt-get install dataset-fashion-mnist)")
    if root_hint:
        hints.append("pass root= (the command line's --data-root) a directory holding the four files")
    hints.append("call with download=True to download them")
    return DatasetError(
        f"{dataset} not found: looked in {'; '.join(looked)}. To get it: "
        + ", or ".join(hints)
        + f". Files: {', '.join(_IDX_FILES)}."
    )


def _describe(directory: Path) -> str:
    missing = _missing(directory)
    if len(missing) == len(_IDX_FILES):
        return f"{directory} (no files)"
    return f"{directory} (missing {', '.join(missing)})"


def _load_idx_dataset(
    dataset: str,
    name: str,
    canonical: tuple[Mapping[str, tuple[str, str]], tuple[str, ...], Mapping[str, int]],
    root: str | os.PathLike | None,
    download: bool,
    base_url: str | None,
    checksums: Mapping[str, str] | None,
    flatten: bool,
    system_dir: Path | None,
) -> DataSplit:
    official, mirrors, sizes = canonical
    accepted = _accepted_checksums(official, base_url, checksums)

    def fetch(directory: Path) -> _Fetch | None:
        if not download:
            return None
        instead = _instead(dataset, directory, debian=system_dir is not None)
        if base_url is not None:
            return _Fetch((base_url,), None, instead)
        return _Fetch(tuple(mirrors), sizes, instead)

    if root is not None:
        directory = Path(root).expanduser()
        if not download and _missing(directory):
            raise _how_to_get(dataset, [_describe(directory)], debian_hint=False, root_hint=False)
        return _assemble(_read_directory(directory, accepted, fetch(directory)), directory, name, flatten)

    looked = []
    if system_dir is not None:
        if not _missing(system_dir):
            try:
                return _assemble(_read_directory(system_dir, accepted, None), system_dir, name, flatten)
            except DatasetError as exc:
                warnings.warn(f"ignoring {system_dir}: {exc}", RuntimeWarning, stacklevel=3)
                looked.append(f"{system_dir} (failed verification)")
        else:
            looked.append(_describe(system_dir))
    cache = _data_home() / name
    if not download and _missing(cache):
        looked.append(_describe(cache))
        raise _how_to_get(dataset, looked, debian_hint=system_dir is not None, root_hint=True)
    return _assemble(_read_directory(cache, accepted, fetch(cache)), cache, name, flatten)


def fashion_mnist(
    root: str | os.PathLike | None = None,
    download: bool = True,
    base_url: str | None = None,
    checksums: Mapping[str, str] | None = None,
    flatten: bool = True,
) -> DataSplit:
    """Fashion-MNIST (Zalando): 28x28 grey images of 10 kinds of clothing.

    Returns 60,000 train / 10,000 test images as float32 in [0, 1] (pixel / 255),
    of shape ``(N, 784)``, or ``(N, 28, 28)`` when ``flatten`` is False, and int64
    labels 0..9.

    Where the four ``*-idx?-ubyte.gz`` files are taken from:

    1. ``root``, when given (files missing or failing verification there are
       downloaded into it when ``download`` is True);
    2. else Debian's ``dataset-fashion-mnist`` directory
       (:data:`DEBIAN_FASHION_MNIST_DIR`) when it holds all four and they verify;
    3. else the cache ``<DATA_HOME>/fashion-mnist`` (``$CHAINRULE_DATA`` or
       ``~/.cache/chainrule``), downloading what is missing when ``download``
       is True.

    Downloads come from ``base_url``, else from :data:`FASHION_MNIST_MIRRORS`:
    the dataset's own S3 bucket over https, then the same bucket's website,
    which serves plain http only. Every file is checked: its MD5 against
    ``checksums`` (``{filename: md5}``), else, without a custom ``base_url``,
    against the published checksums (of the .gz or of its content, so
    re-compressed copies pass), which is what makes the http fallback safe;
    always its IDX header and size. A file that fails is deleted and downloaded
    again when allowed, otherwise reported.

    Downloads are bounded (see the module's notes): a file may not exceed its
    published size by more than 1/8 (from a custom ``base_url``:
    :data:`MAX_DOWNLOAD_BYTES`), must arrive within :data:`DOWNLOAD_DEADLINE_S`,
    is tried again once when the connection closes early, and is written to a
    temporary ``.part`` file that is removed on any failure. The IDX data a file
    declares may not exceed :data:`MAX_IDX_BYTES`.

    Raises :class:`~chainrule.errors.DatasetError` when the data cannot be
    found, downloaded or verified; a failed download's message names the
    alternatives (Debian's package, a directory given as ``root``).
    """
    system_dir = None if DEBIAN_FASHION_MNIST_DIR is None else Path(DEBIAN_FASHION_MNIST_DIR)
    canonical = (_FASHION_MNIST_MD5, FASHION_MNIST_MIRRORS, _FASHION_MNIST_SIZES)
    return _load_idx_dataset(
        "Fashion-MNIST", "fashion-mnist", canonical, root, download, base_url, checksums, flatten, system_dir
    )


def mnist(
    root: str | os.PathLike | None = None,
    download: bool = False,
    base_url: str | None = None,
    checksums: Mapping[str, str] | None = None,
    flatten: bool = True,
) -> DataSplit:
    """MNIST handwritten digits: 60,000 train / 10,000 test 28x28 images.

    X is float32 in [0, 1] (pixel / 255), of shape ``(N, 784)`` or, when
    ``flatten`` is False, ``(N, 28, 28)``; y is int64 0..9. The four
    ``*-idx?-ubyte.gz`` files are read from ``root`` (default: the cache
    ``<DATA_HOME>/mnist``) and downloaded there, from ``base_url`` (default:
    :data:`MNIST_MIRRORS`, PyTorch's https mirror), only when ``download`` is
    True. Verification and the bounds on downloads are as for
    :func:`fashion_mnist`: MD5 against ``checksums`` or the published
    checksums, plus the IDX structure.
    """
    canonical = (_MNIST_MD5, MNIST_MIRRORS, _MNIST_SIZES)
    return _load_idx_dataset("MNIST", "mnist", canonical, root, download, base_url, checksums, flatten, None)
