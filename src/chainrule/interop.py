"""DLPack: tensors shared with NumPy, PyTorch and any library that speaks it, without a copy.

``np.from_dlpack(t)`` and ``torch.from_dlpack(t)`` take a chainrule tensor (``Tensor.__dlpack__`` and
``Tensor.__dlpack_device__``, which call :func:`export_dlpack`); ``cr.from_dlpack(x)`` takes a NumPy array,
a PyTorch tensor or any object with ``__dlpack__`` (:func:`from_dlpack`). Both share memory: a write on
one side is seen on the other. Writes through the other side are not counted in the tensor's version
(as with ``t.numpy()``): do not write that way into a tensor that a recorded graph saved.

The rules, the same with NumPy 1.26 and 2.x:

* A tensor that requires grad is not exported: DLPackError (a BufferError, as PyTorch raises), "Can't
  export tensors that require gradient, use tensor.detach()", PyTorch's own words.
* A read-only tensor (its array's WRITEABLE flag off: memory it must not write, such as a read-only
  NumPy array it was made from) is never shared, since the other side could write it: PyTorch ignores
  DLPack's read-only flag, and NumPy 1.x cannot send it. DLPackError, saying to share a copy:
  ``t.clone()``, or ``copy=True`` where the consumer passes it on (``torch.from_dlpack(t, copy=True)``,
  ``np.from_dlpack(t, copy=True)`` with NumPy >= 2.1).
* Nor is a tensor whose data run backwards in memory (negative strides, as ``a[::-1]`` of an array
  made into a tensor with ``cr.from_numpy``): PyTorch aborts the whole process on such a DLPack tensor
  (its storage-size check overflows). Same error, same remedy.
* ``copy=True`` exports a copy, which the consumer owns; ``copy=False`` and ``None`` share or refuse
  (chainrule never copies unasked). Devices: the CPU only (``dl_device`` (1, 0)); ``stream``: None.
* NumPy < 2.1 knows DLPack 0.x only: the consumer gets an unversioned capsule whatever ``max_version``
  it asked for, which the protocol allows and which PyTorch and NumPy take.

``cr.from_dlpack(x)``: a NumPy array or a chainrule tensor is shared directly, flags and all (a
read-only array gives a read-only tensor); anything else goes through ``numpy.from_dlpack``, so the
tensor is writable exactly when NumPy makes that array writable: with NumPy 2, unless the producer
marked its memory read-only; with NumPy 1.x never (NumPy 1.x marks every DLPack import read-only, since
DLPack 0.x cannot say whether the memory may be written), so there writes go one way, from the producer
(``cr.from_numpy(torch_tensor.numpy())`` shares a PyTorch tensor writably with any NumPy).
"""

from __future__ import annotations

import functools

import numpy as np

from .errors import ArgumentError, ArgumentTypeError, DLPackError
from .tensor import Tensor, check_data_dtype, from_numpy

__all__ = ["from_dlpack", "export_dlpack", "CPU"]

#: DLPack's device of the CPU: (kDLCPU, device 0)
CPU = (1, 0)
_COPY_HINT = "share a copy: t.clone(), or pass copy=True (torch.from_dlpack(t, copy=True))"


@functools.cache
def _versioned() -> bool:
    """Whether this NumPy exports DLPack >= 1.0 (max_version, dl_device, copy: NumPy >= 2.1)."""
    try:
        np.empty(0).__dlpack__(max_version=(1, 0), dl_device=None, copy=None)
    except TypeError:
        return False
    return True


@functools.cache
def _from_dlpack_takes_copy() -> bool:
    try:
        np.from_dlpack(np.empty(0), copy=None)
    except TypeError:
        return False
    return True


def export_dlpack(t: Tensor, stream=None, max_version=None, dl_device=None, copy=None):
    """The DLPack capsule of ``t`` (``Tensor.__dlpack__``): its memory shared, or a copy with ``copy=True``;
    refused as the module's description says."""
    if t.requires_grad:
        raise DLPackError("__dlpack__: Can't export tensors that require gradient, use tensor.detach()")
    _check_export_args(stream, dl_device, copy)
    data = t.data
    if copy:
        data = np.array(data, dtype=data.dtype.newbyteorder("="), order="C")  # the consumer's own
    else:
        _check_shareable(data, copy)
    if _versioned() and max_version is not None:
        return data.__dlpack__(stream=stream, max_version=max_version, dl_device=dl_device, copy=False)
    return data.__dlpack__(stream=stream)


def _check_export_args(stream, dl_device, copy) -> None:
    if stream is not None:
        raise ArgumentError(f"__dlpack__: stream must be None for a CPU tensor, got {stream!r}")
    if dl_device is not None and tuple(dl_device) != CPU:
        raise DLPackError(
            f"__dlpack__: chainrule's tensors are on the CPU, DLPack device {CPU}; device {tuple(dl_device)} "
            "was asked for: copy it there on the consumer's side"
        )
    if copy not in (None, True, False):
        raise ArgumentTypeError(f"__dlpack__: copy must be True, False or None, got {copy!r}")


def _check_shareable(data: np.ndarray, copy) -> None:
    """Refuse to share memory the consumer could write though it must not, or could not take."""
    why = None
    if not data.flags.writeable:
        why = (
            "the tensor is read-only (its array's WRITEABLE flag is off), and a consumer could write it "
            "(PyTorch ignores DLPack's read-only flag; NumPy 1.x cannot send it)"
        )
    elif any(s < 0 for s, n in zip(data.strides, data.shape) if n > 1):
        why = (
            f"the tensor's data run backwards in memory (strides {data.strides}), which PyTorch cannot take "
            "(it aborts the process)"
        )
    elif not data.dtype.isnative:
        why = f"its dtype {data.dtype} is not in this machine's byte order, which DLPack cannot describe"
    if why:
        asked = " and copy=False was asked" if copy is False else ""
        raise DLPackError(f"__dlpack__: {why}{asked}; chainrule does not share it through DLPack: {_COPY_HINT}")


def from_dlpack(x, *, device=None, copy=None) -> Tensor:
    """A tensor sharing the memory of ``x``: a NumPy array, a PyTorch tensor, or any object with
    ``__dlpack__`` whose data are on the CPU (``copy=True``: a copy instead).

    As ``torch.from_dlpack``: a write through either side is seen by the other, and a tensor that
    requires grad is refused with "use tensor.detach()". A NumPy array or a chainrule tensor is shared
    directly, keeping its flags (a read-only array gives a read-only tensor); anything else goes through
    ``numpy.from_dlpack``, read-only where NumPy makes it so (with NumPy 1.x, always). See
    :mod:`chainrule.interop`.
    """
    if device is not None and str(device).lower() not in ("cpu", "cpu:0") and device != CPU:
        raise DLPackError(f"from_dlpack: chainrule's tensors live on the CPU; device {device!r} was asked for")
    if copy not in (None, True, False):
        raise ArgumentTypeError(f"from_dlpack: copy must be True, False or None, got {copy!r}")
    if isinstance(x, Tensor):
        if x.requires_grad:
            raise DLPackError("from_dlpack: Can't export tensors that require gradient, use tensor.detach()")
        return from_numpy(x.data.copy()) if copy else x.detach()
    if isinstance(x, np.ndarray):
        return from_numpy(x.copy() if copy else x)
    if not hasattr(x, "__dlpack__"):
        raise ArgumentTypeError(
            f"from_dlpack: expected an object with __dlpack__ (a NumPy array, a PyTorch tensor, ...), "
            f"got a {type(x).__name__}"
        )
    arr = _import(x, copy)
    check_data_dtype("from_dlpack", arr.dtype)
    return from_numpy(arr)


def _import(x, copy) -> np.ndarray:
    try:
        if _from_dlpack_takes_copy():
            return np.from_dlpack(x, copy=copy)
        arr = np.from_dlpack(x)
    except (BufferError, RuntimeError) as e:  # (NumPy's "Unsupported dtype in DLTensor" is a RuntimeError)
        what = f"a {type(x).__name__}" + (f" of dtype {x.dtype}" if hasattr(x, "dtype") else "")
        raise DLPackError(
            f"from_dlpack: {what} could not be shared through DLPack: {e} (NumPy, and so chainrule, takes "
            "bools, ints, uints and float16/32/64 on the CPU; convert it first, e.g. x.float() in PyTorch)"
        ) from None
    return arr.copy() if copy else arr
