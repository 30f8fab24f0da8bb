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
import sys
import tempfile
import urllib.error
import urllib.request
import warnings
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import errors
from .errors import ArgumentError, DatasetError

__all__ = ["DataSplit", "xor", "spiral", "digits", "mnist1d", "load_idx", "mnist", "fashion_mnist"]

#: Where Debian's ``dataset-fashion-mnist`` package installs the four files.
DEBIAN_FASHION_MNIST_DIR: str | os.PathLike | None = Path("/usr/share/datasets/fashion-mnist")

#: Root of chainrule's data cache. ``None`` means ``$CHAINRULE_DATA`` when that
#: variable is set, else ``~/.cache/chainrule``.
DATA_HOME: str | os.PathLike | None = None

FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"

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

_GZIP_MAGIC = b"\x1f\x8b"
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CHUNK = 1 << 16
_TIMEOUT_S = 60.0


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


def _gunzip_if_needed(blob: bytes, label: object) -> bytes:
    """Decompress ``blob`` when it starts with the gzip magic bytes."""
    if blob[:2] != _GZIP_MAGIC:
        return blob
    try:
        return gzip.decompress(blob)
    except EOFError as exc:
        raise DatasetError(f"{label}: the gzip stream ends early: the file is truncated ({exc})") from exc
    except (OSError, zlib.error) as exc:
        raise DatasetError(f"{label}: the gzip stream is corrupt ({type(exc).__name__}: {exc})") from exc


def _decode_idx(raw: bytes, label: object) -> np.ndarray:
    """Parse uncompressed IDX bytes into a native-endian, writable array."""
    if len(raw) < 4:
        raise DatasetError(f"{label}: {len(raw)} bytes is too short for an IDX header (4 bytes at least)")
    if raw[0] != 0 or raw[1] != 0:
        raise DatasetError(f"{label}: bad magic number 0x{raw[:4].hex()}: an IDX file starts with two zero bytes")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise DatasetError(f"{label}: unknown IDX data type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise DatasetError(f"{label}: the IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(
            f"{label}: the file is truncated inside its header "
            f"({len(raw)} bytes, the header of {ndim} dimensions needs {header})"
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    count = 1
    for d in shape:
        count *= d
    expected = count * dtype.itemsize
    found = len(raw) - header
    if found < expected:
        raise DatasetError(
            f"{label}: expected {expected} bytes of data (dimensions {shape} of {dtype.name}), "
            f"found {found}: the file is truncated"
        )
    if found > expected:
        raise DatasetError(
            f"{label}: expected {expected} bytes of data (dimensions {shape} of {dtype.name}), "
            f"found {found}: {found - expected} trailing bytes after the data"
        )
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=header)
    return data.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the format of MNIST), gzipped or not, into a NumPy array.

    Gzip is recognised by its magic bytes (``1f 8b``), not by the file name.
    Supported element types: unsigned byte, signed byte, short, int, float and
    double; the result has the native byte order and the shape the header
    declares. Raises :class:`~chainrule.errors.DatasetError`, naming the file
    and the fault, for a missing or unreadable file, a corrupt or truncated
    gzip stream, a bad magic number, an unknown type code, data shorter than
    the dimensions need (truncated) or longer (trailing bytes).
    """
    path = Path(path)
    try:
        blob = path.read_bytes()
    except FileNotFoundError as exc:
        raise DatasetError(f"{path}: no such file") from exc
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc})") from exc
    return _decode_idx(_gunzip_if_needed(blob, path), path)


# --------------------------------------------------------------------------- verification


def _file_kind(filename: str) -> str:
    return "images" if "images" in filename else "labels"


def _check_md5(blob: bytes, raw: bytes | None, accepted: frozenset[str], label: object) -> None:
    """Pass when the MD5 of the file or of its uncompressed content is accepted."""
    digest = hashlib.md5(blob).hexdigest()
    if digest in accepted:
        return
    content = hashlib.md5(raw).hexdigest() if raw is not None and raw is not blob else None
    if content in accepted:
        return
    found = f"md5 {digest}" + (f" (uncompressed: {content})" if content else "")
    raise DatasetError(
        f"{label}: checksum mismatch: the file has {found}, expected "
        f"{' or '.join(sorted(accepted))}: it is corrupt or a different file"
    )


def _verified_array(blob: bytes, filename: str, accepted: frozenset[str] | None, label: object) -> np.ndarray:
    """Check ``blob`` (the bytes of ``filename``) and return its array."""
    try:
        raw = _gunzip_if_needed(blob, label)
    except DatasetError:
        if accepted is not None:  # report the checksum, the more telling fault
            _check_md5(blob, None, accepted, label)
        raise
    if accepted is not None:
        _check_md5(blob, raw, accepted, label)
    array = _decode_idx(raw, label)
    if array.dtype != np.uint8:
        raise DatasetError(f"{label}: expected unsigned bytes, the file holds {array.dtype.name}")
    if _file_kind(filename) == "images":
        if array.ndim != 3 or array.shape[1:] != (28, 28):
            raise DatasetError(f"{label}: expected images of shape (N, 28, 28), found {array.shape}")
    elif array.ndim != 1:
        raise DatasetError(f"{label}: expected labels of shape (N,), found {array.shape}")
    return array


def _read_verified(path: Path, filename: str, accepted: frozenset[str] | None) -> np.ndarray:
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc})") from exc
    return _verified_array(blob, filename, accepted, path)


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


def _stream_to(url: str, out: Any, desc: str) -> None:
    """Write the body at ``url`` into the open binary file ``out``; DatasetError on any failure."""
    received = 0
    total: int | None = None
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.strip().isdigit() else None
            bar = _progress_bar(total, desc)
            try:
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    received += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
    except urllib.error.HTTPError as exc:
        raise DatasetError(f"could not download {url}: HTTP error {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise DatasetError(f"could not download {url}: {exc.reason}") from exc
    except http.client.IncompleteRead as exc:
        raise DatasetError(
            f"could not download {url}: the connection closed before the end of the body "
            f"({received + len(exc.partial)} bytes received)"
        ) from exc
    except (http.client.HTTPException, OSError, ValueError) as exc:
        raise DatasetError(f"could not download {url}: {type(exc).__name__}: {exc}") from exc
    if total is not None and received != total:
        raise DatasetError(f"could not download {url}: the connection closed after {received} of {total} bytes")


def _download(url: str, dest: Path, filename: str, accepted: frozenset[str] | None) -> np.ndarray:
    """Download ``url`` to ``dest`` through a temporary file; verify; return the array.

    The temporary file lives next to ``dest`` and replaces it only once complete
    and verified; on any failure (Ctrl-C included) it is deleted.
    """
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part", delete=False)
    except OSError as exc:
        raise DatasetError(f"could not download {url}: cannot write into {dest.parent} ({exc})") from exc
    tmp_path = Path(tmp.name)
    try:
        with tmp:
            _stream_to(url, tmp, filename)
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


def _read_directory(
    directory: Path,
    accepted: Mapping[str, frozenset[str] | None],
    url_base: str | None,
) -> dict[str, np.ndarray]:
    """Read the four files from ``directory``, downloading missing or failing ones when ``url_base`` is set."""
    arrays = {}
    for name in _IDX_FILES:
        path = _local_path(directory, name)
        url = None if url_base is None else url_base.rstrip("/") + "/" + name
        if path.is_file():
            try:
                arrays[name] = _read_verified(path, name, accepted[name])
                continue
            except DatasetError as exc:
                if url is None:
                    raise DatasetError(
                        f"{exc}. Delete the file, or call with download=True to fetch a fresh copy"
                    ) from exc
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        if url is None:
            raise DatasetError(f"{path}: no such file")
        arrays[name] = _download(url, path, name, accepted[name])
    return arrays


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
        hints.append("pass root= a directory holding the four files")
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
    official: Mapping[str, tuple[str, str]],
    default_url: str,
    root: str | os.PathLike | None,
    download: bool,
    base_url: str | None,
    checksums: Mapping[str, str] | None,
    flatten: bool,
    system_dir: Path | None,
) -> DataSplit:
    accepted = _accepted_checksums(official, base_url, checksums)
    url_base = (base_url or default_url) if download else None
    if root is not None:
        directory = Path(root).expanduser()
        if url_base is None and _missing(directory):
            raise _how_to_get(dataset, [_describe(directory)], debian_hint=False, root_hint=False)
        return _assemble(_read_directory(directory, accepted, url_base), directory, name, flatten)

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
    if url_base is None and _missing(cache):
        looked.append(_describe(cache))
        raise _how_to_get(dataset, looked, debian_hint=system_dir is not None, root_hint=True)
    return _assemble(_read_directory(cache, accepted, url_base), cache, name, flatten)


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

    Downloads come from ``base_url`` (default: the dataset's own S3 site). Every
    file is checked: its MD5 against ``checksums`` (``{filename: md5}``), else,
    without a custom ``base_url``, against the published checksums (of the .gz
    or of its content, so re-compressed copies pass); always its IDX header and
    size. A file that fails is deleted and downloaded again when allowed,
    otherwise reported. Raises :class:`~chainrule.errors.DatasetError` when the
    data cannot be found, downloaded or verified.
    """
    system_dir = None if DEBIAN_FASHION_MNIST_DIR is None else Path(DEBIAN_FASHION_MNIST_DIR)
    return _load_idx_dataset(
        "Fashion-MNIST",
        "fashion-mnist",
        _FASHION_MNIST_MD5,
        FASHION_MNIST_URL,
        root,
        download,
        base_url,
        checksums,
        flatten,
        system_dir,
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
    the ossci-datasets mirror), only when ``download`` is True. Verification
    is as for :func:`fashion_mnist`: MD5 against ``checksums`` or the published
    checksums, plus the IDX structure.
    """
    return _load_idx_dataset(
        "MNIST", "mnist", _MNIST_MD5, MNIST_URL, root, download, base_url, checksums, flatten, None
    )
