"""Save and load: round trips, atomic writes, and clear errors for bad files; never unpickles."""

from __future__ import annotations

import json
import os
import pickle
import re
import stat
import zipfile

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import SerializationError


def model():
    cr.manual_seed(0)
    return cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.BatchNorm1d(4), cr.nn.ReLU(), cr.nn.Linear(4, 2))


def test_model_round_trip(tmp_path):
    m = model()
    m(cr.randn(5, 3))  # updates the running statistics
    path = tmp_path / "m.npz"
    cr.save(m, path)
    m2 = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.BatchNorm1d(4), cr.nn.ReLU(), cr.nn.Linear(4, 2))
    m2.load_state_dict(cr.load(path))
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, m2.state_dict()[k])
        assert v.dtype == m2.state_dict()[k].dtype
    with np.load(path, allow_pickle=False) as z:  # a plain npz that NumPy itself reads without pickle
        assert "0.weight" in z.files


def test_optimizer_and_nested_checkpoint_round_trip(tmp_path):
    m = model()
    opt = cr.optim.Adam(m.parameters(), lr=0.01, betas=(0.8, 0.9))
    cr.nn.functional.cross_entropy(m(cr.randn(6, 3)), np.array([0, 1, 0, 1, 1, 0])).backward()
    opt.step()
    ck = {
        "model": m,
        "optimizer": opt.state_dict(),
        "epoch": 3,
        "note": "hi",
        "none": None,
        "flag": True,
        "rng": np.random.default_rng(5).bit_generator.state,
        "list": [1, 2.5, "x"],
    }
    cr.save(ck, tmp_path / "ck.npz")
    back = cr.load(tmp_path / "ck.npz")
    assert back["epoch"] == 3 and back["note"] == "hi" and back["none"] is None and back["flag"] is True
    assert back["list"] == [1, 2.5, "x"]
    g = np.random.default_rng()
    g.bit_generator.state = dict(back["rng"])
    assert g.integers(1 << 30) == np.random.default_rng(5).integers(1 << 30)
    opt2 = cr.optim.Adam(m.parameters(), lr=0.5)
    opt2.load_state_dict(back["optimizer"])
    assert opt2.param_groups[0]["lr"] == 0.01 and opt2.param_groups[0]["betas"] == (0.8, 0.9)
    for p in m.parameters():
        np.testing.assert_array_equal(opt2.public_state(p)["exp_avg"], opt.public_state(p)["exp_avg"])
        assert opt2.state[p]["step"] == 1


def test_truncated_file(tmp_path):
    path = tmp_path / "m.npz"
    cr.save(model(), path)
    data = path.read_bytes()
    bad = tmp_path / "bad.npz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(SerializationError, match="not a complete chainrule file"):
        cr.load(bad)


def test_foreign_npz_and_pickles(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    with pytest.raises(SerializationError, match="not written by chainrule.save"):
        cr.load(tmp_path / "plain.npz")
    with open(tmp_path / "evil.npz", "wb") as f:
        pickle.dump({"a": 1}, f)
    with pytest.raises(SerializationError):
        cr.load(tmp_path / "evil.npz")
    np.savez(tmp_path / "obj.npz", __chainrule__=np.array("{}"), a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(SerializationError, match="never unpickles"):
        cr.load(tmp_path / "obj.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(SerializationError):
        cr.load(tmp_path / "text.npz")
    with pytest.raises(FileNotFoundError):
        cr.load(tmp_path / "missing.npz")


def test_loading_into_the_wrong_model_says_what_differs(tmp_path):
    cr.save(model(), tmp_path / "m.npz")
    other = cr.nn.Sequential(cr.nn.Linear(3, 5), cr.nn.ReLU(), cr.nn.Linear(5, 2))
    with pytest.raises(SerializationError) as e:
        other.load_state_dict(cr.load(tmp_path / "m.npz"))
    msg = str(e.value)
    assert "0.weight: shape (4, 3) in the file, (5, 3) in the model" in msg
    assert "unexpected: 1.weight" in msg


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    cr.save(model(), path)
    before = path.read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", boom)  # the write fails inside the archive
    with pytest.raises(RuntimeError):
        cr.save(model(), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]  # no temporary file left behind
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None


def test_unsaveable_objects_are_refused(tmp_path):
    with pytest.raises(SerializationError, match="without pickling"):
        cr.save({"f": lambda x: x}, tmp_path / "x.npz")


# ------------------------------------------------------------------------------ keys a user picks
def test_any_keys_a_user_picks_round_trip_without_colliding(tmp_path):
    """No key can collide with another member or with the file's header."""
    obj = {
        "file": np.arange(3.0),
        "allow_pickle": np.ones(2),
        "__chainrule__": np.zeros(1),
        "value": np.full(2, 7.0),
        "x.npy": np.array([1, 2]),
        "x": np.array([3]),
        "nested": {"a": {"b": np.eye(2)}, "a/b": np.ones(3)},
        5: "int key",
        "list": [np.ones(1), 2.5],
        "a0": np.full(1, 10.0),
        "a1": np.full(1, 11.0),
        "a2": np.full(1, 12.0),
        "bad name!": np.full(1, 13.0),
    }
    path = tmp_path / "c.npz"
    cr.save(obj, path)
    back = cr.load(path)
    assert set(back) == set(obj)
    for k in ("file", "allow_pickle", "__chainrule__", "value", "x.npy", "x", "a0", "a1", "a2", "bad name!"):
        np.testing.assert_array_equal(back[k], obj[k])
    np.testing.assert_array_equal(back["nested"]["a"]["b"], np.eye(2))
    np.testing.assert_array_equal(back["nested"]["a/b"], np.ones(3))
    assert back[5] == "int key"


def test_a_bare_array_round_trips(tmp_path):
    path = tmp_path / "c.npz"
    cr.save(np.arange(4), path)  # a bare array at the root
    np.testing.assert_array_equal(cr.load(path), np.arange(4))


@pytest.mark.parametrize("bad", [{1: 1.0, "1": 2.0}, {True: 1.0}, {(1, 2): 1.0}])
def test_save_refuses_ambiguous_keys(tmp_path, bad):
    with pytest.raises(cr.errors.SerializationError, match="save:"):
        cr.save(bad, tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()


# ------------------------------------------------------------------------------ foreign files
@pytest.mark.parametrize("kind", ["npy", "text", "empty", "list-header", "string-version", "no-tree", "short"])
def test_foreign_files_raise_a_serialization_error_naming_the_file(tmp_path, kind):
    path = tmp_path / "model.npz"
    if kind == "npy":
        with open(path, "wb") as f:
            np.save(f, np.arange(3))
    elif kind == "text":
        path.write_text("hello world")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "short":
        path.write_bytes(b"PK\x03")
    else:
        header = {
            "list-header": [1, 2],
            "string-version": {"format": "chainrule-npz", "version": "2", "tree": 1},
            "no-tree": {"format": "chainrule-npz", "version": 1},
        }[kind]
        with open(path, "wb") as f:
            np.savez(f, __chainrule__=np.array(json.dumps(header)))
    said = {"npy": r"single NumPy array \(\.npy\)", "text": "not a .npz", "empty": "empty", "short": "truncated"}
    with pytest.raises(cr.errors.SerializationError, match="model.npz") as e:
        cr.io.load(path)
    assert "pickled" not in str(e.value)
    if kind in said:
        assert re.search(said[kind], str(e.value))


# ------------------------------------------------------------------------------ file permissions
def test_a_new_file_gets_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        cr.io.save({"a": np.zeros(2)}, tmp_path / "m.npz")
        assert stat.S_IMODE(os.stat(tmp_path / "m.npz").st_mode) == 0o644
    finally:
        os.umask(old)


def test_replacing_a_file_keeps_its_mode(tmp_path):
    old = os.umask(0o022)
    try:
        cr.io.save({"a": np.zeros(2)}, tmp_path / "m.npz")
        os.chmod(tmp_path / "m.npz", 0o600)
        cr.io.save({"a": np.ones(2)}, tmp_path / "m.npz")  # replacing a file keeps its mode
        assert stat.S_IMODE(os.stat(tmp_path / "m.npz").st_mode) == 0o600
    finally:
        os.umask(old)
