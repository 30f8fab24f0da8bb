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
from .linalg import linear
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
    """The logistic function as (1 + tanh(a / 2)) / 2: no overflow for any a, one tanh (NumPy's tanh
    is vectorised, its exp-based logistic is not). ``a`` is a fresh array: NumPy's path overwrites it."""
    if xp is numpy_ns:
        a *= 0.5
        np.tanh(a, out=a)
        a *= 0.5
        a += 0.5
        return a
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


def _weight_grads(xp, dg, y, h0, reverse: bool, needs_w: bool, needs_b: bool):
    """dW_hh = sum over steps and batch of dgates_t^T h_(t-1), db_hh = the sum of dgates: each a product or
    sum over all steps at once (the states h_(t-1) are h0 and the outputs y shifted by one step)."""
    n, b, g = dg.shape
    hid = h0.shape[-1]
    gw = gb = None
    if needs_w:
        first, rest, ys = (n - 1, slice(0, n - 1), slice(1, n)) if reverse else (0, slice(1, n), slice(0, n - 1))
        gw = xp.matmul(xp.transpose(dg[first]), h0)
        if n > 1:
            rows = (n - 1) * b
            gw = gw + xp.matmul(xp.transpose(xp.reshape(dg[rest], (rows, g))), xp.reshape(y[ys], (rows, hid)))
    if needs_b:
        gb = xp.sum(xp.reshape(dg, (n * b, g)), axis=0)
    return gw, gb


def _check(op: str, gates: int, gi, h0, w_hh, b_hh, c0=None) -> int:
    """Shapes of a recurrence node's inputs; returns the hidden size."""
    if w_hh.ndim != 2 or w_hh.shape[0] != gates * w_hh.shape[1]:
        raise ShapeError(
            f"{op}: the recurrent weight must have shape ({gates} * hidden_size, hidden_size), got {w_hh.shape}"
        )
    hidden = w_hh.shape[1]
    if gi.ndim != 3 or gi.shape[2] != gates * hidden:
        raise ShapeError(
            f"{op}: the input projections must have shape (seq_len, batch, {gates * hidden}) for hidden size "
            f"{hidden}, got {gi.shape}"
        )
    for name, s in (("h0", h0), ("c0", c0)):
        if s is not None and s.shape != (gi.shape[1], hidden):
            raise ShapeError(
                f"{op}: the initial state {name} must have shape (batch, hidden_size) = "
                f"({gi.shape[1]}, {hidden}), got {s.shape}"
            )
    if b_hh is not None and b_hh.shape != (gates * hidden,):
        raise ShapeError(f"{op}: the recurrent bias must have shape ({gates * hidden},), got {b_hh.shape}")
    if gi.shape[0] == 0:
        raise ShapeError(f"{op}: the sequence is empty (input projections of shape {gi.shape})")
    return hidden


class _Recurrence(Function):
    """What the three recurrence nodes share: the loop over the steps, forwards and backwards.

    Inputs (gi, h0, [c0,] w_hh, [b_hh]); ``gi`` (T, B, G*H) holds every step's input projection
    ``x_t @ W_ih^T + b_ih``. Output y (T, B, H), the state after each step in time order (a reverse
    node runs from the last step to the first), and for the LSTM also the final cell state c_T.
    Subclasses define ``gates``, ``kept`` (the per-step values and their widths in units of H), ``step``
    (one step forwards, keeping its values on a tape) and ``back`` (one step of backpropagation through
    time); each is written once, against the namespace ``xp``.
    """

    gates = 1
    cell_state = False
    kept: dict = {}
    #: what back() writes per step: the gradient of the input projections, and (GRU only, where they
    #: differ) of the recurrent projections
    grads: dict = {"dgi": 1}

    def __init__(self, reverse: bool = False):
        self.reverse = bool(reverse)

    def run(self, xp, gi, h0, c0, w_hh, b_hh):
        """The forward loop; returns the tape of kept values (the outputs y among them) and the last state."""
        n, batch, _ = gi.shape
        hid = h0.shape[-1]
        tape = _Tape(xp, n, batch, xp.data(gi).dtype, y=hid, **{k: w * hid for k, w in self.kept.items()})
        w_t = np.ascontiguousarray(w_hh.T) if xp is numpy_ns else xp.transpose(w_hh)
        state = (h0, c0) if self.cell_state else h0
        for t in _order(n, self.reverse):
            state = self.step(xp, tape, t, gi[t], state, w_t, b_hh)
        return tape, state

    def forward(self, gi, h0, *rest):
        c0, w_hh, b_hh = self._unpack(rest)
        _check(self.name, self.gates, gi, h0, w_hh, b_hh, c0)
        self.tape, state = self.run(numpy_ns, gi, h0, c0, w_hh, b_hh)
        y = self.tape.stacked("y")
        self.save_for_backward(gi, h0, c0, w_hh, b_hh, y)
        if self.cell_state:
            return y, state[1].copy()  # (its own memory: the tape's row is read by backward)
        return y

    def _free(self) -> None:
        """After the last backward through this node (the graph not retained): its tape's buffers, all but
        the output, go back to the pool for the next call."""
        tape = self.__dict__.get("tape")
        if tape is not None:
            tape.release(*[k for k in tape.bufs if k != "y"])
        super()._free()

    def _unpack(self, rest):
        if self.cell_state:
            c0, w_hh, *b = rest
        else:
            c0 = None
            w_hh, *b = rest
        return c0, w_hh, (b[0] if b else None)

    def vjp(self, xp, gy, *gc):
        gi, h0, c0, w_hh, b_hh, y = self.saved(xp)
        if xp is numpy_ns:
            tape = self.tape
        else:  # under create_graph: every step again, with chainrule's operations, to differentiate them
            tape, _ = self.run(xp, gi, h0, c0, w_hh, b_hh)
            y = tape.stacked("y")
        n, batch, width = gi.shape
        back = _Tape(xp, n, batch, xp.data(gi).dtype, **{k: width for k in self.grads})
        dh = None
        dc = gc[0] if gc else None
        last = n - 1 if self.reverse else 0  # the step that starts from h0
        for t in _order(n, not self.reverse):
            g = gy[t] if dh is None else gy[t] + dh
            prev = (t + 1 if self.reverse else t - 1) if t != last else None
            h_prev = h0 if prev is None else y[prev]
            if self.cell_state:
                c_prev = c0 if prev is None else tape("c", prev)
                dh, dc = self.back(xp, tape, back, t, g, dc, h_prev, c_prev, w_hh)
            else:
                dh = self.back(xp, tape, back, t, g, h_prev, w_hh)
        needs = self.needs_input_grad
        k = 3 if self.cell_state else 2  # the index of w_hh among the inputs
        dgh = back.stacked("dgh" if "dgh" in self.grads else "dgi")
        gw, gb = _weight_grads(xp, dgh, y, h0, self.reverse, needs[k], len(needs) > k + 1 and needs[k + 1])
        back.release(*[k for k in self.grads if k != "dgi"])
        out = [back.stacked("dgi") if needs[0] else None, dh if needs[1] else None]
        if self.cell_state:
            out.append(dc if needs[2] else None)
        out.append(gw)
        if len(needs) > k + 1:
            out.append(gb)
        return tuple(out)


# ----------------------------------------------------------------------------- RNN (tanh, relu)
class RNNLayerOp(_Recurrence):
    """A sequence of Elman RNN steps, h_t = act(gi_t + h_(t-1) @ W_hh^T + b_hh), act tanh or relu."""

    formula = "h_t = act(x_t @ W_ih^T + b_ih + h_(t-1) @ W_hh^T + b_hh), act = tanh or relu, for t = 1..T"
    derivative = (
        "backpropagation through time: da_t = dh_t * act'(a_t); dh_(t-1) = da_t @ W_hh (+ the output's own "
        "gradient); dW_hh = sum_t da_t^T h_(t-1); db_hh = sum_t da_t; d(x_t @ W_ih^T + b_ih) = da_t"
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

    def back(self, xp, tape, back, t, g, h_prev, w_hh):
        h = tape("y", t)
        if self.nonlinearity == "tanh":
            da = back.put("dgi", t, g * (1 - h * h))
        else:
            da = back.put("dgi", t, xp.where(xp.data(h) > 0, g, xp.const(0, g)))
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
        "sigma' = s(1 - s) and tanh' = 1 - g^2; dh_(t-1) = dgates @ W_hh; dW_hh = sum_t dgates^T h_(t-1)"
    )
    gates = 4
    cell_state = True
    kept = {"act": 4, "c": 1, "tc": 1}

    @staticmethod
    def _scales(xp, like, hid: int):
        """Per gate column: sigma(a) = s * tanh(s * a) + u with s = u = 1/2 (i, f, o), and tanh(a) with
        s = 1, u = 0 (g): one tanh over all four gates. Returns s, u and s^2."""
        s = np.full(4 * hid, 0.5, xp.data(like).dtype)
        s[2 * hid : 3 * hid] = 1.0
        if xp is numpy_ns:
            return s, 1.0 - s, s * s
        return xp.const(s, like), xp.const(1.0 - s, like), xp.const(s * s, like)

    def step(self, xp, tape, t, gi_t, state, w_t, b):
        h, c = state
        hid = h.shape[-1]
        s, u, _ = self._scales(xp, gi_t, hid)
        a = tape.matmul("act", t, h, w_t, gi_t, b)
        if xp is numpy_ns:
            a *= s
            np.tanh(a, out=a)
            a *= s
            a += u
        else:
            a = tape.keep("act", t, xp.tanh(a * s) * s + u)
        i, f, g, o = a[:, :hid], a[:, hid : 2 * hid], a[:, 2 * hid : 3 * hid], a[:, 3 * hid :]
        c_new = tape.put("c", t, f * c + i * g)
        tc = tape.put("tc", t, xp.tanh(c_new))
        return tape.put("y", t, o * tc), c_new

    def back(self, xp, tape, back, t, g, dc, h_prev, c_prev, w_hh):
        act, tc = tape("act", t), tape("tc", t)
        hid = tc.shape[-1]
        s, u, s2 = self._scales(xp, tc, hid)
        i, f, gg, o = act[:, :hid], act[:, hid : 2 * hid], act[:, 2 * hid : 3 * hid], act[:, 3 * hid :]
        dc = dc + g * o * (1 - tc * tc)
        v = act - u
        # the activations' derivatives from their values: sigma' = 1/4 - (s - 1/2)^2 = s(1 - s), tanh' = 1 - g^2
        da = back.put("dgi", t, dc * gg, dc * c_prev, dc * i, g * tc)
        if xp is numpy_ns:
            v *= v
            np.subtract(s2, v, out=v)
            da *= v
        else:
            da = back.keep("dgi", t, da * (s2 - v * v))
        return xp.matmul(da, w_hh), dc * f


# ----------------------------------------------------------------------------- GRU
class GRULayerOp(_Recurrence):
    """A sequence of GRU steps (PyTorch's form: the reset gate multiplies W_hn h + b_hn)."""

    formula = (
        "r, z = sigma(gi_r + h_(t-1) @ W_hr^T + b_hr), sigma(gi_z + h_(t-1) @ W_hz^T + b_hz); "
        "n = tanh(gi_n + r * (h_(t-1) @ W_hn^T + b_hn)); h_t = (1 - z) * n + z * h_(t-1)"
    )
    derivative = (
        "backpropagation through time: dn = dh * (1 - z); dz = dh * (h_(t-1) - n); dan = dn * (1 - n^2); "
        "dr = dan * (h_(t-1) @ W_hn^T + b_hn); dar, daz = dr * r(1 - r), dz * z(1 - z); "
        "dh_(t-1) = dh * z + [dar, daz, dan * r] @ W_hh; dW_hh = sum_t [dar, daz, dan * r]^T h_(t-1)"
    )
    gates = 3
    kept = {"gh": 3, "rz": 2, "n": 1}
    grads = {"dgi": 1, "dgh": 1}

    def step(self, xp, tape, t, gi_t, h, w_t, b):
        hid = h.shape[-1]
        gh = tape.matmul("gh", t, h, w_t, b)
        rz = tape.put("rz", t, _sigmoid(xp, gi_t[:, : 2 * hid] + gh[:, : 2 * hid]))
        r, z = rz[:, :hid], rz[:, hid:]
        n = tape.put("n", t, xp.tanh(gi_t[:, 2 * hid :] + r * gh[:, 2 * hid :]))
        return tape.put("y", t, n + z * (h - n))

    def back(self, xp, tape, back, t, g, h_prev, w_hh):
        rz, n, ghn = tape("rz", t), tape("n", t), tape("gh", t)
        hid = n.shape[-1]
        ghn = ghn[:, 2 * hid :]
        r, z = rz[:, :hid], rz[:, hid:]
        gz = g * z
        dan = (g - gz) * (1 - n * n)
        dar = dan * ghn * (r * (1 - r))
        daz = g * (h_prev - n) * (z * (1 - z))
        back.put("dgi", t, dar, daz, dan)
        dgh = back.put("dgh", t, dar, daz, dan * r)
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

    The input projection of all steps is one ``linear`` node (one matrix product); the recurrence is one
    fused node (RNNLayerOp, LSTMLayerOp or GRULayerOp)."""
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
    t, b, i = x.shape
    if w_ih.ndim != 2 or w_ih.shape[1] != i:
        raise ShapeError(
            f"{mode}: input of shape {x.shape} does not fit the input weight of shape {w_ih.shape}: the input's "
            f"last dimension must be the weight's second (input_size)"
        )
    gi = linear(reshape(x, (t * b, i)), w_ih, b_ih)
    gi = reshape(gi, (t, b, gi.shape[-1]))
    node = _NODES[mode](mode[4:], reverse) if mode.startswith("rnn") else _NODES[mode](reverse)
    args = (gi, h0) + ((c0,) if mode == "lstm" else ()) + (w_hh,) + (() if b_hh is None else (b_hh,))
    out = node(*args)
    y, c_n = out if mode == "lstm" else (out, None)
    return y, y[0 if reverse else t - 1], c_n


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
