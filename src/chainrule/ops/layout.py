"""Operations that rearrange values, as PyTorch does: flip, roll, repeat/tile, tril/triu, pad, narrow, chunk,
movedim, unbind.

Each node's vjp moves the gradient back the way the values came (flip it again, roll it back, sum the
copies, cut the padding off); narrow, chunk and movedim are slicing, split and transpose.
"""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, ShapeError, UnsupportedError
from ..function import Function
from .indexing import resolve_dim
from .operands import as_t, norm_axis
from .shape import getitem, permute, split, tensor_split

__all__ = [
    "Flip",
    "Roll",
    "Repeat",
    "Tril",
    "Triu",
    "Pad",
    "Unbind",
    "flip",
    "roll",
    "repeat",
    "tile",
    "tril",
    "triu",
    "pad",
    "narrow",
    "chunk",
    "movedim",
    "unbind",
    "pad_array",
]


def _ints(values, op: str, what: str) -> tuple:
    """An int or a sequence of ints (or varargs already gathered) as a tuple of ints."""
    if isinstance(values, (int, np.integer)) and not isinstance(values, bool):
        return (int(values),)
    try:
        out = tuple(values)
    except TypeError:
        raise ArgumentTypeError(f"{op}: {what} must be an int or a sequence of ints, got {values!r}") from None
    for v in out:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ArgumentTypeError(f"{op}: {what} must be ints, got {values!r}")
    return tuple(int(v) for v in out)


def _dims(dims, ndim: int, op: str) -> tuple:
    """Dimensions (possibly negative) normalised, in the order given; repeats are an error."""
    given = _ints(dims, op, "dims")
    out = tuple(norm_axis(d, max(ndim, 1), op)[0] for d in given)
    if len(set(out)) != len(out):
        raise ArgumentError(f"{op}: dims {given} name a dimension twice")
    return out


# --------------------------------------------------------------------------- nodes
class Flip(Function):
    formula = "y = x reversed along dims"
    derivative = "dy/dx = 1 (gradient reversed back)"

    def __init__(self, dims):
        self.dims = dims

    def forward(self, x):
        return np.flip(x, self.dims).copy()  # a copy, as PyTorch's flip

    def vjp(self, xp, g):
        return xp.flip(g, self.dims)


class Roll(Function):
    formula = "y = x shifted cyclically by shifts along dims"
    derivative = "dy/dx = 1 (gradient rolled back)"

    def __init__(self, shifts, dims):
        self.shifts = shifts
        self.dims = dims

    def forward(self, x):
        return np.roll(x, self.shifts, self.dims)

    def vjp(self, xp, g):
        back = tuple(-s for s in self.shifts)
        return xp.roll(g, back if self.dims is not None else back[0], self.dims)


class Repeat(Function):
    """y = x tiled reps times (NumPy's tile; PyTorch's Tensor.repeat)."""

    formula = "y = x repeated reps[d] times along each dim d"
    derivative = "dy/dx = 1 for each copy (the copies' gradients summed)"

    def __init__(self, reps):
        self.reps = reps

    def forward(self, x):
        self.in_shape = x.shape
        return np.tile(x, self.reps)

    def vjp(self, xp, g):
        reps = self.reps
        shape = (1,) * (len(reps) - len(self.in_shape)) + tuple(self.in_shape)
        split_shape = [n for pair in zip(reps, shape) for n in pair]  # (r0, s0, r1, s1, ...)
        summed = xp.sum(xp.reshape(g, split_shape), axis=tuple(range(0, 2 * len(reps), 2)))
        return xp.reshape(summed, self.in_shape)


class Tril(Function):
    """y = x on and below the diagonal-th diagonal of the last two dims, 0 above."""

    formula = "y[.., i, j] = x[.., i, j] if j - i <= diagonal else 0"
    derivative = "dy/dx = 1 on the kept triangle, 0 elsewhere"

    def __init__(self, diagonal):
        self.diagonal = diagonal

    def _mask(self, m, n):
        return np.tri(m, n, self.diagonal, dtype=bool)

    def forward(self, x):
        self.mask = self._mask(*x.shape[-2:])
        return np.where(self.mask, x, np.zeros((), x.dtype))

    def vjp(self, xp, g):
        return xp.where(self.mask, g, xp.const(0, g))


class Triu(Tril):
    """y = x on and above the diagonal-th diagonal of the last two dims, 0 below."""

    formula = "y[.., i, j] = x[.., i, j] if j - i >= diagonal else 0"

    def _mask(self, m, n):
        return ~np.tri(m, n, self.diagonal - 1, dtype=bool)


class Pad(Function):
    """y = x padded (PyTorch's ``nn.functional.pad``): constant, reflect, replicate or circular; negative
    padding cuts off."""

    formula = "y = x with padding (constant value, reflection, edge copies or wrap-around) at its ends"
    derivative = "dy/dx = 1 at x's own positions and at each copy of it in the padding (summed)"

    def __init__(self, widths, mode, value, at):
        self.widths = widths  # ((before, after), ...) per dimension, from the first
        self.mode = mode
        self.value = value
        self.at = at  # the gather index of a non-constant mode

    def forward(self, x):
        self.in_shape = x.shape
        if self.mode == "constant":
            return _pad_constant(x, self.widths, self.value)
        return np.array(x[self.at])

    def vjp(self, xp, g):
        if self.mode == "constant":  # the adjoint of padding is cutting it off, and back: pad by -widths
            return xp.pad(g, _torch_pad(tuple((-a, -b) for a, b in self.widths)))
        return xp.take_adjoint(g, self.at, self.in_shape, False)


class Unbind(Function):
    """y_k = x[.., k, ..] along dim, for every k: several outputs (views of x)."""

    view = True
    formula = "y_k = x[.., k, ..]  (at dim)"
    derivative = "dy_k/dx = 1 on slice k"

    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        lead = (slice(None),) * self.dim
        return tuple(x[lead + (k,)] for k in range(x.shape[self.dim]))

    def vjp(self, xp, *gs):
        return xp.stack(gs, axis=self.dim)


# --------------------------------------------------------------------------- pad helpers
def _widths(pad, ndim: int) -> tuple:
    """PyTorch's flat padding tuple (last dim first: left, right, top, bottom, ...) as per-dim (before,
    after) pairs for every dimension, first to last."""
    pad = _ints(pad, "pad", "pad")
    if len(pad) % 2:
        raise ArgumentError(f"pad: the padding must have an even length (pairs, last dimension first), got {pad}")
    k = len(pad) // 2
    if k > ndim:
        raise ArgumentError(
            f"pad: padding {pad} pads {k} dimensions but the input has only {ndim} (its length must be at most "
            f"2 * {ndim})"
        )
    pairs = [(pad[2 * i], pad[2 * i + 1]) for i in range(k)][::-1]
    return ((0, 0),) * (ndim - k) + tuple(pairs)


def _torch_pad(widths) -> tuple:
    """Per-dim (before, after) pairs back to PyTorch's flat tuple, last dimension first."""
    return tuple(v for pair in reversed(widths) for v in pair)


def pad_array(x: np.ndarray, pad) -> np.ndarray:
    """A NumPy array padded with zeros by PyTorch's flat ``pad`` tuple (negative values cut off)."""
    return _pad_constant(x, _widths(pad, x.ndim), 0)


def _pad_constant(x, widths, value):
    cut = tuple(slice(max(-a, 0), x.shape[d] - max(-b, 0)) for d, (a, b) in enumerate(widths))
    x = x[cut]
    grow = tuple((max(a, 0), max(b, 0)) for a, b in widths)
    if not any(a or b for a, b in grow):
        return np.array(x)
    return np.pad(x, grow, mode="constant", constant_values=np.asarray(value, x.dtype))


def _source(mode: str, size: int, before: int, after: int) -> np.ndarray:
    """For one padded dimension: which input position each output position copies."""
    o = np.arange(size + before + after)
    if mode == "reflect":
        i = np.abs(o - before)
        return np.where(i >= size, 2 * (size - 1) - i, i)
    if mode == "replicate":
        return np.clip(o - before, 0, size - 1)
    lo, hi = max(-before, 0), size - max(-after, 0)  # circular: negative padding cuts off first, then wraps
    return lo + (o - max(before, 0)) % max(hi - lo, 1)


_NONCONSTANT = {2: (2, 3), 4: (3, 4), 6: (4, 5)}


def _check_nonconstant(mode, pad, shape, widths):
    ndim = len(shape)
    if ndim not in _NONCONSTANT.get(len(pad), ()):
        raise UnsupportedError(
            f"pad: mode {mode!r} with padding of length {len(pad)} is not supported for a {ndim}-d input; "
            "as in PyTorch: length 2 pads the last dim of a 2-d or 3-d input, 4 the last two of a 3-d or 4-d, "
            "6 the last three of a 4-d or 5-d"
        )
    for d, (a, b) in enumerate(widths):
        size = shape[d]
        if (a, b) == (0, 0):
            continue
        if mode == "circular":
            kept = size - max(-a, 0) - max(-b, 0)  # negative padding cuts off first, then the rest wraps around
            if kept < 0 or (size + a + b and (a > kept or b > kept)):
                raise ShapeError(
                    f"pad: circular padding {(a, b)} at dimension {d} of size {size} wraps around more than the "
                    f"{max(kept, 0)} entries left after cutting: each padding can wrap around at most once"
                )
            continue
        if size + a + b <= 0:
            raise ShapeError(f"pad: padding {(a, b)} leaves nothing of dimension {d} of size {size}")
        if mode == "reflect" and (a >= size or b >= size):
            raise ShapeError(
                f"pad: reflect padding must be less than the dimension's size: padding {(a, b)} at dimension {d} "
                f"of size {size}"
            )


# --------------------------------------------------------------------------- functions
def flip(input, dims=None, *, axis=None):  # noqa: A002 - PyTorch's name
    """``input`` reversed along ``dims`` (an int or a sequence; PyTorch's ``flip``, a copy)."""
    x = as_t(input)
    dims = resolve_dim(dims, axis, "flip")
    if dims is None:
        raise ArgumentError("flip: give the dims to reverse, e.g. cr.flip(x, (0,))")
    dims = _dims(dims, x.data.ndim, "flip")
    if x.data.ndim == 0:
        dims = ()
    return Flip(dims)(x)


def roll(input, shifts, dims=None, *, axis=None):  # noqa: A002
    """``input`` shifted cyclically by ``shifts`` along ``dims`` (PyTorch's ``roll``; without dims, the
    flattened tensor is rolled and the shape restored)."""
    x = as_t(input)
    shifts = _ints(shifts, "roll", "shifts")
    dims = resolve_dim(dims, axis, "roll")
    if dims is None:
        if len(shifts) != 1:
            raise ArgumentError(f"roll: without dims, give one shift, got {shifts}")
        return Roll(shifts, None)(x)
    dims = _ints(dims, "roll", "dims")
    if len(dims) != len(shifts):
        raise ArgumentError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    dims = tuple(norm_axis(d, max(x.data.ndim, 1), "roll")[0] for d in dims)
    return Roll(shifts, dims)(x)


def _sizes(sizes, op: str) -> tuple:
    if len(sizes) == 1 and not isinstance(sizes[0], (int, np.integer)):
        sizes = tuple(sizes[0])
    reps = _ints(sizes, op, "sizes")
    if any(r < 0 for r in reps):
        raise ArgumentError(f"{op}: repeat counts must be non-negative, got {reps}")
    return reps


def repeat(input, *sizes):  # noqa: A002
    """PyTorch's ``Tensor.repeat`` (NumPy's ``tile``): ``input`` repeated ``sizes[d]`` times along each
    dimension d; ``sizes`` may have more entries than input has dimensions (new leading dimensions), not
    fewer."""
    x = as_t(input)
    reps = _sizes(sizes, "repeat")
    if len(reps) < x.data.ndim:
        raise ShapeError(
            f"repeat: the number of repeat sizes ({len(reps)}) cannot be smaller than the number of dimensions "
            f"({x.data.ndim}); use cr.tile to repeat only the last dimensions"
        )
    return Repeat(reps)(x)


def tile(input, dims):  # noqa: A002
    """PyTorch's ``tile``: ``repeat``, with ``dims`` padded with leading 1s when shorter than input's."""
    x = as_t(input)
    reps = _sizes((dims,), "tile")
    return Repeat((1,) * (x.data.ndim - len(reps)) + reps)(x)


def _triangle(cls, input, diagonal):
    x = as_t(input)
    if x.data.ndim < 2:
        raise ShapeError(f"{cls.__name__.lower()}: the input must have at least 2 dimensions, got shape {x.shape}")
    if isinstance(diagonal, bool) or not isinstance(diagonal, (int, np.integer)):
        raise ArgumentTypeError(f"{cls.__name__.lower()}: diagonal must be an int, got {diagonal!r}")
    return cls(int(diagonal))(x)


def tril(input, diagonal: int = 0):  # noqa: A002
    """The lower triangle of the last two dims (on and below the ``diagonal``-th diagonal), zeros above."""
    return _triangle(Tril, input, diagonal)


def triu(input, diagonal: int = 0):  # noqa: A002
    """The upper triangle of the last two dims (on and above the ``diagonal``-th diagonal), zeros below."""
    return _triangle(Triu, input, diagonal)


def pad(input, pad, mode: str = "constant", value=None):  # noqa: A002
    """PyTorch's ``nn.functional.pad``. ``pad`` lists (before, after) pairs from the LAST dimension
    backwards: ``(left, right)``, ``(left, right, top, bottom)``, ...; negative values cut off. ``mode``:
    'constant' (with ``value``, default 0; any number of dimensions), 'reflect' (mirror, edge not
    repeated), 'replicate' (edge copies) or 'circular' (wrap-around); the last three pad the last 1, 2 or 3
    dimensions of a 2-3, 3-4 or 4-5 dimensional input, as in PyTorch."""
    x = as_t(input)
    shape = x.data.shape
    widths = _widths(pad, x.data.ndim)
    flat = _ints(pad, "pad", "pad")
    if mode == "constant":
        for d, (a, b) in enumerate(widths):
            if max(-a, 0) + max(-b, 0) > shape[d]:
                raise ShapeError(f"pad: padding {(a, b)} cuts more than dimension {d} of size {shape[d]} holds")
        return Pad(widths, mode, 0 if value is None else value, None)(x)
    if mode not in ("reflect", "replicate", "circular"):
        raise ArgumentError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    if value is not None:
        raise ArgumentError(f"pad: mode {mode!r} takes no value (only 'constant' does)")
    _check_nonconstant(mode, flat, shape, widths)
    padded = [d for d, w in enumerate(widths) if w != (0, 0)]
    if not padded:
        return Pad(widths, "constant", 0, None)(x)
    first = padded[0]
    grids = np.ix_(*[_source(mode, shape[d], *widths[d]) for d in range(first, len(shape))])
    return Pad(widths, mode, None, (slice(None),) * first + tuple(grids))(x)


def narrow(input, dim=None, start=None, length=None, *, axis=None):  # noqa: A002
    """``length`` consecutive entries of ``input`` along ``dim`` from ``start`` (which may be negative or a
    0-d tensor): a view, as PyTorch's ``narrow``."""
    x = as_t(input)
    nd = x.data.ndim
    if nd == 0:
        raise ShapeError("narrow: cannot narrow a 0-d tensor")
    dim = resolve_dim(dim, axis, "narrow")
    if dim is None or start is None or length is None:
        raise ArgumentError("narrow: give dim, start and length, e.g. cr.narrow(x, 0, 1, 2)")
    dim = norm_axis(dim, nd, "narrow")[0]
    size = x.data.shape[dim]
    start = int(start.item() if hasattr(start, "item") else start)
    if not -size <= start <= size:
        raise ShapeError(f"narrow: start {start} is out of range for dimension {dim} of size {size}")
    start %= size if size else 1
    length = int(length)
    if length < 0 or start + length > size:
        raise ShapeError(f"narrow: start ({start}) + length ({length}) exceeds dimension {dim}'s size {size}")
    return getitem(x, (slice(None),) * dim + (slice(start, start + length),))


def chunk(input, chunks: int, dim=None, *, axis=None):  # noqa: A002
    """PyTorch's ``chunk``: split into pieces of ``ceil(size / chunks)`` along ``dim`` (the last smaller;
    there may be fewer than ``chunks``). Returns a tuple of views."""
    x = as_t(input)
    chunks = int(chunks)
    if chunks <= 0:
        raise ArgumentError(f"chunk: chunks must be positive, got {chunks}")
    dim = norm_axis(resolve_dim(dim, axis, "chunk", 0), max(x.data.ndim, 1), "chunk")[0]
    if x.data.ndim == 0:
        raise ShapeError("chunk: cannot chunk a 0-d tensor")
    size = x.data.shape[dim]
    step = -(-size // chunks)
    if step == 0:  # an empty dimension: chunks empty pieces
        return tensor_split(x, chunks, dim)
    return split(x, step, dim)


def movedim(input, source, destination):  # noqa: A002
    """Move dimensions ``source`` (an int or a sequence) to positions ``destination``, the others keeping
    their order (PyTorch's ``movedim``/``moveaxis``, NumPy's ``moveaxis``)."""
    x = as_t(input)
    nd = x.data.ndim
    src = _ints(source, "movedim", "source")
    dst = _ints(destination, "movedim", "destination")
    if len(src) != len(dst):
        raise ArgumentError(f"movedim: source {src} and destination {dst} must have the same number of dims")
    s = _dims(src, nd, "movedim") if nd else ()
    d = _dims(dst, nd, "movedim") if nd else ()
    order = [None] * nd
    for a, b in zip(s, d):
        order[b] = a
    rest = iter(a for a in range(nd) if a not in s)
    order = [next(rest) if o is None else o for o in order]
    return permute(x, order) if order != list(range(nd)) else x


def unbind(input, dim=None, *, axis=None):  # noqa: A002
    """The slices of ``input`` along ``dim``, that dimension removed: a tuple of views (PyTorch's
    ``unbind``)."""
    x = as_t(input)
    if x.data.ndim == 0:
        raise ShapeError("unbind: cannot unbind a 0-d tensor")
    dim = norm_axis(resolve_dim(dim, axis, "unbind", 0), x.data.ndim, "unbind")[0]
    if x.data.shape[dim] == 0:
        return ()
    return Unbind(dim)(x)
