"""DLFS ch. 7's SimpleConvNet, its convolution written by hand as the chapter writes it: im2col, one
matrix product, and a backward pass of three products and a col2im.

    conv (30 filters 5x5, stride 1, pad 0) -> ReLU -> max-pool 2x2 -> Affine 100 -> ReLU -> Affine 10
    -> softmax-with-loss, on 1x28x28 images

The convolution is a ``cr.Function`` in the tutorials' style: ``forward`` and ``backward`` on NumPy arrays,
what the backward needs kept on ``self``. It is checked against ``cr.nn.Conv2d`` (values and all three
gradients, float64) and against numerical derivatives; then the net is trained on Fashion-MNIST.

Run: python examples/simple_convnet.py [--epochs 1] [--limit 6000] [--batch-size 100] [--lr 0.001]
(--limit N trains on the first N training images; the full test set, 10,000 images, is scored.)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import chainrule as cr
import chainrule.nn.functional as F


# ----------------------------------------------------------------------------- im2col and col2im
def im2col(x, fh, fw, stride=1, pad=0):
    """Image to columns: every (fh, fw) patch the filter visits, flattened into one ROW of a matrix.

    x is (N, C, H, W); the result is (N*out_h*out_w, C*fh*fw): one row per output position (n, i, j), holding
    the C*fh*fw input values the filter sees there, in the order (c, y, x) of the filter's own entries. Then
    the whole convolution is ONE matrix product, col @ W.reshape(FN, -1).T, instead of six nested loops.
    Patches overlap, so entries of x appear in several rows: the matrix is larger than x (by about fh*fw /
    stride^2), the price of handing all the work to a fast matrix product.
    """
    n, c, h, w = x.shape
    out_h = (h + 2 * pad - fh) // stride + 1
    out_w = (w + 2 * pad - fw) // stride + 1
    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    # every window at once, as a view (no copy yet): (N, C, H', W', fh, fw), then every stride-th one
    win = sliding_window_view(img, (fh, fw), axis=(2, 3))[:, :, ::stride, ::stride][:, :, :out_h, :out_w]
    # (N, out_h, out_w, C, fh, fw): the position first, the filter's entries last; reshape copies once
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(n * out_h * out_w, c * fh * fw)


def col2im(col, input_shape, fh, fw, stride=1, pad=0):
    """Columns back to an image, the way back of im2col (its adjoint): each row's entries are ADDED to the
    places of the image they were copied from, so an input value seen by several patches receives the sum of
    their gradients. One strided slice per filter offset (y, x), fh*fw additions in all, as the book does."""
    n, c, h, w = input_shape
    out_h = (h + 2 * pad - fh) // stride + 1
    out_w = (w + 2 * pad - fw) // stride + 1
    col = col.reshape(n, out_h, out_w, c, fh, fw).transpose(0, 3, 4, 5, 1, 2)  # (N, C, fh, fw, out_h, out_w)
    img = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1), col.dtype)
    for y in range(fh):
        y_max = y + stride * out_h
        for x in range(fw):
            x_max = x + stride * out_w
            img[:, :, y:y_max:stride, x:x_max:stride] += col[:, :, y, x, :, :]
    return img[:, :, pad : h + pad, pad : w + pad]


# ----------------------------------------------------------------------------- the convolution layer
class Convolution(cr.Function):
    """DLFS ch. 7's Convolution layer as a graph node: x (N, C, H, W), W (FN, C, FH, FW), b (FN,).

    Forward: im2col, then one matrix product with the filters laid out as columns, plus the bias.
    Backward: the convolution is a matrix product col @ col_W + b, so its gradients are those of Affine,
    (dout as a matrix, one row per output position):

        db = the sum of dout over the rows        dW = col^T @ dout        dcol = dout @ col_W^T

    and dcol goes back to the image by col2im (the gradient of a copied value is the sum over its copies).
    """

    def __init__(self, stride=1, pad=0):
        self.stride, self.pad = stride, pad

    def forward(self, x, W, b):
        fn, c, fh, fw = W.shape
        n, _, h, w = x.shape
        out_h = 1 + (h + 2 * self.pad - fh) // self.stride
        out_w = 1 + (w + 2 * self.pad - fw) // self.stride
        col = im2col(x, fh, fw, self.stride, self.pad)  # (N*out_h*out_w, C*FH*FW)
        col_W = W.reshape(fn, -1).T  # (C*FH*FW, FN): one filter a column
        out = col @ col_W + b  # (N*out_h*out_w, FN): the one matrix product
        # the rows are (n, i, j) and the columns the filters: back to (N, FN, out_h, out_w)
        out = out.reshape(n, out_h, out_w, fn).transpose(0, 3, 1, 2)
        self.x_shape, self.W_shape = x.shape, W.shape  # what backward needs, kept as the tutorials do
        self.col, self.col_W = col, col_W
        return np.ascontiguousarray(out)

    def backward(self, dout):
        fn, c, fh, fw = self.W_shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, fn)  # (N*out_h*out_w, FN), rows as forward's
        db = np.sum(dout, axis=0)  # the bias was added to every row
        dW = (self.col.T @ dout).T.reshape(fn, c, fh, fw)  # col^T @ dout, back to the filters' shape
        if not self.needs_input_grad[0]:  # the first layer's input, the images: no gradient to compute
            return None, dW, db
        dcol = dout @ self.col_W.T  # (N*out_h*out_w, C*FH*FW): the gradient of every copied value
        dx = col2im(dcol, self.x_shape, fh, fw, self.stride, self.pad)  # copies summed back into place
        return dx, dW, db


def convolution(x, W, b, stride=1, pad=0):
    return Convolution(stride, pad)(x, W, b)


# ----------------------------------------------------------------------------- the network
class SimpleConvNet(cr.nn.Module):
    """conv - relu - pool - affine - relu - affine - softmax, with DLFS's parameter names and shapes:
    W1 (30, 1, 5, 5), W2 (30*12*12, 100), W3 (100, 10), weights ~ N(0, weight_init_std^2), biases 0."""

    def __init__(
        self,
        input_dim=(1, 28, 28),
        conv_param=None,
        hidden_size=100,
        output_size=10,
        weight_init_std=0.01,
        seed=0,
        dtype=np.float32,
    ):
        super().__init__()
        p = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1, **(conv_param or {})}
        fn, fs, self.pad, self.stride = p["filter_num"], p["filter_size"], p["pad"], p["stride"]
        c, size = input_dim[0], input_dim[1]
        conv_out = (size - fs + 2 * self.pad) // self.stride + 1
        pool_out = fn * (conv_out // 2) * (conv_out // 2)
        rng = np.random.default_rng(seed)

        def param(*shape):
            return cr.nn.Parameter((weight_init_std * rng.standard_normal(shape)).astype(dtype))

        self.W1, self.b1 = param(fn, c, fs, fs), cr.nn.Parameter(np.zeros(fn, dtype))
        self.W2, self.b2 = param(pool_out, hidden_size), cr.nn.Parameter(np.zeros(hidden_size, dtype))
        self.W3, self.b3 = param(hidden_size, output_size), cr.nn.Parameter(np.zeros(output_size, dtype))

    def forward(self, x):  # the scores (before softmax)
        h = convolution(x, self.W1, self.b1, self.stride, self.pad)  # Conv1
        h = F.max_pool2d(F.relu(h), 2)  # Relu1, Pool1 (2x2, stride 2)
        h = F.relu(h.reshape(h.shape[0], -1) @ self.W2 + self.b2)  # Affine1, Relu2
        return h @ self.W3 + self.b3  # Affine2

    def loss(self, x, t):  # SoftmaxWithLoss: one fused node, backward (y - t) / N
        return F.cross_entropy(self(x), t)

    def accuracy(self, x, t, batch_size=500):
        correct = 0
        with cr.no_grad():
            for i in range(0, len(x), batch_size):
                correct += int((self(x[i : i + batch_size]).numpy().argmax(axis=1) == t[i : i + batch_size]).sum())
        return correct / len(x)


# ----------------------------------------------------------------------------- checks
def check_against_conv2d(n=2, c=3, fn=4, size=9, fs=3, stride=1, pad=0, seed=0):
    """The hand-written convolution against cr.nn.Conv2d, float64: the largest |difference| of the output
    and of the gradients of x, W and b, under a random upstream gradient."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, size, size))
    conv = cr.nn.Conv2d(c, fn, fs, stride=stride, padding=pad).to(cr.float64)
    W, b = conv.weight.numpy().copy(), conv.bias.numpy().copy()  # same layout as DLFS's W: (FN, C, FH, FW)
    xs = [cr.tensor(x, requires_grad=True) for _ in range(2)]
    Wh, bh = cr.tensor(W, requires_grad=True), cr.tensor(b, requires_grad=True)
    ours, theirs = convolution(xs[0], Wh, bh, stride, pad), conv(xs[1])
    g = rng.standard_normal(theirs.shape)
    (ours * cr.tensor(g)).sum().backward()
    (theirs * cr.tensor(g)).sum().backward()
    return {
        "out": float(np.abs(ours.numpy() - theirs.numpy()).max()),
        "dx": float(np.abs(xs[0].grad.numpy() - xs[1].grad.numpy()).max()),
        "dW": float(np.abs(Wh.grad.numpy() - conv.weight.grad.numpy()).max()),
        "db": float(np.abs(bh.grad.numpy() - conv.bias.grad.numpy()).max()),
    }


def gradcheck_convolution(n=2, c=2, fn=3, size=6, fs=3, stride=1, pad=1, seed=0):
    """The hand-written backward against central differences (cr.gradcheck; raises when they differ)."""
    rng = np.random.default_rng(seed)
    x, W, b = (
        cr.tensor(a, requires_grad=True)
        for a in (
            rng.standard_normal((n, c, size, size)),
            rng.standard_normal((fn, c, fs, fs)),
            rng.standard_normal(fn),
        )
    )
    return cr.gradcheck(lambda x, W, b: convolution(x, W, b, stride, pad), x, W, b)


# ----------------------------------------------------------------------------- training
def load(limit=None, root=None):
    """Fashion-MNIST as (N, 1, 28, 28) float32 in [0, 1]; the first ``limit`` training images when given."""
    (X, y), (Xt, yt) = cr.datasets.fashion_mnist(root=root, flatten=False)
    X, Xt = X[:, None], Xt[:, None]
    if limit:
        X, y = X[:limit], y[:limit]
    return X, y, Xt, yt


def train(epochs=1, limit=None, batch_size=100, lr=0.001, seed=0, test_limit=None, root=None, log=None, data=None):
    """Mini-batch learning with Adam, as the chapter trains SimpleConvNet. Returns the net and one record per
    epoch (the mean training loss of its batches, the first batch's loss, test accuracy). ``data``: what
    :func:`load` returned, to load the images only once."""
    X, y, Xt, yt = data if data is not None else load(limit, root)
    if test_limit:
        Xt, yt = Xt[:test_limit], yt[:test_limit]
    net = SimpleConvNet(seed=seed)
    opt = cr.optim.Adam(net.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(1, epochs + 1):
        start, losses = time.perf_counter(), []
        order = rng.permutation(len(X))
        for i in range(0, len(X), batch_size):
            idx = order[i : i + batch_size]
            opt.zero_grad()
            loss = net.loss(X[idx], y[idx])
            loss.backward()
            opt.step()
            losses.append(loss.item())
        rec = {
            "epoch": epoch,
            "first_loss": losses[0],
            "last_loss": float(np.mean(losses[-max(1, len(losses) // 10) :])),
            "loss": float(np.mean(losses)),
            "test_acc": net.accuracy(Xt, yt),
            "seconds": time.perf_counter() - start,
        }
        history.append(rec)
        if log:
            log(rec)
    return net, history


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--limit", type=int, default=None, help="train on the first N images (default: all 60,000)")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print("the hand-written convolution against cr.nn.Conv2d (float64, largest |difference|):")
    for cfg in ({}, {"stride": 2, "pad": 1}, {"c": 1, "fn": 30, "size": 28, "fs": 5}):
        d = check_against_conv2d(**cfg)
        print(f"  {cfg or 'C=3, 3x3, stride 1, pad 0'}: " + ", ".join(f"{k} {v:.1e}" for k, v in d.items()))
    print(f"  gradcheck (central differences): {'passed' if gradcheck_convolution() else 'failed'}")
    print(f"SimpleConvNet on Fashion-MNIST, Adam lr {args.lr}, batch {args.batch_size}:")
    train(
        args.epochs,
        args.limit,
        args.batch_size,
        args.lr,
        args.seed,
        log=lambda r: print(
            f"  epoch {r['epoch']}  mean loss {r['loss']:.4f}  test accuracy {r['test_acc']:.4f}  "
            f"({r['seconds']:.1f} s)"
        ),
    )


if __name__ == "__main__":
    main()
