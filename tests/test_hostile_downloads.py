"""Hostile IDX files and download servers: every case ends in a clear DatasetError, within its bounds.

Categories: IDX files (gzip bombs, declared sizes over the limit, lying headers) and downloads (servers
that send forever, announce huge bodies, trickle, stall, close early, send the wrong bytes or a gzip
bomb). The servers are real ones on 127.0.0.1; one test runs the bombs in a child process under a
1 GiB address-space limit with the default limits.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.server
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from chainrule import datasets
from chainrule.errors import DatasetError

FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
MiB = 1 << 20
GiB = 1 << 30


def idx_header(shape: tuple[int, ...], code: int = 0x08) -> bytes:
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


def idx_file(array: np.ndarray) -> bytes:
    assert array.dtype == np.uint8
    return idx_header(array.shape) + array.tobytes()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


def make_small_files(seed: int = 0) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    arrays = {
        FILES[0]: rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8),
        FILES[1]: rng.integers(0, 10, size=20, dtype=np.uint8),
        FILES[2]: rng.integers(0, 256, size=(10, 28, 28), dtype=np.uint8),
        FILES[3]: rng.integers(0, 10, size=10, dtype=np.uint8),
    }
    return {name: gzip.compress(idx_file(a), mtime=0) for name, a in arrays.items()}


GOOD = make_small_files()
GOOD_MD5 = {name: md5(blob) for name, blob in GOOD.items()}
OTHER = make_small_files(seed=1)  # valid files, but not the ones GOOD_MD5 names
assert all(OTHER[name] != GOOD[name] for name in FILES)

_ZEROS = bytes(MiB)


def write_bomb(path: Path, head: bytes, zeros: int, finish: bool = True) -> Path:
    """A gzip file of ``head`` then ``zeros`` zero bytes, about 1/1000 of that size.

    Made with zlib at level 9; after a full flush the compressor starts afresh, so one compressed MiB
    of zeros is the same bytes every time and is written as often as needed: the expanded data is
    never held. With ``finish`` the stream ends properly (its trailer has the true CRC and size): a
    decoder that reads it all gets every byte and no error; without, the stream just stops, so one
    that reads it to the end reports a truncated stream.
    """
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    first = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(_ZEROS) + c.flush(zlib.Z_FULL_FLUSH)
    assert block == c.compress(_ZEROS) + c.flush(zlib.Z_FULL_FLUSH)  # the premise of the repetition
    full, rest = divmod(zeros, MiB)
    last = c.compress(bytes(rest)) + c.flush(zlib.Z_FULL_FLUSH) if rest else b""
    with open(path, "wb") as f:
        f.write(first)
        for _ in range(full):
            f.write(block)
        f.write(last)
        if finish:
            crc = zlib.crc32(bytes(rest), zlib.crc32(head))
            for _ in range(full):
                crc = zlib.crc32(_ZEROS, crc)
            f.write(c.flush()[:-8] + struct.pack("<II", crc, (len(head) + zeros) & 0xFFFFFFFF))
    return path


# (N, 28, 28) unsigned bytes: 4 GiB and a little more; and 900 MiB, under the default limit of 1 GiB.
HUGE = (4 * GiB // 784 + 1, 28, 28)
UNDER = (900 * MiB // 784, 28, 28)


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    """Gzip bombs of 1-4 MiB: ``huge``, a valid IDX file declaring and holding 4 GiB of zeros;
    ``lying``, a header declaring 16 images before 4 GiB of zeros, the stream cut off unfinished;
    ``under``, a valid IDX file of 900 MiB, which the default limit allows."""
    where = tmp_path_factory.mktemp("bombs")
    return {
        "huge": write_bomb(where / "huge.gz", idx_header(HUGE), HUGE[0] * 784),
        "lying": write_bomb(where / "lying.gz", idx_header((16, 28, 28)), 4 * GiB, finish=False),
        "under": write_bomb(where / "under.gz", idx_header(UNDER), UNDER[0] * 784),
    }


def test_the_bomb_maker_writes_valid_gzip(tmp_path):
    head = idx_header((3, 28, 28))
    path = write_bomb(tmp_path / "small.gz", head, 5 * MiB + 123)
    assert gzip.decompress(path.read_bytes()) == head + bytes(5 * MiB + 123)  # CRC and size checked too
    assert path.stat().st_size < 10_000
    cut = write_bomb(tmp_path / "cut.gz", head, 5 * MiB, finish=False)
    with pytest.raises(EOFError):
        gzip.decompress(cut.read_bytes())


def test_the_bombs_are_small_and_expand_as_declared(bombs):
    sizes = {name: path.stat().st_size for name, path in bombs.items()}
    assert all(size < 5 * MiB for size in sizes.values()), sizes
    assert sizes["huge"] > 4 * MiB  # 4 GiB of zeros at about 1/1000
    for name, shape in (("huge", HUGE), ("under", UNDER), ("lying", (16, 28, 28))):
        with gzip.open(bombs[name]) as f:
            assert f.read(16) == idx_header(shape)
            assert f.read(MiB) == _ZEROS


# --------------------------------------------------------------------------- IDX files


def peak_traced(call) -> tuple[BaseException | None, int]:
    """Run ``call``; return what it raised and the peak of memory traced meanwhile (NumPy reports its arrays)."""
    tracemalloc.start()
    try:
        call()
        raised = None
    except BaseException as exc:  # noqa: BLE001 - returned to the test
        raised = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return raised, peak


def test_load_idx_gzip_bomb_is_refused_at_its_header(bombs):
    raised, peak = peak_traced(lambda: datasets.load_idx(bombs["huge"]))
    assert isinstance(raised, DatasetError), raised
    message = str(raised)
    assert str(bombs["huge"]) in message
    assert f"dimensions {HUGE} of uint8" in message and f"{HUGE[0] * 784} bytes (4 GiB)" in message
    assert f"limit of {GiB} bytes" in message and "max_bytes=" in message and "MAX_IDX_BYTES" in message
    assert peak < 8 * MiB


def test_load_idx_gzip_bomb_with_a_lying_header_stops_past_the_declared_size(bombs):
    # The header declares 16 images; 4 GiB of zeros follow and the stream is cut off unfinished.
    # Reading one byte past the 16 images is enough to refuse it: a reader that went on to the end
    # would report a truncated gzip stream instead.
    raised, peak = peak_traced(lambda: datasets.load_idx(bombs["lying"]))
    assert isinstance(raised, DatasetError), raised
    assert "expected 12544 bytes of data (dimensions (16, 28, 28) of uint8), found more: trailing bytes" in str(raised)
    assert peak < 8 * MiB


def test_idx_limit_is_configurable(tmp_path, monkeypatch):
    for name, blob in GOOD.items():
        (tmp_path / name).write_bytes(blob)
    path = tmp_path / FILES[0]  # 20 x 28 x 28 = 15680 bytes of data
    assert datasets.load_idx(path, max_bytes=15680).shape == (20, 28, 28)
    with pytest.raises(DatasetError, match=r"15680 bytes \(15\.3 KiB\) of data, more than the limit of 15679 bytes"):
        datasets.load_idx(path, max_bytes=15679)
    monkeypatch.setattr(datasets, "MAX_IDX_BYTES", 1000)
    with pytest.raises(DatasetError, match="more than the limit of 1000 bytes"):
        datasets.load_idx(path)
    with pytest.raises(DatasetError, match="more than the limit of 1000 bytes"):  # the loaders use it too
        datasets.fashion_mnist(root=tmp_path, download=False, checksums=GOOD_MD5)
    assert datasets.load_idx(path, max_bytes=10**6).shape == (20, 28, 28)
    for bad in (-1, 1.5, "big", True):
        with pytest.raises(ValueError, match="max_bytes must be a non-negative integer"):
            datasets.load_idx(path, max_bytes=bad)


def test_uncompressed_idx_declaring_more_than_the_file_holds(tmp_path):
    path = tmp_path / "huge-idx3-ubyte"
    path.write_bytes(idx_header(HUGE) + bytes(100))
    raised, peak = peak_traced(lambda: datasets.load_idx(path))
    assert isinstance(raised, DatasetError), raised
    assert f"expected {HUGE[0] * 784} bytes of data (dimensions {HUGE} of uint8), found 100: the file is truncated" in (
        str(raised)
    )
    assert peak < 8 * MiB
    path.write_bytes(idx_file(np.zeros((50, 28, 28), np.uint8)))  # complete, but over a small limit
    with pytest.raises(DatasetError, match="declares dimensions .50, 28, 28. of uint8, 39200 bytes"):
        datasets.load_idx(path, max_bytes=39199)
    assert datasets.load_idx(path, max_bytes=39200).shape == (50, 28, 28)


def test_checksum_is_checked_before_the_bomb_is_decompressed(bombs, tmp_path):
    # A bomb in place of a file with published checksums, over the limit: the checksum error, at once.
    root = tmp_path / "root"
    root.mkdir()
    for name, blob in GOOD.items():
        (root / name).write_bytes(blob)
    shutil.copyfile(bombs["huge"], root / FILES[0])
    raised, peak = peak_traced(lambda: datasets.fashion_mnist(root=root, download=False))
    assert isinstance(raised, DatasetError), raised
    message = str(raised)
    assert f"{root / FILES[0]}: checksum mismatch: the file has md5 {md5_file(bombs['huge'])}" in message
    assert "its uncompressed content was not hashed: the IDX header declares" in message
    assert peak < 8 * MiB


def test_failing_checksum_content_is_hashed_not_kept(tmp_path):
    # Under the limit but failing its checksum: the content's MD5 is computed as it streams, and
    # the 100 MiB it declares are never allocated.
    shape = (100 * MiB // 784, 28, 28)
    path = write_bomb(tmp_path / FILES[0], idx_header(shape), shape[0] * 784)
    content = hashlib.md5(idx_header(shape))
    for _ in range(shape[0] * 784 // MiB):
        content.update(_ZEROS)
    content.update(bytes(shape[0] * 784 % MiB))
    accepted = frozenset({"0" * 32})
    raised, peak = peak_traced(lambda: datasets._read_verified(path, FILES[0], accepted))
    assert isinstance(raised, DatasetError), raised
    assert f"checksum mismatch: the file has md5 {md5_file(path)} (uncompressed: {content.hexdigest()})" in str(raised)
    assert peak < 16 * MiB
    # With its content's MD5 accepted, it loads (a recompressed copy of a published file passes so).
    array = datasets._read_verified(path, FILES[0], frozenset({content.hexdigest()}))
    assert array.shape == shape and not array[::4096].any()


# --------------------------------------------------------------------------- hostile servers


class Hostile:
    """A local HTTP server; ``/<mode>/<file>`` serves ``files[file]`` the way ``mode`` says.

    good: in full, with Content-Length. endless: no Content-Length, bytes until the client goes.
    huge-length: announces 10**13 bytes, then sends endlessly. slow: a byte every 0.2 s.
    slow-headers: the status line, then a header a byte every 0.2 s. silent: nothing at all.
    drop: a third of the body, then closes. drop-once: so the first time per file, then good.
    reset: a third, then a TCP reset. missing: 404.
    """

    def __init__(self, files: dict[str, bytes | Path]):
        self.files = files
        self.requests: list[str] = []
        self.sent: dict[str, int] = {}
        self.stop = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the name http.server calls
                owner.requests.append(self.path)
                _, mode, name = self.path.split("/", 2)
                body = owner.files.get(name)
                if body is None or mode == "missing":
                    self.send_error(404)
                    return
                if isinstance(body, Path) and mode != "good":
                    body = body.read_bytes()
                try:
                    getattr(self, "serve_" + mode.replace("-", "_"))(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, as it should

            def count(self, n: int) -> None:
                owner.sent[self.path] = owner.sent.get(self.path, 0) + n

            def head(self, length: int | None) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if length is not None:
                    self.send_header("Content-Length", str(length))
                self.end_headers()

            def serve_good(self, body):
                if isinstance(body, Path):
                    self.head(body.stat().st_size)
                    with open(body, "rb") as f:
                        while chunk := f.read(MiB):
                            self.wfile.write(chunk)
                            self.count(len(chunk))
                else:
                    self.head(len(body))
                    self.wfile.write(body)
                    self.count(len(body))

            def serve_endless(self, body, length=None):
                self.head(length)
                chunk = bytes(range(256)) * 256
                while not owner.stop.is_set() and owner.sent.get(self.path, 0) < 4 * GiB:
                    self.wfile.write(chunk)
                    self.count(len(chunk))

            def serve_huge_length(self, body):
                self.serve_endless(body, length=10**13)

            def serve_slow(self, body):
                self.head(len(body))
                for i in range(len(body)):
                    if owner.stop.wait(0.2):
                        return
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    self.count(1)

            def serve_slow_headers(self, body):
                self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
                self.wfile.flush()
                while not owner.stop.wait(0.2):
                    self.wfile.write(b"a")
                    self.wfile.flush()

            def serve_silent(self, body):
                owner.stop.wait(60)

            def serve_drop(self, body):
                self.head(len(body))
                self.wfile.write(body[: len(body) // 3])
                self.wfile.flush()
                self.count(len(body) // 3)
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

            def serve_drop_once(self, body):
                if sum(path == self.path for path in owner.requests) == 1:
                    self.serve_drop(body)
                else:
                    self.serve_good(body)

            def serve_reset(self, body):
                self.head(len(body))
                self.wfile.write(body[: len(body) // 3])
                self.wfile.flush()
                self.close_connection = True
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()  # with a zero linger time: a reset

            def finish(self):
                try:
                    super().finish()
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def base(self, mode: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}/{mode}/"

    def count(self, mode: str, name: str = FILES[0]) -> int:
        return self.requests.count(f"/{mode}/{name}")


@pytest.fixture
def no_proxy(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")


@contextlib.contextmanager
def running(server: Hostile) -> Iterator[Hostile]:
    server.thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.httpd.shutdown()
        server.httpd.server_close()


@pytest.fixture
def hostile(no_proxy):
    with running(Hostile(dict(GOOD))) as server:
        yield server


@pytest.fixture
def cache(monkeypatch, tmp_path) -> Path:
    """Where the downloads go; Debian's directory and the user cache point at empty places."""
    (tmp_path / "debian").mkdir()
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "debian")
    monkeypatch.setattr(datasets, "DATA_HOME", tmp_path / "home")
    return tmp_path / "cache"


def assert_empty(directory: Path):
    left = sorted(p.name for p in directory.iterdir()) if directory.exists() else []
    assert left == [], f"left behind: {left}"


def no_part_files(directory: Path) -> bool:
    return not any(p.name.endswith(".part") for p in directory.iterdir())


def fails(call, *phrases: str) -> str:
    with pytest.raises(DatasetError) as info:
        call()
    message = str(info.value)
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in {message!r}"
    return message


def test_endless_body_is_cut_at_the_cap(hostile, cache, monkeypatch):
    monkeypatch.setattr(datasets, "MAX_DOWNLOAD_BYTES", MiB)
    fails(
        lambda: datasets.fashion_mnist(root=cache, base_url=hostile.base("endless")),
        f"could not download {hostile.base('endless')}{FILES[0]}: the server sent more than the 1048576 bytes",
        "MAX_DOWNLOAD_BYTES",
        "stopped reading there",
    )
    assert_empty(cache)
    assert hostile.sent[f"/endless/{FILES[0]}"] < 64 * MiB  # it stopped being read
    assert hostile.count("endless") == 1  # not a fault a retry mends


def test_endless_body_of_a_canonical_file_is_cut_at_its_published_size(hostile, cache, monkeypatch):
    monkeypatch.setattr(datasets, "FASHION_MNIST_MIRRORS", (hostile.base("endless"),))
    cap = 26421880 + 26421880 // 8 + 4096
    fails(
        lambda: datasets.fashion_mnist(root=cache),
        f"the server sent more than the {cap} bytes",
        "its published size, 26421880 bytes",
    )
    assert_empty(cache)


@pytest.mark.parametrize("canonical", [False, True])
def test_huge_content_length_is_refused_before_reading(hostile, cache, monkeypatch, canonical):
    monkeypatch.setattr(datasets, "FASHION_MNIST_MIRRORS", (hostile.base("huge-length"),))
    base_url = None if canonical else hostile.base("huge-length")
    start = time.monotonic()
    fails(
        lambda: datasets.fashion_mnist(root=cache, base_url=base_url),
        "the server announces 10000000000000 bytes (9.09 TiB), more than the",
        "published size" if canonical else f"{datasets.MAX_DOWNLOAD_BYTES} bytes (256 MiB) allowed",
        "refused before reading the body",
    )
    assert time.monotonic() - start < 10
    assert_empty(cache)


@pytest.mark.parametrize("mode", ["slow", "slow-headers", "silent"])
def test_slow_server_is_dropped_at_the_deadline(hostile, cache, monkeypatch, mode):
    # A byte every 0.2 s in the body or in the headers, or nothing at all: each read is quick
    # (or, silent, within the 60 s per-read timeout), the whole is not.
    monkeypatch.setattr(datasets, "DOWNLOAD_DEADLINE_S", 1.5)
    start = time.monotonic()
    fails(
        lambda: datasets.fashion_mnist(root=cache, base_url=hostile.base(mode)),
        f"could not download {hostile.base(mode)}{FILES[0]}: gave up at the deadline of 1.5 s",
        "DOWNLOAD_DEADLINE_S",
    )
    assert time.monotonic() - start < 4.5
    assert_empty(cache)
    assert hostile.count(mode) == 1


def test_silent_server_times_out_per_read_and_is_tried_again(hostile, cache, monkeypatch):
    monkeypatch.setattr(datasets, "DOWNLOAD_TIMEOUT_S", 0.5)
    start = time.monotonic()
    fails(
        lambda: datasets.fashion_mnist(root=cache, base_url=hostile.base("silent")),
        "no data for 0.5 s after 0 bytes (DOWNLOAD_TIMEOUT_S) (tried 2 times)",
    )
    assert time.monotonic() - start < 10
    assert hostile.count("silent") == 2
    assert_empty(cache)


@pytest.mark.parametrize(
    "setting, value",
    [
        ("DOWNLOAD_DEADLINE_S", 0),
        ("DOWNLOAD_TIMEOUT_S", -1.0),
        ("DOWNLOAD_RETRIES", 0.5),
        ("MAX_DOWNLOAD_BYTES", "1 GB"),
        ("MAX_IDX_BYTES", -1),
    ],
)
def test_bad_settings_are_named(hostile, cache, monkeypatch, setting, value):
    monkeypatch.setattr(datasets, setting, value)
    with pytest.raises(ValueError, match=rf"chainrule\.datasets\.{setting} must be"):
        datasets.fashion_mnist(root=cache, base_url=hostile.base("good"))
    assert_empty(cache)


def test_connection_closed_early_is_retried_with_a_fresh_file(hostile, cache):
    split = datasets.fashion_mnist(root=cache, base_url=hostile.base("drop-once"), checksums=GOOD_MD5)
    assert split.X_train.shape == (20, 784)
    assert all(hostile.count("drop-once", name) == 2 for name in FILES)
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES)
    for name in FILES:
        assert (cache / name).read_bytes() == GOOD[name]


@pytest.mark.parametrize("mode", ["drop", "reset"])
def test_connection_closed_early_every_time_fails_cleanly(hostile, cache, monkeypatch, mode):
    fails(
        lambda: datasets.fashion_mnist(root=cache, base_url=hostile.base(mode)),
        f"could not download {hostile.base(mode)}{FILES[0]}: the connection",
        "(tried 2 times)",
    )
    assert_empty(cache)
    assert hostile.count(mode) == 2
    monkeypatch.setattr(datasets, "DOWNLOAD_RETRIES", 0)
    fails(lambda: datasets.fashion_mnist(root=cache, base_url=hostile.base(mode)), "(tried 1 time)")
    assert_empty(cache)
    assert hostile.count(mode) == 3


def test_wrong_bytes_fail_the_checksum(cache, no_proxy, monkeypatch):
    with running(Hostile(dict(OTHER))) as server:  # valid IDX files, not the ones asked for
        fails(
            lambda: datasets.fashion_mnist(root=cache, base_url=server.base("good"), checksums=GOOD_MD5),
            "failed verification: checksum mismatch",
            GOOD_MD5[FILES[0]],
        )
        assert_empty(cache)
        # From the default mirrors the published checksums apply.
        monkeypatch.setattr(datasets, "FASHION_MNIST_MIRRORS", (server.base("good"),))
        fails(lambda: datasets.fashion_mnist(root=cache), "checksum mismatch", "8d4fb7e6c68d591d4c3dfef9ec88bf0d")
        assert_empty(cache)


def test_gzip_bomb_served_as_fashion_mnist_fails_its_checksum(bombs, cache, no_proxy, monkeypatch):
    with running(Hostile({FILES[0]: bombs["huge"]})) as server:
        monkeypatch.setattr(datasets, "FASHION_MNIST_MIRRORS", (server.base("good"),))
        raised, peak = peak_traced(lambda: datasets.fashion_mnist(root=cache))
        assert isinstance(raised, DatasetError), raised
        message = str(raised)
        assert f"downloaded {server.base('good')}{FILES[0]}, but it failed verification: checksum mismatch" in message
        assert "not hashed: the IDX header declares" in message
        assert peak < 16 * MiB
        assert_empty(cache)


def test_gzip_bomb_with_its_own_checksum_hits_the_size_limit(bombs, cache, no_proxy):
    with running(Hostile({FILES[0]: bombs["huge"]})) as server:
        checksums = {FILES[0]: md5_file(bombs["huge"])}
        raised, peak = peak_traced(
            lambda: datasets.fashion_mnist(root=cache, base_url=server.base("good"), checksums=checksums)
        )
        assert isinstance(raised, DatasetError), raised
        message = str(raised)
        assert f"failed verification: the IDX header declares dimensions {HUGE} of uint8" in message
        assert "more than the limit of 1073741824 bytes (1 GiB)" in message and "MAX_IDX_BYTES" in message
        assert peak < 16 * MiB
        assert_empty(cache)


def test_failed_download_names_the_alternatives(hostile, cache):
    message = fails(lambda: datasets.fashion_mnist(root=cache, base_url=hostile.base("missing")), "HTTP error 404")
    assert "Instead: install Debian's package (apt-get install dataset-fashion-mnist)" in message
    assert f"put them in {cache}" in message and "root=" in message and "--data-root" in message
    message = fails(lambda: datasets.mnist(root=cache, download=True, base_url=hostile.base("missing")), "404")
    assert "dataset-fashion-mnist" not in message and "root=" in message
    assert_empty(cache)


def test_a_failure_after_some_files_keeps_only_verified_ones(cache, no_proxy):
    with running(Hostile({**GOOD, FILES[3]: OTHER[FILES[3]]})) as server:
        fails(
            lambda: datasets.fashion_mnist(root=cache, base_url=server.base("good"), checksums=GOOD_MD5),
            f"{FILES[3]}, but it failed verification: checksum mismatch",
        )
        assert sorted(p.name for p in cache.iterdir()) == sorted(FILES[:3])
        assert no_part_files(cache)


def test_default_mirrors_are_https_first_and_fall_back(hostile, cache, monkeypatch):
    assert datasets.FASHION_MNIST_MIRRORS[0].startswith("https://fashion-mnist.s3.")
    assert datasets.FASHION_MNIST_MIRRORS[-1].startswith("http://fashion-mnist.s3-website.")
    assert all(url.startswith("https://") for url in datasets.MNIST_MIRRORS)
    monkeypatch.setattr(datasets, "FASHION_MNIST_MIRRORS", (hostile.base("missing"), hostile.base("good")))
    split = datasets.fashion_mnist(root=cache, checksums=GOOD_MD5)
    assert split.X_test.shape == (10, 784)
    assert all(hostile.count("missing", name) == 1 and hostile.count("good", name) == 1 for name in FILES)
    # When every mirror fails, the message gives each one's reason.
    monkeypatch.setattr(datasets, "FASHION_MNIST_MIRRORS", (hostile.base("missing"), hostile.base("drop")))
    fails(
        lambda: datasets.fashion_mnist(root=cache / "other", checksums=GOOD_MD5),
        f"could not download {FILES[0]} from any of its 2 mirrors",
        "HTTP error 404",
        "(tried 2 times)",
    )
    assert_empty(cache / "other")


@pytest.fixture
def certificate(tmp_path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, cert


def test_https_certificates_are_verified(certificate, cache, no_proxy, monkeypatch):
    key, cert = certificate
    tls = Hostile(dict(GOOD))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    tls.httpd.socket = context.wrap_socket(tls.httpd.socket, server_side=True)
    tls.scheme = "https"
    with running(tls) as server:
        fails(
            lambda: datasets.fashion_mnist(root=cache, base_url=server.base("good"), checksums=GOOD_MD5),
            "CERTIFICATE_VERIFY_FAILED",
        )
        assert_empty(cache)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # now trusted: the same server works
        split = datasets.fashion_mnist(root=cache, base_url=server.base("good"), checksums=GOOD_MD5)
        assert split.y_train.shape == (20,)


# --------------------------------------------------------------------------- the default limits, for real

CHILD = textwrap.dedent(
    """
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # before NumPy is imported
    from pathlib import Path
    from chainrule import datasets
    from chainrule.errors import DatasetError

    args = json.loads(sys.argv[1])
    datasets.DEBIAN_FASHION_MNIST_DIR = None
    out = {}

    def attempt(key, call):
        try:
            call()
            out[key] = "loaded"
        except DatasetError as exc:
            out[key] = "DatasetError: " + str(exc)
        except MemoryError:
            out[key] = "MemoryError"

    tmp = Path(args["tmp"])
    attempt("load_idx huge", lambda: datasets.load_idx(args["huge"]))
    attempt("load_idx lying", lambda: datasets.load_idx(args["lying"]))
    datasets.FASHION_MNIST_MIRRORS = (args["huge_base"],)
    attempt("served huge", lambda: datasets.fashion_mnist(root=tmp / "a"))
    datasets.FASHION_MNIST_MIRRORS = (args["under_base"],)
    attempt("served under", lambda: datasets.fashion_mnist(root=tmp / "b"))
    checksums = {args["name"]: args["huge_md5"]}
    attempt(
        "accepted huge",
        lambda: datasets.fashion_mnist(root=tmp / "c", base_url=args["huge_base"], checksums=checksums),
    )
    status = Path("/proc/self/status")  # the peak resident memory of this process image (ru_maxrss
    if status.exists():  # would include the parent's, as it was when it forked)
        out["peak_kib"] = int(status.read_text().split("VmHWM:")[1].split()[0])
    print(json.dumps(out))
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="address-space limits are POSIX (resource.RLIMIT_AS)")
def test_bombs_under_a_1_gib_address_space_with_the_default_limits(bombs, tmp_path, no_proxy):
    # The child runs with 1 GiB of address space and chainrule's default limits: each bomb must end
    # in its DatasetError, never a MemoryError, and the memory it used must stay far below the bombs'.
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(
        no_proxy="*",
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONPATH=str(Path(datasets.__file__).resolve().parents[1]),
    )
    with running(Hostile({FILES[0]: bombs["huge"]})) as huge:
        with running(Hostile({FILES[0]: bombs["under"]})) as under:
            args = {
                "tmp": str(tmp_path),
                "huge": str(bombs["huge"]),
                "lying": str(bombs["lying"]),
                "huge_base": huge.base("good"),
                "under_base": under.base("good"),
                "name": FILES[0],
                "huge_md5": md5_file(bombs["huge"]),
            }
            done = subprocess.run(
                [sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True, env=env, timeout=120
            )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["load_idx huge"].startswith("DatasetError") and "MAX_IDX_BYTES" in out["load_idx huge"]
    assert out["load_idx lying"].startswith("DatasetError") and "trailing bytes" in out["load_idx lying"]
    assert out["served huge"].startswith("DatasetError") and "checksum mismatch" in out["served huge"]
    assert out["served under"].startswith("DatasetError") and "checksum mismatch" in out["served under"]
    assert "(uncompressed: " in out["served under"]  # hashed as it streamed: its 900 MiB were never held
    assert out["accepted huge"].startswith("DatasetError") and "more than the limit" in out["accepted huge"]
    if "peak_kib" in out:  # Linux
        assert out["peak_kib"] < 256 * 1024, out["peak_kib"]
