"""Hostile files: .npz archives that declare huge arrays, decompression bombs, zip directories that lie,
headers nested without end, and the temporary files a checkpoint write killed with SIGKILL leaves behind.

The archives are built here byte by byte (a raw zip writer and a deflate stream made of one compressed
MiB of zeros repeated), so an 8 GiB bomb costs 8 MiB and no test ever holds the data it expands to.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import struct
import subprocess
import sys
import textwrap
import time
import tracemalloc
import warnings
import zipfile
import zlib
from io import BytesIO

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, ArgumentTypeError, SerializationError

GiB = 1 << 30
MiB = 1 << 20


# ------------------------------------------------------------------------------ building hostile archives
def npy_header(shape, descr="<f4", version=(1, 0)) -> bytes:
    """The .npy header of an array of ``shape`` and ``descr`` (what precedes its data in a member)."""
    f = BytesIO()
    d = {"descr": descr, "fortran_order": False, "shape": tuple(shape)}
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(f, d)
    else:
        np.lib.format.write_array_header_2_0(f, d)
    return f.getvalue()


def npy(a) -> bytes:
    f = BytesIO()
    np.lib.format.write_array(f, np.asarray(a), allow_pickle=False)
    return f.getvalue()


def header_member(tree=None, text=None) -> bytes:
    """The ``__chainrule__.npy`` member: the JSON header as save writes it (or ``text`` instead)."""
    if text is None:
        text = json.dumps({"format": "chainrule-npz", "version": 1, "tree": tree, "paths": {}})
    return npy(np.array(text))


def write_npz(path, members: dict, method=zipfile.ZIP_STORED) -> None:
    """An archive written by zipfile from whole member streams (small ones only)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name", where a test wants one
        with zipfile.ZipFile(path, "w", method) as z:
            for name, data in members.items() if isinstance(members, dict) else members:
                z.writestr(name, data)


def crc32_of_zeros(n: int, crc: int = 0) -> int:
    """zlib.crc32 of ``n`` zero bytes following data whose crc is ``crc``, in O(log n) (zlib's crc32_combine)."""

    def times(mat, vec):
        s, i = 0, 0
        while vec:
            if vec & 1:
                s ^= mat[i]
            vec >>= 1
            i += 1
        return s

    def square(mat):
        return [times(mat, mat[i]) for i in range(32)]

    # the CRC register after one zero bit, as a matrix over GF(2); squared three times: one zero byte
    op = [0xEDB88320] + [1 << i for i in range(31)]
    for _ in range(3):
        op = square(op)
    reg = crc ^ 0xFFFFFFFF
    while n:
        if n & 1:
            reg = times(op, reg)
        n >>= 1
        op = square(op)
    return reg ^ 0xFFFFFFFF


def deflate_zeros(head: bytes, n: int) -> tuple[bytes, int, int]:
    """A raw deflate stream of ``head`` and ``n`` zero bytes, with its crc and expanded size.

    Made of one compressed MiB repeated (each flushed with Z_FULL_FLUSH, so it stands alone):
    about 1 KiB per MiB, built without ever holding the expanded data.
    """
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)]
    mib, rest = divmod(n, MiB)
    if mib:
        parts.append((c.compress(bytes(MiB)) + c.flush(zlib.Z_FULL_FLUSH)) * mib)
    parts.append(c.compress(bytes(rest)) + c.flush())
    return b"".join(parts), crc32_of_zeros(n, zlib.crc32(head)), len(head) + n


def write_zip(path, members) -> None:
    """A zip archive written byte by byte (zip64 sizes), so that the directory may say anything.

    ``members``: (name, method, stream, file_size, crc): ``stream`` as stored (deflated already for
    ZIP_DEFLATED); ``file_size`` and ``crc`` are what the local header and the directory declare.
    """
    out, central = bytearray(), bytearray()
    for name, method, stream, size, crc in members:
        n = name.encode()
        extra = struct.pack("<HHQQ", 1, 16, size, len(stream))  # zip64: the sizes themselves
        offset = len(out)
        sizes = (crc, 0xFFFFFFFF, 0xFFFFFFFF, len(n), len(extra))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, method, 0, 0x21, *sizes) + n + extra + stream
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, method, 0, 0x21, *sizes, 0, 0, 0, 0, offset)
        central += n + extra
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(out), 0)
    with open(path, "wb") as f:
        f.write(out + central + end)


def stored(name, data: bytes):
    return (name, zipfile.ZIP_STORED, data, len(data), zlib.crc32(data))


def bomb(path, declared_shape, zeros: int, descr="<f4", file_size=None, crc=None) -> None:
    """A chainrule archive whose member 'x' declares ``declared_shape`` and expands to ``zeros`` zero bytes
    after its header; ``file_size`` and ``crc``, when given, are what its zip directory claims instead."""
    head = npy_header(declared_shape, descr)
    stream, true_crc, true_size = deflate_zeros(head, zeros)
    member = ("x.npy", zipfile.ZIP_DEFLATED, stream, true_size if file_size is None else file_size, crc or true_crc)
    write_zip(path, [stored("__chainrule__.npy", header_member({"__array__": "x"})), member])


def test_the_hand_made_archives_are_valid_zips(tmp_path):
    """The helpers above build real archives: zipfile reads a bomb back whole, CRC included."""
    for n in (0, 1, 1000, MiB, 3 * MiB + 5):
        assert crc32_of_zeros(n, 7) == zlib.crc32(bytes(n), 7)
    bomb(tmp_path / "b.npz", (MiB + 1,), 4 * (MiB + 1))
    with zipfile.ZipFile(tmp_path / "b.npz") as z:
        assert z.testzip() is None
    assert os.path.getsize(tmp_path / "b.npz") < 20_000
    np.testing.assert_array_equal(cr.load(tmp_path / "b.npz"), np.zeros(MiB + 1, np.float32))


# ------------------------------------------------------------------------------ declared sizes
@pytest.mark.parametrize(
    "shape, descr, said",
    [((10**12,), "<f4", "(1000000000000,)"), ((10**6, 10**6), "<f8", "(1000000, 1000000)"), ((2**40,), "|u1", "")],
)
def test_a_member_declaring_a_huge_shape_is_refused_before_anything_is_allocated(tmp_path, shape, descr, said):
    path = tmp_path / "huge.npz"
    write_npz(
        path, {"__chainrule__.npy": header_member({"__array__": "w"}), "w.npy": npy_header(shape, descr) + bytes(16)}
    )
    with pytest.raises(SerializationError) as e:
        cr.load(path)
    msg = str(e.value)
    for part in ("huge.npz", "member 'w'", said, str(np.dtype(descr)), "max_bytes", "MAX_LOAD_BYTES"):
        assert part in msg


def test_a_deflate_bomb_is_refused_by_the_limit_and_loads_within_it(tmp_path):
    """64 MiB of zeros in 66 KiB: refused above max_bytes; below, read a chunk at a time into the array."""
    path = tmp_path / "bomb.npz"
    bomb(path, (16 * MiB,), 64 * MiB)
    assert os.path.getsize(path) < 100_000
    with pytest.raises(SerializationError, match=r"member 'x' \(shape \(16777216,\), dtype float32\) declares 64 MiB"):
        cr.load(path, max_bytes=16 * MiB)
    tracemalloc.start()
    try:
        a = cr.load(path, max_bytes=65 * MiB)  # (the JSON header counts too)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert a.shape == (16 * MiB,) and a.dtype == np.float32 and not a.any()
    assert peak < 64 * MiB + 8 * MiB  # the array itself, and a chunk or two besides


def test_members_within_the_limit_one_by_one_but_not_together_are_refused(tmp_path):
    path = tmp_path / "two.npz"
    tree = {"__dict__": {"a": {"__array__": "a"}, "b": {"__array__": "b"}}}
    write_npz(
        path, {"__chainrule__.npy": header_member(tree), "a.npy": npy(np.zeros(3000)), "b.npy": npy(np.zeros(3000))}
    )
    total = 48_000 + 4 * len(json.dumps({"format": "chainrule-npz", "version": 1, "tree": tree, "paths": {}}))
    with pytest.raises(SerializationError, match=rf"members up to member 'b' .* \({total} bytes\) together"):
        cr.load(path, max_bytes=40_000)  # each member is 24,000 bytes: within it
    assert set(cr.load(path, max_bytes=total)) == {"a", "b"}


def test_a_member_longer_than_it_declares_is_refused(tmp_path):
    """The bomb in disguise: its header declares 4 floats, its zip entry expands to 64 MiB more."""
    path = tmp_path / "disguised.npz"
    bomb(path, (4,), 16 + 64 * MiB)
    with pytest.raises(
        SerializationError, match=f"decompresses to {128 + 16 + 64 * MiB} bytes, more than the 144 its .npy header"
    ):
        cr.load(path)


def test_a_member_shorter_than_it_declares_is_truncated(tmp_path):
    path = tmp_path / "short.npz"
    write_npz(path, {"__chainrule__.npy": header_member({"__array__": "x"}), "x.npy": npy_header((1000,)) + bytes(100)})
    with pytest.raises(
        SerializationError, match=r"not a complete chainrule file: member 'x' .* fewer .* \(truncated\)"
    ):
        cr.load(path)


def test_a_zip_directory_that_lies_gets_no_more_than_the_declared_size(tmp_path):
    """The directory says 4 floats, as the header does; the compressed stream holds 1 GiB: only the
    declared bytes are ever decompressed (the data are a valid prefix here, so they load)."""
    path = tmp_path / "liar.npz"
    head = npy_header((4,))
    bomb(path, (4,), GiB, file_size=len(head) + 16, crc=zlib.crc32(head + bytes(16)))
    tracemalloc.start()
    try:
        a = cr.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(a, np.zeros(4, np.float32))
    assert peak < 4 * MiB
    bomb(path, (4,), GiB, file_size=len(head) + 16, crc=12345)  # and with the CRC of no such prefix: refused
    with pytest.raises(SerializationError, match="not a complete chainrule file .*CRC"):
        cr.load(path)


def test_a_npy_header_claiming_gigabytes_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "longheader.npz"
    evil = b"\x93NUMPY\x02\x00" + struct.pack("<I", 3 * GiB) + b"{" * 100
    write_npz(path, {"__chainrule__.npy": header_member({"__array__": "x"}), "x.npy": evil})
    with pytest.raises(
        SerializationError, match=r"member 'x.npy' does not start with a valid .npy header .*3221225472"
    ):
        cr.load(path)


@pytest.mark.parametrize("bad", [-1, "1e9", 1.5, True])
def test_max_bytes_must_be_a_number_of_bytes(tmp_path, bad):
    cr.save({"a": np.zeros(2)}, tmp_path / "m.npz")
    with pytest.raises(ArgumentError if bad == -1 else ArgumentTypeError, match="max_bytes"):
        cr.load(tmp_path / "m.npz", max_bytes=bad)


# ------------------------------------------------------------------------------ what is read at all
def test_members_save_never_writes_are_refused(tmp_path):
    h = header_member({"__array__": "x"})
    cases = {
        "lzma": ({"__chainrule__.npy": h, "x.npy": npy(np.zeros(3))}, zipfile.ZIP_LZMA, "zip method 14"),
        "not npy": ({"__chainrule__.npy": h, "x.bin": b"\0" * 8}, zipfile.ZIP_STORED, "'x.bin' that is not a .npy"),
        "twice": ([("__chainrule__.npy", h), ("x.npy", npy([1.0])), ("x.npy", npy([2.0]))], 0, "two members"),
        "object": ({"__chainrule__.npy": h, "x.npy": npy_header((1,), "|O") + b"\x80"}, 0, "never unpickles"),
        "structured object": (
            {"__chainrule__.npy": h, "x.npy": npy_header((1,), [("a", "<f4"), ("b", "|O")]) + b"\x80"},
            0,
            "never unpickles",
        ),
        "header not text": ({"__chainrule__.npy": npy(np.zeros(3)), "x.npy": npy([1.0])}, 0, "corrupt header"),
        "negative shape": ({"__chainrule__.npy": h, "x.npy": npy_header((-5,))}, 0, "negative dimension"),
    }
    for kind, (members, method, said) in cases.items():
        path = tmp_path / f"{kind}.npz"
        if kind == "lzma":  # the header stored, the array lzma-compressed
            with zipfile.ZipFile(path, "w") as z:
                z.writestr("__chainrule__.npy", h)
                z.writestr("x.npy", members["x.npy"], compress_type=zipfile.ZIP_LZMA)
        else:
            write_npz(path, members, method)
        with pytest.raises(SerializationError, match=re.escape(said)):
            cr.load(path)


def test_save_refuses_structured_arrays_holding_objects_and_keeps_utf8_field_names(tmp_path):
    with pytest.raises(SerializationError, match="object array"):
        cr.save({"s": np.zeros(2, [("a", "<f4"), ("b", "O")])}, tmp_path / "s.npz")
    a = np.array([(1.5, 2), (3.0, 4)], dtype=[("α", "<f4"), ("β", "<i2")])  # written as .npy format 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy's note that format 3.0 needs NumPy >= 1.17
        cr.save({"s": a, "f": np.asfortranarray(np.arange(6.0).reshape(2, 3))}, tmp_path / "u.npz")
    with zipfile.ZipFile(tmp_path / "u.npz") as z:
        assert z.read("s.npy")[6:8] == b"\x03\x00"
    back = cr.load(tmp_path / "u.npz")
    np.testing.assert_array_equal(back["s"], a)
    assert back["s"].dtype == a.dtype
    np.testing.assert_array_equal(back["f"], np.arange(6.0).reshape(2, 3))


# ------------------------------------------------------------------------------ the JSON header
def test_a_header_nested_100000_levels_is_refused(tmp_path):
    path = tmp_path / "deep.npz"
    text = '{"format": "chainrule-npz", "version": 1, "tree": ' + "[" * 100_000 + "]" * 100_000 + "}"
    write_npz(path, {"__chainrule__.npy": header_member(text=text)})
    with pytest.raises(
        SerializationError, match=r"header nests 100001 levels deep, more than the 100 .*MAX_HEADER_DEPTH"
    ):
        cr.load(path)


def test_brackets_inside_strings_do_not_count_and_save_stops_where_load_would(tmp_path):
    cr.save({"s": "[{" * 50_000 + '"\\'}, tmp_path / "s.npz")
    assert cr.load(tmp_path / "s.npz")["s"] == "[{" * 50_000 + '"\\'
    deepest = np.arange(2.0)
    for _ in range(cr.io.MAX_HEADER_DEPTH // 2 - 2):  # as deep as save goes: the header just within the limit
        deepest = [deepest]
    cr.save({"a": deepest}, tmp_path / "deep.npz")
    back = cr.load(tmp_path / "deep.npz")["a"]
    while isinstance(back, list):
        (back,) = back
    np.testing.assert_array_equal(back, np.arange(2.0))
    with pytest.raises(SerializationError, match="nested more than 49 dicts/lists deep"):
        cr.save({"a": [deepest]}, tmp_path / "deeper.npz")
    loop: dict = {}
    loop["self"] = loop  # a structure that contains itself: an error, not a RecursionError
    with pytest.raises(SerializationError, match="contain itself"):
        cr.save(loop, tmp_path / "loop.npz")
    assert not (tmp_path / "deeper.npz").exists() and not (tmp_path / "loop.npz").exists()


def test_a_header_over_its_size_limit_is_refused(tmp_path, monkeypatch):
    cr.save({"notes": "x" * 10_000}, tmp_path / "m.npz")
    monkeypatch.setattr(cr.io, "MAX_HEADER_BYTES", 20_000)  # the knob: 5,000 characters
    with pytest.raises(SerializationError, match=r"header declares .* more than the 19\.5 KiB .*MAX_HEADER_BYTES"):
        cr.load(tmp_path / "m.npz")


# ------------------------------------------------------------------------------ under 1 GiB of address space
CHILD_LOADS = textwrap.dedent("""
    import json, resource, sys
    import chainrule as cr
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    for path in sys.argv[1:]:
        try:
            a = cr.load(path)
            print(json.dumps([path, "loaded", list(a.shape)]), flush=True)
        except Exception as e:
            print(json.dumps([path, type(e).__name__, str(e)]), flush=True)
""")


def test_bombs_under_a_1_gib_address_space_limit_get_clear_errors(tmp_path):
    """The default limits hold in a process that could not survive the allocations they prevent."""
    head = npy_header((4,))
    bomb(tmp_path / "bomb8g.npz", (2 * GiB,), 8 * GiB)  # 8 MiB on disk, declares (and expands to) 8 GiB
    bomb(tmp_path / "liar.npz", (4,), 2 * GiB, file_size=len(head) + 16, crc=zlib.crc32(head + bytes(16)))
    bomb(tmp_path / "within.npz", (GiB // 2,), 2 * GiB)  # 2 GiB: within the 4 GiB default, not within 1 GiB
    write_npz(
        tmp_path / "huge.npz", {"__chainrule__.npy": header_member({"__array__": "x"}), "x.npy": npy_header((10**12,))}
    )
    deep = '{"format": "chainrule-npz", "version": 1, "tree": ' + "[" * 100_000 + "]" * 100_000 + "}"
    write_npz(tmp_path / "deep.npz", {"__chainrule__.npy": header_member(text=deep)})
    names = ["bomb8g", "liar", "within", "huge", "deep"]
    assert sum(os.path.getsize(tmp_path / f"{n}.npz") for n in names) < 16 * MiB
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    r = subprocess.run(
        [sys.executable, "-c", CHILD_LOADS, *(str(tmp_path / f"{n}.npz") for n in names)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    got = {os.path.basename(p)[:-4]: (kind, what) for p, kind, what in map(json.loads, r.stdout.splitlines())}
    assert set(got) == set(names), r.stdout + r.stderr
    assert got["bomb8g"][0] == "SerializationError" and "declares 8 GiB" in got["bomb8g"][1]
    assert "more than the 4 GiB load allows" in got["bomb8g"][1]
    assert got["liar"] == ("loaded", [4])
    assert got["within"][0] == "MemoryError" and "not enough memory for member 'x'" in got["within"][1]
    assert got["huge"][0] == "SerializationError" and "(1000000000000,)" in got["huge"][1]
    assert got["deep"][0] == "SerializationError" and "MAX_HEADER_DEPTH" in got["deep"][1]


# ------------------------------------------------------------------------------ leftovers of a killed write
TEMP = re.compile(r"\.checkpoint\.npz\.[a-z0-9_]{8}\.tmp")

CHILD_SAVES = textwrap.dedent("""
    import sys, numpy as np, chainrule as cr
    path = sys.argv[1]
    state = cr.load(path)
    state["padding"] = np.random.default_rng(0).standard_normal(8 << 20).astype(np.float32)  # 32 MiB
    print("ready", flush=True)
    while True:
        cr.io.save(state, path)  # the same checkpoint, made big, written again and again
""")

CHILD_WRITES_SLOWLY = textwrap.dedent("""
    import sys, time, chainrule as cr
    def write(f):
        f.write(b"PK\\x03\\x04 the first bytes of a checkpoint")
        f.flush()
        print("ready", flush=True)
        time.sleep(600)
    cr.io.atomic_write(sys.argv[1], write)
""")


def _kill_while_writing(script: str, path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(random.uniform(0.05, 0.4))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


def _run(out, epochs, resume=False, log=None):
    g = np.random.default_rng(1)
    m = cr.nn.Sequential(cr.nn.Linear(4, 8, generator=g), cr.nn.ReLU(), cr.nn.Linear(8, 2, generator=g))
    opt = cr.optim.Adam(m.parameters(), lr=0.01)
    kw = {"checkpoint_dir": str(out), "resume": resume} if out is not None else {}
    h = cr.train.fit(
        m, cr.nn.CrossEntropyLoss(), opt, _data(), epochs, batch_size=16, seed=0, verbose=log is not None, log=log, **kw
    )
    return m, h


def test_a_checkpoint_write_killed_with_sigkill_leaves_a_file_the_next_run_removes(tmp_path):
    out = tmp_path / "run"
    _run(out, 1)
    ckpt = out / "checkpoint.npz"
    for _ in range(5):  # killed at a random moment of a loop of big writes: usually in the middle of one
        _kill_while_writing(CHILD_SAVES, ckpt)
        if any(TEMP.fullmatch(n) for n in os.listdir(out)):
            break
    else:  # never caught mid-write: kill a writer that is sure to be in the middle of one
        _kill_while_writing(CHILD_WRITES_SLOWLY, ckpt)
    left = [n for n in os.listdir(out) if TEMP.fullmatch(n)]
    assert len(left) == 1
    # what must stay: files of other names, other kinds, or in another directory
    keep = [
        ".checkpoint.npz.notes.tmp",
        "other.tmp",
        ".checkpoint.npz.ABCD1234.tmp",
        ".checkpoint.npz.abcd1234.tmp.bak",
    ]
    keep += [".checkpoint.npz.abcd12345.tmp", ".model.npz.abcd1234.tmp", "sub/.checkpoint.npz.abcd1234.tmp"]
    (out / "sub").mkdir()
    for name in keep:
        (out / name).write_text("mine")
    (out / ".checkpoint.npz.dir_1234.tmp").mkdir()
    (out / ".checkpoint.npz.link1234.tmp").symlink_to(out / "other.tmp")

    said: list[str] = []
    m, h = _run(out, 3, resume=True, log=said.append)
    assert not (out / left[0]).exists()
    assert "removed 1 temporary file(s) an interrupted checkpoint write left behind" in said
    assert all((out / name).read_text() == "mine" for name in keep)
    assert (out / ".checkpoint.npz.dir_1234.tmp").is_dir() and (out / ".checkpoint.npz.link1234.tmp").is_symlink()
    assert [r["epoch"] for r in h.epochs] == [1, 2, 3] and any(s.startswith("resumed from") for s in said)
    m_full, h_full = _run(None, 3)  # the run never interrupted
    assert [r["loss"] for r in h.epochs] == [r["loss"] for r in h_full.epochs]
    for k, v in m_full.state_dict().items():
        np.testing.assert_array_equal(m.state_dict()[k], v, err_msg=k)


def test_remove_stale_temps_names_what_it_removed(tmp_path):
    target = tmp_path / "a+b (1).npz"  # a name with characters a pattern could misread
    stale = tmp_path / ".a+b (1).npz.q_3x9z0k.tmp"
    stale.write_bytes(b"half")
    (tmp_path / ".a+b (1)xnpz.q_3x9z0k.tmp").write_bytes(b"not ours")
    assert cr.io.remove_stale_temps(target) == [str(stale)]
    assert sorted(os.listdir(tmp_path)) == [".a+b (1)xnpz.q_3x9z0k.tmp"]
    assert cr.io.remove_stale_temps(tmp_path / "missing-dir" / "x.npz") == []


def test_a_cli_run_started_again_removes_the_leftovers_of_all_its_files(tmp_path):
    from chainrule.cli import main

    out = tmp_path / "run"
    args = ["train", "--dataset", "xor", "--hidden", "8", "--epochs", "1", "--out", str(out), "--quiet"]
    assert main(args) == 0
    files = ["config.json", "model.npz", "history.json", "training.png", "checkpoint.npz"]
    stale = [out / f".{name}.x1y2z3_4.tmp" for name in files]
    for p in stale:
        p.write_bytes(b"half")
    (out / ".model.npz.notes.tmp").write_bytes(b"mine")
    assert main([*args, "--resume"]) == 0
    assert not any(p.exists() for p in stale)
    assert (out / ".model.npz.notes.tmp").read_bytes() == b"mine"
