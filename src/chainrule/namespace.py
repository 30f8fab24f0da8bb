"""Array namespaces: what a derivative is written against.

Every built-in operation writes its vector-Jacobian product once, as
``vjp(self, xp, *grads)``, using Python's operators and the functions of ``xp``:

- :data:`numpy_ns` works on NumPy arrays: the ordinary backward pass, at NumPy's speed;
- :data:`tensor_ns` works on chainrule Tensors and records what it computes: the backward pass
  under ``create_graph=True``, so the same lines give second and third derivatives.

Another array library with NumPy's operators (CuPy, say) would plug in as one more namespace
with these functions, without touching any formula. Every function takes and returns the
namespace's own arrays; ``cond``/``index``/``mask`` arguments are always plain (NumPy) arrays.
The names have NumPy's meanings (``transpose(x, axes)`` permutes, ``split(x, indices)`` cuts at
indices, ``axis``/``keepdims``), also in the tensor namespace.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["numpy_ns", "tensor_ns", "NumpyNamespace", "TensorNamespace", "route"]


def _arr(x):
    """NumPy reductions of a whole array give NumPy scalars: gradients stay arrays."""
    return x if type(x) is np.ndarray else np.asarray(x)


_INT_OF = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}


def route(g, mask, out) -> None:
    """out = g where ``mask`` (int8, -1 where set) is set, else +0 (g broadcast to mask's shape): for floats a
    bitwise and, one pass without branches (max pooling's gradient, sent to each tile's winner)."""
    it = _INT_OF.get(g.dtype)
    if it is None:
        out[...] = np.where(mask != 0, g, np.zeros((), g.dtype))
    else:
        np.bitwise_and(g.view(it), mask, out=out.view(it))


def _is_zero(v) -> bool:
    return isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype in _INT_OF and v == 0 and not np.signbit(v)


def _memory_order(a):
    """The axes of ``a`` from the largest stride to the smallest: a.transpose(order) is C-contiguous for an
    array laid out in any axis order (a channels-last map seen as (N, C, H, W), say)."""
    return tuple(sorted(range(a.ndim), key=lambda i: -a.strides[i]))


def _sum_leading(x, axis):
    """The sum of ``x`` over ``axis`` when those are the axes of largest stride and the rest are laid out
    contiguously after them (a channels-last (N, C, H, W) summed over (0, 2, 3)): ones @ (M, K), else None."""
    order = _memory_order(x)
    axes = {a % x.ndim for a in axis}
    if set(order[: len(axes)]) != axes or len(axes) == x.ndim:
        return None
    xt = x.transpose(order)
    if not xt.flags.c_contiguous:
        return None
    m = math.prod(xt.shape[: len(axes)])
    r = np.ones(m, x.dtype) @ xt.reshape(m, -1)
    kept = sorted(order[len(axes) :])  # the result's axes in x's order
    return r.reshape(xt.shape[len(axes) :]).transpose([order[len(axes) :].index(a) for a in kept])


def _masked(cond, a, zero, keep_where):
    """``np.where(cond, a, zero)`` (keep_where=1) or ``np.where(cond, zero, a)`` (keep_where=0) for +0."""
    if not (
        isinstance(a, np.ndarray)
        and isinstance(cond, np.ndarray)
        and a.dtype == zero.dtype
        and a.shape == cond.shape
        and cond.dtype == np.bool_
    ):
        return np.where(cond, a, zero) if keep_where else np.where(cond, zero, a)
    order = None
    if not a.flags.c_contiguous:  # worked on in memory order, the result seen in a's axes again
        order = _memory_order(a)
        if not a.transpose(order).flags.c_contiguous:  # (a broadcast or strided view)
            return np.where(cond, a, zero) if keep_where else np.where(cond, zero, a)
        a, cond = a.transpose(order), cond.transpose(order)
    it = _INT_OF[a.dtype]
    c8 = cond.view(np.int8)  # 1 where cond
    # int8 all ones (-1) where a is kept, 0 elsewhere; the and sign-extends it to a's width on the fly
    bits = np.negative(c8) if keep_where else np.subtract(c8, np.int8(1))
    r = np.bitwise_and(a.view(it), bits).view(a.dtype)
    return r if order is None else r.transpose(np.argsort(order))


class NumpyNamespace:
    """The functions derivatives use, on NumPy arrays."""

    name = "numpy"
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    log1p = staticmethod(np.log1p)
    maximum = staticmethod(np.maximum)
    sqrt = staticmethod(np.sqrt)
    sin = staticmethod(np.sin)
    cos = staticmethod(np.cos)
    tanh = staticmethod(np.tanh)
    matmul = staticmethod(np.matmul)
    reshape = staticmethod(np.reshape)
    transpose = staticmethod(np.transpose)
    swapaxes = staticmethod(np.swapaxes)
    moveaxis = staticmethod(np.moveaxis)
    broadcast_to = staticmethod(np.broadcast_to)
    expand_dims = staticmethod(np.expand_dims)

    @staticmethod
    def sigmoid(x):
        from .ops.elementwise import logistic

        return logistic(x)

    @staticmethod
    def softplus(x):
        return np.logaddexp(0, x).astype(x.dtype, copy=False)

    @staticmethod
    def softmax(x, axis=-1):
        from .ops.reduce import softmax_array

        return softmax_array(x, axis)

    @staticmethod
    def log_softmax(x, axis=-1):
        from .ops.reduce import log_softmax_array

        return log_softmax_array(x, axis)

    @staticmethod
    def where(cond, a, b):
        """np.where; choosing between an array and +0 (the gradients of relu, clip, maximum, ... ) is done
        with a bit mask instead, an order of magnitude faster than np.where on unpredictable masks, with the
        same result bit for bit (also for infinities and NaN)."""
        if _is_zero(b):
            return _masked(cond, a, b, 1)
        if _is_zero(a):
            return _masked(cond, b, a, 0)
        return np.where(cond, a, b)

    # --- math, activations, cumulative ops (issue 11): sinh cosh erf cumsum cumprod logcumsumexp
    sinh = staticmethod(np.sinh)
    cosh = staticmethod(np.cosh)

    @staticmethod
    def erf(x):
        from .ops.special import erf_array

        return erf_array(x)

    @staticmethod
    def cumsum(x, axis):
        return np.cumsum(x, axis=axis)

    @staticmethod
    def cumprod(x, axis):
        return np.cumprod(x, axis=axis)

    @staticmethod
    def logcumsumexp(x, axis):
        from .ops.cumulative import logcumsumexp_array

        return logcumsumexp_array(x, axis)

    @staticmethod
    def sum(x, axis=None, keepdims=False):
        if not keepdims and isinstance(axis, tuple) and not x.flags.c_contiguous and x.dtype.kind == "f":
            r = _sum_leading(x, axis)  # a bias's gradient from a channels-last map: one matrix-vector product
            if r is not None:
                return r
        r = x.sum(axis=axis, keepdims=keepdims)
        return r if type(r) is np.ndarray else np.asarray(r)

    @staticmethod
    def mean(x, axis=None, keepdims=False):
        return _arr(x.mean(axis=axis, keepdims=keepdims))

    @staticmethod
    def astype(x, dtype):
        return x.astype(dtype, copy=False)

    @staticmethod
    def concatenate(xs, axis=0):
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def split(x, indices, axis=0):
        return tuple(np.split(x, indices, axis=axis))

    @staticmethod
    def take(x, index):
        """``x[index]``."""
        return x[index]

    @staticmethod
    def take_adjoint(g, index, shape, basic: bool):
        """zeros(shape) with ``g`` added at ``index`` (repeated indices accumulate): getitem's adjoint."""
        out = np.zeros(shape, g.dtype)
        if basic or (isinstance(index, np.ndarray) and index.dtype == bool):
            out[index] = g
        else:
            np.add.at(out, index, g)
        return out

    @staticmethod
    def sum_to(x, shape):
        from .autograd import unbroadcast

        return unbroadcast(x, tuple(shape), "sum_to")

    # --- indexing, layout, einsum (issue 11): the functions their vjps use
    flip = staticmethod(np.flip)
    roll = staticmethod(np.roll)

    @staticmethod
    def stack(xs, axis=0):
        return np.stack(xs, axis=axis)

    @staticmethod
    def pad(x, pad):
        """``x`` padded with zeros by PyTorch's flat ``pad`` tuple, last dimension first (negative cuts off)."""
        from .ops.layout import pad_array

        return pad_array(x, pad)

    @staticmethod
    def einsum(equation, *xs):
        from .ops.einsum import einsum_array

        return einsum_array(equation, *xs)

    # --- end of indexing, layout, einsum

    # --- convolution (issue 12): a convolution's derivatives are the transposed convolution and the weight
    # correlation, each differentiable through the others; unfold and fold are each other's adjoints
    @staticmethod
    def conv_nd(x, w, stride, pads, dilation, groups):
        from .ops.conv import conv_array

        return conv_array(x, w, tuple(stride), tuple(pads), tuple(dilation), groups)

    @staticmethod
    def conv_transpose_nd(x, w, stride, lo, dilation, groups, out_spatial):
        from .ops.conv import conv_transpose_array

        return conv_transpose_array(x, w, tuple(stride), tuple(lo), tuple(dilation), groups, tuple(out_spatial))

    @staticmethod
    def conv_weight_nd(x, g, kernel, stride, pads, dilation, groups, cols=None):
        from .ops.conv import conv_weight_array

        return conv_weight_array(x, g, tuple(kernel), tuple(stride), tuple(pads), tuple(dilation), groups, cols)

    @staticmethod
    def unfold(x, kernel_size, dilation, padding, stride):
        """im2col of a 4-D array with PyTorch's ``unfold`` arguments (pairs)."""
        from .ops.conv import unfold_array

        return unfold_array(x, kernel_size, dilation, padding, stride)

    @staticmethod
    def fold(x, output_size, kernel_size, dilation, padding, stride):
        """col2im of a 3-D array with PyTorch's ``fold`` arguments (pairs)."""
        from .ops.conv import fold_array

        return fold_array(x, output_size, kernel_size, dilation, padding, stride)

    # --- end of convolution

    # --- pooling (issue 12): max pooling over tiles routes the gradient to each tile's winner
    @staticmethod
    def route_tiles(g, masks, kh, kw):
        """g (B, W, C) routed into tiles: (B, kh, W, kw, C), entry [b, i, w, j, c] = g[b, w, c] where
        ``masks[i * kw + j]`` (int8, -1 where the tile's entry (i, j) won, else 0) is set, else +0. Each mask is
        and-ed bitwise into its strided slice of the output (:func:`route`): one pass per tile entry, no
        temporaries."""
        out = np.empty((g.shape[0], kh, g.shape[1], kw, g.shape[2]), g.dtype)
        for idx, m in enumerate(masks):
            i, j = divmod(idx, kw)
            route(g, m, out[:, i, :, j])
        return out

    # --- end of pooling

    @staticmethod
    def const(value, like):
        """``value`` as a constant array in ``like``'s dtype."""
        return np.asarray(value, like.dtype)

    @staticmethod
    def data(x):
        """The NumPy array behind ``x``."""
        return x


class TensorNamespace:
    """The same functions on chainrule Tensors, recorded: each is the operation of the same name in
    ``chainrule.ops`` (looked up on first use, since the operations are built on this module)."""

    name = "chainrule"
    _NAMES = frozenset(
        (
            "exp log log1p maximum softplus softmax log_softmax sqrt sin cos tanh sigmoid matmul reshape "
            "swapaxes moveaxis broadcast_to expand_dims where sum mean astype concatenate take take_adjoint sum_to"
            # math, activations, cumulative ops (issue 11)
            " sinh cosh erf cumsum cumprod logcumsumexp"
        ).split()
    ) | frozenset("flip roll stack pad einsum".split())  # indexing, layout, einsum (issue 11)
    _NAMES |= frozenset("conv_nd conv_transpose_nd conv_weight_nd unfold fold".split())  # convolution (issue 12)

    # The namespace speaks NumPy's language (as the array API does); where chainrule's Tensor functions
    # take PyTorch's meaning of a name, the NumPy meaning is spelled out here.
    @staticmethod
    def transpose(x, axes=None):
        """NumPy's ``transpose``: the axes permuted (reversed when None), chainrule's ``permute``."""
        from .ops import permute

        return permute(x, tuple(range(x.ndim - 1, -1, -1)) if axes is None else axes)

    @staticmethod
    def split(x, indices, axis=0):
        """NumPy's ``split`` at indices, chainrule's ``tensor_split``."""
        from .ops import tensor_split

        return tensor_split(x, indices, axis)

    # --- pooling (issue 12)
    @staticmethod
    def route_tiles(g, masks, kh, kw):
        """NumpyNamespace.route_tiles recorded: one ``where`` per tile entry, stacked and permuted."""
        from .ops import permute, reshape, stack, where

        zero = TensorNamespace.const(0, g)
        parts = stack([where(m != 0, g, zero) for m in masks])  # (kh * kw, B, W, C)
        return permute(reshape(parts, (kh, kw) + tuple(g.shape)), (2, 0, 3, 1, 4))

    # --- end of pooling

    @staticmethod
    def const(value, like):
        from .tensor import wrap

        return wrap(np.asarray(value, like.dtype))

    @staticmethod
    def data(x):
        return x.data

    def __getattr__(self, name):
        if name not in self._NAMES:
            raise AttributeError(f"the tensor namespace has no function {name!r}")
        from . import ops

        fn = getattr(ops, name)
        setattr(self, name, fn)
        return fn


numpy_ns = NumpyNamespace()
tensor_ns = TensorNamespace()
