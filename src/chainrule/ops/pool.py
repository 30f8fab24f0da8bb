"""Pooling, resampling and pixel shuffles of (N, C, L) and (N, C, H, W) maps, as PyTorch defines them.

Every pooling node works on the last one or two (spatial) axes; the leading axes (batch and channels, or
channels alone for an unbatched input) are merged into one, since a pool treats each channel on its own.

- max pooling keeps the index of each window's (first) maximum; its vjp routes each output gradient to that
  input position: a scatter of ``g`` at constant indices (``take_adjoint``), linear in ``g``, so it is
  differentiated again for free. With kernel == stride, no padding and no dilation (the usual 2x2 pool) the
  windows tile the input: the forward is a max over a reshaped (B, H/k, k, W/k, k) view and the vjp routes
  ``g`` with one bit mask per tile entry, no scatter at all. A channels-last map (a convolution's output) is
  pooled in its own layout, (N, H/k, k, W/k, k, C): each comparison runs over rows of C channels.
- average pooling is a sum over strided slices times 1/divisor; its vjp is the transposed average: ``g``
  times 1/divisor placed back on every slice.
- adaptive average pooling and (bi)linear interpolation are linear maps along each axis: ``y = A_h @ x @
  A_w^T`` with small constant matrices, and the vjp is ``A_h^T @ g @ A_w``.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, ShapeError
from ..function import Function
from .operands import as_float_t

_slide = np.lib.stride_tricks.sliding_window_view


# ----------------------------------------------------------------------------- arguments
def _tuple(v, n: int, what: str, op: str) -> tuple:
    """An int or a sequence of ``n`` ints as a tuple of ``n`` ints."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return (int(v),) * n
    if isinstance(v, (tuple, list)) and len(v) in (1, n) and all(isinstance(a, (int, np.integer)) for a in v):
        return tuple(int(a) for a in v) * (n if len(v) == 1 else 1)
    raise ArgumentTypeError(f"{op}: {what} must be an int or a tuple of {n} ints, got {v!r}")


def _spatial(x, nd: int, op: str):
    """Check that ``x`` is (N, C, *spatial) or unbatched (C, *spatial) with ``nd`` spatial axes."""
    if x.ndim not in (nd + 1, nd + 2):
        want = "(N, C, L) or (C, L)" if nd == 1 else "(N, C, H, W) or (C, H, W)"
        raise ShapeError(f"{op}: expected a {nd + 1}-D or {nd + 2}-D input {want}, got shape {x.shape}")
    if any(s == 0 for s in x.shape[-nd - 1 :]):
        raise ShapeError(f"{op}: expected non-empty channel and spatial dimensions, got input of shape {x.shape}")


def _pool_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size along one axis."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:  # the last window must start inside the input or left padding
        out -= 1
    return out


def _pool_args(op, x, nd, kernel_size, stride, padding, dilation, ceil_mode):
    """(kernel, stride, padding, dilation, output spatial size), each a tuple of ``nd`` ints, checked."""
    _spatial(x, nd, op)
    k = _tuple(kernel_size, nd, "kernel_size", op)
    s = (
        k
        if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)
        else _tuple(stride, nd, "stride", op)
    )
    p = _tuple(padding, nd, "padding", op)
    d = _tuple(dilation, nd, "dilation", op)
    if min(k) < 1 or min(s) < 1 or min(d) < 1:
        raise ArgumentError(
            f"{op}: kernel_size, stride and dilation must be positive, got kernel_size={k}, stride={s}, dilation={d}"
        )
    if min(p) < 0 or any(pi > ki // 2 for pi, ki in zip(p, k)):
        raise ArgumentError(
            f"{op}: padding should be at most half of the kernel size, got padding={p} and kernel_size={k}"
        )
    size = x.shape[-nd:]
    out = tuple(_pool_size(n, ki, si, pi, di, ceil_mode) for n, ki, si, pi, di in zip(size, k, s, p, d))
    if min(out) < 1:
        raise ShapeError(
            f"{op}: given input of shape {x.shape}, the calculated output size {out} is too small "
            f"(kernel_size={k}, stride={s}, padding={p}, dilation={d})"
        )
    return k, s, p, d, out


def _as_4d(shape, nd):
    """The (B, H, W) shape a pool works on: leading axes merged, a 1-d map as H = 1."""
    b = int(np.prod(shape[:-nd]))
    return (b, 1, shape[-1]) if nd == 1 else (b, shape[-2], shape[-1])


def _expand2(t, nd, fill):
    """A 1-d setting as the 2-d one (the H axis of a 1-d map has size 1)."""
    return (fill, *t) if nd == 1 else t


def _padded(x3, p, right, value):
    """(B, H, W) padded by p on top/left and ``right`` on bottom/right."""
    if not any(p) and not any(right):
        return x3
    out = np.full((x3.shape[0], x3.shape[1] + p[0] + right[0], x3.shape[2] + p[1] + right[1]), value, x3.dtype)
    out[:, p[0] : p[0] + x3.shape[1], p[1] : p[1] + x3.shape[2]] = x3
    return out


def _right(n, k, s, p, d, out):
    """Padding needed after the input so that the last window fits (ceil_mode may reach past it)."""
    return max(0, (out - 1) * s + d * (k - 1) + 1 - n - p)


# ----------------------------------------------------------------------------- max pooling
class MaxPoolOp(Function):
    """y = max over each window of x (PyTorch's max_pool1d/2d); the index of the first maximum is kept (of the
    last NaN in a window holding NaN, as PyTorch's scan keeps it)."""

    formula = "y[n,c,i,j] = max over the window (i*s + a*d - p, j*s + b*d - p) of x[n,c]"
    derivative = "dL/dx = g routed to the position of each window's maximum (summed where windows overlap)"

    def __init__(self, nd, k, s, p, d, out, want_indices):
        self.nd = nd
        self.k, self.s, self.p, self.d = (_expand2(t, nd, f) for t, f in zip((k, s, p, d), (1, 1, 0, 1)))
        self.out = _expand2(out, nd, 1)
        self.want_indices = want_indices

    def forward(self, x):
        self.in_shape = x.shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = self.k, self.s, self.p, self.d, self.out
        h, w = x.shape[-2:] if self.nd == 2 else (1, x.shape[-1])
        fits = oh * kh <= h and ow * kw <= w  # (ceil_mode may add a partial window)
        self.tiled = (kh, kw) == (sh, sw) and not (ph or pw) and (dh, dw) == (1, 1) and fits
        self.tiled = self.tiled and not self.want_indices and kh * kw > 1
        # a channels-last (N, C, H, W) (as a convolution leaves it): the tiles' maxima over whole rows of channels
        self.last = self.tiled and x.ndim == 4 and self.nd == 2 and x.transpose(0, 2, 3, 1).flags.c_contiguous
        if self.tiled:
            xt = x.transpose(0, 2, 3, 1) if self.last else x.reshape(_as_4d(x.shape, self.nd) + (1,))
            y = self._tiled_forward(xt, kh, kw, oh, ow)
            if self.last:
                return y.reshape(x.shape[0], oh, ow, x.shape[1]).transpose(0, 3, 1, 2)
            return y.reshape(x.shape[: -self.nd] + tuple(self.out[-self.nd :]))
        x3 = x.reshape(_as_4d(x.shape, self.nd))
        b = x3.shape[0]
        right = (_right(h, kh, sh, ph, dh, oh), _right(w, kw, sw, pw, dw, ow))
        fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        xp_ = _padded(x3, (ph, pw), right, fill)
        win = _slide(xp_, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(1, 2))
        win = win[:, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw, ::dh, ::dw]
        win = win.reshape(b, oh, ow, kh * kw)
        arg = win.argmax(axis=-1)
        y = np.take_along_axis(win, arg[..., None], -1)[..., 0]
        if x.dtype.kind == "f" and np.isnan(y).any():  # PyTorch keeps the last NaN of a window, argmax the first
            nan = np.isnan(win)
            arg = np.where(nan.any(axis=-1), kh * kw - 1 - nan[..., ::-1].argmax(axis=-1), arg)
        rows = np.arange(oh)[:, None] * sh + (arg // kw) * dh  # in the padded map
        cols = np.arange(ow)[None, :] * sw + (arg % kw) * dw
        self.hp, self.wp = xp_.shape[1:]
        self.flat = (np.arange(b)[:, None, None] * self.hp + rows) * self.wp + cols
        y = y.reshape(x.shape[: -self.nd] + tuple(self.out[-self.nd :]))
        if self.want_indices:
            idx = (rows - ph) * w + (cols - pw)
            return y, idx.reshape(y.shape).astype(np.int64)
        return y

    def _tiled_forward(self, xt, kh, kw, oh, ow):
        """The max over non-overlapping k x k tiles of xt (B, H, W, C) (C = 1 for a channels-first map, the
        channels of a channels-last one), a few rows of tiles at a time while they are in cache (see
        :func:`tile_max`). Returns (B * oh, ow, C)."""
        b, c = xt.shape[0], xt.shape[3]
        if xt.shape[1:3] != (oh * kh, ow * kw):
            xt = xt[:, : oh * kh, : ow * kw]
        v = xt.reshape(b * oh, kh, ow, kw, c)
        rows = v.shape[0]
        y = np.empty((rows, ow, c), xt.dtype)
        # which entry of each tile won, as int8 masks (-1 where it did): the backward and-s them with g
        self.masks = [np.empty((rows, ow, c), np.int8) for _ in range(kh * kw)]
        for part in _row_chunks(rows, v[0].nbytes):
            tile_max(v[part], y[part], [m[part] for m in self.masks])
        return y

    def vjp(self, xp, g, *_):
        nd = self.nd
        (oh, ow), (kh, kw) = self.out, self.k
        b, h, w = _as_4d(self.in_shape, nd)
        if self.last:  # g back to each tile's winner, channels last
            n, c = self.in_shape[:2]
            gl = xp.reshape(xp.transpose(g, (0, 2, 3, 1)), (n * oh, ow, c))
            gx = xp.reshape(xp.route_tiles(gl, self.masks, kh, kw), (n, oh * kh, ow * kw, c))
            if oh * kh != h or ow * kw != w:
                gx = xp.pad(gx, (0, 0, 0, w - ow * kw, 0, h - oh * kh))
            return xp.transpose(gx, (0, 3, 1, 2))
        if self.tiled:  # g back to each tile's winner
            gx = xp.route_tiles(xp.reshape(g, (b * oh, ow, 1)), self.masks, kh, kw)
            gx = xp.reshape(gx, (b, oh * kh, ow * kw))
            if oh * kh != h or ow * kw != w:
                gx = xp.pad(gx, (0, w - ow * kw, 0, h - oh * kh))
            return xp.reshape(gx, self.in_shape)
        gp = xp.take_adjoint(xp.reshape(g, (-1,)), self.flat.reshape(-1), (b * self.hp * self.wp,), False)
        gp = xp.reshape(gp, (b, self.hp, self.wp))
        ph, pw = self.p
        if (self.hp, self.wp) != (h, w):
            gp = xp.take(gp, (slice(None), slice(ph, ph + h), slice(pw, pw + w)))
        return xp.reshape(gp, self.in_shape)


_CHUNK_BYTES = 1 << 19  # elementwise passes over large maps go a few rows at a time: about 512 KB, in cache


def _row_chunks(rows: int, row_bytes: int):
    """Slices of ``rows`` rows of ``row_bytes`` bytes each, about _CHUNK_BYTES at a time."""
    step = max(1, _CHUNK_BYTES // max(row_bytes, 1))
    return [slice(s, min(rows, s + step)) for s in range(0, rows, step)]


def _first_max(parts):
    """(max, code) over the arrays ``parts``: code says which one held the first maximum (a bool for two parts,
    else uint8; None for one)."""
    m, code, k = parts[0], None, len(parts)
    for j in range(1, k):
        v = parts[j]
        gt = v > m
        m = np.maximum(m, v)
        code = gt if k == 2 else np.where(gt, np.uint8(j), np.uint8(0) if code is None else code)
    return m, code


def _masks(code, k):
    """One bool mask per entry: where that entry was the first maximum."""
    if k == 1:
        return (np.ones(1, bool),)
    if k == 2:
        return (~code, code)
    return tuple(code == j for j in range(k))


def _split(mask, code, k):
    """``mask`` & (code == j) for each of the k entries (bool arrays; ``code`` as :func:`_first_max` gives it)."""
    if k == 1:
        return (mask,)
    if k == 2:
        second = mask & code
        return (mask ^ second, second)
    return tuple(mask & (code == j) for j in range(k))


def tile_max(v, y, masks, relu: bool = False) -> None:
    """The max over the tiles of ``v`` (B, kh, W, kw, C) into ``y`` (B, W, C) (see :func:`max_over_tiles`)."""
    kh, kw = v.shape[1], v.shape[3]
    max_over_tiles([[v[:, i, :, j] for j in range(kw)] for i in range(kh)], y, masks, relu)


def max_over_tiles(entries, y, masks, relu: bool = False) -> None:
    """The max over tiles whose entry (i, j) is the array ``entries[i][j]`` (all of y's shape) into ``y``, a row
    at a time, then over the rows; each step keeps which one won (the first maximum, as PyTorch's raster order
    gives; in a tile holding NaN, the last NaN, as PyTorch's scan keeps it). ``masks``: kh * kw int8 arrays of y's
    shape, set to -1 where that tile entry won and 0 elsewhere (the backward and-s them with the gradient). With
    ``relu``: ``y`` = max(0, the tile's max) and a tile whose max is negative or 0 has no winner, which is where
    ReLU before the pooling would stop the gradient (max pooling and ReLU commute; a NaN passes both, as in
    PyTorch). ``masks`` None: the maxima alone (nothing is kept for a backward pass)."""
    if masks is None:
        parts = [e for row in entries for e in row]
        np.copyto(y, parts[0])
        for e in parts[1:]:
            np.maximum(y, e, out=y)
        if relu:
            np.maximum(y, 0, out=y)
        return
    kw = len(entries[0])
    rows = [_first_max(row) for row in entries]  # per row of the tile: (max, which entry)
    yp, code_h = _first_max([m for m, _ in rows])
    if relu:
        hmasks = _split(~(yp <= 0), code_h, len(entries))  # (a NaN maximum is live)
        np.maximum(yp, 0, out=y)
    else:
        hmasks = _masks(code_h, len(entries))
        y[...] = yp
    for i, mh in enumerate(hmasks):
        for j, m in enumerate(_split(mh, rows[i][1], kw)):
            np.negative(m.view(np.int8), out=masks[i * kw + j])
    if y.dtype.kind == "f":
        nan = np.isnan(yp)
        if nan.any():  # the comparisons above pass NaN over: the last NaN of each such tile wins instead
            later = np.zeros(yp.shape, bool)
            flat = [e for row in entries for e in row]
            for k in reversed(range(len(flat))):
                isnan = np.isnan(flat[k])
                np.copyto(masks[k], np.negative((isnan & ~later).view(np.int8)), where=nan)
                later |= isnan


def _max_pool(nd, op, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    x = as_float_t(x)
    k, s, p, d, out = _pool_args(op, x, nd, kernel_size, stride, padding, dilation, ceil_mode)
    return MaxPoolOp(nd, k, s, p, d, out, bool(return_indices))(x)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """The maximum over each kernel_size window of an (N, C, H, W) or (C, H, W) input, as PyTorch's
    ``max_pool2d``: windows ``stride`` apart (kernel_size by default), ``padding`` of -inf on each side (at most
    half the kernel), elements ``dilation`` apart, the last partial window kept with ``ceil_mode``; with
    ``return_indices`` also each maximum's flat index in its (H, W) plane (int64)."""
    return _max_pool(2, "max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """:func:`max_pool2d` along the last axis of an (N, C, L) or (C, L) input."""
    return _max_pool(1, "max_pool1d", x, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


# ----------------------------------------------------------------------------- average pooling
def _divisors(n, k, s, p, out, count_include_pad):
    """PyTorch's number of elements each window is divided by, along one axis (their product is the divisor)."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, n + p)
    size = end - start
    if count_include_pad:
        return size
    return np.minimum(end, n) - np.maximum(start, 0)


class AvgPoolOp(Function):
    """y = the sum over each window of x divided by its divisor (PyTorch's avg_pool1d/2d)."""

    formula = "y[n,c,i,j] = sum over the window (i*s + a - p, j*s + b - p) of x[n,c] / divisor[i,j]"
    derivative = "dL/dx = g / divisor spread back over every window (summed where windows overlap)"

    def __init__(self, nd, k, s, p, out, inv_div):
        self.nd = nd
        self.k, self.s, self.p = (_expand2(t, nd, f) for t, f in zip((k, s, p), (1, 1, 0)))
        self.out = _expand2(out, nd, 1)
        self.inv_div = inv_div  # (oh, ow) or a number

    def _geometry(self):
        b, h, w = _as_4d(self.in_shape, self.nd)
        (kh, kw), (sh, sw), (ph, pw), (oh, ow) = self.k, self.s, self.p, self.out
        right = (_right(h, kh, sh, ph, 1, oh), _right(w, kw, sw, pw, 1, ow))
        return b, h, w, (h + ph + right[0], w + pw + right[1]), right

    def forward(self, x):
        self.in_shape = x.shape
        b, h, w, _, right = self._geometry()
        x3 = x.reshape(b, h, w)
        (kh, kw), (sh, sw), (oh, ow) = self.k, self.s, self.out
        self.tiled = (kh, kw) == (sh, sw) and not any(self.p) and oh * kh <= h and ow * kw <= w
        if self.tiled:
            y = x3[:, : oh * kh, : ow * kw].reshape(b, oh, kh, ow, kw).sum(axis=(2, 4))
        else:
            xp_ = _padded(x3, self.p, right, 0)
            y = np.zeros((b, oh, ow), x.dtype)
            for i in range(kh):
                for j in range(kw):
                    y += xp_[:, i : i + (oh - 1) * sh + 1 : sh, j : j + (ow - 1) * sw + 1 : sw]
        y *= np.asarray(self.inv_div, x.dtype)
        return y.reshape(x.shape[: -self.nd] + tuple(self.out[-self.nd :]))

    def vjp(self, xp, g):
        b, h, w, (hp, wp), _ = self._geometry()
        (kh, kw), (sh, sw), (ph, pw), (oh, ow) = self.k, self.s, self.p, self.out
        g = xp.reshape(g, (b, oh, ow)) * xp.const(self.inv_div, g)
        if self.tiled:
            gx = xp.reshape(
                xp.broadcast_to(xp.reshape(g, (b, oh, 1, ow, 1)), (b, oh, kh, ow, kw)), (b, oh * kh, ow * kw)
            )
            if oh * kh != h or ow * kw != w:
                gx = xp.pad(gx, (0, w - ow * kw, 0, h - oh * kh))
            return xp.reshape(gx, self.in_shape)
        gp = None
        for i in range(kh):
            for j in range(kw):
                index = (slice(None), slice(i, i + (oh - 1) * sh + 1, sh), slice(j, j + (ow - 1) * sw + 1, sw))
                part = xp.take_adjoint(g, index, (b, hp, wp), True)
                gp = part if gp is None else gp + part
        if (hp, wp) != (h, w):
            gp = xp.take(gp, (slice(None), slice(ph, ph + h), slice(pw, pw + w)))
        return xp.reshape(gp, self.in_shape)


def _avg_pool(nd, op, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    x = as_float_t(x)
    k, s, p, _, out = _pool_args(op, x, nd, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        if not isinstance(divisor_override, (int, np.integer)) or divisor_override == 0:
            raise ArgumentError(f"{op}: divisor_override must be a non-zero int, got {divisor_override!r}")
        inv = 1.0 / float(divisor_override)
    else:
        size = x.shape[-nd:]
        divs = [_divisors(n, ki, si, pi, o, count_include_pad) for n, ki, si, pi, o in zip(size, k, s, p, out)]
        div = divs[0] if nd == 1 else divs[0][:, None] * divs[1][None, :]
        inv = 1.0 / div.astype(np.float64)
        if np.all(inv == inv.flat[0]):
            inv = float(inv.flat[0])
    return AvgPoolOp(nd, k, s, p, out, inv)(x)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """The mean over each kernel_size window of an (N, C, H, W) or (C, H, W) input, as PyTorch's
    ``avg_pool2d``: zero ``padding`` is counted in the divisor unless ``count_include_pad`` is False, and
    ``divisor_override`` replaces the divisor."""
    return _avg_pool(2, "avg_pool2d", x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """:func:`avg_pool2d` along the last axis of an (N, C, L) or (C, L) input."""
    return _avg_pool(1, "avg_pool1d", x, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


# ----------------------------------------------------------------------------- linear maps along axes
class AxisMapOp(Function):
    """y = A_h @ x @ A_w^T over the last two axes (or x @ A_w^T over the last one), with constant matrices:
    adaptive average pooling and (bi)linear interpolation."""

    formula = "y = A_h @ x @ A_w^T (constant averaging / interpolation matrices along each spatial axis)"
    derivative = "dL/dx = A_h^T @ g @ A_w"

    def __init__(self, mh, mw):
        self.mh = mh  # (Ho, H) or None
        self.mw = mw  # (Wo, W) or None

    def forward(self, x):
        y = x
        if self.mw is not None:
            y = np.matmul(y, self.mw.T.astype(x.dtype))
        if self.mh is not None:
            y = np.matmul(self.mh.astype(x.dtype), y)
        return y if y is not x else x.copy()

    def vjp(self, xp, g):
        if self.mh is not None:
            g = xp.matmul(xp.const(self.mh.T, g), g)
        if self.mw is not None:
            g = xp.matmul(g, xp.const(self.mw, g))
        return g


def _adaptive_matrix(n, out):
    """(out, n): row i averages x[floor(i*n/out) : ceil((i+1)*n/out)], PyTorch's adaptive windows."""
    i = np.arange(out)
    start = (i * n) // out
    end = -((-(i + 1) * n) // out)
    cols = np.arange(n)
    inside = (cols[None, :] >= start[:, None]) & (cols[None, :] < end[:, None])
    return inside / (end - start)[:, None].astype(np.float64)


def _out_size(output_size, x, nd, op):
    if nd == 1:
        if isinstance(output_size, (tuple, list)):
            if len(output_size) != 1:
                raise ArgumentError(f"{op}: output_size must be an int or a 1-tuple, got {output_size!r}")
            output_size = output_size[0]
        out = (x.shape[-1] if output_size is None else output_size,)
    else:
        if isinstance(output_size, (tuple, list)):
            if len(output_size) != 2:
                raise ArgumentError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
            out = tuple(n if o is None else o for o, n in zip(output_size, x.shape[-2:]))
        else:
            out = (output_size, output_size)
    if not all(isinstance(o, (int, np.integer)) and o >= 1 for o in out):
        raise ArgumentError(f"{op}: output_size must be positive ints, got {output_size!r}")
    return tuple(int(o) for o in out)


def adaptive_avg_pool2d(x, output_size):
    """The mean over PyTorch's adaptive windows (row i covers floor(i*H/Ho) to ceil((i+1)*H/Ho)), giving an
    output of ``output_size`` (an int, or a pair whose None entries keep the input's size)."""
    x = as_float_t(x)
    _spatial(x, 2, "adaptive_avg_pool2d")
    (oh, ow) = _out_size(output_size, x, 2, "adaptive_avg_pool2d")
    h, w = x.shape[-2:]
    mh = None if oh == h else _adaptive_matrix(h, oh)
    mw = None if ow == w else _adaptive_matrix(w, ow)
    return AdaptiveAvgPoolOp(mh, mw)(x)


def adaptive_avg_pool1d(x, output_size):
    """:func:`adaptive_avg_pool2d` along the last axis of an (N, C, L) or (C, L) input."""
    x = as_float_t(x)
    _spatial(x, 1, "adaptive_avg_pool1d")
    (o,) = _out_size(output_size, x, 1, "adaptive_avg_pool1d")
    n = x.shape[-1]
    return AdaptiveAvgPoolOp(None, None if o == n else _adaptive_matrix(n, o))(x)


class AdaptiveAvgPoolOp(AxisMapOp):
    """y = mean of x over PyTorch's adaptive windows: a constant averaging matrix along each axis."""

    formula = "y = A_h @ x @ A_w^T, A[i, floor(i*n/out) : ceil((i+1)*n/out)] = 1 / window size"


class AdaptiveMaxPoolOp(Function):
    """y = max over PyTorch's adaptive windows; the index of each first maximum is kept."""

    formula = "y[n,c,i,j] = max of x[n,c] over rows floor(i*H/Ho)..ceil((i+1)*H/Ho), likewise columns"
    derivative = "dL/dx = g routed to the position of each window's maximum"

    def __init__(self, out):
        self.out = out

    def forward(self, x):
        self.in_shape = x.shape
        b, h, w = _as_4d(x.shape, 2)
        x3 = x.reshape(b, h, w)
        oh, ow = self.out
        y = np.empty((b, oh, ow), x.dtype)
        flat = np.empty((b, oh, ow), np.int64)
        for i in range(oh):
            h0, h1 = (i * h) // oh, -((-(i + 1) * h) // oh)
            for j in range(ow):
                w0, w1 = (j * w) // ow, -((-(j + 1) * w) // ow)
                win = x3[:, h0:h1, w0:w1].reshape(b, -1)
                a = win.argmax(axis=1)
                y[:, i, j] = win[np.arange(b), a]
                flat[:, i, j] = (h0 + a // (w1 - w0)) * w + w0 + a % (w1 - w0)
        self.flat = (flat + np.arange(b)[:, None, None] * (h * w)).reshape(-1)
        lead = x.shape[:-2]
        return y.reshape(lead + (oh, ow)), flat.reshape(lead + (oh, ow))

    def vjp(self, xp, g, _):
        gx = xp.take_adjoint(xp.reshape(g, (-1,)), self.flat, (int(np.prod(self.in_shape)),), False)
        return xp.reshape(gx, self.in_shape)


def adaptive_max_pool2d(x, output_size, return_indices=False):
    """The maximum over PyTorch's adaptive windows (see :func:`adaptive_avg_pool2d`); with ``return_indices``
    also each maximum's flat index in its (H, W) plane."""
    x = as_float_t(x)
    _spatial(x, 2, "adaptive_max_pool2d")
    y, idx = AdaptiveMaxPoolOp(_out_size(output_size, x, 2, "adaptive_max_pool2d"))(x)
    return (y, idx) if return_indices else y


def adaptive_max_pool1d(x, output_size, return_indices=False):
    """:func:`adaptive_max_pool2d` along the last axis of an (N, C, L) or (C, L) input."""
    x = as_float_t(x)
    _spatial(x, 1, "adaptive_max_pool1d")
    (o,) = _out_size(output_size, x, 1, "adaptive_max_pool1d")
    y, idx = AdaptiveMaxPoolOp((1, o))(x.reshape(x.shape[:-1] + (1, x.shape[-1])))
    y = y.reshape(x.shape[:-1] + (o,))
    return (y, idx.reshape(y.shape)) if return_indices else y


# ----------------------------------------------------------------------------- interpolate
def _linear_matrix(n, out, scale, align_corners):
    """(out, n): PyTorch's linear interpolation weights along one axis."""
    i = np.arange(out, dtype=np.float64)
    if align_corners:
        src = i * ((n - 1) / (out - 1) if out > 1 else 0.0)
    else:
        r = 1.0 / scale if scale is not None and scale > 0 else n / out
        src = np.maximum((i + 0.5) * r - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    lam = src - i0
    m = np.zeros((out, n))
    np.add.at(m, (np.arange(out), i0), 1.0 - lam)
    np.add.at(m, (np.arange(out), i1), lam)
    return m


def _nearest_index(n, out, scale, exact):
    """PyTorch's source index of each output position for mode 'nearest' (float32 arithmetic, as its kernel)."""
    if not exact and out == n:
        return np.arange(out)
    if not exact and out == 2 * n:
        return np.arange(out) // 2
    r = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(n) / np.float32(out)
    i = np.arange(out, dtype=np.float32)
    src = np.floor((i + np.float32(0.5)) * r) if exact else np.floor(i * r)
    return np.minimum(src.astype(np.int64), n - 1)


class InterpolateOp(AxisMapOp):
    """y = x resampled along each spatial axis: a constant interpolation (or selection) matrix per axis.

    ``mode``, ``align_corners``, ``size`` (the output's spatial size) and ``scale_factor`` (per spatial axis, or
    None when the positions are computed from the sizes) are the settings :func:`interpolate` made it with,
    kept for readers of the graph such as ``chainrule.onnx`` (which writes them as an ONNX Resize)."""

    formula = "y = A_h @ x @ A_w^T (interpolation weights of the neighbouring input positions)"

    def __init__(self, mh, mw, mode=None, align_corners=None, size=None, scale_factor=None):
        super().__init__(mh, mw)
        self.mode = mode
        self.align_corners = align_corners
        self.size = size
        self.scale_factor = scale_factor


_MODES = {"nearest": None, "nearest-exact": None, "linear": 1, "bilinear": 2}


def interpolate(
    x, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None, antialias=False
):
    """Resample an (N, C, L) or (N, C, H, W) input to ``size`` or by ``scale_factor``, as PyTorch's
    ``interpolate``: mode 'nearest' (or 'nearest-exact') for any of them, 'linear' for 3-D and 'bilinear' for
    4-D inputs, with ``align_corners`` (False by default: pixel centres; True: the corner pixels are kept)."""
    op = "interpolate"
    x = as_float_t(x)
    if mode not in _MODES:
        raise ArgumentError(f"{op}: mode must be one of {sorted(_MODES)}, got {mode!r}")
    if antialias:
        raise ArgumentError(f"{op}: antialias=True is not supported")
    nd = x.ndim - 2
    if nd not in (1, 2) or (_MODES[mode] is not None and _MODES[mode] != nd):
        want = {None: "a 3-D or 4-D", 1: "a 3-D (N, C, L)", 2: "a 4-D (N, C, H, W)"}[_MODES[mode]]
        raise ShapeError(f"{op}: mode {mode!r} expects {want} input, got shape {x.shape}")
    if mode.startswith("nearest") and align_corners is not None:
        raise ArgumentError(f"{op}: align_corners can only be set with the interpolating modes (linear, bilinear)")
    if (size is None) == (scale_factor is None):
        raise ArgumentError(f"{op}: give exactly one of size and scale_factor")
    n_in = x.shape[2:]
    if size is not None:
        out = _tuple(size, nd, "size", op)
        scales = (None,) * nd
    else:
        sf = (
            tuple(float(v) for v in scale_factor)
            if isinstance(scale_factor, (tuple, list))
            else (float(scale_factor),) * nd
        )
        if len(sf) != nd:
            raise ArgumentError(f"{op}: scale_factor must have {nd} entries for an input of shape {x.shape}")
        out = tuple(int(math.floor(n * f)) for n, f in zip(n_in, sf))
        scales = (None,) * nd if recompute_scale_factor else sf
    if min(out) < 1:
        raise ShapeError(f"{op}: the output size {out} for input of shape {x.shape} must be positive")
    mats = []
    for n, o, sc in zip(n_in, out, scales):
        if mode.startswith("nearest"):
            m = np.zeros((o, n))
            m[np.arange(o), _nearest_index(n, o, sc, mode == "nearest-exact")] = 1.0
        else:
            m = _linear_matrix(n, o, sc, bool(align_corners))
        mats.append(None if o == n and np.array_equal(m, np.eye(n)) else m)
    mh, mw = (None, mats[0]) if nd == 1 else mats
    given = None if all(sc is None for sc in scales) else scales
    return InterpolateOp(mh, mw, mode, align_corners, out, given)(x)


# ----------------------------------------------------------------------------- pixel shuffle
def pixel_shuffle(x, upscale_factor: int):
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r): each group of r*r channels becomes an r x r block (PyTorch's
    ``pixel_shuffle``; a reshape and a permutation, differentiated as such)."""
    from .shape import permute, reshape

    x = as_float_t(x)
    r = int(upscale_factor)
    if x.ndim < 3 or r < 1 or x.shape[-3] % (r * r):
        raise ShapeError(
            f"pixel_shuffle: expected an input of at least 3 dimensions whose channel dimension (-3) is divisible "
            f"by upscale_factor**2 = {r * r}, got shape {x.shape}"
        )
    *lead, c, h, w = x.shape
    k = len(lead)
    y = reshape(x, (*lead, c // (r * r), r, r, h, w))
    y = permute(y, (*range(k), k, k + 3, k + 1, k + 4, k + 2))
    return reshape(y, (*lead, c // (r * r), h * r, w * r))


def pixel_unshuffle(x, downscale_factor: int):
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W): the inverse of :func:`pixel_shuffle`."""
    from .shape import permute, reshape

    x = as_float_t(x)
    r = int(downscale_factor)
    if x.ndim < 3 or r < 1 or x.shape[-1] % r or x.shape[-2] % r:
        raise ShapeError(
            f"pixel_unshuffle: expected an input of at least 3 dimensions whose height and width are divisible by "
            f"downscale_factor = {r}, got shape {x.shape}"
        )
    *lead, c, h, w = x.shape
    k = len(lead)
    y = reshape(x, (*lead, c, h // r, r, w // r, r))
    y = permute(y, (*range(k), k, k + 2, k + 4, k + 1, k + 3))
    return reshape(y, (*lead, c * r * r, h // r, w // r))
