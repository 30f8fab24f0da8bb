"""Tensor: a NumPy array, its gradient, and the graph node that produced it."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from . import _mode
from .errors import ArgumentError, ArgumentTypeError, DTypeError, GraphError

__all__ = ["Tensor", "tensor", "as_tensor", "float16", "float32", "float64", "int32", "int64", "bool_"]

float16 = np.float16
float32 = np.float32
float64 = np.float64
int32 = np.int32
int64 = np.int64
bool_ = np.bool_

_DEFAULT_FLOAT = np.dtype(np.float32)
_new = object.__new__


def _to_array(data: Any, dtype=None, copy: bool = True) -> np.ndarray:
    """Convert user data to an ndarray following chainrule's dtype rules.

    Python numbers and (nested) lists of numbers become float32 unless ``dtype``
    says otherwise (lists of bools stay bool); NumPy arrays keep their dtype.
    """
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        dtype = np.dtype(dtype)
        try:
            arr = np.array(data, dtype=dtype, copy=copy or None)
        except ValueError:
            if isinstance(data, (list, tuple)):  # NumPy refuses ragged nested lists
                raise ArgumentTypeError(_RAGGED.format(type(data).__name__)) from None
            raise
    elif isinstance(data, np.ndarray):
        arr = np.array(data, copy=copy or None)
    elif isinstance(data, np.generic):
        arr = np.array(data)
    else:
        try:
            arr = np.array(data)
        except ValueError:  # NumPy refuses ragged nested lists
            arr = np.empty(0, dtype=object)
        if arr.dtype.kind in "iuf":
            arr = arr.astype(_DEFAULT_FLOAT)
        elif arr.dtype.kind == "O":
            raise ArgumentTypeError(_RAGGED.format(type(data).__name__))
    return arr


_RAGGED = (
    "tensor: cannot make a numeric tensor from {} (ragged nested lists or non-numeric objects); "
    "pass a rectangular list or an ndarray"
)


def _check_grad_dtype(dtype: np.dtype, what: str = "tensor") -> None:
    if dtype.kind not in "fc":
        raise DTypeError(
            f"{what}: only floating-point tensors can require gradients, got dtype {dtype}; "
            "convert first, e.g. cr.tensor(x, dtype='float32', requires_grad=True)"
        )


class HookHandle:
    """Returned by ``Tensor.register_hook``; ``remove()`` unregisters the hook."""

    __slots__ = ("_hooks", "_hook")

    def __init__(self, hooks: list, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        for i, h in enumerate(self._hooks):
            if h is self._hook:
                del self._hooks[i]
                return


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    ``data`` is the NumPy array. When ``requires_grad`` is true, operations on
    the tensor build a computational graph; ``backward()`` walks that graph in
    reverse and leaves d(output)/d(tensor) in ``grad``.

    Create tensors with :func:`chainrule.tensor`; the constructor takes the same
    arguments.
    """

    __slots__ = ("data", "grad", "_requires_grad", "_node", "_index", "name", "__weakref__")

    # NumPy defers to our reflected operators: ndarray + Tensor -> Tensor.__radd__.
    __array_ufunc__ = None
    # Tensors are compared elementwise by ==, so hash by identity (as PyTorch does).
    __hash__ = object.__hash__

    def __init__(self, data: Any, requires_grad: bool = False, dtype=None, name: str | None = None):
        arr = _to_array(data, dtype)
        if requires_grad:
            _check_grad_dtype(arr.dtype)
        self.data = arr
        self.grad = None
        self._requires_grad = bool(requires_grad)
        self._node = None
        self._index = 0
        self.name = name

    @staticmethod
    def _wrap(data: np.ndarray, requires_grad: bool = False, node=None, index: int = 0) -> Tensor:
        """Wrap an ndarray without copying or checking (library-internal fast path)."""
        t = _new(Tensor)
        t.data = data
        t.grad = None
        t._requires_grad = requires_grad
        t._node = node
        t._index = index
        t.name = None
        return t

    # ------------------------------------------------------------------ properties
    @property
    def requires_grad(self) -> bool:
        """Whether operations on this tensor are recorded for backward."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        value = bool(value)
        if not value and self._node is not None:
            raise GraphError(
                "requires_grad: cannot turn off gradients of a non-leaf tensor (one made by an "
                "operation); use t.detach() for a tensor outside the graph"
            )
        if value:
            _check_grad_dtype(self.data.dtype, "requires_grad")
        self._requires_grad = value

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return self."""
        self.requires_grad = requires_grad
        return self

    @property
    def grad_fn(self):
        """The Function node that produced this tensor, or None for a leaf."""
        return self._node

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by a recorded operation."""
        return self._node is None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        """Number of elements (NumPy's ``size``)."""
        return self.data.size

    def numel(self) -> int:
        """Number of elements."""
        return self.data.size

    @property
    def T(self) -> Tensor:
        """The tensor with its axes reversed (NumPy's ``.T``)."""
        return _ops.transpose(self)

    # ------------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The underlying ndarray (shared, not copied)."""
        return self.data

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ArgumentError(
                f"item: only one-element tensors can be converted to a Python number, got shape {self.shape}"
            )
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def detach(self) -> Tensor:
        """A new leaf tensor sharing the data, outside the graph."""
        t = Tensor._wrap(self.data)
        t.name = self.name
        return t

    def astype(self, dtype) -> Tensor:
        """A copy converted to ``dtype`` (differentiable between float dtypes)."""
        return _ops.astype(self, dtype)

    to = astype

    def float(self) -> Tensor:
        return _ops.astype(self, np.float32)

    def double(self) -> Tensor:
        return _ops.astype(self, np.float64)

    def copy(self) -> Tensor:
        """A differentiable copy."""
        return _ops.astype(self, self.data.dtype)

    clone = copy

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            return self.data.astype(dtype)
        if copy:
            return self.data.copy()
        return self.data

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ArgumentError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all()")
        return bool(self.data.item())

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise ArgumentTypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        if self.data.ndim == 0:
            raise ArgumentTypeError("iteration over a 0-d tensor")
        for i in range(self.data.shape[0]):
            yield self[i]

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(", precision=4, threshold=100)
        extras = []
        if self.data.dtype != _DEFAULT_FLOAT:
            extras.append(f"dtype={self.data.dtype}")
        if self.name is not None:
            extras.append(f"name={self.name!r}")
        if self._node is not None:
            extras.append(f"grad_fn=<{type(self._node).__name__}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # ------------------------------------------------------------------ autograd
    def backward(self, grad=None, retain_graph: bool = False, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into the ``grad`` of every leaf that requires grad.

        ``grad`` is d(loss)/d(self); it may be omitted only for a one-element tensor
        (it is then 1). The graph is freed afterwards unless ``retain_graph``.
        With ``create_graph`` the backward pass is itself recorded, so the
        gradients can be differentiated again.
        """
        _autograd.backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)

    def retain_grad(self) -> Tensor:
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward."""
        if self._node is None:
            return self
        if not self._requires_grad:
            raise GraphError("retain_grad: the tensor does not require grad")
        self._node._retain(self)
        return self

    def register_hook(self, hook) -> HookHandle:
        """Call ``hook(grad)`` with this tensor's gradient during backward; return a handle with ``remove()``.

        ``grad`` is a Tensor. If the hook returns a Tensor or array, that replaces
        the gradient from there on (for a leaf: what is accumulated into ``.grad``;
        for an intermediate: what flows further down, and what ``retain_grad``
        keeps). A leaf's hooks see the sum of everything that one backward sends
        it, once. Hooks run in the order they were registered.
        """
        if not callable(hook):
            raise ArgumentTypeError(f"register_hook: expected a function, got {type(hook).__name__}")
        if not self._requires_grad:
            raise GraphError("register_hook: the tensor does not require grad, so no gradient will reach it")
        if self._node is None:
            hooks = _autograd.leaf_hooks(self, create=True)
        else:
            hooks = self._node._hooks_for(self._index)
        hooks.append(hook)
        return HookHandle(hooks, hook)

    def zero_grad(self) -> None:
        self.grad = None

    # ------------------------------------------------------------------ operators
    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.sub(self, other)

    def __rsub__(self, other):
        return _ops.sub(other, self)

    def __mul__(self, other):
        return _ops.mul(self, other)

    def __rmul__(self, other):
        return _ops.mul(other, self)

    def __truediv__(self, other):
        return _ops.div(self, other)

    def __rtruediv__(self, other):
        return _ops.div(other, self)

    def __pow__(self, other):
        return _ops.pow(self, other)

    def __rpow__(self, other):
        return _ops.pow(other, self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __neg__(self):
        return _ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    def __setitem__(self, index, value):
        """In-place assignment: allowed on tensors outside the graph, and on leaves under ``cr.no_grad()``
        (to patch weights). A graph that already used the old values refuses its backward afterwards."""
        if self._node is not None or (self._requires_grad and _mode.grad_enabled):
            raise GraphError(
                "setitem: in-place assignment into a tensor that is part of a graph would corrupt "
                "its gradients; build a new tensor (cr.where, cr.concatenate), or change a leaf's "
                "values inside `with cr.no_grad():`"
            )
        if isinstance(value, Tensor) and value._requires_grad and _mode.grad_enabled:
            raise GraphError(
                "setitem: the value carries a graph, which an in-place assignment would drop; "
                "assign value.detach() to copy its values, or build a new tensor (cr.where, cr.concatenate)"
            )
        self.data[index] = value.data if isinstance(value, Tensor) else value
        _autograd.mark_modified([self])

    # Comparisons are not differentiable: they return boolean tensors.
    def __lt__(self, other):
        return Tensor._wrap(np.less(self.data, _raw(other)))

    def __le__(self, other):
        return Tensor._wrap(np.less_equal(self.data, _raw(other)))

    def __gt__(self, other):
        return Tensor._wrap(np.greater(self.data, _raw(other)))

    def __ge__(self, other):
        return Tensor._wrap(np.greater_equal(self.data, _raw(other)))

    def __eq__(self, other):
        return Tensor._wrap(np.equal(self.data, _raw(other)))

    def __ne__(self, other):
        return Tensor._wrap(np.not_equal(self.data, _raw(other)))

    # ------------------------------------------------------------------ methods
    def exp(self):
        return _ops.exp(self)

    def log(self):
        return _ops.log(self)

    def sqrt(self):
        return _ops.sqrt(self)

    def abs(self):
        return _ops.abs(self)

    def sin(self):
        return _ops.sin(self)

    def cos(self):
        return _ops.cos(self)

    def tanh(self):
        return _ops.tanh(self)

    def sigmoid(self):
        return _ops.sigmoid(self)

    def relu(self):
        return _ops.relu(self)

    def leaky_relu(self, negative_slope: float = 0.01):
        return _ops.leaky_relu(self, negative_slope)

    def softplus(self):
        return _ops.softplus(self)

    def clip(self, min=None, max=None):
        return _ops.clip(self, min, max)

    clamp = clip

    def maximum(self, other):
        return _ops.maximum(self, other)

    def minimum(self, other):
        return _ops.minimum(self, other)

    def sum(self, axis=None, keepdims: bool = False):
        return _ops.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims: bool = False):
        return _ops.mean(self, axis, keepdims)

    def var(self, axis=None, keepdims: bool = False, ddof: int = 0):
        return _ops.var(self, axis, keepdims, ddof)

    def std(self, axis=None, keepdims: bool = False, ddof: int = 0):
        return _ops.std(self, axis, keepdims, ddof)

    def max(self, axis=None, keepdims: bool = False):
        return _ops.max(self, axis, keepdims)

    def min(self, axis=None, keepdims: bool = False):
        return _ops.min(self, axis, keepdims)

    def argmax(self, axis=None, keepdims: bool = False) -> Tensor:
        return Tensor._wrap(np.argmax(self.data, axis=axis, keepdims=keepdims))

    def argmin(self, axis=None, keepdims: bool = False) -> Tensor:
        return Tensor._wrap(np.argmin(self.data, axis=axis, keepdims=keepdims))

    def any(self, axis=None, keepdims: bool = False) -> Tensor:
        return Tensor._wrap(np.any(self.data, axis=axis, keepdims=keepdims))

    def all(self, axis=None, keepdims: bool = False) -> Tensor:
        return Tensor._wrap(np.all(self.data, axis=axis, keepdims=keepdims))

    def logsumexp(self, axis=None, keepdims: bool = False):
        return _ops.logsumexp(self, axis, keepdims)

    def softmax(self, axis: int = -1):
        return _ops.softmax(self, axis)

    def log_softmax(self, axis: int = -1):
        return _ops.log_softmax(self, axis)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops.reshape(self, shape)

    view = reshape

    def flatten(self, start_axis: int = 0, end_axis: int = -1):
        return _ops.flatten(self, start_axis, end_axis)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _ops.transpose(self, axes or None)

    def swapaxes(self, axis1: int, axis2: int):
        return _ops.swapaxes(self, axis1, axis2)

    def expand_dims(self, axis):
        return _ops.expand_dims(self, axis)

    unsqueeze = expand_dims

    def squeeze(self, axis=None):
        return _ops.squeeze(self, axis)

    def broadcast_to(self, shape):
        return _ops.broadcast_to(self, shape)


def _raw(x):
    """The array behind a tensor, or the value itself."""
    return x.data if isinstance(x, Tensor) else x


def tensor(data: Any, requires_grad: bool = False, dtype=None, name: str | None = None) -> Tensor:
    """Make a tensor from a number, a (nested) list, an ndarray or another tensor.

    The data are copied. Python numbers and lists become float32 (lists of bools
    stay bool); NumPy arrays keep their dtype; ``dtype`` overrides both, e.g.
    ``cr.tensor(x, dtype=cr.float64)``. Only floating-point tensors can have
    ``requires_grad=True``.
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


def as_tensor(data: Any, dtype=None) -> Tensor:
    """Like :func:`tensor` but shares memory with an ndarray when the dtype allows."""
    if isinstance(data, Tensor) and (dtype is None or np.dtype(dtype) == data.dtype):
        return data
    return Tensor._wrap(_to_array(data, dtype, copy=False))


def is_number(x) -> bool:
    return isinstance(x, numbers.Number) and not isinstance(x, bool)


# Late imports: the ops and the backward walk are built on Tensor.
from . import autograd as _autograd  # noqa: E402
from . import ops as _ops  # noqa: E402
