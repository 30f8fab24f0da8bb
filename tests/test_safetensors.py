"""safetensors files: weights that move to and from PyTorch unchanged, metadata in the header, and clear
errors for truncated, foreign and hostile files (the same promises as for .npz, tests/test_io.py and
tests/test_hostile_files.py)."""

from __future__ import annotations

import json
import os
import random
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentTypeError, MissingDependencyError, SerializationError

pytest.importorskip("safetensors")
torch = pytest.importorskip("torch")
import safetensors  # noqa: E402
import safetensors.numpy  # noqa: E402
import safetensors.torch  # noqa: E402

from chainrule import runs  # noqa: E402


# ------------------------------------------------------------------------------ PyTorch twins of chainrule models
class TorchStandardize(torch.nn.Module):
    """chainrule.nn.Standardize in PyTorch: the same buffers, the same arithmetic."""

    def __init__(self, n):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n))
        self.register_buffer("std", torch.ones(n))

    def forward(self, x):
        return (x - self.mean) * (1 / self.std)


class TorchLastOutput(torch.nn.Module):
    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0][:, -1]


class TorchTranspose(torch.nn.Module):
    def __init__(self, dim0, dim1):
        super().__init__()
        self.dim0, self.dim1 = dim0, dim1

    def forward(self, x):
        return x.transpose(self.dim0, self.dim1)


def twin(m):
    """The PyTorch module with the constructor arguments of chainrule module ``m`` (its weights are not copied)."""
    nn, name = torch.nn, type(m).__name__
    if name == "Sequential":
        return nn.Sequential(*(twin(c) for c in m.children()))
    if name == "Linear":
        return nn.Linear(m.in_features, m.out_features, bias=m.bias is not None)
    if name in ("BatchNorm1d", "BatchNorm2d"):
        return getattr(nn, name)(m.num_features, eps=m.eps, momentum=m.momentum)
    if name in ("Conv1d", "Conv2d"):
        args = dict(stride=m.stride, padding=m.padding, dilation=m.dilation, groups=m.groups, bias=m.bias is not None)
        return getattr(nn, name)(m.in_channels, m.out_channels, m.kernel_size, **args)
    if name in ("GRU", "LSTM"):
        args = dict(bias=m.bias, batch_first=m.batch_first, dropout=m.dropout, bidirectional=m.bidirectional)
        return getattr(nn, name)(m.input_size, m.hidden_size, num_layers=m.num_layers, **args)
    simple = {
        "ReLU": lambda: nn.ReLU(),
        "Tanh": lambda: nn.Tanh(),
        "Sigmoid": lambda: nn.Sigmoid(),
        "LeakyReLU": lambda: nn.LeakyReLU(m.negative_slope),
        "MaxPool2d": lambda: nn.MaxPool2d(m.kernel_size, m.stride, m.padding),
        "Flatten": lambda: nn.Flatten(m.start_dim, m.end_dim),
        "Unflatten": lambda: nn.Unflatten(m.dim, m.unflattened_size),
        "Dropout": lambda: nn.Dropout(m.p),
        "Standardize": lambda: TorchStandardize(m.mean.shape[0]),
        "LastOutput": lambda: TorchLastOutput(twin(m.rnn)),
        "Transpose": lambda: TorchTranspose(m.dim0, m.dim1),
    }
    return simple[name]()


def outputs(y) -> list[np.ndarray]:
    """Every array in a model's output (a recurrent layer's output, h_n and c_n)."""
    if isinstance(y, (tuple, list)):
        return [a for part in y for a in outputs(part)]
    return [y.detach().numpy() if isinstance(y, torch.Tensor) else np.asarray(y.data)]


def assert_same_outputs(cr_model, torch_model, x):
    cr_model.eval()
    torch_model.eval()
    with torch.no_grad():
        expected = outputs(torch_model(torch.from_numpy(x)))
    got = outputs(cr_model(cr.tensor(x)))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=0, atol=1e-6)


def mlp():
    return cr.nn.Sequential(cr.nn.Linear(5, 8), cr.nn.BatchNorm1d(8), cr.nn.Tanh(), cr.nn.Linear(8, 3))


def cnn():
    return cr.nn.Sequential(
        cr.nn.Conv2d(2, 4, 3, padding=1),
        cr.nn.BatchNorm2d(4),
        cr.nn.ReLU(),
        cr.nn.MaxPool2d(2),
        cr.nn.Conv2d(4, 3, 3, stride=2, bias=False),
        cr.nn.Flatten(),
        cr.nn.Linear(3, 2),
    )


def gru():
    return cr.nn.GRU(3, 4, num_layers=2, batch_first=True, bidirectional=True)


def lstm():
    return cr.nn.LSTM(3, 5, num_layers=2)


#: (model, input shape, whether batch norm needs a training-mode pass to move its running statistics)
MODELS = {"mlp": (mlp, (6, 5)), "cnn": (cnn, (3, 2, 8, 8)), "gru": (gru, (2, 7, 3)), "lstm": (lstm, (7, 2, 3))}


def scramble_batch_norm(model, x):
    """A forward pass in training mode: running statistics and num_batches_tracked leave their initial values."""
    model.train()
    model(x)
    model(x * 2 + 1)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_chainrule_weights_load_into_the_pytorch_model(tmp_path, kind):
    build, shape = MODELS[kind]
    cr.manual_seed(1)
    model = build()
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    scramble_batch_norm(model, cr.tensor(x))
    path = tmp_path / "model.safetensors"
    cr.save(model, path)

    state = safetensors.torch.load_file(path)
    mirror = twin(model)
    assert mirror.load_state_dict(state) is not None  # strict: the same names, no key missing or left over
    for name, value in mirror.state_dict().items():  # the same layouts and dtypes (num_batches_tracked: int64, 0-d)
        mine = model.state_dict()[name]
        assert tuple(value.shape) == mine.shape and str(value.dtype) == f"torch.{mine.dtype}"
        np.testing.assert_array_equal(value.numpy(), mine)
    assert_same_outputs(model, mirror, x)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_pytorch_weights_load_into_the_chainrule_model(tmp_path, kind):
    build, shape = MODELS[kind]
    model = build()
    torch.manual_seed(2)
    mirror = twin(model)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    scramble_batch_norm(mirror, torch.from_numpy(x))
    path = tmp_path / "torch.safetensors"
    safetensors.torch.save_file(mirror.state_dict(), path)

    state = cr.load(path)
    model.load_state_dict(state)
    for name, value in mirror.state_dict().items():
        assert state[name].dtype == value.numpy().dtype and state[name].shape == tuple(value.shape)
        np.testing.assert_array_equal(model.state_dict()[name], value.numpy())
    assert_same_outputs(model, mirror, x)


def cli_configs():
    base = {"seed": 3, "activation": "tanh"}
    return {
        "mlp": dict(dataset="spiral", n_features=2, n_classes=3, hidden=[8, 6], batch_norm=True, dropout=0.1, **base),
        "cnn-images": dict(
            dataset="digits", n_features=64, n_classes=10, model="cnn", channels=[3], hidden=[8], **base
        ),
        "cnn-signals": dict(
            dataset="mnist1d", n_features=40, n_classes=10, model="cnn", channels=[3, 4], batch_norm=True, **base
        ),
        "gru": dict(dataset="digits", n_features=64, n_classes=10, model="gru", hidden=[6, 6], **base),
        "lstm": dict(dataset="mnist1d", n_features=40, n_classes=10, model="lstm", hidden=[5], **base),
    }


@pytest.mark.parametrize("name", sorted(cli_configs()))
def test_the_command_lines_models_move_both_ways(tmp_path, name):
    """The networks ``chainrule train`` builds (chainrule.runs.build_model), with their input scaling."""
    config = runs.RunConfig(**cli_configs()[name])
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, config.n_features)).astype(np.float32) * 3 + 1
    model = runs.build_model(config)
    model[0].fit(x if config.model == "mlp" else x.reshape(-1, 1))
    if config.batch_norm:
        scramble_batch_norm(model, cr.tensor(x))
    cr.save(model, tmp_path / "cr.safetensors")
    mirror = twin(model)
    mirror.load_state_dict(safetensors.torch.load_file(tmp_path / "cr.safetensors"))
    assert_same_outputs(model, mirror, x)

    torch.manual_seed(5)
    other = twin(model)  # fresh PyTorch weights, saved by PyTorch's side, read by chainrule's
    other[0].mean.copy_(torch.from_numpy(model[0].mean.data))
    other[0].std.copy_(torch.from_numpy(model[0].std.data))
    if config.batch_norm:
        scramble_batch_norm(other, torch.from_numpy(x))
    safetensors.torch.save_file(other.state_dict(), tmp_path / "torch.safetensors")
    model.load_state_dict(cr.load(tmp_path / "torch.safetensors"))
    assert_same_outputs(model, other, x)


# ------------------------------------------------------------------------------ round trips
def test_every_dtype_layout_and_name_round_trips_and_other_readers_agree(tmp_path):
    rng = np.random.default_rng(6)
    arrays = {
        "bool": rng.random(5) > 0.5,
        "u8": rng.integers(0, 255, 4).astype(np.uint8),
        "i8": rng.integers(-100, 100, (2, 2)).astype(np.int8),
        "u16": np.array([0, 65535], np.uint16),
        "i16": np.array([-32768, 7], np.int16),
        "u32": np.array([2**32 - 1], np.uint32),
        "i32": np.arange(6, dtype=np.int32).reshape(2, 3),
        "u64": np.array([2**64 - 1], np.uint64),
        "i64": np.array(-(2**62), np.int64),  # 0-d, as num_batches_tracked
        "f16": rng.standard_normal(3).astype(np.float16),
        "f32": rng.standard_normal((2, 3, 4)).astype(np.float32),
        "f64": rng.standard_normal(7),
        "empty": np.zeros((0, 3), np.float32),
        "transposed": np.arange(12.0, dtype=np.float32).reshape(3, 4).T,  # not contiguous
        "strided": np.arange(20, dtype=np.int64)[::3],
        "big-endian": np.arange(5, dtype=">f4"),
        "tensor": cr.tensor([[1.5, 2.5]]),
        "layers/0.weight ü": np.ones(2, np.float32),
    }
    path = tmp_path / "all.safetensors"
    cr.save(arrays, path)
    back = cr.load(path)
    theirs = safetensors.numpy.load_file(path)
    assert set(back) == set(arrays) == set(theirs)
    for k, v in arrays.items():
        v = np.asarray(v)
        for got in (back[k], theirs[k]):
            np.testing.assert_array_equal(got, v)
            assert got.shape == v.shape and got.dtype == v.dtype.newbyteorder("=")
    assert all(a.flags.writeable for a in back.values())


def test_a_module_and_its_state_dict_write_the_same_tensors(tmp_path):
    model = mlp()
    cr.save(model, tmp_path / "a.safetensors")
    cr.save(model.state_dict(), tmp_path / "b.safetensors")
    a, b = cr.load(tmp_path / "a.safetensors"), cr.load(tmp_path / "b.safetensors")
    assert list(a) == list(b) and set(a) == set(model.state_dict())
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_the_extension_chooses_the_format(tmp_path):
    model = mlp()
    for name in ("m.safetensors", "M.SafeTensors"):
        cr.save(model, tmp_path / name)
        assert safetensors.numpy.load_file(tmp_path / name).keys() == model.state_dict().keys()
    for name in ("m.npz", "m.bin", "weights"):  # any other name: chainrule's .npz archive, as before
        cr.save(model, tmp_path / name)
        with np.load(tmp_path / name, allow_pickle=False) as z:
            assert "0.weight" in z.files


# ------------------------------------------------------------------------------ metadata
def test_metadata_is_in_the_header_for_any_reader(tmp_path):
    model = mlp()
    path = tmp_path / "m.safetensors"
    cr.save(model, path, metadata={"note": "seed 1", "format": "pt"})
    with safetensors.safe_open(path, framework="pt") as f:  # safetensors' own reader
        theirs = f.metadata()
    mine = cr.io.load_metadata(path)
    assert mine == theirs
    assert mine["format"] == "pt" and mine["note"] == "seed 1"
    assert mine["chainrule.version"] == cr.__version__
    assert mine["chainrule.module"] == repr(model)

    cr.save(model, tmp_path / "m.npz", metadata={"note": "seed 1"})
    npz = cr.io.load_metadata(tmp_path / "m.npz")
    assert npz == {k: v for k, v in mine.items() if k != "format"}


def test_a_file_written_elsewhere_has_the_metadata_its_writer_gave(tmp_path):
    safetensors.numpy.save_file({"a": np.zeros(2)}, tmp_path / "plain.safetensors")
    assert cr.io.load_metadata(tmp_path / "plain.safetensors") == {}
    safetensors.numpy.save_file({"a": np.zeros(2)}, tmp_path / "m.safetensors", metadata={"k": "v"})
    assert cr.io.load_metadata(tmp_path / "m.safetensors") == {"k": "v"}


@pytest.mark.parametrize("bad", [{"epochs": 3}, {1: "x"}, ["a", "b"], "text"])
def test_metadata_must_be_text_pairs(tmp_path, bad):
    with pytest.raises(ArgumentTypeError, match="metadata"):
        cr.save(mlp(), tmp_path / "m.safetensors", metadata=bad)
    assert not os.listdir(tmp_path)


def test_a_training_run_saves_its_configuration_with_the_model(tmp_path):
    """model.npz carries the run's RunConfig, so the file alone rebuilds the network."""
    config = runs.RunConfig(dataset="xor", n_features=2, n_classes=2, hidden=[4], epochs=1, batch_size=4)
    run = runs.TrainingRun(config, runs.load_dataset("xor"), str(tmp_path / "run"))
    run.train(progress=False)
    path = tmp_path / "run" / "model.npz"
    again = runs.RunConfig.from_json(cr.io.load_metadata(path)["chainrule.run_config"])
    assert again == config
    model = runs.build_model(again)
    model.load_state_dict(cr.load(path))
    x = np.array([[0, 1], [1, 1]], np.float32)
    run.model.eval()
    model.eval()
    np.testing.assert_array_equal(model(cr.tensor(x)).data, run.model(cr.tensor(x)).data)


# ------------------------------------------------------------------------------ what safetensors cannot hold
@pytest.mark.parametrize(
    "obj, said",
    [
        ({"model": {"w": np.ones(2)}}, "'model' is not an array .it is of type dict"),
        ({"w": np.ones(2), "epoch": 3}, "'epoch' is not an array .it is of type int"),
        ({"w": np.ones(2), "note": "hi"}, "'note' is not an array .it is of type str"),
        ({"w": [1.0, 2.0]}, "'w' is not an array .it is of type list"),
        ({0: np.ones(2)}, "got the key 0"),
        ({"__metadata__": np.ones(2)}, "'__metadata__'"),
        ({"z": np.ones(2, np.complex64)}, "'z' has dtype complex64"),
        ({"s": np.array(["a"])}, "'s' has dtype <U1"),
        ({"o": np.array([None], dtype=object)}, "'o' has dtype object"),
        ({"r": np.zeros(2, [("a", "<f4")])}, "'r' has dtype"),
        (np.ones(3), "not an object of type ndarray"),
        ([np.ones(3)], "not an object of type list"),
    ],
)
def test_what_safetensors_cannot_hold_is_refused_naming_the_key(tmp_path, obj, said):
    path = tmp_path / "x.safetensors"
    with pytest.raises(SerializationError, match=said) as e:
        cr.save(obj, path)
    assert ".npz" in str(e.value)
    assert not os.listdir(tmp_path)  # nothing written


def test_an_optimizers_checkpoint_is_refused_and_goes_to_npz(tmp_path):
    model = mlp()
    opt = cr.optim.Adam(model.parameters())
    model(cr.randn(4, 5)).sum().backward()
    opt.step()
    with pytest.raises(
        SerializationError, match=r"'state' is not an array .* Save nested checkpoints .* to a .npz path"
    ):
        cr.save(opt.state_dict(), tmp_path / "opt.safetensors")
    cr.save({"model": model, "optimizer": opt.state_dict()}, tmp_path / "ck.npz")  # where it belongs


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    cr.save(mlp(), path)
    before = path.read_bytes()

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)  # the new file is written, then fails before it replaces the old
    with pytest.raises(OSError, match="disk full"):
        cr.save(mlp(), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.safetensors"]


# ------------------------------------------------------------------------------ without the package
def test_without_safetensors_the_error_names_the_extra(tmp_path, monkeypatch):
    cr.save({"a": np.ones(2)}, tmp_path / "there.safetensors")
    for name in ("safetensors", "safetensors.numpy"):
        monkeypatch.setitem(sys.modules, name, None)  # import safetensors now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'chainrule\[safetensors\]'"):
        cr.save({"a": np.ones(2)}, tmp_path / "new.safetensors")
    with pytest.raises(MissingDependencyError, match="reading/writing .safetensors files"):
        cr.load(tmp_path / "there.safetensors")
    assert not (tmp_path / "new.safetensors").exists()
    assert cr.io.load_metadata(tmp_path / "there.safetensors")["chainrule.version"] == cr.__version__
    cr.save({"a": np.ones(2)}, tmp_path / "still.npz")  # .npz needs nothing


def test_importing_chainrule_does_not_import_safetensors():
    code = "import sys, chainrule; assert 'safetensors' not in sys.modules, 'imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------ truncated, foreign, hostile files
def st_file(path, header: dict, data: bytes = b"", length: int | None = None) -> None:
    """A safetensors file written byte by byte: the header's length (or ``length``), its JSON, the data."""
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text) if length is None else length) + text + data)


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def test_a_file_truncated_at_any_length_is_refused(tmp_path):
    good = tmp_path / "good.safetensors"
    cr.save({"w": np.arange(6, dtype=np.float32), "n": np.array(3)}, good, metadata={"k": "v"})
    data = good.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    bad = tmp_path / "cut.safetensors"
    for n in range(len(data)):
        bad.write_bytes(data[:n])
        with pytest.raises(SerializationError, match="cut.safetensors is not a complete safetensors file") as e:
            cr.load(bad)
        said = "empty" if n == 0 else "truncated"
        assert said in str(e.value), n
        if n >= 8 + length:  # the header is whole: it says how much data there should be
            assert f"declares {len(data) - 8 - length} bytes of data, the file holds {n - 8 - length}" in str(e.value)


def test_random_bytes_are_refused(tmp_path):
    rng = random.Random(7)
    path = tmp_path / "noise.safetensors"
    for n in [1, 7, 8, 9, 50, 1000] + [rng.randrange(2000) for _ in range(30)]:
        path.write_bytes(bytes(rng.randrange(256) for _ in range(n)))
        with pytest.raises(SerializationError, match="noise.safetensors"):
            cr.load(path)
    # random bytes after a plausible length: not JSON
    path.write_bytes(struct.pack("<Q", 64) + bytes(rng.randrange(256) for _ in range(64)))
    with pytest.raises(SerializationError, match="not a safetensors file: its header is not a JSON object"):
        cr.load(path)


def test_files_of_the_other_format_say_what_they_are(tmp_path):
    cr.save(mlp(), tmp_path / "m.npz")
    os.rename(tmp_path / "m.npz", tmp_path / "m.safetensors")
    with pytest.raises(SerializationError, match=r"m.safetensors is a zip archive \(an .npz file.*name ending in .npz"):
        cr.load(tmp_path / "m.safetensors")
    cr.save(mlp(), tmp_path / "w.safetensors")
    os.rename(tmp_path / "w.safetensors", tmp_path / "w.npz")
    with pytest.raises(SerializationError, match="w.npz .*looks like a safetensors file"):
        cr.load(tmp_path / "w.npz")
    with open(tmp_path / "a.safetensors", "wb") as f:
        np.save(f, np.arange(3))
    with pytest.raises(SerializationError, match=r"single NumPy array \(.npy\)"):
        cr.load(tmp_path / "a.safetensors")
    with pytest.raises(FileNotFoundError):
        cr.load(tmp_path / "missing.safetensors")


@pytest.mark.parametrize(
    "header, data, said",
    [
        ({"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 4, 12)}, bytes(12), "'b' .* data_offsets overlap"),
        ({"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 12, 20)}, bytes(20), "'b' .* leave a gap"),
        ({"a": entry("F32", [2], 4, 12)}, bytes(12), "'a' .* leave a gap"),
        ({"a": entry("F32", [3], 0, 8)}, bytes(8), r"takes 12 bytes, but its data_offsets \[0, 8\] span 8"),
        ({"a": entry("F32", [2], 8, 0)}, bytes(8), r"takes 8 bytes, but its data_offsets \[8, 0\] span -8"),
        ({"a": entry("F32", [2], 0, 8)}, bytes(4), "declares 8 bytes of data, the file holds 4 .truncated"),
        ({"a": entry("F32", [2], 0, 8)}, bytes(100), "92 bytes after the 8 bytes of data"),
        ({"a": entry("F32", [2], -8, 0)}, bytes(8), r"data_offsets \[-8, 0\]"),
        ({"a": entry("F32", [2.0], 0, 8)}, bytes(8), r"shape \[2.0\]"),
        ({"a": entry("F32", [-2], 0, 8)}, bytes(8), r"shape \[-2\]"),
        ({"a": entry("F32", "2", 0, 8)}, bytes(8), "shape '2'"),
        ({"a": {"dtype": "F32", "shape": [2]}}, bytes(8), "entry for 'a' is not an object with data_offsets"),
        ({"a": [1, 2]}, b"", "entry for 'a' is not an object"),
        ({"__metadata__": {"k": 1}}, b"", "__metadata__ is not a JSON object of strings"),
        ({"__metadata__": ["k"]}, b"", "__metadata__ is not a JSON object of strings"),
        ({"a": entry("O", [1], 0, 8)}, bytes(8), "tensor 'a' has dtype O .unknown."),
        ({"a": entry("BF16", [2], 0, 4)}, bytes(4), r"tensor 'a' has dtype BF16 \(bfloat16, which NumPy has not\)"),
        ({"a": entry("F8_E4M3", [2], 0, 2)}, bytes(2), "dtype F8_E4M3 .8-bit floats"),
        ({"a": entry("C64", [1], 0, 8)}, bytes(8), "dtype C64 .complex numbers"),
    ],
)
def test_a_header_that_lies_is_refused_naming_what(tmp_path, header, data, said):
    path = tmp_path / "liar.safetensors"
    st_file(path, header, data)
    with pytest.raises(SerializationError, match="liar.safetensors") as e:
        cr.load(path)
    assert re.search(said, str(e.value)), str(e.value)


@pytest.mark.parametrize(
    "text, said",
    [
        (b"[1, 2]", "its header is a JSON list, not an object"),
        (b'{"a": 1, "a": 2}', "names 'a' twice"),
        (b"\xff\xfe{}", "UnicodeDecodeError"),
        (b"[" * 100_000 + b"]" * 100_000, "nests 100000 levels deep"),
        (b"{", "JSONDecodeError"),
    ],
)
def test_a_header_that_is_no_json_object_is_refused(tmp_path, text, said):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text)
    with pytest.raises(SerializationError, match=said):
        cr.load(path)


@pytest.mark.parametrize("length", [2**64 - 1, 2**40, cr.io.MAX_HEADER_BYTES + 1])
def test_a_huge_header_length_is_refused_before_the_header_is_read(tmp_path, length):
    path = tmp_path / "long.safetensors"
    st_file(path, {"a": entry("F32", [1], 0, 4)}, bytes(4), length=length)
    with pytest.raises(SerializationError, match=f"header is {length} bytes long, more than the 32 MiB"):
        cr.load(path)
    with pytest.raises(SerializationError, match="MAX_HEADER_BYTES"):
        cr.io.load_metadata(path)


def test_the_bytes_declared_are_bounded_by_max_bytes(tmp_path, monkeypatch):
    path = tmp_path / "huge.safetensors"
    st_file(path, {"w": entry("F32", [10**12], 0, 4 * 10**12)}, bytes(16))
    with pytest.raises(SerializationError) as e:
        cr.load(path)
    for part in ("huge.safetensors", "tensor 'w'", "(1000000000000,)", "float32", "max_bytes", "MAX_LOAD_BYTES"):
        assert part in str(e.value)

    good = tmp_path / "good.safetensors"
    cr.save({"a": np.zeros(1000, np.float32), "b": np.zeros(1000)}, good)
    total = good.stat().st_size  # the header and the data: what load counts
    with pytest.raises(SerializationError, match=rf"declare .* \({total} bytes\) with the header"):
        cr.load(good, max_bytes=total - 1)
    assert set(cr.load(good, max_bytes=total)) == {"a", "b"}
    monkeypatch.setattr(cr.io, "MAX_LOAD_BYTES", total - 1)
    with pytest.raises(SerializationError, match="MAX_LOAD_BYTES"):
        cr.load(good)


def test_save_refuses_a_header_load_would_refuse(tmp_path, monkeypatch):
    monkeypatch.setattr(cr.io, "MAX_HEADER_BYTES", 1000)
    with pytest.raises(SerializationError, match="keep the metadata short"):
        cr.save({"a": np.zeros(1)}, tmp_path / "m.safetensors", metadata={"long": "x" * 2000})
    assert not os.listdir(tmp_path)
