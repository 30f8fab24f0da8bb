"""chainrule.datasets: generated sets, IDX parsing, verified downloads from a local HTTP server."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import signal
import socket
import struct
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from chainrule import datasets
from chainrule.errors import DatasetError, MissingDependencyError

FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(np.int16): 0x0B,
    np.dtype(np.int32): 0x0C,
    np.dtype(np.float32): 0x0D,
    np.dtype(np.float64): 0x0E,
}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` in the IDX format (big-endian), written independently of the reader."""
    array = np.asarray(array)
    header = bytes([0, 0, CODES[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# --------------------------------------------------------------------------- load_idx


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_load_idx_round_trip(tmp_path, dtype, gz):
    rng = np.random.default_rng(3)
    shape = (5, 4, 3) if dtype == np.uint8 else (6, 7)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        array = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    else:
        array = rng.standard_normal(shape).astype(dtype)
    data = idx_bytes(array)
    # The name says nothing: gzip must be recognised by its magic bytes.
    path = tmp_path / "data.bin"
    path.write_bytes(gzip.compress(data) if gz else data)
    back = datasets.load_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert back.shape == shape
    np.testing.assert_array_equal(back, array)
    back[...] = 0  # writable, not a view of the file's bytes


def test_load_idx_labels_1d(tmp_path):
    labels = np.arange(10, dtype=np.uint8)[::-1].copy()
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(idx_bytes(labels))
    np.testing.assert_array_equal(datasets.load_idx(path), labels)
    assert datasets.load_idx(path).shape == (10,)


def test_load_idx_big_endian_values(tmp_path):
    # Hand-built bytes: 2 int32 values 1 and 258, big-endian.
    path = tmp_path / "ints"
    path.write_bytes(bytes([0, 0, 0x0C, 1, 0, 0, 0, 2]) + bytes([0, 0, 0, 1, 0, 0, 1, 2]))
    np.testing.assert_array_equal(datasets.load_idx(path), np.array([1, 258], dtype=np.int32))


def test_load_idx_truncated(tmp_path):
    images = np.zeros((10, 28, 28), np.uint8)
    data = idx_bytes(images)[:-100]
    for name, blob in (("plain", data), ("packed.gz", gzip.compress(data))):
        path = tmp_path / name
        path.write_bytes(blob)
        with pytest.raises(DatasetError, match=r"expected 7840 bytes of data .*, found 7740: the file is truncated"):
            datasets.load_idx(path)
        with pytest.raises(DatasetError, match=name.replace(".", r"\.")):
            datasets.load_idx(path)


def test_load_idx_truncated_header(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(bytes([0, 0, 0x08, 3, 0, 0, 0, 1]))
    with pytest.raises(DatasetError, match="truncated inside its header"):
        datasets.load_idx(path)


def test_load_idx_bad_magic(tmp_path):
    path = tmp_path / "notidx"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(DatasetError, match=r"notidx: bad magic number 0x504b0304"):
        datasets.load_idx(path)


def test_load_idx_unknown_dtype(tmp_path):
    path = tmp_path / "oddtype"
    path.write_bytes(bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 7]))
    with pytest.raises(DatasetError, match=r"unknown IDX data type code 0x0A"):
        datasets.load_idx(path)


def test_load_idx_trailing_bytes(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(np.arange(6, dtype=np.uint8)) + b"xyz")
    with pytest.raises(DatasetError, match=r"long: expected 6 bytes of data .*, found 9: 3 trailing bytes"):
        datasets.load_idx(path)


def test_load_idx_corrupt_gzip(tmp_path):
    packed = bytearray(gzip.compress(idx_bytes(np.arange(4000, dtype=np.int32))))
    for i in range(20, 40):  # flip bytes in the deflate stream, keep the length
        packed[i] ^= 0xFF
    path = tmp_path / "corrupt.gz"
    path.write_bytes(bytes(packed))
    with pytest.raises(DatasetError, match=r"corrupt\.gz: the gzip stream is corrupt"):
        datasets.load_idx(path)
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(idx_bytes(np.arange(4000, dtype=np.int32)))[:50])
    with pytest.raises(DatasetError, match=r"cut\.gz: the gzip stream ends early: the file is truncated"):
        datasets.load_idx(cut)


def test_load_idx_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        datasets.load_idx(tmp_path / "absent.gz")


# --------------------------------------------------------------------------- a local HTTP server


def make_files(n_train: int = 20, n_test: int = 10, seed: int = 0) -> tuple[dict[str, bytes], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    arrays = {
        FILES[0]: rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        FILES[1]: (np.arange(n_train) % 10).astype(np.uint8),
        FILES[2]: rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        FILES[3]: (np.arange(n_test)[::-1] % 10).astype(np.uint8),
    }
    return {name: gzip.compress(idx_bytes(a), mtime=0) for name, a in arrays.items()}, arrays


GOOD, ARRAYS = make_files()
GOOD_MD5 = {name: md5(blob) for name, blob in GOOD.items()}


def corrupted(blob: bytes) -> bytes:
    flipped = bytearray(blob)
    for i in range(len(flipped) // 2, len(flipped) // 2 + 16):
        flipped[i] ^= 0x5A
    assert len(flipped) == len(blob)
    return bytes(flipped)


class Server:
    """Serves ``/<variant>/<file>``; counts requests; ``/drop/`` closes mid-body."""

    def __init__(self):
        self.requests: list[str] = []
        self.variants = {
            "good": dict(GOOD),
            "truncated": {**GOOD, FILES[0]: GOOD[FILES[0]][: len(GOOD[FILES[0]]) // 2]},
            "corrupt": {**GOOD, FILES[0]: corrupted(GOOD[FILES[0]])},
            "drop": dict(GOOD),
            "lastbad": {**GOOD, FILES[3]: corrupted(GOOD[FILES[3]])},
            "different": {**GOOD, FILES[0]: make_files(seed=1)[0][FILES[0]]},  # valid, but not the file asked for
            "notfound": {},
            "stall": dict(GOOD),  # sends a third of the body, then waits for `release`
        }
        self.stalled = threading.Event()
        self.release = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the name http.server calls
                owner.requests.append(self.path)
                _, variant, name = self.path.split("/", 2)
                body = owner.variants.get(variant, {}).get(name)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if variant in ("drop", "stall"):
                    self.wfile.write(body[: len(body) // 3])
                    self.wfile.flush()
                    if variant == "stall":
                        owner.stalled.set()
                        owner.release.wait(30)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def base(self, variant: str) -> str:
        return f"{self.url}/{variant}/"


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    srv = Server()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.release.set()
        srv.httpd.shutdown()
        srv.httpd.server_close()


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """Point the Debian directory and the cache at empty temporary directories."""
    debian = tmp_path / "debian"
    home = tmp_path / "home"
    debian.mkdir()
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST_DIR", debian)
    monkeypatch.setattr(datasets, "DATA_HOME", home)
    return debian, home


def check_small(split, flatten=True):
    assert split.n_classes == 10
    assert split.X_train.dtype == np.float32 and split.X_test.dtype == np.float32
    assert split.y_train.dtype == np.int64 and split.y_test.dtype == np.int64
    shape = (784,) if flatten else (28, 28)
    assert split.X_train.shape == (20, *shape) and split.X_test.shape == (10, *shape)
    np.testing.assert_array_equal(
        split.X_train.reshape(20, 28, 28) * np.float32(255), ARRAYS[FILES[0]].astype(np.float32)
    )
    np.testing.assert_array_equal(split.X_test.reshape(10, 28, 28), ARRAYS[FILES[2]] / np.float32(255))
    np.testing.assert_array_equal(split.y_train, ARRAYS[FILES[1]])
    np.testing.assert_array_equal(split.y_test, ARRAYS[FILES[3]])


def test_download_verify_and_cache(server, isolated, tmp_path):
    cache = tmp_path / "cache"
    split = datasets.fashion_mnist(root=cache, base_url=server.base("good"), checksums=GOOD_MD5)
    check_small(split)
    assert sorted(server.requests) == sorted(f"/good/{f}" for f in FILES)
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES)
    for name in FILES:
        assert (cache / name).read_bytes() == GOOD[name]
    # Second call: from the cache, the server is not asked again.
    again = datasets.fashion_mnist(root=cache, base_url=server.base("good"), checksums=GOOD_MD5, flatten=False)
    check_small(again, flatten=False)
    assert len(server.requests) == 4
    # And without permission to download, the cached files suffice.
    check_small(datasets.fashion_mnist(root=cache, download=False, checksums=GOOD_MD5))
    assert len(server.requests) == 4


def test_download_without_checksums_checks_structure(server, isolated, tmp_path):
    cache = tmp_path / "cache"
    check_small(datasets.mnist(cache, download=True, base_url=server.base("good")))
    assert len(server.requests) == 4


def test_default_search_downloads_into_cache(server, isolated):
    _, home = isolated
    split = datasets.fashion_mnist(base_url=server.base("good"), checksums=GOOD_MD5)
    check_small(split)
    assert sorted(p.name for p in (home / "fashion-mnist").iterdir()) == sorted(FILES)


def test_debian_directory_is_used_first(server, isolated):
    debian, home = isolated
    for name, blob in GOOD.items():
        (debian / name).write_bytes(blob)
    check_small(datasets.fashion_mnist(base_url=server.base("good"), checksums=GOOD_MD5))
    assert server.requests == []
    assert not home.exists()


def test_corrupt_debian_directory_falls_back_to_cache(server, isolated):
    debian, home = isolated
    for name, blob in GOOD.items():
        (debian / name).write_bytes(corrupted(blob) if name == FILES[1] else blob)
    with pytest.warns(RuntimeWarning, match="checksum mismatch"):
        split = datasets.fashion_mnist(base_url=server.base("good"), checksums=GOOD_MD5)
    check_small(split)
    assert len(server.requests) == 4
    assert (debian / FILES[1]).read_bytes() == corrupted(GOOD[FILES[1]])  # never deleted


def assert_empty(directory: Path):
    left = sorted(p.name for p in directory.iterdir()) if directory.exists() else []
    assert left == [], f"left behind: {left}"


def test_truncated_download_leaves_nothing(server, isolated, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match=r"/truncated/train-images-idx3-ubyte\.gz.*truncated"):
        datasets.fashion_mnist(root=cache, base_url=server.base("truncated"))
    assert_empty(cache)


def test_corrupt_download_caught_by_md5_leaves_nothing(server, isolated, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match=r"/corrupt/train-images-idx3-ubyte\.gz.*checksum mismatch"):
        datasets.fashion_mnist(root=cache, base_url=server.base("corrupt"), checksums=GOOD_MD5)
    assert_empty(cache)


def test_valid_but_different_download_caught_by_md5(server, isolated, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(
        DatasetError, match=r"/different/train-images-idx3-ubyte\.gz.*checksum mismatch.*" + GOOD_MD5[FILES[0]]
    ):
        datasets.fashion_mnist(root=cache, base_url=server.base("different"), checksums=GOOD_MD5)
    assert_empty(cache)


def test_corrupt_last_file_keeps_only_verified_ones(server, isolated, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\.gz.*checksum mismatch"):
        datasets.fashion_mnist(root=cache, base_url=server.base("lastbad"), checksums=GOOD_MD5)
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES[:3])
    for name in FILES[:3]:
        assert (cache / name).read_bytes() == GOOD[name]


def test_dropped_connection_leaves_nothing(server, isolated, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match=r"could not download .*/drop/train-images-idx3-ubyte\.gz"):
        datasets.fashion_mnist(root=cache, base_url=server.base("drop"))
    assert_empty(cache)


def test_http_error_names_url(server, isolated, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match=r"/notfound/train-images-idx3-ubyte\.gz: HTTP error 404"):
        datasets.fashion_mnist(root=cache, base_url=server.base("notfound"))
    assert_empty(cache)


def test_interrupted_download_leaves_nothing(server, isolated, tmp_path):
    # A real Ctrl-C: SIGINT to the main thread while it waits in the middle of the body.
    cache = tmp_path / "cache"
    main = threading.main_thread().ident

    def interrupt():
        if server.stalled.wait(60):  # generous: a loaded machine may be slow to reach the body
            time.sleep(0.2)  # let the reader block on the rest of the body
            signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        datasets.fashion_mnist(root=cache, base_url=server.base("stall"))
    assert server.stalled.is_set()
    assert_empty(cache)


def test_bad_cached_file_is_replaced_or_reported(server, isolated, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    for name, blob in GOOD.items():
        (cache / name).write_bytes(blob)
    (cache / FILES[2]).write_bytes(corrupted(GOOD[FILES[2]]))
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz: checksum mismatch.*download=True"):
        datasets.fashion_mnist(root=cache, download=False, checksums=GOOD_MD5)
    assert server.requests == []
    check_small(datasets.fashion_mnist(root=cache, base_url=server.base("good"), checksums=GOOD_MD5))
    assert server.requests == [f"/good/{FILES[2]}"]
    assert (cache / FILES[2]).read_bytes() == GOOD[FILES[2]]


def test_not_found_message(isolated):
    debian, home = isolated
    with pytest.raises(DatasetError) as info:
        datasets.fashion_mnist(download=False)
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(debian) in message and str(home / "fashion-mnist") in message
    assert "root=" in message and "download=True" in message


def test_mismatched_counts_and_bad_labels(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    for name, blob in GOOD.items():
        (root / name).write_bytes(blob)
    (root / FILES[1]).write_bytes(gzip.compress(idx_bytes(np.zeros(19, np.uint8))))
    with pytest.raises(DatasetError, match="20 images but train-labels-idx1-ubyte.gz 19 labels"):
        datasets.mnist(root, base_url="http://127.0.0.1:9/")
    (root / FILES[1]).write_bytes(gzip.compress(idx_bytes(np.full(20, 12, np.uint8))))
    with pytest.raises(DatasetError, match="label 12 is out of range"):
        datasets.mnist(root, base_url="http://127.0.0.1:9/")


def test_unknown_checksum_name():
    with pytest.raises(ValueError, match="unknown file names"):
        datasets.fashion_mnist(root="/nonexistent", checksums={"train-images.gz": "0" * 32})


def test_published_checksums_accept_recompressed_files(tmp_path):
    # The check accepts the MD5 of either the .gz or its content, as Debian recompresses the files.
    content = idx_bytes(ARRAYS[FILES[1]])
    blob = gzip.compress(content, mtime=12345)
    path = tmp_path / FILES[1]
    path.write_bytes(blob)
    for digest in (md5(blob), md5(content)):
        np.testing.assert_array_equal(datasets._read_verified(path, FILES[1], frozenset({digest})), ARRAYS[FILES[1]])
    with pytest.raises(DatasetError, match="checksum mismatch"):
        datasets._read_verified(path, FILES[1], frozenset({"0" * 32}))


# --------------------------------------------------------------------------- the real Fashion-MNIST

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
REQUIRE_FASHION = os.environ.get("CHAINRULE_REQUIRE_FASHION") == "1"


@pytest.mark.skipif(
    not REQUIRE_FASHION and not all((DEBIAN / f).is_file() for f in FILES),
    reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)",
)
def test_fashion_mnist_from_debian(monkeypatch, tmp_path):
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST_DIR", DEBIAN)
    monkeypatch.setattr(datasets, "DATA_HOME", tmp_path / "home")  # must not be needed
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    split = datasets.fashion_mnist(download=False)
    assert split.n_classes == 10
    assert split.X_train.shape == (60000, 784) and split.X_test.shape == (10000, 784)
    assert split.X_train.dtype == np.float32 and split.y_train.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(split.y_train, minlength=10), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(split.y_test, minlength=10), np.full(10, 1000))
    assert split.X_train.min() == 0.0 and split.X_train.max() == 1.0
    assert 0.0 <= split.X_test.min() and split.X_test.max() <= 1.0
    # Pixel values are multiples of 1/255.
    np.testing.assert_array_equal(np.round(split.X_test[:50] * 255) / 255, split.X_test[:50])


# --------------------------------------------------------------------------- generated and packaged sets


def _no_network(*args, **kwargs):
    raise AssertionError("the network was used")


def test_xor():
    (X, y), (Xt, yt) = datasets.xor()
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [0, 1, 1, 0])
    assert X.dtype == np.float32 and y.dtype == np.int64 and y.shape == (4,)
    np.testing.assert_array_equal(Xt, X)
    np.testing.assert_array_equal(yt, y)
    assert Xt is not X and not np.shares_memory(Xt, X)
    np.testing.assert_array_equal(y, np.logical_xor(X[:, 0], X[:, 1]).astype(np.int64))
    assert datasets.xor().n_classes == 2


def test_spiral_shapes_balance_and_determinism():
    split = datasets.spiral(n_per_class=50, n_classes=4, test_fraction=0.2, seed=7)
    assert split.X_train.shape == (160, 2) and split.X_test.shape == (40, 2)
    assert split.X_train.dtype == np.float32 and split.y_train.dtype == np.int64
    assert split.n_classes == 4
    counts = np.bincount(np.concatenate([split.y_train, split.y_test]), minlength=4)
    np.testing.assert_array_equal(counts, [50, 50, 50, 50])
    # Radii lie in [0, 1] by construction.
    radius = np.hypot(*split.X_train.T)
    assert radius.max() <= 1.0 + 1e-6
    same = datasets.spiral(n_per_class=50, n_classes=4, test_fraction=0.2, seed=7)
    for a, b in zip(split.__dict__.values(), same.__dict__.values()):
        np.testing.assert_array_equal(a, b)
    other = datasets.spiral(n_per_class=50, n_classes=4, test_fraction=0.2, seed=8)
    assert not np.array_equal(split.X_train, other.X_train)
    # The split is shuffled: the training set holds every class, in mixed order.
    assert set(split.y_train.tolist()) == {0, 1, 2, 3}
    assert not np.all(np.diff(split.y_train) >= 0)


def test_spiral_default_and_arguments():
    (X, y), (Xt, yt) = datasets.spiral()
    assert X.shape == (480, 2) and Xt.shape == (120, 2)
    np.testing.assert_array_equal(np.bincount(np.concatenate([y, yt])), [200, 200, 200])
    with pytest.raises(ValueError, match="test_fraction"):
        datasets.spiral(test_fraction=1.0)
    with pytest.raises(ValueError, match="n_per_class"):
        datasets.spiral(n_per_class=0)


def test_digits_matches_sklearn_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    split = datasets.digits()
    assert split.X_train.shape == (1437, 64) and split.X_test.shape == (360, 64)
    assert split.X_train.dtype == np.float32 and split.y_train.dtype == np.int64
    assert split.n_classes == 10
    assert split.X_train.min() >= 0.0 and split.X_train.max() <= 1.0 and split.X_train.max() == 1.0
    bunch = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(bunch.data / 16, bunch.target, test_size=0.2, random_state=0)
    np.testing.assert_array_equal(split.X_train, X_train.astype(np.float32))
    np.testing.assert_array_equal(split.X_test, X_test.astype(np.float32))
    np.testing.assert_array_equal(split.y_train, y_train)
    np.testing.assert_array_equal(split.y_test, y_test)
    (a, b), (c, d) = split
    assert a is split.X_train and d is split.y_test


def _block(monkeypatch, package: str):
    monkeypatch.setitem(sys.modules, package, None)
    for name in list(sys.modules):
        if name.startswith(package + "."):
            monkeypatch.setitem(sys.modules, name, None)


def test_digits_missing_sklearn(monkeypatch):
    _block(monkeypatch, "sklearn")
    with pytest.raises(MissingDependencyError, match=r"chainrule\[datasets\]") as info:
        datasets.digits()
    assert "scikit-learn" in str(info.value)


def test_mnist1d_missing_package(monkeypatch):
    _block(monkeypatch, "mnist1d")
    with pytest.raises(MissingDependencyError, match=r"chainrule\[datasets\]"):
        datasets.mnist1d()


def test_mnist1d_offline(monkeypatch):
    import random

    def refuse(*args, **kwargs):
        raise AssertionError("mnist1d() tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    np.random.seed(123)
    random.seed(123)
    expected_np, expected_py = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(123)
    split = datasets.mnist1d()
    assert np.random.random() == expected_np and random.random() == expected_py  # global state untouched
    assert split.X_train.shape == (4000, 40) and split.X_test.shape == (1000, 40)
    assert split.X_train.dtype == np.float32 and split.y_train.dtype == np.int64
    assert split.n_classes == 10
    assert set(np.unique(split.y_train).tolist()) == set(range(10))
    assert set(np.unique(split.y_test).tolist()) == set(range(10))
    # Each class fills a tenth of the 5000 samples before the split.
    np.testing.assert_array_equal(np.bincount(np.concatenate([split.y_train, split.y_test])), np.full(10, 500))
    assert np.isfinite(split.X_train).all()
    # The generator is seeded: a second call gives the same data.
    np.testing.assert_array_equal(datasets.mnist1d().X_test, split.X_test)


def test_module_imports_only_numpy():
    import subprocess

    code = (
        "import sys, chainrule.datasets; "
        "print(sorted(m for m in ('sklearn', 'mnist1d', 'tqdm', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unpacked_files_in_a_directory_are_read(isolated, tmp_path):
    root = tmp_path / "unpacked"
    root.mkdir()
    for name, blob in GOOD.items():
        (root / name[:-3]).write_bytes(gzip.decompress(blob))  # train-images-idx3-ubyte, ...
    content_md5 = {name: md5(gzip.decompress(blob)) for name, blob in GOOD.items()}
    check_small(datasets.fashion_mnist(root=root, download=False, checksums=content_md5))
