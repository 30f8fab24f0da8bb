"""The stale-graph check: values changed in place after the forward pass, refused where a backward reads them.

As in PyTorch, only a node whose backward reads the changed values (an input, a view of
one, or an output it kept) refuses; the others go ahead with correct gradients.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

from conftest import requires_torch, torch


# ------------------------------------------------------------------------------ which nodes refuse
@requires_torch
def test_only_nodes_whose_backward_reads_the_changed_values_refuse():
    # PyTorch refuses only when a tensor saved for backward was changed; an addition saves none.
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0], requires_grad=True)
    y = ((a + b) * 2).sum()
    a.grad = cr.tensor([1.0, 1.0])
    cr.optim.SGD([a], lr=0.5).step()
    y.backward()
    ta = torch.tensor([1.0, 2.0], requires_grad=True)
    tb = torch.tensor([3.0, 4.0], requires_grad=True)
    ty = ((ta + tb) * 2).sum()
    with torch.no_grad():
        ta -= 0.5
    ty.backward()
    np.testing.assert_array_equal(b.grad.numpy(), tb.grad.numpy())
    # a product reads its inputs: refused, as PyTorch does
    p = (a * b).sum()
    cr.optim.SGD([a], lr=0.5).step()
    with pytest.raises(cr.errors.GraphError, match="changed in place"):
        p.backward()


@requires_torch
def test_linear_allows_a_changed_bias_and_refuses_a_changed_weight_like_torch():
    rng = np.random.default_rng(0)
    W, b, X = rng.normal(size=(3, 4)), rng.normal(size=3), rng.normal(size=(2, 4))
    lin_w = cr.tensor(W, requires_grad=True)
    lin_b = cr.tensor(b, requires_grad=True)
    loss = (F.linear(cr.tensor(X), lin_w, lin_b) ** 2).sum()
    lin_b.grad = cr.tensor(np.ones(3))
    cr.optim.SGD([lin_b], lr=1.0).step()  # Linear's backward never reads the bias
    loss.backward()
    tw, tb = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
    tloss = (torch.nn.functional.linear(torch.tensor(X), tw, tb) ** 2).sum()
    with torch.no_grad():
        tb -= 1.0
    tloss.backward()
    np.testing.assert_allclose(lin_w.grad.numpy(), tw.grad.numpy(), rtol=1e-12)
    loss2 = (F.linear(cr.tensor(X, requires_grad=True), lin_w, lin_b) ** 2).sum()
    lin_w.grad = cr.tensor(np.ones((3, 4)))
    cr.optim.SGD([lin_w], lr=1.0).step()  # the weight is read (for the input's gradient): refused
    with pytest.raises(cr.errors.GraphError):
        loss2.backward()


@requires_torch
def test_a_changed_weight_is_allowed_where_no_gradient_reads_it_like_torch():
    # Linear reads W only for the input's gradient, Mul reads a only for b's: changing W (or a)
    # when that gradient is not needed leaves backward correct, in PyTorch and here
    rng = np.random.default_rng(1)
    W0, X = rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
    W = cr.tensor(W0, requires_grad=True)
    loss = (F.linear(cr.tensor(X), W) ** 2).sum()
    with cr.no_grad():
        W[...] = W0 - 1
    loss.backward()
    tW = torch.tensor(W0, requires_grad=True)
    tloss = (torch.nn.functional.linear(torch.tensor(X), tW) ** 2).sum()
    with torch.no_grad():
        tW -= 1
    tloss.backward()
    np.testing.assert_allclose(W.grad.numpy(), tW.grad.numpy(), rtol=1e-12)


def test_batchnorm_allows_a_changed_bias():
    bn = cr.nn.BatchNorm1d(3)
    x = cr.tensor(np.random.default_rng(0).normal(size=(4, 3)), dtype=np.float32, requires_grad=True)
    loss = (bn(x) ** 2).sum()
    with cr.no_grad():
        bn.bias[...] = 1.0  # batch norm's backward never reads the bias (PyTorch keeps no copy of it either)
    loss.backward()


@requires_torch
@pytest.mark.parametrize("op", ["exp", "tanh", "softmax"])
def test_changing_an_output_a_node_kept_is_refused_like_torch(op):
    f = {"exp": lambda t: t.exp(), "tanh": lambda t: t.tanh(), "softmax": lambda t: cr.softmax(t, 0)}[op]
    tf = {"exp": torch.exp, "tanh": torch.tanh, "softmax": lambda t: torch.softmax(t, 0)}[op]
    w = cr.tensor([0.5, 1.0, 2.0], requires_grad=True)
    y = f(w)
    loss = (y * cr.tensor([1.0, 2.0, 3.0])).sum()
    y.detach()[0] = 0.0
    with pytest.raises(cr.errors.GraphError, match="output"):
        loss.backward()
    tw = torch.tensor([0.5, 1.0, 2.0], requires_grad=True)
    ty = tf(tw)
    tloss = (ty * torch.tensor([1.0, 2.0, 3.0])).sum()
    ty.detach()[0] = 0.0
    with pytest.raises(RuntimeError, match="inplace"):
        tloss.backward()


@requires_torch
def test_a_hook_on_a_fresh_gradient_runs_before_the_stale_node_refuses_like_torch():
    def run(lib, make, step):
        w = make([1.0, 2.0])
        h = w * w
        seen = []
        h.register_hook(lambda g: seen.append(g.tolist()))
        loss = (h * 3.0).sum()
        step(w)
        with pytest.raises(RuntimeError):  # GraphError is a RuntimeError
            loss.backward()
        return seen

    def cr_step(w):
        w.grad = cr.tensor([1.0, 1.0])
        cr.optim.SGD([w], lr=0.1).step()

    def torch_step(w):
        with torch.no_grad():
            w -= 0.1

    ours = run(cr, lambda v: cr.tensor(v, requires_grad=True), cr_step)
    theirs = run(torch, lambda v: torch.tensor(v, requires_grad=True), torch_step)
    # h's gradient (3, 3) is right: its consumer read nothing stale; the hook sees it, then w * w refuses
    assert ours == theirs == [[3.0, 3.0]]


# ------------------------------------------------------------------------------ how a change is made
@requires_torch
def test_setitem_on_an_input_after_the_forward_pass_is_refused_like_torch():
    w = cr.tensor([1.0, 1.0], requires_grad=True)
    x = cr.tensor([2.0, 3.0])
    y = (w * x).sum()
    x[0] = 100.0  # Mul's backward reads x
    with pytest.raises(cr.errors.GraphError, match="changed in place"):
        y.backward()
    tw, tx = torch.tensor([1.0, 1.0], requires_grad=True), torch.tensor([2.0, 3.0])
    ty = (tw * tx).sum()
    tx[0] = 100.0
    with pytest.raises(RuntimeError, match="inplace"):
        ty.backward()


def test_a_write_through_detach_into_a_weight_is_refused():
    lin = cr.nn.Linear(2, 1)
    o = lin(cr.tensor([[1.0, 2.0]], requires_grad=True)).sum()
    lin.weight.detach()[0, 0] = 50.0  # through another tensor sharing the memory
    with pytest.raises(cr.errors.GraphError):
        o.backward()


def test_setitem_on_a_parameter_is_allowed_only_under_no_grad():
    lin = cr.nn.Linear(2, 1)
    with cr.no_grad():  # patching a weight is allowed, as in PyTorch
        lin.weight[0, 0] = 3.0
    assert lin.weight.numpy()[0, 0] == 3.0
    with pytest.raises(cr.errors.GraphError):
        lin.weight[0, 0] = 4.0  # outside no_grad: refused


def test_load_state_dict_writes_into_the_parameter_so_a_recorded_view_sees_it():
    W = cr.nn.Parameter(np.ones((2, 2), np.float32))
    m = cr.nn.Module()
    m.W = W
    xx = cr.tensor(np.ones((1, 2), np.float32), requires_grad=True)
    y = (xx @ W.T).sum()
    m.load_state_dict({"W": np.full((2, 2), 5.0, np.float32)})  # written into W: the view W.T shows it
    with pytest.raises(cr.errors.GraphError):
        y.backward()


# ------------------------------------------------------------------------------ views
@requires_torch
def test_a_changed_weight_is_seen_through_a_view_like_torch():
    # W.T, W.reshape and W[0] are views: after the step they hold the new values, so the product's
    # gradient would silently use them; PyTorch refuses, and so does chainrule.
    rng = np.random.default_rng(0)
    W0, X0 = rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
    for make in (lambda x, w: x @ w.T, lambda x, w: w.reshape(12)[:4] * x, lambda x, w: w[0] * x):
        W = cr.tensor(W0, requires_grad=True)
        x = cr.tensor(X0, requires_grad=True)
        loss = make(x, W).sum()
        W.grad = cr.tensor(np.ones_like(W0))
        cr.optim.SGD([W], lr=1.0).step()
        with pytest.raises(cr.errors.GraphError, match="changed in place"):
            loss.backward()
        tW = torch.tensor(W0, requires_grad=True)
        tx = torch.tensor(X0, requires_grad=True)
        tloss = make(tx, tW).sum()
        with torch.no_grad():
            tW -= 1.0
        with pytest.raises(RuntimeError, match="inplace"):
            tloss.backward()


def test_grad_refuses_a_matmul_whose_transposed_weight_changed():
    W = cr.nn.Parameter(np.ones((2, 2), np.float32))
    x = cr.tensor(np.ones((1, 2), np.float32), requires_grad=True)
    y = (x @ W.T).sum()
    with cr.no_grad():
        W[...] = 5.0
    with pytest.raises(cr.errors.GraphError):
        cr.grad(y, [x])  # Matmul reads W.T, a view showing the new values


@requires_torch
def test_a_transpose_alone_reads_nothing_and_goes_ahead_like_torch():
    W2 = cr.nn.Parameter(np.ones((2, 2), np.float32))
    opt = cr.optim.SGD([W2], lr=0.1)
    loss = (W2.T * 2).sum()
    loss.backward(retain_graph=True)
    opt.step()
    loss.backward()
    tW = torch.ones((2, 2), requires_grad=True)
    topt = torch.optim.SGD([tW], lr=0.1)
    tl = (tW.T * 2).sum()
    tl.backward(retain_graph=True)
    topt.step()
    tl.backward()
    np.testing.assert_array_equal(W2.grad.numpy(), tW.grad.numpy())


# ------------------------------------------------------------------------------ the change record
def test_a_step_on_one_part_of_a_shared_buffer_leaves_the_other_part_usable():
    flat = np.zeros(8, np.float32)
    A = cr.nn.Parameter(np.zeros((2, 2), np.float32))
    B = cr.nn.Parameter(np.zeros((2, 2), np.float32))
    A.data, B.data = flat[:4].reshape(2, 2), flat[4:].reshape(2, 2)
    x = cr.tensor(np.ones((2, 2), np.float32), requires_grad=True)
    lb = (x * B).sum()
    (x * A).sum().backward()
    A.grad = cr.tensor(np.ones((2, 2), np.float32))
    cr.optim.SGD([A], lr=0.1).step()  # changes A's half of the buffer only
    lb.backward()


def test_a_write_to_other_rows_of_an_array_leaves_a_graph_over_its_first_rows_usable():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    w = cr.nn.Parameter(np.ones(2, np.float32))
    loss = (cr.tensor(X[0:5], dtype=np.float32) * w).sum()
    other = cr.as_tensor(X[5:10])
    other[0, 0] = 3.0  # rows 5.. only
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), X[0:5].sum(axis=0))


def test_index_array_changed_after_the_forward_pass_leaves_the_gradient_alone():
    W = cr.tensor(np.ones((3, 2)), requires_grad=True)
    idx = cr.tensor(np.array([0, 1]))
    y = W[idx]
    idx[0] = 2  # the caller's index changes; the recorded node keeps its own copy
    y.sum().backward()
    np.testing.assert_array_equal(W.grad.numpy(), [[1, 1], [1, 1], [0, 0]])


def test_where_mask_changed_after_backward_leaves_the_gradient_alone():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    mask = np.array([True, False])
    cr.where(mask, w, 0.0).sum().backward()
    mask[0] = False
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 0.0])
