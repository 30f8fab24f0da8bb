"""Save and load: round trips, atomic writes, and clear errors for bad files; never unpickles."""

from __future__ import annotations

import os
import pickle
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

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(RuntimeError):
        cr.save(model(), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]  # no temporary file left behind
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None


def test_unsaveable_objects_are_refused(tmp_path):
    with pytest.raises(SerializationError, match="without pickling"):
        cr.save({"f": lambda x: x}, tmp_path / "x.npz")
