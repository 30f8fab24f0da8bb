"""Recurrent layers (RNN, LSTM, GRU and their cells) against PyTorch 2.13 in float64: outputs, final states and
every gradient over random configurations, PyTorch state_dicts loading, second derivatives, numerical
gradient checks, and the errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

from conftest import requires_torch, torch

KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def _modules(kind, *args, **kw):
    """The chainrule module and PyTorch's, same arguments, PyTorch's parameters copied into chainrule's."""
    if kind.startswith("rnn"):
        kw["nonlinearity"] = kind[4:]
        name = "RNN"
    else:
        name = kind.upper()
    tm = getattr(torch.nn, name)(*args, **kw).double()
    m = getattr(cr.nn, name)(*args, **kw, dtype=np.float64)
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return m, tm


def _config(seed):
    rng = np.random.default_rng(seed)
    return dict(
        kind=KINDS[seed % 4],
        num_layers=int(rng.integers(1, 3)),
        bidirectional=bool(rng.integers(0, 2)),
        batch_first=bool(rng.integers(0, 2)),
        bias=bool(rng.random() > 0.2),
        states=bool(rng.integers(0, 2)),
        unbatched=bool(rng.random() > 0.75),
        seq=int(rng.integers(1, 6)),
        batch=int(rng.integers(1, 4)),
        input_size=int(rng.integers(1, 5)),
        hidden=int(rng.integers(1, 6)),
    )


def _inputs(c, rng):
    d = 2 if c["bidirectional"] else 1
    if c["unbatched"]:
        x = rng.normal(size=(c["seq"], c["input_size"]))
        sshape = (c["num_layers"] * d, c["hidden"])
    else:
        x = rng.normal(
            size=(c["batch"], c["seq"], c["input_size"])
            if c["batch_first"]
            else (c["seq"], c["batch"], c["input_size"])
        )
        sshape = (c["num_layers"] * d, c["batch"], c["hidden"])
    states = [rng.normal(size=sshape) for _ in range(2 if c["kind"] == "lstm" else 1)] if c["states"] else None
    return x, states


def _call(m, x, states, lstm):
    """(output, h_n, c_n or None) of a module of either library."""
    if states is None:
        out, h = m(x)
    else:
        out, h = m(x, tuple(states) if lstm else states[0])
    return (out, h[0], h[1]) if lstm else (out, h, None)


@requires_torch
@pytest.mark.parametrize("seed", range(48))
def test_outputs_final_states_and_gradients_equal_pytorchs(seed):
    c = _config(seed)
    rng = np.random.default_rng(100 + seed)
    lstm = c["kind"] == "lstm"
    m, tm = _modules(
        c["kind"],
        c["input_size"],
        c["hidden"],
        num_layers=c["num_layers"],
        bias=c["bias"],
        batch_first=c["batch_first"],
        bidirectional=c["bidirectional"],
    )
    x, states = _inputs(c, rng)

    xs = cr.tensor(x, requires_grad=True)
    ss = None if states is None else [cr.tensor(s, requires_grad=True) for s in states]
    out, h, cc = _call(m, xs, ss, lstm)
    txs = torch.tensor(x, requires_grad=True)
    tss = None if states is None else [torch.tensor(s, requires_grad=True) for s in states]
    tout, th, tc = _call(tm, txs, tss, lstm)

    assert out.shape == tuple(tout.shape) and h.shape == tuple(th.shape)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h.numpy(), th.detach().numpy(), rtol=1e-10, atol=1e-12)
    if lstm:
        np.testing.assert_allclose(cc.numpy(), tc.detach().numpy(), rtol=1e-10, atol=1e-12)

    vs = [rng.normal(size=tout.shape), rng.normal(size=th.shape)] + ([rng.normal(size=tc.shape)] if lstm else [])
    loss = sum((o * cr.tensor(v)).sum() for o, v in zip([out, h, cc], vs))
    tloss = sum((o * torch.tensor(v)).sum() for o, v in zip([tout, th, tc], vs))
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(xs.grad.numpy(), txs.grad.numpy(), rtol=1e-9, atol=1e-11)
    for s, ts in zip(ss or [], tss or []):
        np.testing.assert_allclose(s.grad.numpy(), ts.grad.numpy(), rtol=1e-9, atol=1e-11)
    tparams = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), rtol=1e-9, atol=1e-11, err_msg=name)


@requires_torch
@pytest.mark.parametrize("kind", KINDS)
def test_dropout_between_layers_is_off_in_eval_mode_and_on_in_training(kind):
    m, tm = _modules(kind, 3, 4, num_layers=3, dropout=0.5)
    x = np.random.default_rng(0).normal(size=(5, 2, 3))
    m.eval()
    tm.eval()
    out = _call(m, cr.tensor(x), None, kind == "lstm")[0]
    np.testing.assert_allclose(
        out.numpy(), _call(tm, torch.tensor(x), None, kind == "lstm")[0].detach().numpy(), rtol=1e-10, atol=1e-12
    )
    m.train()
    xs = cr.tensor(x, requires_grad=True)
    y = _call(m, xs, None, kind == "lstm")[0]
    assert not np.allclose(y.numpy(), out.numpy())  # a different network each call in training
    y.sum().backward()
    assert all(p.grad is not None for p in m.parameters())


@requires_torch
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_cells_equal_pytorchs_cells(kind, batched, bias):
    rng = np.random.default_rng(3)
    name = {"rnn_tanh": "RNNCell", "rnn_relu": "RNNCell", "lstm": "LSTMCell", "gru": "GRUCell"}[kind]
    kw = {"nonlinearity": kind[4:]} if kind.startswith("rnn") else {}
    tm = getattr(torch.nn, name)(3, 4, bias=bias, **kw).double()
    m = getattr(cr.nn, name)(3, 4, bias=bias, dtype=np.float64, **kw)
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    shape = (5, 3) if batched else (3,)
    hshape = (5, 4) if batched else (4,)
    x, h, c = rng.normal(size=shape), rng.normal(size=hshape), rng.normal(size=hshape)
    ins = [cr.tensor(a, requires_grad=True) for a in (x, h, c)]
    tins = [torch.tensor(a, requires_grad=True) for a in (x, h, c)]
    if kind == "lstm":
        out = m(ins[0], (ins[1], ins[2]))
        tout = tm(tins[0], (tins[1], tins[2]))
    else:
        out, tout = (m(ins[0], ins[1]),), (tm(tins[0], tins[1]),)
    for o, to in zip(out, tout):
        np.testing.assert_allclose(o.numpy(), to.detach().numpy(), rtol=1e-10, atol=1e-12)
    rng = np.random.default_rng(9)
    vs = [rng.normal(size=hshape) for _ in out]
    loss = sum((o * cr.tensor(v)).sum() for o, v in zip(out, vs))
    tloss = sum((o * torch.tensor(v)).sum() for o, v in zip(tout, vs))
    loss.backward()
    tloss.backward()
    used = 3 if kind == "lstm" else 2
    for a, ta in zip(ins[:used], tins[:used]):
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-9, atol=1e-11)
    tparams = dict(tm.named_parameters())
    for n, p in m.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tparams[n].grad.numpy(), rtol=1e-9, atol=1e-11, err_msg=n)
    # no state given: zeros, as in PyTorch
    out0 = m(cr.tensor(x))
    tout0 = tm(torch.tensor(x))
    for o, to in zip(out0 if kind == "lstm" else (out0,), tout0 if kind == "lstm" else (tout0,)):
        np.testing.assert_allclose(o.numpy(), to.detach().numpy(), rtol=1e-10, atol=1e-12)


@requires_torch
@pytest.mark.parametrize("kind", KINDS)
def test_state_dicts_have_pytorchs_names_shapes_and_order_and_load_both_ways(kind):
    """PyTorch's state_dict into chainrule is what every other test does (_modules); here the other way."""
    kw = {"nonlinearity": kind[4:]} if kind.startswith("rnn") else {}
    name = "RNN" if kind.startswith("rnn") else kind.upper()
    fresh = getattr(cr.nn, name)(3, 4, num_layers=2, bidirectional=True, dtype=np.float64, **kw)
    tm2 = getattr(torch.nn, name)(3, 4, num_layers=2, bidirectional=True, **kw).double()
    assert list(fresh.state_dict()) == list(tm2.state_dict())
    for (n, a), t in zip(fresh.state_dict().items(), tm2.state_dict().values()):
        assert a.shape == tuple(t.shape), n
    tm2.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in fresh.state_dict().items()})  # chainrule's own init
    x = np.random.default_rng(1).normal(size=(4, 2, 3))
    np.testing.assert_allclose(
        _call(fresh, cr.tensor(x), None, kind == "lstm")[0].numpy(),
        _call(tm2, torch.tensor(x), None, kind == "lstm")[0].detach().numpy(),
        rtol=1e-10,
        atol=1e-12,
    )


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"])
def test_initialisation_is_uniform_within_one_over_sqrt_hidden_size_and_float32_by_default(name):
    m = getattr(cr.nn, name)(3, 16, generator=np.random.default_rng(0))
    for n, p in m.named_parameters():
        assert p.dtype == np.float32, n
        assert np.abs(p.numpy()).max() <= 0.25 and np.abs(p.numpy()).max() > 0.2, n
    again = getattr(cr.nn, name)(3, 16, generator=np.random.default_rng(0))
    for p, q in zip(m.parameters(), again.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


@pytest.mark.parametrize("kind", KINDS)
def test_float32_stays_float32(kind):
    name = "RNN" if kind.startswith("rnn") else kind.upper()
    m = getattr(cr.nn, name)(2, 3, num_layers=2, bidirectional=True)
    out = m(cr.tensor(np.ones((4, 2, 2), np.float32)))
    h = out[1][0] if kind == "lstm" else out[1]
    assert out[0].dtype == np.float32 and h.dtype == np.float32
    (out[0].sum() + h.sum()).backward()
    assert all(p.grad.dtype == np.float32 for p in m.parameters())


# ----------------------------------------------------------------------------- numerical checks
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reverse", [False, True])
def test_the_recurrence_passes_a_numerical_gradient_check(kind, reverse):
    from chainrule.ops.rnn import recurrent_layer

    rng = np.random.default_rng(5)
    g = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}[kind]
    x, h0, c0 = rng.normal(size=(3, 2, 2)), rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    ws = [rng.normal(size=(3 * g, 2)), rng.normal(size=(3 * g, 3)), rng.normal(size=3 * g), rng.normal(size=3 * g)]

    def fn(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        y, h, c = recurrent_layer(
            kind, x, h0, w_ih, w_hh, b_ih, b_hh, c0=c0 if kind == "lstm" else None, reverse=reverse
        )
        return (y, h, c) if kind == "lstm" else (y, h)

    ins = [cr.tensor(a, requires_grad=True) for a in [x, h0, c0, *ws]]
    if kind != "lstm":
        ins[2] = cr.tensor(c0)
    assert cr.gradcheck(fn, *ins)


@requires_torch
@pytest.mark.parametrize("kind", KINDS)
def test_second_derivatives_of_a_layer_equal_pytorchs_double_backward(kind):
    """A Hessian-vector product through a two-layer bidirectional network, against PyTorch's."""
    m, tm = _modules(kind, 2, 3, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 2, 2))
    v = rng.normal(size=(3, 2, 6))
    params = list(m.parameters())
    tparams = list(tm.parameters())
    us = [rng.normal(size=p.shape) for p in params]

    xs = cr.tensor(x, requires_grad=True)
    out = _call(m, xs, None, kind == "lstm")[0]
    gs = cr.grad((out * cr.tensor(v)).sum(), [xs] + params, create_graph=True)
    hv = cr.grad(sum((g * cr.tensor(u)).sum() for g, u in zip(gs[1:], us)), [xs] + params, allow_unused=True)

    txs = torch.tensor(x, requires_grad=True)
    tout = _call(tm, txs, None, kind == "lstm")[0]
    tgs = torch.autograd.grad((tout * torch.tensor(v)).sum(), [txs] + tparams, create_graph=True)
    thv = torch.autograd.grad(
        sum((g * torch.tensor(u)).sum() for g, u in zip(tgs[1:], us)), [txs] + tparams, allow_unused=True
    )
    for g, tg in zip(gs, tgs):
        np.testing.assert_allclose(g.numpy(), tg.detach().numpy(), rtol=1e-9, atol=1e-11)
    for h, th in zip(hv, thv):
        h = 0 if h is None else h.numpy()
        th = 0 if th is None else th.numpy()
        np.testing.assert_allclose(h, th, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_the_first_derivative_of_a_cell_passes_a_numerical_gradient_check(kind):
    """Second derivatives checked against central differences of the first derivative, not PyTorch."""
    fn = {
        "rnn_tanh": cr.ops.rnn_tanh_cell,
        "rnn_relu": cr.ops.rnn_relu_cell,
        "lstm": cr.ops.lstm_cell,
        "gru": cr.ops.gru_cell,
    }[kind]
    g = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}[kind]
    rng = np.random.default_rng(8)
    arrays = [
        rng.normal(size=(2, 3)),
        rng.normal(size=(2, 2)),
        rng.normal(size=(2, 2)),
        rng.normal(size=(2 * g, 3)),
        rng.normal(size=(2 * g, 2)),
        rng.normal(size=2 * g),
        rng.normal(size=2 * g),
    ]

    def cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
        out = fn(x, (h, c) if kind == "lstm" else h, w_ih, w_hh, b_ih, b_hh)
        return out[0] * out[1] if kind == "lstm" else out

    v = cr.tensor(rng.normal(size=(2, 2)))
    us = [cr.tensor(rng.normal(size=a.shape)) for a in arrays]

    def directional_first_derivative(*xs):
        with cr.enable_grad():
            gs = cr.grad((cell(*xs) * v).sum(), list(xs), create_graph=True, allow_unused=True)
            return sum((g * u).sum() for g, u in zip(gs, us) if g is not None)

    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    assert cr.gradcheck(directional_first_derivative, *xs, eps=1e-6, atol=1e-5, rtol=1e-4)


def test_a_weight_changed_in_place_after_the_forward_pass_is_refused():
    m = cr.nn.GRU(2, 3, dtype=np.float64)
    out, h = m(cr.tensor(np.ones((4, 1, 2))))
    with cr.no_grad():
        m.weight_hh_l0.add_(0.1)
    with pytest.raises(cr.errors.GraphError, match="changed in place"):
        out.sum().backward()


def test_retain_graph_allows_a_second_backward_with_the_same_gradients():
    m = cr.nn.LSTM(2, 3, dtype=np.float64)
    out, (h, c) = m(cr.tensor(np.random.default_rng(0).normal(size=(4, 2, 2))))
    loss = out.sum() + c.sum()
    loss.backward(retain_graph=True)
    first = [p.grad.numpy().copy() for p in m.parameters()]
    m.zero_grad()
    loss.backward()
    for a, p in zip(first, m.parameters()):
        np.testing.assert_array_equal(a, p.grad.numpy())


# ----------------------------------------------------------------------------- errors
def test_errors_name_the_layer_and_the_shapes():
    m = cr.nn.GRU(3, 4, num_layers=2)
    with pytest.raises(
        cr.errors.ShapeError, match=r"GRU: input.size\(-1\) must be equal to input_size. Expected 3, got 5"
    ):
        m(cr.tensor(np.zeros((2, 1, 5), np.float32)))
    with pytest.raises(cr.errors.ShapeError, match=r"GRU: Expected hx size \(2, 1, 4\), got \(1, 1, 4\)"):
        m(cr.tensor(np.zeros((2, 1, 3), np.float32)), cr.tensor(np.zeros((1, 1, 4), np.float32)))
    with pytest.raises(cr.errors.ShapeError, match="Expected input to be 2D or 3D, got 4D"):
        m(cr.tensor(np.zeros((2, 1, 3, 1), np.float32)))
    with pytest.raises(cr.errors.ShapeError, match="For unbatched 2-D input, hx should also be 2-D but got 3-D"):
        m(cr.tensor(np.zeros((2, 3), np.float32)), cr.tensor(np.zeros((2, 1, 4), np.float32)))
    with pytest.raises(cr.errors.DTypeError, match="input must have the type float32, got type float64"):
        m(cr.tensor(np.zeros((2, 1, 3))))
    lstm = cr.nn.LSTM(3, 4)
    with pytest.raises(cr.errors.ShapeError, match=r"LSTM: Expected hx\[1\] size \(1, 2, 4\), got \(1, 3, 4\)"):
        lstm(
            cr.tensor(np.zeros((2, 2, 3), np.float32)),
            (cr.tensor(np.zeros((1, 2, 4), np.float32)), cr.tensor(np.zeros((1, 3, 4), np.float32))),
        )
    with pytest.raises(cr.errors.ShapeError, match="GRUCell: input has inconsistent input_size: got 2 expected 3"):
        cr.nn.GRUCell(3, 4)(cr.tensor(np.zeros((5, 2), np.float32)))
    with pytest.raises(cr.errors.ShapeError, match=r"LSTMCell: hx\[0\] has shape \(4, 4\), expected \(5, 4\)"):
        cr.nn.LSTMCell(3, 4)(cr.tensor(np.zeros((5, 3), np.float32)), (cr.tensor(np.zeros((4, 4), np.float32)),) * 2)
    with pytest.raises(cr.errors.ShapeError, match=r"GRULayer: the initial state h0 must have shape"):
        cr.ops.gru_cell(np.zeros((5, 3)), np.zeros((4, 4)), np.zeros((12, 3)), np.zeros((12, 4)))


def test_bad_arguments_are_refused_clearly():
    with pytest.raises(cr.errors.UnsupportedError, match="proj_size=2"):
        cr.nn.LSTM(3, 4, proj_size=2)
    with pytest.raises(cr.errors.ArgumentError, match="Unknown nonlinearity 'sigmoid'"):
        cr.nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(cr.errors.ArgumentError, match="dropout should be a number in range"):
        cr.nn.GRU(3, 4, num_layers=2, dropout=1.5)
    with pytest.raises(cr.errors.ArgumentError, match="GRU: hidden_size must be an integer >= 1, got 0"):
        cr.nn.GRU(3, 0)
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        cr.nn.LSTM(3, 4, dropout=0.2)


def test_repr_reads_like_pytorchs():
    assert repr(cr.nn.GRU(3, 4, num_layers=2, batch_first=True)) == "GRU(3, 4, num_layers=2, batch_first=True)"
    assert repr(cr.nn.LSTMCell(3, 4)) == "LSTMCell(3, 4)"


@requires_torch
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("steps", [1, 2, 3])
def test_steps_run_in_chunks_of_any_size_with_the_same_results(kind, steps, monkeypatch):
    """The nodes run their steps in cache-sized chunks (several steps' input projections, and weight
    gradients, in one product): chunks of 1, 2 and 3 of 5 steps, both directions, against PyTorch."""
    node = {"rnn_tanh": cr.ops.RNNLayerOp, "rnn_relu": cr.ops.RNNLayerOp, "lstm": cr.ops.LSTMLayerOp}
    node = node.get(kind, cr.ops.GRULayerOp)
    batch, hidden = 2, 3
    monkeypatch.setattr(node, "chunk_bytes", steps * batch * node.gates * hidden * 8)
    m, tm = _modules(kind, 2, hidden, bidirectional=True)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, batch, 2))
    xs, txs = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, tout = _call(m, xs, None, kind == "lstm")[0], _call(tm, txs, None, kind == "lstm")[0]
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    v = rng.normal(size=tout.shape)
    (out * cr.tensor(v)).sum().backward()
    (tout * torch.tensor(v)).sum().backward()
    np.testing.assert_allclose(xs.grad.numpy(), txs.grad.numpy(), rtol=1e-9, atol=1e-11)
    tparams = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), rtol=1e-9, atol=1e-11, err_msg=name)
