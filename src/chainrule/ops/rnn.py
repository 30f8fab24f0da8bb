"""Recurrent layers as fused graph nodes: a whole sequence of RNN (tanh or relu), LSTM or GRU steps in one
node, with backpropagation through time as its one derivative.

The input projection of every time step is computed before the loop, in one matrix product
(``gi = x @ W_ih^T + b_ih`` over the whole sequence, an ordinary ``linear`` node); the node then runs
the recurrence on it: per step one product ``h @ W_hh^T`` and the gates, elementwise. Its vjp walks the
steps backwards (backpropagation through time): per step the gates' local derivatives and one product
``dgates @ W_hh``; the weight's gradient is one product over all steps at the end.

The step and its derivative are written once, against the array namespace ``xp`` (cr.namespace): on the
ordinary backward they run on NumPy arrays with the values the forward kept; under ``create_graph`` the
node recomputes its steps from its inputs with chainrule's operations and runs the same backward lines
on Tensors, so second derivatives (double backward, as PyTorch's CPU RNNs have) come out of it.

Layouts are PyTorch's: gates stacked in W_ih (G*H, I) and W_hh (G*H, H) in the order i, f, g, o (LSTM)
and r, z, n (GRU), with n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).
"""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, DTypeError, ShapeError
from ..function import Function
from ..namespace import numpy_ns
from .operands import as_t
from .shape import reshape

__all__ = [
    "RNNLayerOp",
    "LSTMLayerOp",
    "GRULayerOp",
    "recurrent_layer",
    "rnn_tanh_cell",
    "rnn_relu_cell",
    "lstm_cell",
    "gru_cell",
]


# ----------------------------------------------------------------------------- shared helpers
def _sigmoid(xp, a):
    """The logistic function as (1 + tanh(a / 2)) / 2: no overflow for any a, one tanh (NumPy's tanh is
    vectorised, its exp-based logistic is not; NumPy's forward gets a / 2 straight from the products, see
    ``prescale``)."""
    return xp.tanh(a * 0.5) * 0.5 + 0.5


def _order(n: int, reverse: bool):
    return range(n - 1, -1, -1) if reverse else range(n)


class _Pool:
    """Freed tape buffers, kept for the next call of the same shape. A training loop runs the same shapes
    every step: reused buffers are memory the process has already touched, where fresh ones would be
    returned to the system when freed and page-faulted in again, at a cost comparable to the steps' own
    arithmetic. At most ``per_key`` buffers of each shape and dtype are kept."""

    def __init__(self, per_key: int = 4):
        self.per_key = per_key
        self.free: dict = {}

    def get(self, shape: tuple, dtype) -> np.ndarray:
        try:
            return self.free[(shape, np.dtype(dtype))].pop()
        except (KeyError, IndexError):
            return np.empty(shape, dtype)

    def give(self, a: np.ndarray) -> None:
        kept = self.free.setdefault((a.shape, a.dtype), [])
        if len(kept) < self.per_key:
            kept.append(a)


_pool = _Pool()


class _Tape:
    """The values of every step, by name. With NumPy each name is one preallocated (T, B, width) array that
    the steps write into: no fresh memory per step, which (with the allocator returning large freed blocks
    to the system) would cost page faults on every step. Under create_graph each name is a list of the
    steps' Tensors, stacked when asked for."""

    def __init__(self, xp, steps: int, batch: int, dtype, **widths):
        self.xp = xp
        self.numpy = xp is numpy_ns
        if self.numpy:
            self.bufs = {k: _pool.get((steps, batch, w), dtype) for k, w in widths.items()}
        else:
            self.bufs = {k: [None] * steps for k in widths}

    def put(self, name: str, t: int, *parts):
        """Keep step ``t``'s value of ``name``: ``parts`` side by side along the last axis."""
        buf = self.bufs[name]
        if not self.numpy:
            buf[t] = parts[0] if len(parts) == 1 else self.xp.concatenate(list(parts), axis=1)
            return buf[t]
        row = buf[t]
        if len(parts) == 1:
            row[...] = parts[0]
            return row
        k = 0
        for p in parts:
            w = p.shape[-1]
            row[:, k : k + w] = p
            k += w
        return row

    def matmul(self, name: str, t: int, a, b, *addends):
        """``a @ b + addends``, computed (with NumPy) in the row of ``name`` kept for step ``t``, which a
        step may go on changing in place; ``keep`` then keeps what it made of it (under create_graph)."""
        if not self.numpy:
            v = self.xp.matmul(a, b)
            for x in addends:
                if x is not None:
                    v = v + x
            return self.put(name, t, v)
        row = np.matmul(a, b, out=self.bufs[name][t])
        for x in addends:
            if x is not None:
                row += x
        return row

    def keep(self, name: str, t: int, value):
        """The row of ``name`` changed in place (NumPy), or its new value (kept under create_graph)."""
        if not self.numpy:
            self.bufs[name][t] = value
        return value

    def __call__(self, name: str, t: int):
        return self.bufs[name][t]

    def stacked(self, name: str):
        """All steps' values of ``name``, (T, B, width)."""
        return self.bufs[name] if self.numpy else self.xp.stack(self.bufs[name])

    def release(self, *names) -> None:
        """Hand the buffers of ``names`` (none read again: never an output) back for reuse."""
        if self.numpy:
            for k in names:
                _pool.give(self.bufs.pop(k))


def _chunks(n: int, size: int, reverse: bool):
    """The steps in chunks of ``size``, [(t0, t1), ...], in the order a loop visits them."""
    spans = [(t0, min(t0 + size, n)) for t0 in range(0, n, size)]
    return spans[::-1] if reverse else spans


def _span(t0: int, t1: int, reverse: bool):
    return range(t1 - 1, t0 - 1, -1) if reverse else range(t0, t1)


def _flat(xp, a):
    """(k, B, w) as (k * B, w)."""
    k, b, w = a.shape
    return xp.reshape(a, (k * b, w))


def _plus(a, b):
    return b if a is None else a + b


def _check(op: str, gates: int, x, h0, w_ih, w_hh, b_ih, b_hh, c0=None) -> int:
    """Shapes of a recurrence node's inputs; returns the hidden size."""
    if w_hh.ndim != 2 or w_hh.shape[0] != gates * w_hh.shape[1]:
        raise ShapeError(
            f"{op}: the recurrent weight must have shape ({gates} * hidden_size, hidden_size), got {w_hh.shape}"
        )
    hidden = w_hh.shape[1]
    if x.ndim != 3 or w_ih.shape != (gates * hidden, x.shape[-1]):
        raise ShapeError(
            f"{op}: input of shape {x.shape} does not fit the input weight of shape {w_ih.shape}: expected a "
            f"time-major input (seq_len, batch, input_size) and a weight ({gates * hidden}, input_size)"
        )
    for name, s in (("h0", h0), ("c0", c0)):
        if s is not None and s.shape != (x.shape[1], hidden):
            raise ShapeError(
                f"{op}: the initial state {name} must have shape (batch, hidden_size) = "
                f"({x.shape[1]}, {hidden}), got {s.shape}"
            )
    for name, b in (("b_ih", b_ih), ("b_hh", b_hh)):
        if b is not None and b.shape != (gates * hidden,):
            raise ShapeError(f"{op}: the bias {name} must have shape ({gates * hidden},), got {b.shape}")
    if x.shape[0] == 0:
        raise ShapeError(f"{op}: the sequence is empty (input of shape {x.shape})")
    return hidden


class _Recurrence(Function):
    """What the three recurrence nodes share: the loop over the steps, forwards and backwards.

    Inputs (x, h0, [c0,] w_ih, w_hh, [b_ih, b_hh]), x time-major (T, B, I). Output y (T, B, H), the state
    after each step in time order (a reverse node runs from the last step to the first), and for the
    LSTM also the final cell state c_T.

    The steps run in chunks of a few: a chunk's input projections ``x_t @ W_ih^T + b_ih`` are one matrix
    product before its steps, and, backwards, the chunk's gradients of the weights (and of x) are one
    product each after its steps, while its gate gradients are still in the cache; nothing of size
    (T, B, gates) is ever written. Subclasses define ``gates``, ``kept`` (the per-step values, their
    widths in units of H), ``step`` (one step forwards, keeping its values on a tape) and ``back`` (one
    step of backpropagation through time), each written once against the namespace ``xp``.
    """

    gates = 1
    cell_state = False
    kept: dict = {}
    #: what back() writes per step: the gradient of the gates' pre-activations, and (GRU only, where it
    #: differs) of the recurrent projections h_(t-1) @ W_hh^T + b_hh
    grads: dict = {"dgi": 1}
    #: bytes of gate values per chunk: chunks stay in the cache
    chunk_bytes = 1 << 19

    def __init__(self, reverse: bool = False):
        self.reverse = bool(reverse)

    def _chunk(self, batch: int, width: int, dtype) -> int:
        return max(1, self.chunk_bytes // max(1, batch * width * np.dtype(dtype).itemsize))

    def _inputs(self, args):
        """(x, h0, c0, w_ih, w_hh, b_ih, b_hh) from the node's inputs (c0 and the biases may be None)."""
        x, h0, *rest = args
        c0 = rest.pop(0) if self.cell_state else None
        w_ih, w_hh, *b = rest
        return x, h0, c0, w_ih, w_hh, (b[0] if b else None), (b[1] if b else None)

    def run(self, xp, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        """The forward loop; returns the tape of kept values (the outputs y among them) and the last state."""
        n, batch, size_in = x.shape
        hid = h0.shape[-1]
        width = w_hh.shape[0]
        dtype = xp.data(x).dtype
        tape = _Tape(xp, n, batch, dtype, y=hid, **{k: w * hid for k, w in self.kept.items()})
        b_in, b_step = self._biases(xp, b_ih, b_hh) if b_ih is not None else (None, None)
        if xp is numpy_ns:  # the weights' columns times the gates' prescale (see LSTMLayerOp._scales)
            pre = self.prescale(hid, dtype)
            w_t = np.multiply(w_hh.T, pre, out=np.empty((hid, width), dtype))
            wi_t = np.multiply(w_ih.T, pre, out=np.empty((size_in, width), dtype))
            b_in = None if b_in is None else b_in * pre
        else:
            w_t, wi_t = xp.transpose(w_hh), xp.transpose(w_ih)
        size = self._chunk(batch, width, dtype)
        scratch = _pool.get((size * batch, width), dtype) if xp is numpy_ns else None
        state = (h0, c0) if self.cell_state else h0
        for t0, t1 in _chunks(n, size, self.reverse):
            rows = (t1 - t0) * batch
            xs = xp.reshape(x[t0:t1], (rows, size_in))
            if scratch is not None:  # (a product over one input feature is a broadcast: BLAS is slow at it)
                gi = (np.multiply if size_in == 1 else np.matmul)(xs, wi_t, out=scratch[:rows])
                if b_in is not None:
                    gi += b_in
            else:
                gi = xp.matmul(xs, wi_t) if b_in is None else xp.matmul(xs, wi_t) + b_in
            gi = xp.reshape(gi, (t1 - t0, batch, width))
            for t in _span(t0, t1, self.reverse):
                state = self.step(xp, tape, t, gi[t - t0], state, w_t, b_step)
        if scratch is not None:
            _pool.give(scratch)
        return tape, state

    def prescale(self, hid: int, dtype):
        """Per gate column, the factor NumPy's forward multiplies the weights (and projected biases) by: the
        pre-activations come out of the products already scaled as the gates' tanh needs them (1/2 for a
        logistic gate computed as (1 + tanh(a / 2)) / 2), saving a pass over them in every step."""
        return np.ones(self.gates * hid, dtype)

    def _biases(self, xp, b_ih, b_hh):
        """(added to the input projections, added in each step): both biases go into the projections, made a
        chunk of steps at a time, where the gates only sum them (all but the GRU's b_hn)."""
        return b_ih + b_hh, None

    def forward(self, *args):
        x, h0, c0, w_ih, w_hh, b_ih, b_hh = self._inputs(args)
        _check(self.name, self.gates, x, h0, w_ih, w_hh, b_ih, b_hh, c0)
        self.tape, state = self.run(numpy_ns, x, h0, c0, w_ih, w_hh, b_ih, b_hh)
        y = self.tape.stacked("y")
        if True not in self.needs_input_grad:  # not recorded (no_grad, or nothing requires grad)
            self._free_tape()
        self.save_for_backward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, y)
        if self.cell_state:
            return y, state[1].copy()  # (its own memory: the tape's row is read by backward)
        return y

    def _free(self) -> None:
        """After the last backward through this node (the graph not retained): its tape's buffers, all but
        the output, go back to the pool for the next call."""
        self._free_tape()
        super()._free()

    def _free_tape(self) -> None:
        tape = self.__dict__.pop("tape", None)
        if tape is not None:
            tape.release(*[k for k in tape.bufs if k != "y"])

    def vjp(self, xp, gy, *gc):
        x, h0, c0, w_ih, w_hh, b_ih, b_hh, y = self.saved(xp)
        if xp is numpy_ns:
            tape = self.tape
        else:  # under create_graph: every step again, with chainrule's operations, to differentiate them
            tape, _ = self.run(xp, x, h0, c0, w_ih, w_hh, b_ih, b_hh)
            y = tape.stacked("y")
        n, batch, size_in = x.shape
        width = w_hh.shape[0]
        dtype = xp.data(x).dtype
        needs = self.needs_input_grad
        k = 3 if self.cell_state else 2  # the index of w_ih among the inputs
        need_x, need_wi, need_wh = needs[0], needs[k], needs[k + 1]
        need_bi, need_bh = len(needs) > k + 2 and needs[k + 2], len(needs) > k + 3 and needs[k + 3]
        size = self._chunk(batch, width, dtype)
        widths = {name: width for name in self.grads}
        chunk = _Tape(xp, size, batch, dtype, **widths) if xp is numpy_ns else None
        gx = [] if need_x else None
        gwi = gwh = gbi = gbh = None
        dh = None
        dc = gc[0] if gc else None
        for t0, t1 in _chunks(n, size, not self.reverse):
            ct = chunk if chunk is not None else _Tape(xp, t1 - t0, batch, dtype, **widths)
            for t in _span(t0, t1, not self.reverse):
                g = gy[t] if dh is None else gy[t] + dh
                p = t + 1 if self.reverse else t - 1
                first = p < 0 or p >= n  # the step that starts from h0
                h_prev = h0 if first else y[p]
                if self.cell_state:
                    c_prev = c0 if first else tape("c", p)
                    dh, dc = self.back(xp, tape, ct, t - t0, t, g, dc, c_prev, w_hh)
                else:
                    dh = self.back(xp, tape, ct, t - t0, t, g, h_prev, w_hh)
            rows = (t1 - t0) * batch
            dgi = xp.reshape(ct.stacked("dgi")[: t1 - t0], (rows, width))
            dgh = dgi if "dgh" not in self.grads else xp.reshape(ct.stacked("dgh")[: t1 - t0], (rows, width))
            if need_x:
                gx.append((t0, xp.matmul(dgi, w_ih)))
            if need_wi:
                gwi = _plus(gwi, xp.matmul(xp.transpose(dgi), xp.reshape(x[t0:t1], (rows, size_in))))
            if need_wh:
                gwh = _plus(gwh, self._hprev_product(xp, dgh, y, h0, t0, t1, n, batch))
            if need_bi:
                gbi = _plus(gbi, xp.sum(dgi, axis=0))
            if need_bh:
                gbh = gbi if dgh is dgi and need_bi else _plus(gbh, xp.sum(dgh, axis=0))
        if chunk is not None:
            chunk.release(*widths)
        if need_x:
            gx.sort(key=lambda e: e[0])
            gx = xp.reshape(xp.concatenate([g for _, g in gx], axis=0), (n, batch, size_in))
        out = [gx, dh if needs[1] else None]
        if self.cell_state:
            out.append(dc if needs[2] else None)
        out += [gwi, gwh]
        if len(needs) > k + 2:
            out += [gbi, gbh]
        return tuple(out)

    def _hprev_product(self, xp, dgh, y, h0, t0: int, t1: int, n: int, batch: int):
        """sum over the chunk's steps t of dgates_t^T h_(t-1): one product (two where h0 is among them)."""
        hid = h0.shape[-1]
        if self.reverse:  # step t starts from y[t + 1], the last step from h0
            if t1 < n:
                return xp.matmul(xp.transpose(dgh), xp.reshape(y[t0 + 1 : t1 + 1], (dgh.shape[0], hid)))
            last = xp.matmul(xp.transpose(dgh[dgh.shape[0] - batch :]), h0)
            if t1 - t0 == 1:
                return last
            rows = dgh.shape[0] - batch
            return last + xp.matmul(xp.transpose(dgh[:rows]), xp.reshape(y[t0 + 1 : t1], (rows, hid)))
        if t0 > 0:  # step t starts from y[t - 1], the first step from h0
            return xp.matmul(xp.transpose(dgh), xp.reshape(y[t0 - 1 : t1 - 1], (dgh.shape[0], hid)))
        first = xp.matmul(xp.transpose(dgh[:batch]), h0)
        if t1 - t0 == 1:
            return first
        rows = dgh.shape[0] - batch
        return first + xp.matmul(xp.transpose(dgh[batch:]), xp.reshape(y[0 : t1 - 1], (rows, hid)))


# ----------------------------------------------------------------------------- RNN (tanh, relu)
class RNNLayerOp(_Recurrence):
    """A sequence of Elman RNN steps, h_t = act(x_t @ W_ih^T + b_ih + h_(t-1) @ W_hh^T + b_hh), act tanh
    or relu."""

    formula = "h_t = act(x_t @ W_ih^T + b_ih + h_(t-1) @ W_hh^T + b_hh), act = tanh or relu, for t = 1..T"
    derivative = (
        "backpropagation through time: da_t = dh_t * act'(a_t); dh_(t-1) = da_t @ W_hh (+ the output's own "
        "gradient); dx_t = da_t @ W_ih; dW_hh = sum_t da_t^T h_(t-1); dW_ih = sum_t da_t^T x_t; "
        "db_ih = db_hh = sum_t da_t"
    )
    gates = 1

    def __init__(self, nonlinearity: str = "tanh", reverse: bool = False):
        if nonlinearity not in ("tanh", "relu"):
            raise ArgumentError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(reverse)
        self.nonlinearity = nonlinearity

    def step(self, xp, tape, t, gi_t, h, w_t, b):
        a = tape.matmul("y", t, h, w_t, gi_t, b)
        if xp is numpy_ns:
            return np.tanh(a, out=a) if self.nonlinearity == "tanh" else np.maximum(a, 0, out=a)
        if self.nonlinearity == "tanh":
            return tape.keep("y", t, xp.tanh(a))
        return tape.keep("y", t, xp.where(xp.data(a) > 0, a, xp.const(0, a)))

    def back(self, xp, tape, chunk, i, t, g, h_prev, w_hh):
        h = tape("y", t)
        if self.nonlinearity == "tanh":
            da = chunk.put("dgi", i, g * (1 - h * h))
        else:
            da = chunk.put("dgi", i, xp.where(xp.data(h) > 0, g, xp.const(0, g)))
        return xp.matmul(da, w_hh)


# ----------------------------------------------------------------------------- LSTM
class LSTMLayerOp(_Recurrence):
    """A sequence of LSTM steps; outputs (y, c_T): every h_t, and the last cell state."""

    formula = (
        "i, f, g, o = sigma, sigma, tanh, sigma of (x_t @ W_ih^T + b_ih + h_(t-1) @ W_hh^T + b_hh); "
        "c_t = f * c_(t-1) + i * g; h_t = o * tanh(c_t)"
    )
    derivative = (
        "backpropagation through time: do = dh * tanh(c); dc += dh * o * (1 - tanh(c)^2); "
        "di = dc * g; df = dc * c_(t-1); dg = dc * i; dc_(t-1) = dc * f; the gates' pre-activations get "
        "sigma' = s(1 - s) and tanh' = 1 - g^2; dh_(t-1) = dgates @ W_hh; dx_t = dgates @ W_ih; "
        "dW_hh = sum_t dgates^T h_(t-1); dW_ih = sum_t dgates^T x_t"
    )
    gates = 4
    cell_state = True
    kept = {"act": 4, "c": 1}

    _scale_cache: dict = {}

    @classmethod
    def _scales(cls, xp, like, hid: int):
        """Per gate column: sigma(a) = s * tanh(s * a) + u with s = u = 1/2 (i, f, o), and tanh(a) with
        s = 1, u = 0 (g): one tanh over all four gates. Returns s and u."""
        dtype = xp.data(like).dtype
        su = cls._scale_cache.get((hid, dtype))
        if su is None:
            s = np.full(4 * hid, 0.5, dtype)
            s[2 * hid : 3 * hid] = 1.0
            su = cls._scale_cache[(hid, dtype)] = (s, 1.0 - s)
        if xp is numpy_ns:
            return su
        return xp.const(su[0], like), xp.const(su[1], like)

    def prescale(self, hid: int, dtype):
        return self._scales(numpy_ns, np.empty(0, dtype), hid)[0]

    def step(self, xp, tape, t, gi_t, state, w_t, b):
        h, c = state
        hid = h.shape[-1]
        s, u = self._scales(xp, gi_t, hid)
        a = tape.matmul("act", t, h, w_t, gi_t, b)
        if xp is numpy_ns:  # a is s * a already (prescale)
            np.tanh(a, out=a)
            a *= s
            a += u
        else:
            a = tape.keep("act", t, xp.tanh(a * s) * s + u)
        i, f, g, o = a[:, :hid], a[:, hid : 2 * hid], a[:, 2 * hid : 3 * hid], a[:, 3 * hid :]
        if xp is numpy_ns:  # the same lines, computed in the tape's rows
            c_new = np.multiply(f, c, out=tape("c", t))
            c_new += i * g
            return np.multiply(o, np.tanh(c_new), out=tape("y", t)), c_new
        c_new = tape.put("c", t, f * c + i * g)
        return tape.put("y", t, o * xp.tanh(c_new)), c_new

    def back(self, xp, tape, chunk, i, t, g, dc, c_prev, w_hh):
        act = tape("act", t)
        tc = xp.tanh(tape("c", t))  # recomputed: cheaper than keeping it
        hid = tc.shape[-1]
        ig, f, gg, o = act[:, :hid], act[:, hid : 2 * hid], act[:, 2 * hid : 3 * hid], act[:, 3 * hid :]
        dc = g * o * (1 - tc * tc) if dc is None else dc + g * o * (1 - tc * tc)
        # the activations' derivatives from their values: sigma' = s(1 - s), tanh' = 1 - g^2
        if xp is numpy_ns:  # the same lines, computed in the chunk's row
            da = chunk("dgi", i)
            for k, (a, b) in enumerate(((dc, gg), (dc, c_prev), (dc, ig), (g, tc))):
                np.multiply(a, b, out=da[:, k * hid : (k + 1) * hid])
            d = 1 - act
            d *= act
            np.multiply(gg, gg, out=d[:, 2 * hid : 3 * hid])
            np.subtract(1, d[:, 2 * hid : 3 * hid], out=d[:, 2 * hid : 3 * hid])
            da *= d
        else:
            d = act * (1 - act)
            d = xp.concatenate([d[:, : 2 * hid], 1 - gg * gg, d[:, 3 * hid :]], axis=1)
            da = chunk.put("dgi", i, dc * gg, dc * c_prev, dc * ig, g * tc) * d
            da = chunk.keep("dgi", i, da)
        return xp.matmul(da, w_hh), dc * f


# ----------------------------------------------------------------------------- GRU
class GRULayerOp(_Recurrence):
    """A sequence of GRU steps (PyTorch's form: the reset gate multiplies W_hn h + b_hn)."""

    formula = (
        "r, z = sigma(x_t @ W_ir^T + b_ir + h_(t-1) @ W_hr^T + b_hr), sigma(... z ...); "
        "n = tanh(x_t @ W_in^T + b_in + r * (h_(t-1) @ W_hn^T + b_hn)); h_t = (1 - z) * n + z * h_(t-1)"
    )
    derivative = (
        "backpropagation through time: dn = dh * (1 - z); dz = dh * (h_(t-1) - n); dan = dn * (1 - n^2); "
        "dr = dan * (h_(t-1) @ W_hn^T + b_hn); dar, daz = dr * r(1 - r), dz * z(1 - z); "
        "dh_(t-1) = dh * z + [dar, daz, dan * r] @ W_hh; dx_t = [dar, daz, dan] @ W_ih; "
        "dW_hh = sum_t [dar, daz, dan * r]^T h_(t-1); dW_ih = sum_t [dar, daz, dan]^T x_t"
    )
    gates = 3
    kept = {"gh": 3, "rz": 2, "n": 1}
    grads = {"dgi": 1, "dgh": 1}

    def prescale(self, hid: int, dtype):
        pre = np.ones(3 * hid, dtype)
        pre[: 2 * hid] = 0.5  # r and z: their pre-activations come halved
        return pre

    def _biases(self, xp, b_ih, b_hh):
        """b_hr and b_hz go into the input projections; b_hn is added in each step, inside r * (...)."""
        hid = b_hh.shape[0] // 3
        if xp is numpy_ns:
            b_in = b_ih.copy()
            b_in[: 2 * hid] += b_hh[: 2 * hid]
            return b_in, b_hh[2 * hid :]
        zeros = xp.const(np.zeros(hid), b_hh)
        return b_ih + xp.concatenate([b_hh[: 2 * hid], zeros], axis=0), b_hh[2 * hid :]

    def step(self, xp, tape, t, gi_t, h, w_t, b_hn):
        hid = h.shape[-1]
        gh = tape.matmul("gh", t, h, w_t)
        if b_hn is not None:
            if xp is numpy_ns:
                gh[:, 2 * hid :] += b_hn
            else:
                gh = tape.keep("gh", t, xp.concatenate([gh[:, : 2 * hid], gh[:, 2 * hid :] + b_hn], axis=1))
        if xp is numpy_ns:  # the same lines, computed in the tape's rows
            rz = np.add(gi_t[:, : 2 * hid], gh[:, : 2 * hid], out=tape("rz", t))  # halved (prescale)
            np.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5
            n = np.multiply(rz[:, :hid], gh[:, 2 * hid :], out=tape("n", t))
            n += gi_t[:, 2 * hid :]
            np.tanh(n, out=n)
            y = np.subtract(h, n, out=tape("y", t))
            y *= rz[:, hid:]
            y += n
            return y
        rz = tape.put("rz", t, _sigmoid(xp, gi_t[:, : 2 * hid] + gh[:, : 2 * hid]))
        r, z = rz[:, :hid], rz[:, hid:]
        n = tape.put("n", t, xp.tanh(gi_t[:, 2 * hid :] + r * gh[:, 2 * hid :]))
        return tape.put("y", t, n + z * (h - n))

    def back(self, xp, tape, chunk, i, t, g, h_prev, w_hh):
        rz, n, ghn = tape("rz", t), tape("n", t), tape("gh", t)
        hid = n.shape[-1]
        ghn = ghn[:, 2 * hid :]
        r, z = rz[:, :hid], rz[:, hid:]
        gz = g * z
        if xp is numpy_ns:  # the same lines as below, computed in the chunk's rows
            di, dgh = chunk("dgi", i), chunk("dgh", i)
            d = 1 - rz
            d *= rz  # r(1 - r), z(1 - z)
            dan = np.subtract(g, gz, out=di[:, 2 * hid :])
            nn = n * n
            np.subtract(1, nn, out=nn)
            dan *= nn
            dar = np.multiply(dan, ghn, out=di[:, :hid])
            dar *= d[:, :hid]
            daz = np.subtract(h_prev, n, out=di[:, hid : 2 * hid])
            daz *= g
            daz *= d[:, hid:]
            dgh[:, : 2 * hid] = di[:, : 2 * hid]
            np.multiply(dan, r, out=dgh[:, 2 * hid :])
            dh = np.matmul(dgh, w_hh)
            dh += gz
            return dh
        dan = (g - gz) * (1 - n * n)
        dar = dan * ghn * (r * (1 - r))
        daz = g * (h_prev - n) * (z * (1 - z))
        chunk.put("dgi", i, dar, daz, dan)
        dgh = chunk.put("dgh", i, dar, daz, dan * r)
        return gz + xp.matmul(dgh, w_hh)


# ----------------------------------------------------------------------------- functions
_NODES = {"rnn_tanh": RNNLayerOp, "rnn_relu": RNNLayerOp, "lstm": LSTMLayerOp, "gru": GRULayerOp}
_GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def _same_dtypes(op: str, named) -> None:
    """PyTorch's rule: the input, the states, the weights and biases share one dtype (nothing promoted)."""
    first = named[0]
    for name, t in named[1:]:
        if t is not None and t.data.dtype != first[1].data.dtype:
            raise DTypeError(
                f"{op}: {name} has dtype {t.data.dtype} but {first[0]} has dtype {first[1].data.dtype}; they must "
                f"have the same dtype, as in PyTorch (convert the input, e.g. with .to({str(first[1].dtype)!r}), or "
                "the module, e.g. with .double())"
            )


def recurrent_layer(mode: str, x, h0, w_ih, w_hh, b_ih=None, b_hh=None, c0=None, reverse: bool = False):
    """One layer of one direction over a time-major sequence: ``mode`` is 'rnn_tanh', 'rnn_relu', 'lstm'
    or 'gru'; ``x`` (T, B, I), ``h0`` (and ``c0`` for the LSTM) (B, H); weights in PyTorch's layout.
    Returns (y, h_T, c_T): y (T, B, H) the states after every step in time order, h_T the final state
    (y[0] when ``reverse``), c_T the LSTM's final cell state (None for the others).

    One fused node (RNNLayerOp, LSTMLayerOp or GRULayerOp), which also makes the input projections."""
    if mode not in _NODES:
        raise ArgumentError(f"recurrent_layer: mode must be one of {sorted(_NODES)}, got {mode!r}")
    x, h0, w_ih, w_hh = as_t(x), as_t(h0), as_t(w_ih), as_t(w_hh)
    b_ih = None if b_ih is None else as_t(b_ih)
    b_hh = None if b_hh is None else as_t(b_hh)
    c0 = None if c0 is None else as_t(c0)
    if x.ndim != 3:
        raise ShapeError(f"recurrent_layer: expected a time-major input (seq_len, batch, input_size), got {x.shape}")
    if (b_ih is None) != (b_hh is None):
        raise ArgumentError("recurrent_layer: give both biases (b_ih and b_hh) or neither")
    _same_dtypes(
        mode,
        [
            ("the weight w_ih", w_ih),
            ("the input", x),
            ("h0", h0),
            ("c0", c0),
            ("w_hh", w_hh),
            ("b_ih", b_ih),
            ("b_hh", b_hh),
        ],
    )
    node = _NODES[mode](mode[4:], reverse) if mode.startswith("rnn") else _NODES[mode](reverse)
    args = (x, h0) + ((c0,) if mode == "lstm" else ()) + (w_ih, w_hh) + (() if b_hh is None else (b_ih, b_hh))
    out = node(*args)
    y, c_n = out if mode == "lstm" else (out, None)
    return y, y[0 if reverse else x.shape[0] - 1], c_n


def _cell(mode: str, x, hx, w_ih, w_hh, b_ih, b_hh):
    """One step of a recurrent cell on (B, I) or unbatched (I,) input: the sequence node with one step."""
    x = as_t(x)
    if x.ndim not in (1, 2):
        raise ShapeError(f"{mode}_cell: expected input of shape (batch, input_size) or (input_size,), got {x.shape}")
    batched = x.ndim == 2
    hs = hx if mode == "lstm" else (hx,)
    if mode == "lstm" and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
        raise ArgumentError("lstm_cell: hx must be a pair (h, c) of states")
    hs = [as_t(h) for h in hs]
    for h in hs:
        if h.ndim != x.ndim:
            raise ShapeError(
                f"{mode}_cell: the state must have {x.ndim} dimension(s) like the input {x.shape}, got shape {h.shape}"
            )
    if not batched:
        x, hs = reshape(x, (1, x.shape[0])), [reshape(h, (1, h.shape[0])) for h in hs]
    y, h_new, c_new = recurrent_layer(
        mode, reshape(x, (1,) + x.shape), hs[0], w_ih, w_hh, b_ih, b_hh, hs[1] if mode == "lstm" else None
    )
    if not batched:
        h_new = reshape(h_new, h_new.shape[1:])
        c_new = None if c_new is None else reshape(c_new, c_new.shape[1:])
    return (h_new, c_new) if mode == "lstm" else h_new


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):  # noqa: A002 - PyTorch's argument name
    """One Elman RNN step, h' = tanh(x @ w_ih^T + b_ih + hx @ w_hh^T + b_hh) (PyTorch's ``torch.rnn_tanh_cell``)."""
    return _cell("rnn_tanh", input, hx, w_ih, w_hh, b_ih, b_hh)


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):  # noqa: A002
    """One Elman RNN step with relu, h' = relu(x @ w_ih^T + b_ih + hx @ w_hh^T + b_hh)."""
    return _cell("rnn_relu", input, hx, w_ih, w_hh, b_ih, b_hh)


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):  # noqa: A002
    """One LSTM step; ``hx`` is (h, c); returns (h', c'). Gates in PyTorch's order i, f, g, o."""
    return _cell("lstm", input, hx, w_ih, w_hh, b_ih, b_hh)


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):  # noqa: A002
    """One GRU step (PyTorch's form, gates r, z, n with n = tanh(W_in x + b_in + r * (W_hn h + b_hn)))."""
    return _cell("gru", input, hx, w_ih, w_hh, b_ih, b_hh)
