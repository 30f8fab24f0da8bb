"""Fused nodes: a run of layers computed as one graph node, where the math allows and a benchmark shows it pays.

**conv2d, ReLU, max_pool2d** (the block most small CNNs repeat) as one node, :class:`ConvReluPoolOp`:

- *The same values and gradients as the three nodes.* ReLU keeps order, so it commutes with a max:
  ``max_pool(relu(z)) = relu(max_pool(z))``, and the ReLU runs on the pooled map, a k*k-th of the convolution's
  output. Backward, the three nodes send a tile's gradient to its first maximum and ReLU then keeps it only where
  that maximum is positive; the fused node sends it to the same place under the same condition. Ties: a positive
  maximum is the same entry before and after ReLU, and a tile whose maximum is not positive gets no gradient either
  way (ReLU's derivative at 0 is 0, as PyTorch's). A NaN maximum gives NaN and no gradient, as there.
- *Computed a few samples at a time* (about :data:`CHUNK_BYTES` of im2col rows and output), so that the
  convolution's output, its pooling and ReLU, and on the way back the routed gradient, the im2col rows of the
  weight gradient (made again rather than kept) and the input gradient all stay in cache. The three nodes pass
  over maps of N * H * W * C_out floats in memory several times each way.

``nn.Sequential`` runs ``Conv2d, ReLU, MaxPool2d`` as this node when they follow each other and allow it (see
:func:`chainrule.nn.layers.fused_block`); ``chainrule.set_fusion_enabled(False)`` turns that off, in one thread.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from .. import namespace
from ..function import Function
from .conv import conv_operands, conv_transpose_array, conv_weight_array, im2col_tiled, scratch
from .pool import max_over_tiles

__all__ = ["ConvReluPoolOp", "conv2d_relu_max_pool2d", "CHUNK_BYTES"]

#: The work of one chunk of samples, in bytes: the im2col rows and the convolution's output of each sample.
CHUNK_BYTES = 1 << 22

_buffers = threading.local()


def _work() -> dict:
    """This thread's work buffers for one chunk (im2col rows, the convolution's output, the routed gradient, the
    input gradient's products): kept from call to call, so that a training step makes no new large arrays for
    them (fresh pages cost a fault each). About 3 * CHUNK_BYTES at most."""
    work = getattr(_buffers, "work", None)
    if work is None:
        work = _buffers.work = {}
    return work


class ConvReluPoolOp(Function):
    """y = max_pool2d(relu(conv2d(x, w) + b)), k x k tiles (kernel == stride, no padding), as one node."""

    formula = "y = max_pool2d(relu(conv2d(x, w) + b)) = relu(max over each k x k tile of z),  z = conv2d(x, w) + b"
    derivative = (
        "dL/dz = g routed to each tile's first maximum where y > 0, else 0 (max pooling, then ReLU's 1[z > 0]); "
        "then as a convolution's: dL/dx = dL/dz correlated with the kernel flipped in space (a transposed "
        "convolution), dL/dw = the correlation of x with dL/dz, dL/db = dL/dz summed over the batch and positions"
    )
    broadcasts = (2,)

    def __init__(self, stride, pads, dilation, k):
        self.stride, self.pads, self.dilation, self.k = stride, pads, dilation, k
        pad = tuple(lo if lo == hi else (lo, hi) for lo, hi in pads)
        self.formula = (
            f"{type(self).formula}  [conv: stride {tuple(stride)}, padding {pad}, dilation {tuple(dilation)}; "
            f"pool: {k[0]}x{k[1]} tiles]  (three layers fused into one node; build the graph inside "
            "cr.set_fusion_enabled(False) to see them one by one)"
        )

    # Forward, the convolution's output positions are computed in tile order: per chunk of samples, the im2col
    # matrix holds, for each entry (i, j) of the k x k tiles, one block of rows (chainrule.ops.conv.im2col_tiled),
    # so that the pooling compares whole contiguous blocks.
    def _cols(self, x, with_ones, work):
        return im2col_tiled(x, self.kernel, self.stride, self.pads, self.dilation, self.out, self.k, with_ones, work)

    def _blocks(self, z, per_sample, m):
        """The convolution's output for m samples as one (m, oh, ow, O) view per tile entry."""
        (kh, kw), (h, w), o = self.k, self.out, z.shape[-1]
        kk, tiles = kh * kw, (h // kh, w // kw)
        if per_sample:
            z = z.reshape((m, kk) + tiles + (o,))
            return [z[:, e] for e in range(kk)]
        return list(z.reshape((kk, m) + tiles + (o,)))

    def forward(self, x, w, b=None):
        needs = self.needs_input_grad
        self.save_for_backward(x if needs[1] else None, w if needs[0] else None)
        n, o = x.shape[0], w.shape[0]
        (kh, kw), kernel = self.k, w.shape[2:]
        self.in_spatial, self.kernel = x.shape[2:], kernel
        self.out = out = tuple(
            (s + lo + hi - d * (k - 1) - 1) // st + 1
            for s, (lo, hi), k, st, d in zip(x.shape[2:], self.pads, kernel, self.stride, self.dilation)
        )
        per = math.prod(out) // (kh * kw)  # tiles per sample
        y = np.empty((n, per, o), x.dtype)  # channels last, seen as (N, O, oh, ow) at the end
        # where each tile's winner is (int8 -1), laid out as the convolution's output (N*oh, kh, ow, kw, O): the
        # backward routes g into it with one bitwise and
        oh, ow = out[0] // kh, out[1] // kw
        keep = any(needs)  # (nothing is kept when no gradient will be asked for: inference)
        self.mask = np.empty((n * oh, kh, ow, kw, o), np.int8) if keep else None
        self.step = step = max(1, CHUNK_BYTES // (math.prod(out) * (x.shape[1] * math.prod(kernel) + o) * x.itemsize))
        work = _work()
        wr = w.transpose(0, 2, 3, 1).reshape(o, -1)  # (O, K*C), channel minor, as im2row's rows
        wb = w.reshape(o, -1) if b is None else np.concatenate([w.reshape(o, -1), b[:, None]], axis=1)
        for s0 in range(0, n, step):
            s1 = min(n, s0 + step)
            per_sample, cols = self._cols(x[s0:s1], b is not None, work)
            if per_sample:  # (m, C*K (+1), P): one product per sample, the bias from the row of ones
                z = np.matmul(
                    cols.transpose(0, 2, 1), wb.T, out=scratch(work, "out", (s1 - s0, cols.shape[2], o), x.dtype)
                )
            else:
                z = np.matmul(cols, wr.T, out=scratch(work, "out", (cols.shape[0], o), x.dtype))
                if b is not None:
                    z += b
            blocks = self._blocks(z, per_sample, s1 - s0)
            part = y[s0:s1].reshape(blocks[0].shape)  # (m, oh, ow, O)
            masks = None
            if keep:
                rows = self.mask[s0 * oh : s1 * oh].reshape(s1 - s0, oh, kh, ow, kw, o)
                masks = [rows[:, :, i, :, j] for i in range(kh) for j in range(kw)]
            max_over_tiles([blocks[i * kw : (i + 1) * kw] for i in range(kh)], part, masks, relu=True)
        return y.reshape(n, oh, ow, o).transpose(0, 3, 1, 2)

    def vjp(self, xp, g):
        x, w = self.saved(xp)
        needs = self.needs_input_grad
        lo = tuple(p for p, _ in self.pads)
        (kh, kw), (h, wd) = self.k, self.out
        n, o, oh, ow = g.shape
        if xp is not namespace.numpy_ns:  # under create_graph: the same steps, recorded
            masks = [self.mask[:, i, :, j] for i in range(kh) for j in range(kw)]
            gl = xp.reshape(xp.transpose(g, (0, 2, 3, 1)), (n * oh, ow, o))
            dz = xp.transpose(xp.reshape(xp.route_tiles(gl, masks, kh, kw), (n, h, wd, o)), (0, 3, 1, 2))
            gx = xp.conv_transpose_nd(dz, w, self.stride, lo, self.dilation, 1, self.in_spatial) if needs[0] else None
            args = (self.kernel, self.stride, self.pads, self.dilation, 1)
            gw = xp.conv_weight_nd(x, dz, *args) if needs[1] else None
            gb = xp.sum(dz, axis=(0, 2, 3)) if len(needs) == 3 and needs[2] else None
            return (gx, gw) if len(needs) == 2 else (gx, gw, gb)
        # the gradient at the convolution's output is made in spatial order, (m, H, W, O) channels last, a chunk
        # at a time: the weight gradient's im2col rows (made again) and the input gradient's offsets follow it
        gx = np.empty((n,) + tuple(self.in_spatial) + (w.shape[1],), g.dtype) if needs[0] else None  # channels last
        gw = None
        gb = np.zeros(o, g.dtype) if len(needs) == 3 and needs[2] else None
        work = _work()
        args = (self.kernel, self.stride, self.pads, self.dilation, 1)
        for s0 in range(0, n, self.step):
            s1 = min(n, s0 + self.step)
            m = s1 - s0
            gl = np.ascontiguousarray(g[s0:s1].transpose(0, 2, 3, 1)).reshape(m * oh, ow, o)
            dz = scratch(work, "dz", (m * oh, kh, ow, kw, o), g.dtype)
            namespace.route(gl[:, None, :, None, :], self.mask[s0 * oh : s1 * oh], dz)
            if gb is not None:
                gb += np.ones(dz.size // o, g.dtype) @ dz.reshape(-1, o)
            dz = dz.reshape(m, h, wd, o).transpose(0, 3, 1, 2)
            if needs[1]:
                part = conv_weight_array(x[s0:s1], dz, *args, work=work)  # im2col of these samples made again
                gw = part if gw is None else np.add(gw, part, out=gw)
            if needs[0]:
                conv_transpose_array(
                    dz, w, self.stride, lo, self.dilation, 1, self.in_spatial, out=gx[s0:s1], work=work
                )
        if gx is not None:
            gx = gx.transpose(0, 3, 1, 2)
        return (gx, gw) if len(needs) == 2 else (gx, gw, gb)


def conv2d_relu_max_pool2d(input, weight, bias=None, stride=1, padding=0, dilation=1, kernel_size=2):  # noqa: A002
    """``max_pool2d(relu(conv2d(input, weight, bias, stride, padding, dilation)), kernel_size)`` as one node
    (:class:`ConvReluPoolOp`): the same values and gradients, faster. The convolution takes conv2d's arguments
    (no groups); the pooling is over non-overlapping tiles (stride = kernel_size, no padding), which must tile the
    convolution's (N, C_out, H, W) output exactly. Returns None when they do not (or for an unbatched input):
    then compute the three separately."""
    k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    if getattr(input, "ndim", None) != 4:
        return None
    x, w, b, _, stride, pads, dilation, _ = conv_operands(
        "conv2d", 2, input, weight, bias, stride, padding, dilation, 1
    )
    out = [
        (s + lo + hi - d * (kk - 1) - 1) // st + 1
        for s, (lo, hi), kk, st, d in zip(x.shape[2:], pads, w.shape[2:], stride, dilation)
    ]
    if out[0] % k[0] or out[1] % k[1]:
        return None
    node = ConvReluPoolOp(stride, pads, dilation, k)
    return node(x, w) if b is None else node(x, w, b)
