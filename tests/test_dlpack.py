"""DLPack: tensors shared with NumPy and PyTorch without a copy (a write on one side is seen on the other),
tensors that require grad refused as PyTorch refuses them, and read-only memory never handed out writable.
Runs with NumPy 1.26 (DLPack 0.x, whose imports NumPy makes read-only) and with NumPy 2.x."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, ArgumentTypeError, DLPackError, DTypeError

torch = pytest.importorskip("torch")

#: NumPy 1.x marks every array it imports through DLPack read-only; NumPy 2 makes it writable
NUMPY_IMPORTS_WRITABLE = np.lib.NumpyVersion(np.__version__) >= "2.0.0"


def numpy_from_dlpack_takes_copy() -> bool:
    try:
        np.from_dlpack(np.empty(0), copy=None)
    except TypeError:
        return False
    return True


class Producer:
    """A DLPack producer that is neither a NumPy array nor a chainrule tensor: it hands on whatever its
    consumer asks of the array it wraps (so cr.from_dlpack must go through numpy.from_dlpack)."""

    def __init__(self, a):
        self.a = a

    def __dlpack__(self, stream=None, **kwargs):
        try:
            return self.a.__dlpack__(stream=stream, **kwargs)
        except TypeError:  # NumPy 1.x takes stream only
            return self.a.__dlpack__(stream=stream)

    def __dlpack_device__(self):
        return self.a.__dlpack_device__()


def torch_message(**kwargs) -> str:
    with pytest.raises(BufferError) as e:
        torch.ones(2, requires_grad=True).__dlpack__(**kwargs)
    return str(e.value)


# ------------------------------------------------------------------------------ shared, both ways
def test_numpy_shares_a_tensors_memory():
    t = cr.tensor([1.0, 2.0, 3.0])
    a = np.from_dlpack(t)
    assert np.shares_memory(a, t.data) and a.dtype == np.float32
    with cr.no_grad():
        t.mul_(10)  # chainrule writes, NumPy sees
    np.testing.assert_array_equal(a, [10, 20, 30])
    if NUMPY_IMPORTS_WRITABLE:
        a[1] = -5  # NumPy writes, chainrule sees
        assert t[1].item() == -5
    else:
        assert not a.flags.writeable  # NumPy 1.x's rule for every DLPack import


@pytest.mark.parametrize("consumer", ["torch.from_dlpack", "torch.utils.dlpack.from_dlpack"])
def test_pytorch_shares_a_tensors_memory_both_ways(consumer):
    take = torch.from_dlpack if consumer == "torch.from_dlpack" else torch.utils.dlpack.from_dlpack
    t = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    x = take(t)
    assert x.data_ptr() == t.data.ctypes.data and x.dtype == torch.float32 and tuple(x.shape) == (2, 2)
    x[0, 1] = 7.0  # PyTorch writes, chainrule sees
    assert t[0, 1].item() == 7.0
    with cr.no_grad():
        t.add_(1)  # chainrule writes, PyTorch sees
    torch.testing.assert_close(x, torch.tensor([[2.0, 8.0], [4.0, 5.0]]), rtol=0, atol=0)


def test_a_pytorch_tensor_is_shared_with_chainrule():
    x = torch.arange(4.0)
    t = cr.from_dlpack(x)
    assert isinstance(t, cr.Tensor) and t.dtype == np.float32 and t.data.ctypes.data == x.data_ptr()
    x[0] = 9.0  # PyTorch writes, chainrule sees
    assert t[0].item() == 9.0
    if NUMPY_IMPORTS_WRITABLE:
        with cr.no_grad():
            t.mul_(2)  # chainrule writes, PyTorch sees
        torch.testing.assert_close(x, torch.tensor([18.0, 2.0, 4.0, 6.0]), rtol=0, atol=0)
    else:
        assert not t.data.flags.writeable  # NumPy 1.x imports through DLPack read-only
        shared = cr.from_numpy(x.numpy())  # the writable share there
        shared.data[1] = 5.0
        assert x[1].item() == 5.0


@pytest.mark.parametrize("source", ["ndarray", "producer"])
def test_numpy_memory_is_shared_with_chainrule(source):
    a = np.arange(6.0).reshape(2, 3)
    t = cr.from_dlpack(a if source == "ndarray" else Producer(a))
    assert np.shares_memory(t.data, a) and t.dtype == np.float64 and t.shape == (2, 3)
    a[1, 2] = -1.0
    assert t[1, 2].item() == -1.0
    if source == "ndarray" or NUMPY_IMPORTS_WRITABLE:  # an ndarray is shared directly, writable as it is
        t.data[0, 0] = 42.0
        assert a[0, 0] == 42.0
    else:
        assert not t.data.flags.writeable


def test_a_round_trip_through_pytorch_is_the_same_memory():
    t = cr.randn(3, 4)
    back = cr.from_dlpack(torch.from_dlpack(t))
    assert np.shares_memory(back.data, t.data)
    np.testing.assert_array_equal(back.data, t.data)
    assert cr.from_dlpack(t).data is t.data  # a chainrule tensor: shared directly


@pytest.mark.parametrize(
    "dtype", [np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64, np.float16, np.float32, np.float64]
)
def test_every_dtype_crosses_both_ways(dtype):
    values = np.array([[0, 1, 2], [3, 1, 0]]).astype(dtype)
    t = cr.from_numpy(values.copy())
    x = torch.from_dlpack(t)
    assert str(x.dtype) == f"torch.{np.dtype(dtype).name if dtype is not np.bool_ else 'bool'}"
    np.testing.assert_array_equal(x.numpy(), values)
    np.testing.assert_array_equal(np.from_dlpack(t), values)
    back = cr.from_dlpack(torch.from_numpy(values.copy()))
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.data, values)


def test_views_keep_their_strides():
    base = np.arange(24.0, dtype=np.float32).reshape(4, 6)
    for view in (base.T, base[::2, 1::3], base[1], base[2, 3, ...], base[:0]):  # (base[2, 3, ...]: 0-d)
        t = cr.from_numpy(view)
        x, a = torch.from_dlpack(t), np.from_dlpack(t)
        np.testing.assert_array_equal(x.numpy(), view)
        np.testing.assert_array_equal(a, view)
        if view.size:
            assert np.shares_memory(a, base) and x.data_ptr() == view.ctypes.data


def test_the_consumer_keeps_the_memory_alive():
    t = cr.tensor([1.0, 2.0, 3.0])
    a, x = np.from_dlpack(t), torch.from_dlpack(t)
    del t
    gc.collect()
    np.testing.assert_array_equal(a, [1, 2, 3])
    assert x.tolist() == [1, 2, 3]
    y = torch.tensor([4.0, 5.0])
    c = cr.from_dlpack(y)
    del y
    gc.collect()
    assert c.tolist() == [4, 5]


def test_the_device_is_the_cpu():
    t = cr.ones(2)
    assert t.__dlpack_device__() == (1, 0) == tuple(torch.ones(1).__dlpack_device__())
    assert t.__dlpack_device__() == tuple(np.empty(0).__dlpack_device__())


# ------------------------------------------------------------------------------ refused, as PyTorch refuses
@pytest.mark.parametrize("kind", ["leaf", "non-leaf"])
def test_a_tensor_that_requires_grad_is_refused_with_pytorchs_words(kind):
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    t = w if kind == "leaf" else w * 2
    said = torch_message()  # "Can't export tensors that require gradient, use tensor.detach()"
    for consume in (np.from_dlpack, torch.from_dlpack, cr.from_dlpack, lambda t: t.__dlpack__()):
        with pytest.raises(BufferError) as e:
            consume(t)
        assert isinstance(e.value, DLPackError) and said in str(e.value)
    x = torch.from_dlpack(t.detach())  # detached: shared
    assert x.data_ptr() == t.data.ctypes.data


def test_pytorchs_own_refusal_reaches_the_user():
    with pytest.raises(BufferError, match="use tensor.detach"):
        cr.from_dlpack(torch.ones(2, requires_grad=True))


# ------------------------------------------------------------------------------ read-only memory
def read_only(a):
    a.flags.writeable = False
    return a


def never_writable_alias(source: np.ndarray, take) -> str:
    """What ``take`` made of read-only ``source``: 'refused', 'read-only' or 'copy'; never a writable
    view of the same memory."""
    try:
        out = take()
    except BufferError:
        return "refused"
    arr = out.numpy() if isinstance(out, torch.Tensor) else out.data if isinstance(out, cr.Tensor) else out
    if not np.shares_memory(arr, source):
        return "copy"
    # a torch tensor has no read-only flag: sharing read-only memory with PyTorch would be a writable alias
    assert not isinstance(out, torch.Tensor), "read-only memory shared writable with PyTorch"
    assert not arr.flags.writeable, "read-only memory shared writable"
    return "read-only"


def test_read_only_memory_is_never_handed_out_writable():
    src = read_only(np.arange(4.0))
    t = cr.from_numpy(src)
    takes = {
        "np.from_dlpack(t)": (lambda: np.from_dlpack(t), "refused"),
        "torch.from_dlpack(t)": (lambda: torch.from_dlpack(t), "refused"),
        "torch.utils.dlpack.from_dlpack(t)": (lambda: torch.utils.dlpack.from_dlpack(t), "refused"),
        "t.__dlpack__(max_version=(1, 0))": (lambda: np.from_dlpack(Producer(t)), "refused"),
        "cr.from_dlpack(array)": (lambda: cr.from_dlpack(src), "read-only"),
        "cr.from_dlpack(t)": (lambda: cr.from_dlpack(t), "read-only"),
        # a producer that can say read-only only with DLPack >= 1.0 (NumPy 2); NumPy 1.x refuses to export
        "cr.from_dlpack(producer)": (
            lambda: cr.from_dlpack(Producer(src)),
            "read-only" if NUMPY_IMPORTS_WRITABLE else "refused",
        ),
        "torch.from_dlpack(t, copy=True)": (lambda: torch.from_dlpack(t, copy=True), "copy"),
        "cr.from_dlpack(t, copy=True)": (lambda: cr.from_dlpack(t, copy=True), "copy"),
    }
    if numpy_from_dlpack_takes_copy():
        takes["np.from_dlpack(t, copy=True)"] = (lambda: np.from_dlpack(t, copy=True), "copy")
    got = {name: never_writable_alias(src, take) for name, (take, _) in takes.items()}
    assert got == {name: expected for name, (_, expected) in takes.items()}
    np.testing.assert_array_equal(src, np.arange(4.0))


def test_the_refusal_says_what_to_do():
    t = cr.from_numpy(read_only(np.arange(3.0)))
    with pytest.raises(DLPackError, match=r"read-only .* t.clone\(\), or pass copy=True"):
        torch.from_dlpack(t)
    with pytest.raises(DLPackError, match="copy=False was asked"):
        t.__dlpack__(copy=False)
    x = torch.from_dlpack(t.clone())  # the remedy
    x[0] = 5.0
    assert t[0].item() == 0.0


def test_a_copy_is_the_consumers_own():
    t = cr.tensor([1.0, 2.0])
    x = torch.from_dlpack(t, copy=True)
    x[0] = 9.0
    assert t[0].item() == 1.0


def test_data_running_backwards_are_refused_not_crashed_on():
    """PyTorch aborts the process on a DLPack tensor with negative strides; chainrule does not hand one over."""
    t = cr.from_numpy(np.arange(5.0)[::-1])
    with pytest.raises(DLPackError, match=r"backwards in memory \(strides \(-8,\)\)"):
        torch.from_dlpack(t)
    with pytest.raises(DLPackError, match="backwards"):
        np.from_dlpack(t)
    x = torch.from_dlpack(t, copy=True)
    assert x.tolist() == [4, 3, 2, 1, 0]
    np.testing.assert_array_equal(np.from_dlpack(cr.from_numpy(np.arange(3.0)[::-1][:1])), [2.0])  # one element


# ------------------------------------------------------------------------------ arguments and foreign data
def test_arguments_are_checked():
    t = cr.ones(2)
    assert t.__dlpack__(dl_device=(1, 0)) is not None
    with pytest.raises(DLPackError, match=r"device \(2, 0\)"):
        t.__dlpack__(dl_device=(2, 0))
    with pytest.raises(ArgumentError, match="stream must be None"):
        t.__dlpack__(stream=1)
    with pytest.raises(ArgumentTypeError, match="copy must be True, False or None"):
        t.__dlpack__(copy="yes")
    with pytest.raises(DLPackError, match="'cuda'"):
        cr.from_dlpack(np.ones(2), device="cuda")
    assert cr.from_dlpack(np.ones(2), device="cpu").shape == (2,)
    with pytest.raises(ArgumentTypeError, match="expected an object with __dlpack__"):
        cr.from_dlpack([1.0, 2.0])


def test_the_capsule_is_versioned_where_numpy_can_make_one():
    t = cr.ones(2)
    assert "dltensor" in repr(t.__dlpack__()) and "versioned" not in repr(t.__dlpack__())
    versioned = "versioned" in repr(np.empty(1).__dlpack__(max_version=(1, 0))) if NUMPY_IMPORTS_WRITABLE else False
    assert ("versioned" in repr(t.__dlpack__(max_version=(1, 0)))) == versioned


def test_data_chainrule_cannot_hold_are_refused_naming_them():
    with pytest.raises(DLPackError, match="Tensor of dtype torch.bfloat16 could not be shared"):
        cr.from_dlpack(torch.ones(2, dtype=torch.bfloat16))
    with pytest.raises(DTypeError, match="from_dlpack: complex data"):
        cr.from_dlpack(torch.ones(2, dtype=torch.complex64))


def test_from_dlpack_is_exported():
    assert cr.from_dlpack is cr.interop.from_dlpack
