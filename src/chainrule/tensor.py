"""Tensor: a NumPy array, its gradient, and the graph node that produced it."""

from __future__ import annotations

import itertools
import numbers
import threading
import weakref
from typing import Any

import numpy as np

from .errors import ArgumentError, ArgumentTypeError, DTypeError, GraphError, ShapeError, UnsupportedError

__all__ = [
    "Tensor",
    "tensor",
    "as_tensor",
    "from_numpy",
    "float16",
    "float32",
    "float64",
    "int32",
    "int64",
    "bool_",
    "Version",
    "version_of",
    "to_array",
    "wrap",
]

float16 = np.float16
float32 = np.float32
float64 = np.float64
int32 = np.int32
int64 = np.int64
bool_ = np.bool_

_DEFAULT_FLOAT = np.dtype(np.float32)
_new = object.__new__


def to_array(data: Any, dtype=None, copy: bool = True) -> np.ndarray:
    """Convert user data to an ndarray following chainrule's dtype rules (``torch.tensor``'s).

    Unless ``dtype`` says otherwise: Python floats (and lists holding any) become float32, the
    default float; Python ints (and lists of ints) int64; bools stay bool. NumPy arrays and
    NumPy scalars keep their dtype. Complex numbers, strings and objects are refused (DTypeError).
    """
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        dtype = np.dtype(dtype)
        try:
            arr = np.array(data, dtype=dtype) if copy else np.asarray(data, dtype=dtype)
        except ValueError:
            if isinstance(data, (list, tuple)):  # NumPy refuses ragged nested lists
                raise ArgumentTypeError(_RAGGED.format(type(data).__name__)) from None
            raise
    elif isinstance(data, np.ndarray):
        arr = np.array(data) if copy else np.asarray(data)
    elif isinstance(data, np.generic):
        arr = np.array(data)
    else:
        try:
            arr = np.array(data)
        except ValueError:  # NumPy refuses ragged nested lists
            arr = np.empty(0, dtype=object)
        kind = arr.dtype.kind
        if kind == "f":
            arr = arr.astype(_DEFAULT_FLOAT)
        elif kind in "iu":
            arr = arr.astype(np.int64)
        elif kind == "O":
            raise ArgumentTypeError(_RAGGED.format(type(data).__name__))
    check_data_dtype("tensor", arr.dtype)
    return arr


def check_data_dtype(owner: str, dtype: np.dtype) -> None:
    """Refuse a dtype a tensor cannot have: complex numbers, strings, bytes, objects, dates, records.

    chainrule's tensors hold bools, integers and real floats; everything else is refused where
    it enters, rather than producing a complex "loss" or a NumPy error deep inside an op.
    """
    kind = dtype.kind
    if kind in "biuf":
        return
    if kind == "c":
        raise DTypeError(
            f"{owner}: complex data ({dtype}) is not supported: chainrule's tensors are real. Pass the real and "
            "imaginary parts as two real tensors (x.real, x.imag), or take abs(x) if that is what you mean"
        )
    what = {"U": "strings", "S": "bytes", "O": "Python objects", "M": "dates", "m": "time deltas", "V": "records"}
    raise DTypeError(
        f"{owner}: data of dtype {dtype} ({what.get(kind, 'not numbers')}) cannot be a tensor: tensors hold "
        "numbers and bools only; convert it first (e.g. np.asarray(x, dtype=np.float32))"
    )


_RAGGED = (
    "tensor: cannot make a numeric tensor from {} (ragged nested lists or non-numeric objects); "
    "pass a rectangular list or an ndarray"
)


def _check_grad_dtype(dtype: np.dtype, what: str = "tensor") -> None:
    if dtype.kind != "f":
        raise DTypeError(
            f"{what}: only floating-point tensors can require gradients, got dtype {dtype}; "
            "convert first, e.g. cr.tensor(x, dtype='float32', requires_grad=True)"
        )


#: The tick source: every recorded node that saves values, and every in-place write, takes the next
#: tick, so "written after that node saved it" is one comparison. (``next`` on a count is atomic.)
ticks = itertools.count(1)
#: ``written[0]``: the tick of the latest in-place write anywhere. A node that saved values after it
#: knows, with one comparison, that none of them can have changed.
written = [0]
_write_lock = threading.Lock()


class Version:
    """A version counter, shared by a tensor, its views and its ``detach()``-ed copies.

    Every in-place write bumps ``value`` and stamps the write with a tick; a graph node that saved
    a tensor for backward took a tick when it saved it, so backward sees whether the tensor was
    written since with one comparison, and can say from which version to which (PyTorch's rule).
    ``views`` is set once a view operation (reshape, transpose, indexing with slices, ...) made a
    tensor sharing this memory.
    """

    # class-level starting values: making a counter costs no __init__ (one is made for every saved output)
    value = 0
    stamp = 0  # the tick of the last write
    log: list | None = None  # the ticks of the latest writes (a bounded record, for error messages)
    views = False

    def bump(self) -> None:
        with _write_lock:  # threads writing at once: each write counted, ``written`` never moves back
            self.value += 1
            self.stamp = stamp = next(ticks)
            if stamp > written[0]:
                written[0] = stamp
        log = self.log
        if log is None:
            log = self.log = []
        log.append(stamp)
        if len(log) > 64:
            del log[:32]

    def at(self, tick: int):
        """The version this counter had at ``tick``, or None if that is older than its record."""
        log = self.log or []
        after = sum(1 for s in log if s > tick)
        if len(log) == self.value or (log and log[0] < tick):
            return self.value - after
        return None


def version_of(t) -> int:
    """How many in-place writes the memory of tensor ``t`` has seen."""
    vc = t._vc
    return 0 if vc is None else vc.value


def bump(t) -> None:
    """Count one in-place write to ``t``'s memory."""
    vc = t._vc
    if vc is None:
        vc = t._vc = Version()
    vc.bump()


class HookHandle:
    """Returned by ``Tensor.register_hook``; ``remove()`` unregisters the hook.

    It holds neither the hook nor the list it is in (only a weak reference to the tensor or node and the
    hook's identity), so a removed hook, or the hooks of a node that backward freed, are released even while
    the handle is kept, as in PyTorch."""

    __slots__ = ("_owner", "_index", "_key")

    def __init__(self, owner, index, hook):
        self._owner = weakref.ref(owner)
        self._index = index  # None for a leaf's hooks, else the node's output index
        self._key = id(hook)  # index: None for a leaf's hooks, "post" for its post-accumulate-grad hooks

    def remove(self) -> None:
        owner = self._owner()
        if owner is None:
            return
        if self._index is None:
            hooks = owner._hooks or []
        elif self._index == "post":
            hooks = owner._post_hooks or []
        else:
            hooks = ((owner._extra or {}).get("hooks") or {}).get(self._index) or []
        for i, h in enumerate(hooks):
            if id(h) == self._key:
                del hooks[i]
                return


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    ``data`` is the NumPy array. When ``requires_grad`` is true, operations on
    the tensor build a computational graph; ``backward()`` walks that graph in
    reverse and leaves d(output)/d(tensor) in ``grad``.

    Create tensors with :func:`chainrule.tensor`; the constructor takes the same
    arguments.
    """

    # Attributes (these class values are every new tensor's, so making one on the hot path sets only
    # what differs): ``data``; ``grad``; ``name``; _requires_grad; _edge: (node, output index) for a
    # tensor made by a recorded operation, None for a leaf; _vc: the Version counter (made on first
    # need); _hooks: a leaf's gradient hooks; _post_hooks: a leaf's post-accumulate-grad hooks.
    grad = None
    name = None
    _requires_grad = False
    _edge = None
    _vc = None
    _hooks = None
    _post_hooks = None

    # NumPy defers to our reflected operators: ndarray + Tensor -> Tensor.__radd__.
    __array_ufunc__ = None
    # Tensors are compared elementwise by ==, so hash by identity (as PyTorch does).
    __hash__ = object.__hash__

    def __init__(self, data: Any, requires_grad: bool = False, dtype=None, name: str | None = None):
        arr = to_array(data, dtype)
        if requires_grad:
            _check_grad_dtype(arr.dtype)
        self.data = arr
        self._requires_grad = bool(requires_grad)
        self.name = name

    # ------------------------------------------------------------------ properties
    @property
    def requires_grad(self) -> bool:
        """Whether operations on this tensor are recorded for backward."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        value = bool(value)
        if not value and self._edge is not None:
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
        return None if self._edge is None else self._edge[0]

    @property
    def output_nr(self) -> int:
        """Which output of ``grad_fn`` this tensor is (0 for a leaf)."""
        return 0 if self._edge is None else self._edge[1]

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by a recorded operation."""
        return self._edge is None

    @property
    def _version(self) -> int:
        """How many in-place writes this tensor's memory has seen (shared with its views), as in PyTorch."""
        return version_of(self)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def size(self, dim: int | None = None):
        """The shape (a tuple), or the length of dimension ``dim``, as in PyTorch (the number of elements
        is ``numel()``)."""
        if dim is None:
            return self.data.shape
        return self.data.shape[_operands.norm_axis(dim, self.data.ndim, "size")[0]]

    def numel(self) -> int:
        """Number of elements."""
        return self.data.size

    nelement = numel

    def dim(self) -> int:
        """Number of dimensions (``ndim``)."""
        return self.data.ndim

    @property
    def T(self) -> Tensor:
        """The tensor with its dimensions reversed (a 2-D tensor transposed), as PyTorch's ``.T``."""
        return _ops.reverse_dims(self)

    @property
    def mT(self) -> Tensor:  # noqa: N802 - PyTorch's name
        """The last two dimensions swapped: a batch of matrices transposed."""
        return _ops.matrix_transpose(self)

    def t(self) -> Tensor:
        """A tensor of at most 2 dimensions transposed (PyTorch's ``t``)."""
        if self.data.ndim > 2:
            raise ShapeError(f"t: expects a tensor with at most 2 dimensions, got shape {self.shape}; use transpose")
        return _ops.reverse_dims(self)

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
        """A new leaf tensor sharing the data (and its version counter), outside the graph.

        An in-place write through it is seen by every graph that saved this tensor."""
        t = wrap(self.data)
        t.name = self.name
        vc = self._vc
        if vc is None:
            vc = self._vc = Version()
        t._vc = vc
        return t

    def astype(self, dtype) -> Tensor:
        """A copy converted to ``dtype`` (differentiable between float dtypes)."""
        return _ops.astype(self, dtype)

    def to(self, *args, **kwargs) -> Tensor:
        """PyTorch's ``to``: ``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)`` (its dtype), and
        the keywords ``dtype=``, ``device=``, ``copy=``, ``non_blocking=`` (ignored). The tensor itself when
        nothing changes (unless ``copy=True``). The only device is ``"cpu"``."""
        dtype = device_and_dtype("Tensor", args, kwargs)
        if dtype is None or np.dtype(dtype) == self.data.dtype:
            return self.clone() if kwargs.get("copy") else self
        return _ops.astype(self, dtype)

    def float(self) -> Tensor:
        return _ops.astype(self, np.float32)

    def double(self) -> Tensor:
        return _ops.astype(self, np.float64)

    def half(self) -> Tensor:
        return _ops.astype(self, np.float16)

    def long(self) -> Tensor:
        return _ops.astype(self, np.int64)

    def int(self) -> Tensor:
        return _ops.astype(self, np.int32)

    def bool(self) -> Tensor:
        return _ops.astype(self, np.bool_)

    def cpu(self) -> Tensor:
        """The tensor itself: chainrule computes on the CPU."""
        return self

    def cuda(self, device=None, non_blocking: bool = False) -> Tensor:
        check_device("Tensor", "cuda" if device is None else f"cuda:{device}")
        return self

    # PyTorch's method spellings of the comparisons
    def eq(self, other):
        return self == other

    def ne(self, other):
        return self != other

    def lt(self, other):
        return self < other

    def le(self, other):
        return self <= other

    def gt(self, other):
        return self > other

    def ge(self, other):
        return self >= other

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

    def __dlpack__(self, stream=None, *, max_version=None, dl_device=None, copy=None):
        """The tensor's memory as a DLPack capsule, for ``np.from_dlpack(t)``, ``torch.from_dlpack(t)``: shared,
        not copied (unless ``copy=True``). A tensor that requires grad is refused ("use tensor.detach()"), and
        so is a read-only one (see :mod:`chainrule.interop`)."""
        from .interop import export_dlpack

        return export_dlpack(self, stream=stream, max_version=max_version, dl_device=dl_device, copy=copy)

    def __dlpack_device__(self) -> tuple[int, int]:
        """DLPack's device of the tensor: (1, 0), the CPU."""
        return (1, 0)

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
        if self._edge is not None:
            extras.append(f"grad_fn=<{type(self._edge[0]).__name__}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    def _repr_html_(self) -> str:
        """Jupyter's display: shape, dtype, autograd state, gradient and values (:mod:`chainrule.notebook`)."""
        from .notebook import tensor_html

        return tensor_html(self)

    # ------------------------------------------------------------------ autograd
    def backward(self, grad=None, retain_graph=None, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into the ``grad`` of every leaf that requires grad.

        ``grad`` is d(loss)/d(self); it may be omitted only for a one-element tensor
        (it is then 1). The graph is freed afterwards unless ``retain_graph`` (which
        defaults to ``create_graph``, as in PyTorch).
        With ``create_graph`` the backward pass is itself recorded, so the
        gradients can be differentiated again.
        """
        _autograd.backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)

    def retain_grad(self) -> Tensor:
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward."""
        if self._edge is None:
            return self
        self._edge[0]._retain(self)
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
        if self._edge is None:
            hooks = self._hooks
            if hooks is None:
                hooks = self._hooks = []
            hooks.append(hook)
            return HookHandle(self, None, hook)
        node, index = self._edge
        node._hooks_for(index).append(hook)
        return HookHandle(node, index, hook)

    def register_post_accumulate_grad_hook(self, hook) -> HookHandle:
        """Call ``hook(tensor)`` on this leaf once backward has accumulated its gradient into ``.grad``.

        As in PyTorch: only for leaves; the hook returns None and may read or change ``tensor.grad``.
        It runs during the backward walk as soon as every use of the leaf in the graph has sent its
        gradient (so later layers' parameters are done while earlier layers are still being
        differentiated: what data-parallel training uses to start communication early). A leaf that
        also has ``register_hook`` hooks, or that some use leaves without a gradient, gets it at the end
        of the walk. Not run by ``cr.autograd.grad`` (which accumulates nothing).
        """
        if not callable(hook):
            raise ArgumentTypeError(
                f"register_post_accumulate_grad_hook: expected a function, got {type(hook).__name__}"
            )
        if self._edge is not None:
            raise GraphError(
                "register_post_accumulate_grad_hook: only a leaf accumulates a gradient into .grad; this tensor "
                "was made by an operation (use register_hook for an intermediate tensor)"
            )
        if not self._requires_grad:
            raise GraphError(
                "register_post_accumulate_grad_hook: the tensor does not require grad, so no gradient will reach it"
            )
        hooks = self._post_hooks
        if hooks is None:
            hooks = self._post_hooks = []
        hooks.append(hook)
        _autograd.note_post_hooks(self)
        return HookHandle(self, "post", hook)

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
        """``t[index] = value`` in place, with PyTorch's rules: recorded in the graph when ``t`` is part of one
        or ``value`` requires grad; refused on a leaf that requires grad unless under ``cr.no_grad()``."""
        _inplace.setitem(self, index, value)

    # ------------------------------------------------------------------ in-place operations
    def add_(self, other, alpha=1) -> Tensor:
        """self += alpha * other, in place (see chainrule.inplace for the rules)."""
        o = _scaled(other, alpha)
        return _inplace.apply(self, "add_", lambda a: np.add(a, _raw(o), out=a), lambda old: old + o, (other,))

    def sub_(self, other, alpha=1) -> Tensor:
        """self -= alpha * other, in place."""
        o = _scaled(other, alpha)
        return _inplace.apply(self, "sub_", lambda a: np.subtract(a, _raw(o), out=a), lambda old: old - o, (other,))

    def mul_(self, other) -> Tensor:
        """self *= other, in place."""
        return _inplace.apply(
            self, "mul_", lambda a: np.multiply(a, _raw(other), out=a), lambda old: old * other, (other,)
        )

    def div_(self, other) -> Tensor:
        """self /= other, in place (true division: an integer tensor cannot hold the result)."""
        return _inplace.apply(
            self, "div_", lambda a: np.true_divide(a, _raw(other), out=a), lambda old: old / other, (other,)
        )

    def pow_(self, exponent) -> Tensor:
        """self **= exponent, in place."""
        return _inplace.apply(
            self, "pow_", lambda a: np.power(a, _raw(exponent), out=a), lambda old: old**exponent, (exponent,)
        )

    def clamp_(self, min=None, max=None) -> Tensor:  # noqa: A002 - PyTorch's argument names
        """Limit the values to [min, max] in place."""
        if min is None and max is None:
            raise ArgumentError("clamp_: give at least one of min and max")
        return _inplace.apply(
            self,
            "clamp_",
            lambda a: np.clip(a, _raw(min), _raw(max), out=a),
            lambda old: _ops.clamp(old, min, max),
            (min, max),
        )

    clip_ = clamp_

    def zero_(self) -> Tensor:
        """Set every value to 0 in place."""
        return self.fill_(0)

    def fill_(self, value) -> Tensor:
        """Set every value to ``value`` (a number or a one-element tensor) in place."""
        if isinstance(value, Tensor) and value.data.size != 1:
            raise ShapeError(f"fill_: the value must have one element, got shape {value.shape}")
        return _inplace.apply(
            self,
            "fill_",
            lambda a: a.fill(_raw(value).item() if isinstance(value, Tensor) else value),
            lambda old: _replaced(old, value),
            (value,),
        )

    def copy_(self, src) -> Tensor:
        """Copy ``src``'s values (broadcast to this tensor's shape) into this tensor, in place."""
        return _inplace.apply(
            self,
            "copy_",
            lambda a: np.copyto(a, _raw(src), casting="unsafe"),
            lambda old: _replaced(old, src),
            (src,),
        )

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
        """Fill with samples of N(mean, std^2) in place (chainrule's default generator unless one is given)."""
        vals = _random(generator).normal(mean, std, self.shape)
        return _inplace.apply(
            self, "normal_", lambda a: np.copyto(a, vals, casting="unsafe"), lambda old: _replaced(old, vals)
        )

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
        """Fill with samples of U[a, b) in place."""
        vals = _random(generator).uniform(a, b, self.shape)
        return _inplace.apply(
            self, "uniform_", lambda x: np.copyto(x, vals, casting="unsafe"), lambda old: _replaced(old, vals)
        )

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def __ipow__(self, other):
        return self.pow_(other)

    # Comparisons are not differentiable: they return boolean tensors.
    def __lt__(self, other):
        return wrap(np.less(self.data, _raw(other)))

    def __le__(self, other):
        return wrap(np.less_equal(self.data, _raw(other)))

    def __gt__(self, other):
        return wrap(np.greater(self.data, _raw(other)))

    def __ge__(self, other):
        return wrap(np.greater_equal(self.data, _raw(other)))

    def __eq__(self, other):
        return wrap(np.equal(self.data, _raw(other)))

    def __ne__(self, other):
        return wrap(np.not_equal(self.data, _raw(other)))

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

    # Reductions take PyTorch's dim/keepdim, or NumPy's axis/keepdims (the same arguments, not both).
    def sum(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        return _ops.sum(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def mean(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        return _ops.mean(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def var(self, dim=None, unbiased=None, keepdim=None, *, correction=None, axis=None, keepdims=None, ddof=None):
        """Variance, unbiased (``correction=1``) unless ``correction=0``/``unbiased=False``, as in PyTorch."""
        return _ops.var(self, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims, ddof=ddof)

    def std(self, dim=None, unbiased=None, keepdim=None, *, correction=None, axis=None, keepdims=None, ddof=None):
        """Standard deviation, unbiased (``correction=1``) unless ``correction=0``/``unbiased=False``."""
        return _ops.std(self, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims, ddof=ddof)

    def max(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        """The largest value; with ``dim``, the named tuple ``(values, indices)`` (see ``chainrule.max``)."""
        return _ops.max(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def min(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        """The smallest value; with ``dim``, the named tuple ``(values, indices)``."""
        return _ops.min(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def amax(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        return _ops.amax(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def amin(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        return _ops.amin(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def argmax(self, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
        return _ops.argmax(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def argmin(self, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
        return _ops.argmin(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def any(self, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
        return _logical(np.any, "any", self, dim, keepdim, axis, keepdims)

    def all(self, dim=None, keepdim=None, *, axis=None, keepdims=None) -> Tensor:
        return _logical(np.all, "all", self, dim, keepdim, axis, keepdims)

    def logsumexp(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        return _ops.logsumexp(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def softmax(self, dim=None, *, axis=None):
        return _ops.softmax(self, dim, axis=axis)

    def log_softmax(self, dim=None, *, axis=None):
        return _ops.log_softmax(self, dim, axis=axis)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops.reshape(self, shape)

    view = reshape

    def flatten(self, start_dim=None, end_dim=None, *, start_axis=None, end_axis=None):
        return _ops.flatten(self, start_dim, end_dim, start_axis=start_axis, end_axis=end_axis)

    def transpose(self, dim0: int, dim1: int):
        """Dimensions ``dim0`` and ``dim1`` swapped, as PyTorch's ``transpose`` (NumPy's is ``permute``)."""
        return _ops.transpose(self, dim0, dim1)

    def permute(self, *dims):
        """The dimensions in the order ``dims``: ``x.permute(2, 0, 1)`` or ``x.permute((2, 0, 1))``."""
        return _ops.permute(self, *dims)

    def swapaxes(self, axis0: int, axis1: int):
        return _ops.transpose(self, axis0, axis1)

    swapdims = swapaxes

    def expand_dims(self, axis):
        return _ops.expand_dims(self, axis)

    def unsqueeze(self, dim: int):
        return _ops.unsqueeze(self, dim)

    def squeeze(self, dim=None, *, axis=None):
        return _ops.squeeze(self, dim, axis=axis)

    def broadcast_to(self, shape):
        return _ops.broadcast_to(self, shape)

    # ------------------------------------------------------------------ indexing, layout, sorting, integer ops
    # (issue 11: PyTorch's Tensor methods and operators for chainrule.ops.indexing, layout, einsum, sorting,
    # integer; kept in this one block)
    def gather(self, dim, index):
        return _ops.gather(self, dim, index)

    def scatter(self, dim, index, src=None, *, value=None, reduce=None):
        return _ops.scatter(self, dim, index, src, value=value, reduce=reduce)

    def scatter_add(self, dim, index, src):
        return _ops.scatter_add(self, dim, index, src)

    def index_select(self, dim, index):
        return _ops.index_select(self, dim, index)

    def index_add(self, dim, index, source, *, alpha=1):
        return _ops.index_add(self, dim, index, source, alpha=alpha)

    def masked_fill(self, mask, value):
        return _ops.masked_fill(self, mask, value)

    def masked_select(self, mask):
        return _ops.masked_select(self, mask)

    def take_along_dim(self, indices, dim=None):
        return _ops.take_along_dim(self, indices, dim)

    def flip(self, *dims):
        return _ops.flip(self, dims[0] if len(dims) == 1 else dims)

    def roll(self, shifts, dims=None):
        return _ops.roll(self, shifts, dims)

    def repeat(self, *sizes):
        return _ops.repeat(self, *sizes)

    def tile(self, *dims):
        return _ops.tile(self, dims[0] if len(dims) == 1 and not isinstance(dims[0], numbers.Integral) else dims)

    def tril(self, diagonal: int = 0):
        return _ops.tril(self, diagonal)

    def triu(self, diagonal: int = 0):
        return _ops.triu(self, diagonal)

    def narrow(self, dim: int, start, length: int):
        return _ops.narrow(self, dim, start, length)

    def chunk(self, chunks: int, dim: int = 0):
        return _ops.chunk(self, chunks, dim)

    def movedim(self, source, destination):
        return _ops.movedim(self, source, destination)

    moveaxis = movedim

    def unbind(self, dim: int = 0):
        return _ops.unbind(self, dim)

    def sort(self, dim: int = -1, descending: bool = False, *, stable: bool = False):
        return _ops.sort(self, dim, descending, stable=stable)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
        return _ops.topk(self, k, dim, largest, sorted)

    def argsort(self, dim: int = -1, descending: bool = False, *, stable: bool = False):
        return _ops.argsort(self, dim, descending, stable=stable)

    def div(self, other, *, rounding_mode=None):
        return _ops.div(self, other, rounding_mode=rounding_mode)

    def floor_divide(self, other):
        return _ops.floor_divide(self, other)

    def remainder(self, other):
        return _ops.remainder(self, other)

    def fmod(self, other):
        return _ops.fmod(self, other)

    def bitwise_and(self, other):
        return _ops.bitwise_and(self, other)

    def bitwise_or(self, other):
        return _ops.bitwise_or(self, other)

    def bitwise_xor(self, other):
        return _ops.bitwise_xor(self, other)

    def bitwise_not(self):
        return _ops.bitwise_not(self)

    def bitwise_left_shift(self, other):
        return _ops.bitwise_left_shift(self, other)

    def bitwise_right_shift(self, other):
        return _ops.bitwise_right_shift(self, other)

    def isnan(self):
        return _ops.isnan(self)

    def isinf(self):
        return _ops.isinf(self)

    def isfinite(self):
        return _ops.isfinite(self)

    def allclose(self, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
        return _ops.allclose(self, other, rtol, atol, equal_nan)

    def __floordiv__(self, other):
        return _ops.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return _ops.floor_divide(other, self)

    def __mod__(self, other):
        return _ops.remainder(self, other)

    def __rmod__(self, other):
        return _ops.remainder(other, self)

    def __and__(self, other):
        return _ops.bitwise_and(self, other)

    def __rand__(self, other):
        return _ops.bitwise_and(other, self)

    def __or__(self, other):
        return _ops.bitwise_or(self, other)

    def __ror__(self, other):
        return _ops.bitwise_or(other, self)

    def __xor__(self, other):
        return _ops.bitwise_xor(self, other)

    def __rxor__(self, other):
        return _ops.bitwise_xor(other, self)

    def __lshift__(self, other):
        return _ops.bitwise_left_shift(self, other)

    def __rlshift__(self, other):
        return _ops.bitwise_left_shift(other, self)

    def __rshift__(self, other):
        return _ops.bitwise_right_shift(self, other)

    def __rrshift__(self, other):
        return _ops.bitwise_right_shift(other, self)

    def __invert__(self):
        return _ops.bitwise_not(self)

    # ------------------------------------------------------------------ end of the indexing ... integer block

    def split(self, split_size_or_sections, dim=None, *, axis=None):
        """Pieces of ``split_size`` along ``dim``, or of the sizes listed (PyTorch's ``split``)."""
        return _ops.split(self, split_size_or_sections, dim, axis=axis)

    def tensor_split(self, indices_or_sections, dim=None, *, axis=None):
        """``sections`` nearly equal pieces along ``dim``, or pieces cut at ``indices`` (NumPy's ``split``)."""
        return _ops.tensor_split(self, indices_or_sections, dim, axis=axis)

    # ------------------------------------------------------------------ math functions and cumulative ops (issue 11)
    def tan(self):
        return _ops.tan(self)

    def sinh(self):
        return _ops.sinh(self)

    def cosh(self):
        return _ops.cosh(self)

    def asin(self):
        return _ops.asin(self)

    def acos(self):
        return _ops.acos(self)

    def atan(self):
        return _ops.atan(self)

    def atan2(self, other):
        return _ops.atan2(self, other)

    def asinh(self):
        return _ops.asinh(self)

    def acosh(self):
        return _ops.acosh(self)

    def atanh(self):
        return _ops.atanh(self)

    arcsin, arccos, arctan, arctan2 = asin, acos, atan, atan2
    arcsinh, arccosh, arctanh = asinh, acosh, atanh

    def erf(self):
        return _ops.erf(self)

    def erfinv(self):
        return _ops.erfinv(self)

    def log2(self):
        return _ops.log2(self)

    def log10(self):
        return _ops.log10(self)

    def expm1(self):
        return _ops.expm1(self)

    def log1p(self):
        return _ops.log1p(self)

    def norm(self, p="fro", dim=None, keepdim: bool = False):
        return _ops.norm(self, p, dim, keepdim)

    # PyTorch's method spellings of the operators
    def add(self, other, *, alpha=1):
        return _ops.add(self, other, alpha=alpha)

    def sub(self, other, *, alpha=1):
        return _ops.sub(self, other, alpha=alpha)

    def mul(self, other):
        return _ops.mul(self, other)

    def pow(self, exponent):
        return _ops.pow(self, exponent)

    def neg(self):
        return _ops.neg(self)

    def matmul(self, other):
        return _ops.matmul(self, other)

    def where(self, condition, other):
        """``cr.where(condition, self, other)``, as PyTorch's ``Tensor.where``."""
        return _ops.where(condition, self, other)

    def reciprocal(self):
        return _ops.reciprocal(self)

    def rsqrt(self):
        return _ops.rsqrt(self)

    def square(self):
        return _ops.square(self)

    def floor(self):
        return _ops.floor(self)

    def ceil(self):
        return _ops.ceil(self)

    def round(self, *, decimals: int = 0):
        return _ops.round(self, decimals=decimals)

    def trunc(self):
        return _ops.trunc(self)

    fix = trunc

    def sign(self):
        return _ops.sign(self)

    def frac(self):
        return _ops.frac(self)

    def cumsum(self, dim=None, *, dtype=None, axis=None):
        return _ops.cumsum(self, dim, dtype=dtype, axis=axis)

    def cumprod(self, dim=None, *, dtype=None, axis=None):
        return _ops.cumprod(self, dim, dtype=dtype, axis=axis)

    def logcumsumexp(self, dim=None, *, axis=None):
        return _ops.logcumsumexp(self, dim, axis=axis)

    def cummax(self, dim=None, *, axis=None):
        return _ops.cummax(self, dim, axis=axis)

    def cummin(self, dim=None, *, axis=None):
        return _ops.cummin(self, dim, axis=axis)

    def prod(self, dim=None, keepdim: bool = False, *, dtype=None, axis=None, keepdims=None):
        return _ops.prod(self, dim, keepdim, dtype=dtype, axis=axis, keepdims=keepdims)


def _logical(fn, op, t, dim, keepdim, axis, keepdims) -> Tensor:
    """any/all: not differentiable, a bool tensor."""
    dim = _operands.dim_arg(op, dim, axis)
    if dim is not None:
        dim = _operands.norm_axis(dim, t.data.ndim, op)
    return wrap(np.asarray(fn(t.data, axis=dim, keepdims=_operands.keepdim_arg(op, keepdim, keepdims))))


def wrap(data: np.ndarray, requires_grad: bool = False, edge=None) -> Tensor:
    """A Tensor around ``data`` with no copy and no checks: the engine's constructor on its hot path
    (``edge`` is the (node, output index) that made it). Users want :func:`from_numpy` or :func:`tensor`."""
    t = _new(Tensor)
    t.data = data
    if requires_grad:
        t._requires_grad = True
        if edge is not None:
            t._edge = edge
    return t


def _raw(x):
    """The array behind a tensor, or the value itself."""
    return x.data if isinstance(x, Tensor) else x


def _scaled(other, alpha):
    """alpha * other (other itself when alpha is 1), for add_/sub_."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Number):
        raise ArgumentTypeError(f"add_/sub_: alpha must be a number, got {type(alpha).__name__}")
    return other if alpha == 1 else other * alpha


def _replaced(old, value):
    """A recorded tensor of ``old``'s shape holding ``value`` (broadcast): no gradient flows to ``old``."""
    keep_old = np.zeros(old.shape, bool)
    return _ops.where(keep_old, old, value if isinstance(value, Tensor) else np.asarray(value, old.dtype))


def _random(generator):
    if generator is None:
        from .creation import default_generator

        generator = default_generator()
    return generator


def tensor(data: Any, requires_grad: bool = False, dtype=None, name: str | None = None) -> Tensor:
    """Make a tensor from a number, a (nested) list, an ndarray or another tensor.

    The data are copied. As ``torch.tensor`` does: Python floats (and lists holding
    any) become float32, the default float; Python ints int64 (``cr.tensor([0, 2])``
    is int64); bools stay bool; NumPy arrays keep their dtype; ``dtype`` overrides
    them all, e.g. ``cr.tensor([0, 2], dtype=cr.float32)``. Only floating-point
    tensors can have ``requires_grad=True``.
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


def check_device(owner: str, device) -> None:
    """Refuse any device but the CPU, saying why."""
    text = str(device).lower()
    if text != "cpu" and not text.startswith("cpu:"):
        raise UnsupportedError(
            f"{owner}.to: device {str(device)!r} is not available: chainrule computes on the CPU (with NumPy). "
            "Use 'cpu', or leave the device out"
        )


def device_and_dtype(owner: str, args, kwargs):
    """The dtype that PyTorch's ``.to(...)`` forms ask for (None: none), after checking any device named."""
    unknown = set(kwargs) - {"device", "dtype", "non_blocking", "copy", "memory_format"}
    if unknown:
        raise ArgumentTypeError(f"{owner}.to: unexpected keyword argument(s) {sorted(unknown)}")
    if len(args) > 2:
        raise ArgumentTypeError(f"{owner}.to: expected at most a device and a dtype, got {len(args)} arguments")
    dtype = kwargs.get("dtype")
    device = kwargs.get("device")
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, bool):
            continue  # to(dtype, non_blocking) spelled positionally
        elif isinstance(a, str) or type(a).__name__ == "device":
            device = a
        else:
            dtype = a
    if device is not None:
        check_device(owner, device)
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        raise ArgumentTypeError(f"{owner}.to: {dtype!r} is neither a device nor a dtype") from None


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing ``array``'s memory (no copy), as ``torch.from_numpy`` does: writes through either
    are seen by the other (writes through the array are not counted in the tensor's version)."""
    if not isinstance(array, np.ndarray):
        raise ArgumentTypeError(f"from_numpy: expected a NumPy array, got {type(array).__name__}")
    check_data_dtype("from_numpy", array.dtype)
    return wrap(array)


def as_tensor(data: Any, dtype=None) -> Tensor:
    """Like :func:`tensor` but shares memory with an ndarray when the dtype allows."""
    if isinstance(data, Tensor) and (dtype is None or np.dtype(dtype) == data.dtype):
        return data
    return wrap(to_array(data, dtype, copy=False))


# Late imports: the ops, the in-place rules and the backward walk are built on Tensor.
from . import autograd as _autograd  # noqa: E402
from . import inplace as _inplace  # noqa: E402
from . import ops as _ops  # noqa: E402
from .ops import operands as _operands  # noqa: E402
