"""Convolutions as matrix products: im2col, one GEMM, col2im.

A convolution slides a small kernel over the input and, at every position, takes the dot product of the
kernel with the patch under it. Written naively that is six nested loops; written the way "Deep Learning
from Scratch" (ch. 7) teaches it, it is ONE matrix product:

1. **im2col** ("image to columns", :func:`unfold`): copy every patch the kernel visits into one column of a
   matrix. A (C, H, W) image and a (kh, kw) kernel give a matrix of C*kh*kw rows and one column per output
   position (Ho*Wo of them; N*Ho*Wo for a batch).
2. **one matrix product**: the weight, reshaped to (out_channels, C*kh*kw), times that matrix gives every
   output channel at every position at once -- BLAS does the work, at full speed.
3. **col2im** (:func:`fold`), the way back: add each column's entries to the places in the image they were
   copied from (entries that several patches share receive the sum). It is im2col's adjoint, so it is
   exactly what the backward pass needs.

The derivative of a convolution y = x (*) w is made of the same pieces:

- d loss / dx = the incoming gradient g correlated with the kernel flipped in space (channels swapped):
  a *transposed convolution*, computed as W^T @ g followed by col2im;
- d loss / dw = the correlation of the input with g: im2col(x) times g, summed over the batch;
- d loss / db = g summed over the batch and every position.

Each of these is itself an operation here (``conv_nd``, ``conv_transpose_nd``, ``conv_weight_nd``), whose
derivatives are again the other two, so second derivatives come for free.

Layout: without groups the output is channels-last, an (N, *spatial, C_out) array seen as (N, C_out,
*spatial) (the rows of the matrix product are the output, no transpose copy); elementwise operations keep
that layout, max pooling works in it, and the next convolution reads it as it needs it. With groups the
channels come first and the batch second, (C, N, *spatial): the im2col matrix is then (C*K, N*positions) and
every product is one GEMM per group, with the long dimension contiguous.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError
from ..function import Function
from .operands import as_t

__all__ = [
    "ConvOp",
    "ConvTransposeOp",
    "ConvWeightOp",
    "UnfoldOp",
    "FoldOp",
    "conv1d",
    "conv2d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_nd",
    "conv_transpose_nd",
    "conv_weight_nd",
    "conv_array",
    "conv_transpose_array",
    "conv_weight_array",
    "unfold_array",
    "fold_array",
    "unfold",
    "fold",
]


# --------------------------------------------------------------------------- array kernels
def _out_size(size, lo, hi, k, s, d):
    return (size + lo + hi - d * (k - 1) - 1) // s + 1


def _im2col(x, kernel, stride, pads, dilation, out):
    """x (N, C, *S) -> columns (C, *kernel, N, *out): entry [c, *k, n, *o] = padded x[n, c, o*s + k*d].
    ``pads`` are (lo, hi) per spatial dim, lo >= 0, hi may be negative (cuts off)."""
    nd = len(kernel)
    n, c = x.shape[:2]
    spatial = x.shape[2:]
    need = tuple((o - 1) * s + d * (k - 1) + 1 for o, s, d, k in zip(out, stride, dilation, kernel))
    if all(lo == 0 for lo, _ in pads) and all(sz >= nd_ for sz, nd_ in zip(spatial, need)):
        xt = x.transpose((1, 0) + tuple(range(2, nd + 2)))  # a view: nothing to pad
    else:
        xt = np.zeros((c, n) + need, x.dtype)
        src, dst = [], []
        for sz, (lo, _), nd_ in zip(spatial, pads, need):
            take = min(sz, nd_ - lo)
            src.append(slice(0, max(take, 0)))
            dst.append(slice(lo, lo + max(take, 0)))
        xt[(slice(None), slice(None)) + tuple(dst)] = x[(slice(None), slice(None)) + tuple(src)].transpose(
            (1, 0) + tuple(range(2, nd + 2))
        )
    axes = tuple(range(2, nd + 2))
    win = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    v = sliding_window_view(xt, win, axis=axes)  # (C, N, *positions, *window)
    v = v[(slice(None), slice(None)) + tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(out, stride))]
    v = v[(Ellipsis,) + tuple(slice(None, None, d) for d in dilation)]
    order = (0,) + tuple(range(nd + 2, 2 * nd + 2)) + (1,) + axes
    return np.ascontiguousarray(v.transpose(order))


def _col2im(cols, spatial, kernel, stride, lo, dilation, out):
    """cols (C, *kernel, N, *out) -> (N, C, *spatial): each column added back where im2col copied it from
    (a loop over the kernel's offsets adding strided slices), then the padding ``lo`` cut off."""
    nd = len(kernel)
    c, n = cols.shape[0], cols.shape[nd + 1]
    full = tuple(
        max((o - 1) * s + d * (k - 1) + 1, lo_ + sz)
        for o, s, d, k, lo_, sz in zip(out, stride, dilation, kernel, lo, spatial)
    )
    buf = np.zeros((c, n) + full, cols.dtype)
    for idx in np.ndindex(*kernel):
        place = tuple(slice(i * d, i * d + (o - 1) * s + 1, s) for i, d, o, s in zip(idx, dilation, out, stride))
        buf[(slice(None), slice(None)) + place] += cols[(slice(None),) + idx]
    crop = buf[(slice(None), slice(None)) + tuple(slice(lo_, lo_ + sz) for lo_, sz in zip(lo, spatial))]
    return np.ascontiguousarray(crop.transpose((1, 0) + tuple(range(2, nd + 2))))


def _grouped(w2, cols, groups):
    """(G, A, B) @ (G, B, M) as one GEMM when there is one group."""
    if groups == 1:
        return (w2[0] @ cols[0])[None]
    return np.matmul(w2, cols)


# Without groups the products run in one of two layouts, chosen for BLAS and for the copies around them; either
# way the output is left channels-last, (N, *out, O), and returned as a view (N, O, *out) of it:
# - "per sample" when the patches are short (C*K <= _SHORT, e.g. a first layer on one channel): the im2col
#   matrix is (N, C*K, P) as PyTorch's unfold gives it (with a row of ones after it when there is a bias, so
#   that the product with [W, b] adds the bias), and the forward product cols^T @ W^T, one per sample, lands
#   in (N, P, O);
# - "rows" otherwise: the input is copied channels-last and padded, (N, *S, C), so that a patch is a few
#   contiguous runs of C values (a channels-last input is a plain copy); im2row gives (N*P, K*C), the forward
#   product rows @ W^T gives (N*P, O), the bias added in place; the weight gradient is ONE product g^T @ rows
#   over the kept matrix; the input gradient (a transposed convolution) is one product g @ [W_1 ... W_K],
#   a few samples at a time, each offset's (n, *L, C) part added into the channels-last result at the places
#   it reaches.
_SHORT = 32


def _per_sample(c, kernel):
    return c * math.prod(kernel) <= _SHORT


def _last(nd):
    """The axes (0, 2, ..., nd + 1, 1): channels-first to channels-last."""
    return (0,) + tuple(range(2, nd + 2)) + (1,)


def _first(nd):
    """The axes (0, nd + 1, 1, ..., nd): channels-last to channels-first."""
    return (0, nd + 1) + tuple(range(1, nd + 1))


def _need(out, stride, dilation, kernel):
    return tuple((o - 1) * s + d * (k - 1) + 1 for o, s, d, k in zip(out, stride, dilation, kernel))


def scratch(work, key, shape, dtype):
    """An uninitialised array of ``shape``: a new one, or with ``work`` (a dict the caller keeps) a view of the
    buffer kept there under ``key``, made larger when too small, so that a loop over chunks (and over calls)
    allocates it once."""
    if work is None:
        return np.empty(shape, dtype)
    size = math.prod(shape) * np.dtype(dtype).itemsize
    buf = work.get(key)
    if buf is None or buf.nbytes < size:
        buf = work[key] = np.empty(size, np.uint8)
    return buf[:size].view(dtype).reshape(shape)


def _padded(x, pads, need, last, work=None):
    """x (N, C, *S) with ``lo`` zeros before each spatial dim, cut or zero-filled to the sizes ``need``: (N,
    *need, C) channels last, or (N, C, *need)."""
    nd = x.ndim - 2
    shape = (x.shape[0],) + need + (x.shape[1],) if last else x.shape[:2] + need
    buf = scratch(work, "padded", shape, x.dtype)
    buf.fill(0)
    src, dst = [], []
    for sz, (lo, _), nd_ in zip(x.shape[2:], pads, need):
        take = max(min(sz, nd_ - lo), 0)
        src.append(slice(0, take))
        dst.append(slice(lo, lo + take))
    part = x[(slice(None), slice(None)) + tuple(src)]
    if last:
        buf[(slice(None),) + tuple(dst)] = part.transpose(_last(nd))
    else:
        buf[(slice(None), slice(None)) + tuple(dst)] = part
    return buf


def _padded_last(x, pads, need, work=None):
    """x (N, C, *S) -> (N, *need, C): channels last, padded as :func:`_padded` does."""
    if all(lo == 0 for lo, _ in pads) and x.shape[2:] == need:
        return np.ascontiguousarray(x.transpose(_last(x.ndim - 2)))
    return _padded(x, pads, need, True, work)


def _windows(xt, axes, kernel, stride, dilation, out):
    """The kernel's windows over the axes ``axes`` of xt, strided and dilated: (..., *out, ..., *kernel)."""
    if xt.flags.c_contiguous:  # the view made directly (sliding_window_view's checks cost ~50 us a call)
        shape, strides = list(xt.shape), list(xt.strides)
        for a, o, s in zip(axes, out, stride):
            shape[a], strides[a] = o, xt.strides[a] * s
        shape += kernel
        strides += [xt.strides[a] * d for a, d in zip(axes, dilation)]
        return np.ndarray(tuple(shape), xt.dtype, buffer=xt, strides=tuple(strides))
    win = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    v = sliding_window_view(xt, win, axis=axes)
    pick = [slice(None)] * xt.ndim
    for a, o, s in zip(axes, out, stride):
        pick[a] = slice(0, (o - 1) * s + 1, s)
    v = v[tuple(pick)]
    return v[(Ellipsis,) + tuple(slice(None, None, d) for d in dilation)]


def _tile_order(v, axis, tiles):
    """``v`` with its two output-position axes (H, W) at ``axis`` and ``axis + 1`` reordered by tile entry:
    (..., kh, kw, H/kh, W/kw, ...), so that each entry of k x k tiles is one contiguous block (a view)."""
    (kh, kw), (h, w) = tiles, v.shape[axis : axis + 2]
    v = v.reshape(v.shape[:axis] + (h // kh, kh, w // kw, kw) + v.shape[axis + 2 :])
    lead = tuple(range(axis))
    return v.transpose(lead + (axis + 1, axis + 3, axis, axis + 2) + tuple(range(axis + 4, v.ndim)))


def _im2row(x, kernel, stride, pads, dilation, out, work=None, tiles=None):
    """x (N, C, *S) -> rows (N * P, K * C), P = prod(out), K = prod(kernel): row (n, p) holds the patch at
    output position p, kernel offset major, channel minor. ``tiles``: the positions of each sample in tile
    order (see :func:`_tile_order`)."""
    nd = len(kernel)
    xt = _padded_last(x, pads, _need(out, stride, dilation, kernel), work)
    v = _windows(xt, tuple(range(1, nd + 1)), kernel, stride, dilation, out)  # (N, *out, C, *kernel)
    if tiles is not None:
        v = _tile_order(v, 1, tiles)
    c = v.ndim - nd - 1  # (N, *positions, C, *kernel) -> (N, *positions, *kernel, C)
    v = v.transpose(tuple(range(c)) + tuple(range(c + 1, v.ndim)) + (c,))
    rows = scratch(work, "cols", v.shape, x.dtype)
    np.copyto(rows, v)
    return rows.reshape(x.shape[0] * math.prod(out), -1)


def _im2col_per_sample(x, kernel, stride, pads, dilation, out, ones=False, work=None, tiles=None):
    """x (N, C, *S) -> cols (N, C * K, P): PyTorch's unfold layout; with ``ones`` a row of ones after them,
    (N, C * K + 1, P), so that a product with [W, b] adds the bias. ``tiles``: the positions in tile order."""
    nd = len(kernel)
    n, c = x.shape[:2]
    need = _need(out, stride, dilation, kernel)
    if all(lo == 0 for lo, _ in pads) and all(sz >= nd_ for sz, nd_ in zip(x.shape[2:], need)):
        xt = x
    else:
        xt = _padded(x, pads, need, False, work)
    v = _windows(xt, tuple(range(2, nd + 2)), kernel, stride, dilation, out)  # (N, C, *out, *kernel)
    if tiles is not None:
        v = _tile_order(v, 2, tiles)
    k = v.ndim - nd  # (N, C, *positions, *kernel) -> (N, C, *kernel, *positions)
    v = v.transpose((0, 1) + tuple(range(k, v.ndim)) + tuple(range(2, k)))
    ck, p = c * math.prod(kernel), math.prod(out)
    cols = scratch(work, "cols", (n, ck + int(ones), p), x.dtype)
    cols[:, :ck].reshape(v.shape)[...] = v
    if ones:
        cols[:, ck] = 1
    return cols


def im2col_tiled(x, kernel, stride, pads, dilation, out, tiles, ones=False, work=None):
    """The im2col matrix of x (N, C, *S) for a convolution whose output positions are read in tile order (see
    :func:`_tile_order`): (True, cols (N, C*K (+1 row of ones), P)) when the patches are short, as the forward
    product per sample takes them, else (False, rows (N*P, K*C), channel minor)."""
    if _per_sample(x.shape[1], kernel):
        return True, _im2col_per_sample(x, kernel, stride, pads, dilation, out, ones, work, tiles)
    return False, _im2row(x, kernel, stride, pads, dilation, out, work, tiles)


def _channels_last_out(y, n, out, b):
    """The product y, (N * P, O) or (N, P, O), as the output (N, O, *out): the bias added in place, then a
    transposed view of the channels-last array (no copy; elementwise ops, pooling and the next convolution
    read it in this layout)."""
    o = y.shape[-1]
    if b is not None:
        y += b
    return y.reshape((n,) + tuple(out) + (o,)).transpose(_first(len(out)))


def conv_array(x, w, stride, pads, dilation, groups, b=None, keep=None, work=None):
    """The convolution (cross-correlation, as in PyTorch) on arrays: x (N, C, *S), w (O, C/G, *k).
    ``keep``: a list that receives the im2col matrix (the weight gradient reuses it). Without groups the
    result is a channels-last array seen as (N, O, *out). ``work``: a dict of buffers (see :func:`scratch`)
    for the im2col matrix and the result, which are then overwritten by the next call with the same dict."""
    kernel = w.shape[2:]
    out = tuple(
        _out_size(sz, lo, hi, k, s, d) for sz, (lo, hi), k, s, d in zip(x.shape[2:], pads, kernel, stride, dilation)
    )
    n, o = x.shape[0], w.shape[0]
    if groups == 1:
        nd = len(kernel)
        if _per_sample(x.shape[1], kernel):  # the bias as one more column of the weight, times a row of ones
            cols = _im2col_per_sample(x, kernel, stride, pads, dilation, out, b is not None, work)
            wb = w.reshape(o, -1) if b is None else np.concatenate([w.reshape(o, -1), b[:, None]], axis=1)
            y = np.matmul(cols.transpose(0, 2, 1), wb.T, out=scratch(work, "out", (n, cols.shape[2], o), x.dtype))
            b = None
        else:
            cols = _im2row(x, kernel, stride, pads, dilation, out, work)
            wr = w.transpose(_last(nd)).reshape(o, -1)  # (O, K*C), channel minor as in the rows
            y = np.matmul(cols, wr.T, out=scratch(work, "out", (cols.shape[0], o), x.dtype))
        if keep is not None:
            keep.append(cols)
        return _channels_last_out(y, n, out, b)
    cols = _im2col(x, kernel, stride, pads, dilation, out)
    if keep is not None:
        keep.append(cols)
    m = n * math.prod(out)
    y = _grouped(w.reshape(groups, o // groups, -1), cols.reshape(groups, -1, m), groups).reshape(o, m)
    if b is not None:
        y += b[:, None]
    y = y.reshape((o, n) + out)
    return np.ascontiguousarray(y.transpose((1, 0) + tuple(range(2, len(out) + 2))))


def _first_to_rows(x):
    """(N, C, *S) -> (N * prod(S), C)."""
    return np.ascontiguousarray(x.transpose(_last(x.ndim - 2))).reshape(-1, x.shape[1])


def conv_transpose_array(x, w, stride, lo, dilation, groups, out_spatial, b=None, out=None, work=None, add=False):
    """The transposed convolution on arrays: x (N, Cin, *L), w (Cin, Cout/G, *k) -> (N, Cout, *out_spatial);
    the adjoint of conv_array with weight w, padding cut off at the start (``lo``) and the size given.
    Without groups: ``out``, a channels-last (N, *out_spatial, Cout) array to write the result into (it is
    returned seen as (N, Cout, *out_spatial)); ``work``, a dict of buffers (see :func:`scratch`); ``add``: add
    the result to what ``out`` holds."""
    kernel = w.shape[2:]
    nd = len(kernel)
    n, cin = x.shape[:2]
    cout = w.shape[1] * groups
    if groups == 1:
        y = _conv_transpose_last(x, w, stride, lo, dilation, out_spatial, out, work, add)
    else:
        w2 = w.reshape(groups, cin // groups, -1).transpose(0, 2, 1)
        m = n * math.prod(x.shape[2:])
        xt = x.transpose((1, 0) + tuple(range(2, nd + 2))).reshape(groups, cin // groups, m)
        cols = _grouped(w2, xt, groups).reshape((cout,) + kernel + (n,) + x.shape[2:])
        y = _col2im(cols, out_spatial, kernel, stride, lo, dilation, x.shape[2:])
    if b is not None:
        y += b.reshape((-1,) + (1,) * nd)
    return y


_CHUNK_BYTES = 1 << 21  # the transposed convolution's products, a few samples at a time: about 2 MB, in cache


@functools.lru_cache(maxsize=256)
def _offset_slices(kernel, dilation, ins, stride, lo, out_spatial):
    """For each kernel offset j (in C order) whose contributions land inside the output: (j, the slice of the
    input positions it takes, the strided slice of the output positions they land on)."""
    found = []
    for j, idx in enumerate(np.ndindex(*kernel)):
        src, dst = [], []
        for i, d, m, s, lo_, sz in zip(idx, dilation, ins, stride, lo, out_spatial):
            # input position p lands on q = p * s + i * d - lo; keep 0 <= q < sz
            first = max(0, -(-(lo_ - i * d) // s))
            last = min(m - 1, (sz - 1 + lo_ - i * d) // s)
            if last < first:
                break
            q0 = first * s + i * d - lo_
            src.append(slice(first, last + 1))
            dst.append(slice(q0, q0 + (last - first) * s + 1, s))
        else:
            found.append((j, tuple(src), tuple(dst)))
    return found


def _conv_transpose_last(x, w, stride, lo, dilation, out_spatial, buf=None, work=None, add=False):
    """The transposed convolution without groups, channels last: a product (n*L, Cin) @ (Cin, K*Cout) gives
    every kernel offset's contribution for a few samples at a time (n of them, so that the product stays in
    cache); each offset's (n, *L, Cout) slice is added into a channels-last output buffer at the places it
    reaches (the parts falling into the padding ``lo`` or past the end are left out). The result is that
    buffer seen as (N, Cout, *out_spatial)."""
    kernel = w.shape[2:]
    nd = len(kernel)
    n, cin, cout = x.shape[0], x.shape[1], w.shape[1]
    ins = x.shape[2:]
    k, per = math.prod(kernel), math.prod(ins)
    wk = w.reshape(cin, cout, k).transpose(0, 2, 1).reshape(cin, k * cout)  # offset major, channel minor
    rows = _first_to_rows(x)
    if buf is None:
        buf = np.zeros((n,) + tuple(out_spatial) + (cout,), x.dtype)
    elif not add:
        buf.fill(0)
    places = _offset_slices(*(tuple(int(v) for v in a) for a in (kernel, dilation, ins, stride, lo, out_spatial)))
    step = max(1, _CHUNK_BYTES // (per * k * cout * x.dtype.itemsize))
    parts_buf = scratch(work, "parts", (min(step, n) * per, k * cout), x.dtype)
    for s0 in range(0, n, step):
        s1 = min(n, s0 + step)
        parts = np.matmul(rows[s0 * per : s1 * per], wk, out=parts_buf[: (s1 - s0) * per])
        parts = parts.reshape((s1 - s0,) + ins + (k, cout))
        part_buf = buf[s0:s1]
        for j, src, dst in places:
            part_buf[(slice(None),) + dst] += parts[(slice(None),) + src + (j,)]
    return buf.transpose(_first(nd))


def conv_weight_array(x, g, kernel, stride, pads, dilation, groups, cols=None, work=None):
    """The weight gradient of a convolution on arrays: the correlation of x (N, C, *S) with g (N, O, *out),
    summed over the batch: (O, C/G, *kernel). ``cols``: the im2col matrix of x, when the forward pass kept it;
    ``work``: a dict of buffers for it otherwise (see :func:`scratch`)."""
    nd = len(kernel)
    n, c = x.shape[:2]
    o = g.shape[1]
    out = g.shape[2:]
    m = n * math.prod(out)
    if groups == 1:
        if _per_sample(c, kernel):
            if cols is None:
                cols = _im2col_per_sample(x, kernel, stride, pads, dilation, out, work=work)
            cols = cols[:, : c * math.prod(kernel)]  # (the forward's row of ones left out)
            g3 = _first_to_rows(g).reshape(n, -1, o)  # (N, P, O): a view when g is channels-last
            gw = np.matmul(cols, g3).sum(axis=0)  # (C*K, O)
            return np.ascontiguousarray(gw.T).reshape((o, c) + tuple(kernel))
        if cols is None:
            cols = _im2row(x, kernel, stride, pads, dilation, out, work)
        gw = (_first_to_rows(g).T @ cols).reshape((o,) + tuple(kernel) + (c,))
        return np.ascontiguousarray(gw.transpose(_first(nd)))
    if cols is None:
        cols = _im2col(x, kernel, stride, pads, dilation, out)
    cols = cols.reshape(groups, -1, m)
    gt = np.ascontiguousarray(g.transpose((1, 0) + tuple(range(2, nd + 2)))).reshape(groups, o // groups, m)
    gw = _grouped(gt, cols.transpose(0, 2, 1), groups)
    return gw.reshape((o, c // groups) + tuple(kernel))


def unfold_array(x, kernel_size, dilation, padding, stride):
    """PyTorch's unfold (im2col) on arrays: x (N, C, *S) -> (N, C*K, L); the arguments one int per
    spatial dimension."""
    pads = tuple((p, p) for p in padding)
    spatial = x.shape[2:]
    out = tuple(_out_size(*a) for a in zip(spatial, padding, padding, kernel_size, stride, dilation))
    cols = _im2col(x, tuple(kernel_size), tuple(stride), pads, tuple(dilation), out)  # (C, *k, N, *out)
    n, c = x.shape[:2]
    cols = cols.reshape(c * math.prod(kernel_size), n, math.prod(out))
    return np.ascontiguousarray(cols.transpose(1, 0, 2))


def fold_array(x, output_size, kernel_size, dilation, padding, stride):
    """PyTorch's fold (col2im) on arrays: x (N, C*K, L) -> (N, C, *output_size)."""
    kernel_size = tuple(kernel_size)
    out = tuple(_out_size(*a) for a in zip(output_size, padding, padding, kernel_size, stride, dilation))
    n, ck = x.shape[:2]
    c = ck // math.prod(kernel_size)
    cols = x.transpose(1, 0, 2).reshape((c,) + kernel_size + (n,) + out)
    return _col2im(cols, tuple(output_size), kernel_size, tuple(stride), tuple(padding), tuple(dilation), out)


# --------------------------------------------------------------------------- graph nodes
def _spatial_axes(ndim):
    return (0,) + tuple(range(2, ndim))


class ConvOp(Function):
    """A convolution, y = w (*) x + b (PyTorch's conv1d/conv2d: a cross-correlation), over 1 or 2 spatial
    dimensions, with stride, padding (lo, hi per dimension), dilation and groups. Computed as im2col and one
    matrix product per group."""

    formula = "y[n,o,p] = sum_{c,k} w[o,c,k] * x[n,c,p*stride + k*dilation - pad] + b[o]  (im2col(x), then W @ cols)"
    derivative = (
        "dL/dx = the incoming gradient g correlated with the kernel flipped in space, in and out channels "
        "swapped (a transposed convolution): dx[n,c,q] = sum_{o,k} g[n,o,p] * w[o,c,k] over the p with "
        "p*stride + k*dilation - pad = q; with stride and dilation 1, dx[n,c,q] = sum_{o,j} "
        "g[n,o,q + pad - (K-1) + j] * flip(w)[o,c,j] (g read as 0 outside), computed as col2im(W^T @ g)\n"
        "dL/dw = the correlation of "
        "x with g: dw[o,c,k] = sum_{n,p} g[n,o,p] * x[n,c,p*stride + k*dilation - pad] = g @ im2col(x)^T\n"
        "dL/db[o] = sum_{n,p} g[n,o,p]"
    )
    broadcasts = (2,)

    def __init__(self, stride, pads, dilation, groups):
        self.stride, self.pads, self.dilation, self.groups = stride, pads, dilation, groups
        pad = tuple(lo if lo == hi else (lo, hi) for lo, hi in pads)
        # this node's formula, with its settings (what explain shows)
        self.formula = (
            f"{type(self).formula}  [stride {tuple(stride)}, padding {pad}, dilation {tuple(dilation)}, "
            f"groups {groups}]"
        )

    def forward(self, x, w, b=None):
        needs = self.needs_input_grad
        self.save_for_backward(x if needs[1] else None, w if needs[0] else None)
        self.in_spatial = x.shape[2:]
        self.kernel = w.shape[2:]
        keep = [] if needs[1] else None  # im2col(x), kept for the weight gradient (one im2col less)
        y = conv_array(x, w, self.stride, self.pads, self.dilation, self.groups, b, keep)
        self.cols = keep[0] if keep else None
        return y

    def vjp(self, xp, g):
        x, w = self.saved(xp)
        needs = self.needs_input_grad
        lo = tuple(p for p, _ in self.pads)
        cols, self.cols = self.cols, None  # (read once: the memory goes before the input gradient's)
        gw = (
            xp.conv_weight_nd(x, g, self.kernel, self.stride, self.pads, self.dilation, self.groups, cols)
            if needs[1]
            else None
        )
        del cols
        gx = (
            xp.conv_transpose_nd(g, w, self.stride, lo, self.dilation, self.groups, self.in_spatial)
            if needs[0]
            else None
        )
        if len(needs) == 2:
            return gx, gw
        return gx, gw, (xp.sum(g, axis=_spatial_axes(g.ndim)) if needs[2] else None)


def _transpose_pads(in_spatial, kernel, stride, lo, dilation, out_spatial):
    """The (lo, hi) padding of the convolution whose adjoint a transposed convolution is."""
    full = tuple((i - 1) * s + d * (k - 1) + 1 for i, s, d, k in zip(in_spatial, stride, dilation, kernel))
    return tuple((lo_, f - lo_ - o) for lo_, f, o in zip(lo, full, out_spatial))


class ConvTransposeOp(Function):
    """A transposed convolution (PyTorch's conv_transpose1d/2d; also the input gradient of a convolution):
    each input position spreads the kernel, scaled by its value, over the output; overlaps add up. Computed
    as one matrix product W^T @ x per group, then col2im."""

    formula = "y = col2im(W^T @ x) + b: the adjoint of the convolution with weight w"
    derivative = (
        "dL/dx = the convolution of the incoming gradient g with w (im2col(g), then W @ cols); dL/dw = the "
        "correlation of g with x, summed over the batch; dL/db = g summed over the batch and positions"
    )
    broadcasts = (2,)

    def __init__(self, stride, lo, dilation, groups, out_spatial):
        self.stride, self.lo, self.dilation, self.groups = stride, lo, dilation, groups
        self.out_spatial = out_spatial

    def forward(self, x, w, b=None):
        needs = self.needs_input_grad
        self.save_for_backward(x if needs[1] else None, w if needs[0] else None)
        self.kernel = w.shape[2:]
        self.pads = _transpose_pads(x.shape[2:], self.kernel, self.stride, self.lo, self.dilation, self.out_spatial)
        return conv_transpose_array(x, w, self.stride, self.lo, self.dilation, self.groups, self.out_spatial, b)

    def vjp(self, xp, g):
        x, w = self.saved(xp)
        needs = self.needs_input_grad
        gx = xp.conv_nd(g, w, self.stride, self.pads, self.dilation, self.groups) if needs[0] else None
        gw = (
            xp.conv_weight_nd(g, x, self.kernel, self.stride, self.pads, self.dilation, self.groups)
            if needs[1]
            else None
        )
        if len(needs) == 2:
            return gx, gw
        return gx, gw, (xp.sum(g, axis=_spatial_axes(g.ndim)) if needs[2] else None)


class ConvWeightOp(Function):
    """The weight gradient of a convolution as an operation of its own: the correlation of the input x with
    the output gradient g, summed over the batch (so that second derivatives can differentiate it)."""

    formula = "dw[o,c,k] = sum_{n,p} g[n,o,p] * x[n,c,p*stride + k*dilation - pad]  (g @ im2col(x)^T)"
    derivative = (
        "d/dx = the transposed convolution of g with the incoming gradient (as a kernel); d/dg = the "
        "convolution of x with the incoming gradient (as a kernel)"
    )

    def __init__(self, kernel, stride, pads, dilation, groups, cols=None):
        self.kernel, self.stride, self.pads, self.dilation, self.groups = kernel, stride, pads, dilation, groups
        self.cols = cols  # im2col(x), when the convolution's forward pass kept it

    def forward(self, x, g):
        needs = self.needs_input_grad
        self.save_for_backward(x if needs[1] else None, g if needs[0] else None)
        self.in_spatial = x.shape[2:]
        cols, self.cols = self.cols, None
        return conv_weight_array(x, g, self.kernel, self.stride, self.pads, self.dilation, self.groups, cols)

    def vjp(self, xp, gw):
        x, g = self.saved(xp)
        needs = self.needs_input_grad
        lo = tuple(p for p, _ in self.pads)
        dx = (
            xp.conv_transpose_nd(g, gw, self.stride, lo, self.dilation, self.groups, self.in_spatial)
            if needs[0]
            else None
        )
        dg = xp.conv_nd(x, gw, self.stride, self.pads, self.dilation, self.groups) if needs[1] else None
        return dx, dg


class UnfoldOp(Function):
    """im2col (PyTorch's unfold): every patch the kernel visits, flattened into one column."""

    formula = "cols[n, (c,k), l] = x[n, c, l*stride + k*dilation - pad]  (im2col)"
    derivative = "dL/dx = col2im(g): each column's gradient added back where the patch came from (fold)"

    def __init__(self, kernel, dilation, padding, stride):
        self.kernel, self.dilation, self.padding, self.stride = kernel, dilation, padding, stride

    def forward(self, x):
        self.in_spatial = x.shape[2:]
        return unfold_array(x, self.kernel, self.dilation, self.padding, self.stride)

    def vjp(self, xp, g):
        return (xp.fold(g, self.in_spatial, self.kernel, self.dilation, self.padding, self.stride),)


class FoldOp(Function):
    """col2im (PyTorch's fold): columns added back into an image, overlapping entries summed."""

    formula = "y[n, c, p] = sum of cols[n, (c,k), l] over the (k, l) with l*stride + k*dilation - pad = p  (col2im)"
    derivative = "dL/dcols = im2col(g) (unfold): each column reads the gradient of the patch it was added to"

    def __init__(self, output_size, kernel, dilation, padding, stride):
        self.output_size, self.kernel, self.dilation, self.padding, self.stride = (
            output_size,
            kernel,
            dilation,
            padding,
            stride,
        )

    def forward(self, x):
        return fold_array(x, self.output_size, self.kernel, self.dilation, self.padding, self.stride)

    def vjp(self, xp, g):
        return (xp.unfold(g, self.kernel, self.dilation, self.padding, self.stride),)


# --------------------------------------------------------------------------- checking arguments
def _ints(v, nd: int, name: str, op: str) -> tuple:
    """An int, or a sequence of ``nd`` ints, as a tuple of ``nd`` ints."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return (int(v),) * nd
    try:
        t = tuple(v)
    except TypeError:
        raise ArgumentTypeError(f"{op}: {name} must be an int or a tuple of {nd} ints, got {v!r}") from None
    if len(t) == 1 and nd > 1:
        t = t * nd
    if len(t) != nd or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in t):
        raise ArgumentTypeError(f"{op}: {name} must be an int or a tuple of {nd} ints, got {v!r}")
    return tuple(int(a) for a in t)


def _shape(t) -> str:
    return "[" + ", ".join(str(s) for s in t.shape) + "]"


def _float_operands(op, x, w, b):
    x, w = as_t(x), as_t(w)
    b = None if b is None else as_t(b)
    for name, t in (("input", x), ("weight", w), ("bias", b)):
        if t is not None and t.data.dtype.kind != "f":
            raise DTypeError(f"{op}: {name} must be a float tensor, got dtype {t.data.dtype}")
    for name, t in (("weight", w), ("bias", b)):
        if t is not None and t.data.dtype != x.data.dtype:
            raise DTypeError(
                f"{op}: input has dtype {x.data.dtype} and {name} has dtype {t.data.dtype}; they must be the same, "
                f"as in PyTorch: convert one, e.g. with .to({str(w.data.dtype)!r})"
            )
    return x, w, b


def _batched(op, x, nd):
    """(x as a batch, whether it was unbatched)."""
    if x.data.ndim == nd + 2:
        return x, False
    if x.data.ndim == nd + 1:
        from .shape import reshape

        return reshape(x, (1,) + x.shape), True
    raise ShapeError(
        f"{op}: expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input, but got input of size {_shape(x)}"
    )


def _unbatched(y, was):
    if not was:
        return y
    from .shape import reshape

    return reshape(y, y.shape[1:])


def _check_positive(op, **values):
    for name, v in values.items():
        if any(a <= 0 for a in v):
            raise ArgumentError(f"{op}: {name} must be positive, got {v}")


def _check_bias(op, b, channels):
    if b is not None and b.shape != (channels,):
        raise ShapeError(
            f"{op}: bias of shape {tuple(b.shape)} does not fit {channels} output channels; it must have shape "
            f"({channels},)"
        )


def _conv_padding(op, padding, nd, kernel, stride, dilation):
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding != "same":
            raise ArgumentError(
                f"{op}: padding must be an int, a tuple of {nd} ints, 'same' or 'valid', got {padding!r}"
            )
        if any(s != 1 for s in stride):
            raise ArgumentError(
                f"{op}: padding='same' is not supported for strided convolutions (stride {stride}), as in PyTorch; "
                "give the padding as numbers instead"
            )
        pads = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    pad = _ints(padding, nd, "padding", op)
    if any(p < 0 for p in pad):
        raise ArgumentError(f"{op}: negative padding is not supported, got {pad}")
    return tuple((p, p) for p in pad)


def _conv(op, nd, input, weight, bias, stride, padding, dilation, groups):  # noqa: A002
    x, w, b, was, stride, pads, dilation, groups = conv_operands(
        op, nd, input, weight, bias, stride, padding, dilation, groups
    )
    node = ConvOp(stride, pads, dilation, groups)
    y = node(x, w) if b is None else node(x, w, b)
    return _unbatched(y, was)


def conv_operands(op, nd, input, weight, bias, stride, padding, dilation, groups):  # noqa: A002
    """A convolution's arguments as PyTorch's conv1d/conv2d take them, checked (errors name ``op``): (x, w, b,
    whether x was unbatched (x now has a batch axis), stride, padding as (lo, hi) per spatial axis, dilation,
    groups)."""
    x, w, b = _float_operands(op, input, weight, bias)
    x, was = _batched(op, x, nd)
    if w.data.ndim != nd + 2:
        raise ShapeError(
            f"{op}: expected a {nd + 2}D weight (out_channels, in_channels/groups, *kernel_size), got weight of size "
            f"{_shape(w)}"
        )
    stride = _ints(stride, nd, "stride", op)
    dilation = _ints(dilation, nd, "dilation", op)
    _check_positive(op, stride=stride, dilation=dilation)
    groups = int(groups)
    if groups <= 0:
        raise ArgumentError(f"{op}: groups must be positive, got {groups}")
    o, cg = w.shape[:2]
    if o % groups:
        raise ShapeError(
            f"{op}: given groups={groups}, expected weight to be divisible by {groups} at dimension 0 (out_channels), "
            f"but got weight of size {_shape(w)}"
        )
    if x.shape[1] != cg * groups:
        raise ShapeError(
            f"{op}: given groups={groups}, weight of size {_shape(w)}, expected input{_shape(x)} to have "
            f"{cg * groups} channels, but got {x.shape[1]} channels instead"
        )
    _check_bias(op, b, o)
    kernel = w.shape[2:]
    pads = _conv_padding(op, padding, nd, kernel, stride, dilation)
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(x.shape[2:], pads))
    reach = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(p < r for p, r in zip(padded, reach)):
        raise ShapeError(
            f"{op}: calculated padded input size per channel: ({' x '.join(map(str, padded))}); kernel size "
            f"(dilated): ({' x '.join(map(str, reach))}); the kernel can't be greater than the padded input (input "
            f"{_shape(x)}, weight {_shape(w)}, padding {padding}): pad more or use a smaller kernel"
        )
    return x, w, b, was, stride, pads, dilation, groups


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """PyTorch's ``conv1d``: input (N, C_in, L) or (C_in, L), weight (C_out, C_in/groups, k), bias (C_out,).
    ``padding``: an int, 'valid' (none) or 'same' (output as long as the input; stride 1 only)."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """PyTorch's ``conv2d``: input (N, C_in, H, W) or (C_in, H, W), weight (C_out, C_in/groups, kh, kw),
    bias (C_out,). ``stride``, ``padding``, ``dilation``: an int or a pair; ``padding`` may also be 'valid'
    (none) or 'same' (output as large as the input; stride 1 only; any extra padding goes at the end).
    Computed as im2col (see :func:`unfold`) and one matrix product per group."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(op, nd, input, weight, bias, stride, padding, output_padding, groups, dilation, output_size=None):  # noqa: A002
    x, w, b = _float_operands(op, input, weight, bias)
    x, was = _batched(op, x, nd)
    if w.data.ndim != nd + 2:
        raise ShapeError(
            f"{op}: expected a {nd + 2}D weight (in_channels, out_channels/groups, *kernel_size), got weight of size "
            f"{_shape(w)}"
        )
    stride = _ints(stride, nd, "stride", op)
    dilation = _ints(dilation, nd, "dilation", op)
    _check_positive(op, stride=stride, dilation=dilation)
    if isinstance(padding, str):
        raise ArgumentError(
            f"{op}: padding must be an int or a tuple of {nd} ints (no 'same'/'valid'), got {padding!r}"
        )
    pad = _ints(padding, nd, "padding", op)
    opad = _ints(output_padding, nd, "output_padding", op)
    if any(p < 0 for p in pad + opad):
        raise ArgumentError(f"{op}: negative padding is not supported, got padding {pad}, output_padding {opad}")
    groups = int(groups)
    if groups <= 0:
        raise ArgumentError(f"{op}: groups must be positive, got {groups}")
    cin = w.shape[0]
    if cin % groups:
        raise ShapeError(
            f"{op}: given groups={groups}, expected weight to be divisible by {groups} at dimension 0 (in_channels), "
            f"but got weight of size {_shape(w)}"
        )
    if x.shape[1] != cin:
        raise ShapeError(
            f"{op}: given transposed=1, weight of size {_shape(w)}, expected input{_shape(x)} to have {cin} "
            f"channels, but got {x.shape[1]} channels instead"
        )
    kernel = w.shape[2:]
    _check_bias(op, b, w.shape[1] * groups)
    if any(not (o < s or o < d) for o, s, d in zip(opad, stride, dilation)):
        raise ArgumentError(
            f"{op}: output padding must be smaller than either stride or dilation, got output_padding {opad}, "
            f"stride {stride}, dilation {dilation}"
        )
    out = tuple(
        (i - 1) * s - 2 * p + d * (k - 1) + op_ + 1
        for i, s, p, d, k, op_ in zip(x.shape[2:], stride, pad, dilation, kernel, opad)
    )
    if any(o <= 0 for o in out):
        raise ShapeError(
            f"{op}: input{_shape(x)} with weight {_shape(w)}, stride {stride}, padding {pad}, dilation {dilation} "
            f"gives output size {out}, which is too small (each size must be positive)"
        )
    node = ConvTransposeOp(stride, pad, dilation, groups, out)
    y = node(x, w) if b is None else node(x, w, b)
    return _unbatched(y, was)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):  # noqa: A002
    """PyTorch's ``conv_transpose1d`` (the adjoint of conv1d): input (N, C_in, L), weight
    (C_in, C_out/groups, k); output length (L-1)*stride - 2*padding + dilation*(k-1) + output_padding + 1."""
    return _conv_transpose(
        "conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding, groups, dilation
    )


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):  # noqa: A002
    """PyTorch's ``conv_transpose2d`` (the adjoint of conv2d, sometimes called a deconvolution): input
    (N, C_in, H, W), weight (C_in, C_out/groups, kh, kw); each input value spreads the kernel over the
    output, overlaps summed. Computed as one matrix product per group and col2im (see :func:`fold`)."""
    return _conv_transpose(
        "conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups, dilation
    )


# the three operations a convolution's derivatives are made of (the namespaces' conv_nd, conv_transpose_nd and
# conv_weight_nd); their arguments are already checked: pads are (lo, hi) pairs per spatial dimension
def conv_nd(x, w, stride, pads, dilation, groups):
    """The convolution of x (N, C, *S) with w (O, C/groups, *k), padding (lo, hi) per dimension."""
    return ConvOp(tuple(stride), tuple(map(tuple, pads)), tuple(dilation), groups)(as_t(x), as_t(w))


def conv_transpose_nd(x, w, stride, lo, dilation, groups, out_spatial):
    """The transposed convolution of x (N, O, *L) with w (O, C/groups, *k), ``lo`` cut off at the start,
    output (N, C, *out_spatial): the input gradient of :func:`conv_nd`."""
    return ConvTransposeOp(tuple(stride), tuple(lo), tuple(dilation), groups, tuple(out_spatial))(as_t(x), as_t(w))


def conv_weight_nd(x, g, kernel, stride, pads, dilation, groups, cols=None):
    """The correlation of x (N, C, *S) with g (N, O, *out), summed over the batch: the weight gradient of
    :func:`conv_nd`, of shape (O, C/groups, *kernel); ``cols``: im2col(x) if already at hand (a value
    only: the gradient still flows to x)."""
    node = ConvWeightOp(tuple(kernel), tuple(stride), tuple(map(tuple, pads)), tuple(dilation), groups, cols)
    return node(as_t(x), as_t(g))


def _fold_args(op, kernel_size, dilation, padding, stride):
    kernel = _ints(kernel_size, 2, "kernel_size", op)
    dilation = _ints(dilation, 2, "dilation", op)
    padding = _ints(padding, 2, "padding", op)
    stride = _ints(stride, 2, "stride", op)
    _check_positive(op, kernel_size=kernel, dilation=dilation, stride=stride)
    if any(p < 0 for p in padding):
        raise ArgumentError(f"{op}: padding must be non-negative, got {padding}")
    return kernel, dilation, padding, stride


def _blocks(op, spatial, kernel, dilation, padding, stride):
    out = tuple(_out_size(s, p, p, k, st, d) for s, p, k, st, d in zip(spatial, padding, kernel, stride, dilation))
    if any(o < 1 for o in out):
        raise ShapeError(
            f"{op}: given spatial size {tuple(spatial)}, kernel_size {kernel}, dilation {dilation}, padding "
            f"{padding}, stride {stride}, the number of sliding blocks would be {out}, but each must be at least 1"
        )
    return out


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002
    """im2col, PyTorch's ``unfold``: every (kh, kw) patch of a (N, C, H, W) input flattened into a column.

    Returns (N, C*kh*kw, L), L the number of patch positions: column l holds, for every channel c and
    kernel offset (i, j) (row c*kh*kw + i*kw + j), the input value the kernel's entry (i, j) sees at
    position l. This is DLFS ch. 7's im2col: with it, a convolution is one matrix product,
    ``weight.reshape(C_out, -1) @ unfold(x, k)`` gives (N, C_out, L), reshaped to (N, C_out, Ho, Wo).
    Its gradient is :func:`fold` (col2im). A 3-D input (C, H, W) is one image: (C*kh*kw, L)."""
    op = "unfold"
    x = as_t(input)
    if x.data.ndim not in (3, 4):
        raise ShapeError(f"{op}: only 3D or 4D input tensors are supported, got input of size {_shape(x)}")
    kernel, dilation, padding, stride = _fold_args(op, kernel_size, dilation, padding, stride)
    x, was = _batched(op, x, 2)
    _blocks(op, x.shape[2:], kernel, dilation, padding, stride)
    return _unbatched(UnfoldOp(kernel, dilation, padding, stride)(x), was)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002
    """col2im, PyTorch's ``fold``: the inverse direction of :func:`unfold`. The input (N, C*kh*kw, L) holds
    one column per patch position; each entry is ADDED to the output (N, C, *output_size) at the place
    unfold would have copied it from, so where patches overlap their entries are summed. (fold(unfold(x))
    is x times the number of patches that cover each position, not x.) This is DLFS ch. 7's col2im, the
    backward pass of im2col: a convolution's input gradient is col2im(W^T @ g)."""
    op = "fold"
    x = as_t(input)
    if x.data.ndim not in (2, 3):
        raise ShapeError(f"{op}: only 2D or 3D input tensors are supported, got input of size {_shape(x)}")
    size = _ints(output_size, 2, "output_size", op)
    kernel, dilation, padding, stride = _fold_args(op, kernel_size, dilation, padding, stride)
    x3 = x.data if x.data.ndim == 3 else x.data[None]
    k = math.prod(kernel)
    if x3.shape[1] % k:
        raise ShapeError(
            f"{op}: expected size of input's dimension 1 ({x3.shape[1]}) to be divisible by the product of "
            f"kernel_size {kernel} ({k}), input of size {_shape(x)}"
        )
    out = _blocks(op, size, kernel, dilation, padding, stride)
    if x3.shape[2] != math.prod(out):
        raise ShapeError(
            f"{op}: given output_size {size}, kernel_size {kernel}, dilation {dilation}, padding {padding}, stride "
            f"{stride}, expected size of input's dimension 2 to match the number of sliding blocks {math.prod(out)} "
            f"({out[0]} x {out[1]}), but got {x3.shape[2]} (input of size {_shape(x)})"
        )
    from .shape import reshape

    was = x.data.ndim == 2
    if was:
        x = reshape(x, (1,) + x.shape)
    return _unbatched(FoldOp(size, kernel, dilation, padding, stride)(x), was)
