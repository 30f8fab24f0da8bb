"""Recurrent layers: RNN (tanh or relu), LSTM and GRU over sequences, and their one-step cells.

PyTorch's arguments, parameter names and layouts (``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``,
``bias_hh_l{k}``, with ``_reverse`` for the backward direction; gates stacked i, f, g, o for the LSTM and
r, z, n for the GRU) and initialisation (every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))),
so a PyTorch state_dict loads and gives the same outputs. Each layer and direction is two graph nodes: the
input projection of the whole sequence (one ``linear``) and the recurrence (one fused node whose derivative
is backpropagation through time; see ``chainrule.ops.rnn``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import checks, ops
from ..errors import ArgumentError, DTypeError, ShapeError, UnsupportedError
from ..ops.rnn import gru_cell, lstm_cell, recurrent_layer, rnn_relu_cell, rnn_tanh_cell
from ..tensor import Tensor
from . import init
from .module import Module, Parameter

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def _positive(owner: str, **sizes) -> None:
    for name, v in sizes.items():
        checks.integer(owner, name, v, 1)


class RNNBase(Module):
    """What RNN, LSTM and GRU share: the stacked layers and directions, and the checks of their inputs."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        dtype=np.float32,
        generator=None,
    ):
        super().__init__()
        owner = type(self).__name__
        _positive(owner, input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ArgumentError(
                f"{owner}: dropout should be a number in range [0, 1] representing the probability of an element "
                f"being zeroed, got {dropout!r}"
            )
        if proj_size:
            raise UnsupportedError(
                f"{owner}: proj_size={proj_size} (LSTM with projections) is not supported; use proj_size=0, or a "
                "Linear layer on the outputs"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"{owner}: dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                UserWarning,
                stacklevel=2,
            )
        self.mode = mode
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.proj_size = 0
        gates = _GATES[mode] * self.hidden_size
        directions = 2 if bidirectional else 1
        for layer in range(self.num_layers):
            size_in = self.input_size if layer == 0 else self.hidden_size * directions
            for d in range(directions):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                setattr(self, "weight_ih" + sfx, Parameter(checks.empty(owner, (gates, size_in), dtype)))
                setattr(self, "weight_hh" + sfx, Parameter(checks.empty(owner, (gates, self.hidden_size), dtype)))
                if self.bias:
                    setattr(self, "bias_ih" + sfx, Parameter(np.empty(gates, dtype)))
                    setattr(self, "bias_hh" + sfx, Parameter(np.empty(gates, dtype)))
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None) -> None:
        """Every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch does."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv, generator=generator)

    def flatten_parameters(self) -> None:
        """Nothing to do (PyTorch's cuDNN memory layout); kept so PyTorch code runs unchanged."""

    def _weights(self, layer: int, d: int):
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        return tuple(getattr(self, name + sfx, None) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    @property
    def all_weights(self) -> list:
        """The parameters per layer and direction: [[weight_ih, weight_hh, bias_ih, bias_hh], ...]."""
        d = 2 if self.bidirectional else 1
        return [[w for w in self._weights(k, j) if w is not None] for k in range(self.num_layers) for j in range(d)]

    # ------------------------------------------------------------------ input checks
    def _input(self, x):
        owner = type(self).__name__
        x = x if isinstance(x, Tensor) else ops.as_t(x)
        if x.ndim not in (2, 3):
            raise ShapeError(f"{owner}: Expected input to be 2D or 3D, got {x.ndim}D input instead (shape {x.shape})")
        if x.shape[-1] != self.input_size:
            raise ShapeError(
                f"{owner}: input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
                f"{x.shape[-1]} (input of shape {x.shape})"
            )
        dt = self.weight_ih_l0.dtype
        if x.dtype != dt:
            raise DTypeError(
                f"{owner}: input must have the type {dt}, got type {x.dtype}: convert the input (.to({str(dt)!r})) "
                "or the module (.double() / .float())"
            )
        return x

    def _state(self, h, name: str, batched: bool, batch: int):
        """An initial state as (num_layers * num_directions, batch, hidden_size), or zeros when None."""
        owner = type(self).__name__
        n = self.num_layers * (2 if self.bidirectional else 1)
        dt = self.weight_ih_l0.dtype
        if h is None:
            return ops.as_t(np.zeros((n, batch, self.hidden_size), dt))
        h = h if isinstance(h, Tensor) else ops.as_t(h)
        want = 3 if batched else 2
        if h.ndim != want:
            kind = "batched 3-D" if batched else "unbatched 2-D"
            raise ShapeError(
                f"{owner}: For {kind} input, {name} should also be {want}-D but got {h.ndim}-D tensor (shape {h.shape})"
            )
        expected = (n, batch, self.hidden_size) if batched else (n, self.hidden_size)
        if h.shape != expected:
            raise ShapeError(f"{owner}: Expected {name} size {expected}, got {h.shape}")
        if h.dtype != dt:
            raise DTypeError(f"{owner}: {name} must have the type {dt} like the parameters, got {h.dtype}")
        return h if batched else ops.expand_dims(h, 1)

    def _run(self, x, hx, cx):
        """The layers over a time-major input (T, B, I): (output (T, B, D*H), [h_n per layer/direction],
        [c_n ...])."""
        directions = 2 if self.bidirectional else 1
        hs, cs = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(directions):
                k = layer * directions + d
                y, h_n, c_n = recurrent_layer(
                    self.mode, x, hx[k], *self._weights(layer, d), c0=None if cx is None else cx[k], reverse=d == 1
                )
                outs.append(y)
                hs.append(h_n)
                cs.append(c_n)
            x = outs[0] if directions == 1 else ops.cat(outs, 2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = ops.dropout(x, self.dropout, True)
        return x, hs, cs

    def _forward(self, input, hx, cx):  # noqa: A002 - PyTorch's argument name
        x = self._input(input)
        batched = x.ndim == 3
        if not batched:
            x = ops.expand_dims(x, 1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        batch = x.shape[1]
        names = ("hx[0]", "hx[1]") if self.mode == "lstm" else ("hx",)
        h0 = self._state(hx, names[0], batched, batch)
        c0 = self._state(cx, names[1], batched, batch) if self.mode == "lstm" else None
        y, hs, cs = self._run(x, h0, c0)
        if not batched:
            y = ops.squeeze(y, 1)
        elif self.batch_first:
            y = y.transpose(0, 1)
        h_n = ops.stack(hs, 0)
        c_n = ops.stack(cs, 0) if self.mode == "lstm" else None
        if not batched:
            h_n = ops.squeeze(h_n, 1)
            c_n = None if c_n is None else ops.squeeze(c_n, 1)
        return y, h_n, c_n

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "rnn_relu":
            s += ", nonlinearity='relu'"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """An Elman RNN, h_t = tanh(x_t W_ih^T + b_ih + h_(t-1) W_hh^T + b_hh) (or relu), stacked ``num_layers``
    deep. ``forward(input, hx=None)`` returns (output, h_n): output (L, N, D * H) (batch_first: (N, L, D * H);
    unbatched input (L, H_in): (L, D * H)), h_n (num_layers * D, N, H)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype=np.float32,
        generator=None,
    ):
        if nonlinearity not in ("tanh", "relu"):
            raise ArgumentError(f"RNN: Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(
            "rnn_" + nonlinearity,
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            dtype=dtype,
            generator=generator,
        )
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):  # noqa: A002
        y, h_n, _ = self._forward(input, hx, None)
        return y, h_n


class LSTM(RNNBase):
    """A long short-term memory network (gates i, f, g, o), stacked ``num_layers`` deep.
    ``forward(input, hx=None)`` with hx = (h_0, c_0) returns (output, (h_n, c_n)). ``proj_size`` other than 0
    is not supported."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        dtype=np.float32,
        generator=None,
    ):
        super().__init__(
            "lstm",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            dtype=dtype,
            generator=generator,
        )

    def forward(self, input, hx=None):  # noqa: A002
        if hx is None:
            h0 = c0 = None
        elif isinstance(hx, (tuple, list)) and len(hx) == 2:
            h0, c0 = hx
        else:
            raise ArgumentError("LSTM: hx must be a tuple (h_0, c_0) of the initial hidden and cell states")
        y, h_n, c_n = self._forward(input, h0, c0)
        return y, (h_n, c_n)


class GRU(RNNBase):
    """A gated recurrent unit network (gates r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn))),
    stacked ``num_layers`` deep. ``forward(input, hx=None)`` returns (output, h_n)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype=np.float32,
        generator=None,
    ):
        super().__init__(
            "gru",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            dtype=dtype,
            generator=generator,
        )

    def forward(self, input, hx=None):  # noqa: A002
        y, h_n, _ = self._forward(input, hx, None)
        return y, h_n


# ----------------------------------------------------------------------------- cells
class RNNCellBase(Module):
    """One step of a recurrent layer: parameters weight_ih (G*H, I), weight_hh (G*H, H), bias_ih, bias_hh."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, gates: int, dtype=np.float32, generator=None):
        super().__init__()
        _positive(type(self).__name__, input_size=input_size, hidden_size=hidden_size)
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.bias = bool(bias)
        owner = type(self).__name__
        self.weight_ih = Parameter(checks.empty(owner, (gates * hidden_size, input_size), dtype))
        self.weight_hh = Parameter(checks.empty(owner, (gates * hidden_size, hidden_size), dtype))
        if bias:
            self.bias_ih = Parameter(np.empty(gates * hidden_size, dtype))
            self.bias_hh = Parameter(np.empty(gates * hidden_size, dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv, generator=generator)

    def _check(self, x, states):
        owner = type(self).__name__
        x = x if isinstance(x, Tensor) else ops.as_t(x)
        if x.ndim not in (1, 2):
            raise ShapeError(f"{owner}: Expected input to be 1D or 2D, got {x.ndim}D instead (shape {x.shape})")
        if x.shape[-1] != self.input_size:
            raise ShapeError(
                f"{owner}: input has inconsistent input_size: got {x.shape[-1]} expected {self.input_size} "
                f"(input of shape {x.shape})"
            )
        dt = self.weight_ih.dtype
        if x.dtype != dt:
            raise DTypeError(f"{owner}: input must have the type {dt}, got type {x.dtype}")
        want = x.shape[:-1] + (self.hidden_size,)
        out = []
        for name, h in states:
            if h is None:
                out.append(ops.as_t(np.zeros(want, dt)))
                continue
            h = h if isinstance(h, Tensor) else ops.as_t(h)
            if h.shape != want:
                raise ShapeError(f"{owner}: {name} has shape {h.shape}, expected {want} for input of shape {x.shape}")
            out.append(h)
        return x, out

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu); ``forward(input, hx=None)`` returns h'."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        dtype=np.float32,
        generator=None,
    ):
        if nonlinearity not in ("tanh", "relu"):
            raise ArgumentError(f"RNNCell: Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, 1, dtype, generator)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):  # noqa: A002
        x, (h,) = self._check(input, [("hx", hx)])
        fn = rnn_tanh_cell if self.nonlinearity == "tanh" else rnn_relu_cell
        return fn(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class LSTMCell(RNNCellBase):
    """One LSTM step; ``forward(input, hx=None)`` with hx = (h, c) returns (h', c')."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=np.float32, generator=None):
        super().__init__(input_size, hidden_size, bias, 4, dtype, generator)

    def forward(self, input, hx=None):  # noqa: A002
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ArgumentError("LSTMCell: hx must be a tuple (h, c)")
        h, c = (None, None) if hx is None else hx
        x, (h, c) = self._check(input, [("hx[0]", h), ("hx[1]", c)])
        return lstm_cell(x, (h, c), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class GRUCell(RNNCellBase):
    """One GRU step; ``forward(input, hx=None)`` returns h'."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=np.float32, generator=None):
        super().__init__(input_size, hidden_size, bias, 3, dtype, generator)

    def forward(self, input, hx=None):  # noqa: A002
        x, (h,) = self._check(input, [("hx", hx)])
        return gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
