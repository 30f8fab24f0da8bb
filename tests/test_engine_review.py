"""An adversarial review of the engine (function.py, autograd.py, tensor.py, inplace.py, modes.py, anomaly.py).

Memory after backward, grad() in all its combinations, user Functions, explain/gradcheck_graph on graphs
with in-place ops and views, the version (tick) check, thread-local modes and dtypes, compared with
PyTorch 2.13 where it applies. Tests marked ``xfail(strict=True)`` record a place where chainrule is
wrong or differs from PyTorch without an error; the reason says what and where.
"""

from __future__ import annotations

import gc
import re
import sys
import threading
import tracemalloc
import weakref

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import AnomalyError, BackwardError, GraphError, GraphFreedError, ShapeError

from conftest import requires_torch, torch

D = cr.float64
TENSOR_MODULE = sys.modules["chainrule.tensor"]


def t64(values, grad=True):
    return cr.tensor(np.asarray(values, np.float64), requires_grad=grad)


def th64(values, grad=True):
    return torch.tensor(np.asarray(values, np.float64), requires_grad=grad)


def same(a, b):
    """chainrule Tensor/array vs torch tensor (or None vs None)."""
    if a is None or b is None:
        assert a is None and b is None
        return
    a = a.data if isinstance(a, cr.Tensor) else np.asarray(a)
    np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-12, atol=1e-12)


# =============================================================================== memory
def test_saved_arrays_are_released_by_backward_while_the_loss_is_alive():
    x = cr.tensor(np.linspace(0.1, 1, 1000), requires_grad=True)
    h = x.exp()  # Exp keeps its output; Mul keeps both factors
    k = h * h
    refs = [weakref.ref(h.data), weakref.ref(k.data)]
    loss = k.sum()
    nodes = [loss.grad_fn, k.grad_fn, h.grad_fn]
    del h, k
    gc.collect()
    assert all(r() is not None for r in refs)  # the graph holds them before backward
    loss.backward()
    assert all(r() is None for r in refs)  # released by refcount alone, no gc needed
    for n in nodes:
        assert n.freed
        held = [v for v in vars(n).values() if isinstance(v, (np.ndarray, cr.Tensor, tuple, list, dict))]
        assert held == [], f"{n} still holds {held}"


def test_grad_without_retain_graph_releases_what_it_walked():
    x = cr.tensor(np.linspace(0.1, 1, 1000), requires_grad=True)
    h = x.exp()
    r = weakref.ref(h.data)
    loss = (h * h).sum()
    del h
    cr.grad(loss, x)
    assert r() is None
    with pytest.raises(GraphFreedError):
        cr.grad(loss, x)


def _training_steps():
    cr.manual_seed(0)
    model = cr.nn.Sequential(
        cr.nn.Linear(6, 16), cr.nn.Tanh(), cr.nn.BatchNorm1d(16), cr.nn.Dropout(0.1), cr.nn.Linear(16, 3)
    )
    opt = cr.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = cr.nn.CrossEntropyLoss()
    X = np.random.default_rng(0).normal(size=(32, 6)).astype(np.float32)
    Y = np.arange(32) % 3
    params = list(model.parameters())
    params[0].register_hook(lambda g: g * 1.0)  # a leaf hook that stays for every step

    class Square(cr.Function):
        def forward(self, a):
            self.save_for_backward(a)
            return a * a

        def backward(self, g):
            (a,) = self.saved_tensors
            return 2 * a * g

    def plain():
        opt.zero_grad()
        loss_fn(model(cr.tensor(X)), cr.tensor(Y)).backward()
        opt.step()

    def penalty():  # a double backward: gradient penalty through a user Function
        opt.zero_grad()
        x = cr.tensor(X, requires_grad=True)
        out = Square()(model(x)).sum()
        (gx,) = cr.grad(out, x, create_graph=True)
        (out + (gx * gx).sum()).backward()
        opt.step()

    def anomaly():
        with cr.detect_anomaly():
            plain()

    return plain, penalty, anomaly


@pytest.mark.parametrize("which", [0, 1, 2], ids=["plain", "double-backward", "detect_anomaly"])
def test_training_steps_create_no_reference_cycles_and_memory_stays_flat(which):
    step = _training_steps()[which]
    for _ in range(3):
        step()
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        for _ in range(3):
            step()
        before = tracemalloc.get_traced_memory()[0]
        found = 0
        for _ in range(40):
            step()
            found += gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        gc.enable()
    assert found == 0, f"{found} objects were only reclaimable by the cycle collector"
    assert grown < 256 * 1024, f"memory grew by {grown} bytes over 40 steps"


def test_a_removed_leaf_hook_is_released_while_its_handle_is_kept():
    class Payload:
        pass

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    p = Payload()
    r = weakref.ref(p)
    handle = x.register_hook(lambda g, p=p: None)
    del p
    handle.remove()
    gc.collect()
    assert r() is None


def test_an_intermediate_hook_is_released_by_backward_while_its_handle_is_kept():
    class Payload:
        pass

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    p = Payload()
    r = weakref.ref(p)
    y = x * 2
    handle = y.register_hook(lambda g, p=p: None)
    del p
    (y * y).sum().backward()
    del y
    gc.collect()
    assert handle is not None and r() is None


def test_a_million_node_chain_is_freed_by_backward():
    gc.collect()
    before = sys.getallocatedblocks()
    x = cr.tensor(np.ones(1, np.float32), requires_grad=True)
    y = x
    for _ in range(1_000_000):
        y = y * 1.0
    built = sys.getallocatedblocks() - before
    y.backward()  # y, the last node, stays alive: everything below must go
    left = sys.getallocatedblocks() - before
    assert built > 3_000_000
    assert left < 10_000, f"{left} blocks still allocated after backward (the graph took {built})"
    assert x.grad.item() == 1.0


# =============================================================================== grad() combinations
@requires_torch
def test_grad_of_several_outputs_with_grad_outputs_matches_torch():
    def run(lib, mk):
        x = mk([0.5, 1.0, 2.0])
        a, b = x * 2, x.exp()
        c = (x * x).sum()
        go = [mk([1.0, 10.0, 100.0], False), mk([3.0, 4.0, 5.0], False), mk(2.0, False)]
        if lib is cr:
            return cr.grad([a, b, c], x, grad_outputs=go)
        return torch.autograd.grad([a, b, c], x, grad_outputs=go)

    same(run(cr, t64)[0], run(torch, th64)[0])


@requires_torch
def test_grad_wrt_intermediates_views_and_the_leaf_together_matches_torch():
    def build(mk):
        x = mk([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        row, tr = x[0], x.T
        h = x.sin()
        y = (row * 3).sum() + (tr * tr).sum() + (h**3).sum()
        return y, [row, tr, h, x]

    y, ins = build(t64)
    ty, tins = build(th64)
    for a, b in zip(cr.grad(y, ins), torch.autograd.grad(ty, tins)):
        same(a, b)


@requires_torch
def test_grad_allow_unused_and_its_error():
    x, z = t64([1.0, 2.0]), t64([1.0])
    assert cr.grad((x * 2).sum(), [x, z], allow_unused=True)[1] is None
    with pytest.raises(GraphError, match=r"inputs\[1\].*allow_unused=True"):
        cr.grad((x * 2).sum(), [x, z])
    tx, tz = th64([1.0, 2.0]), th64([1.0])
    assert torch.autograd.grad((tx * 2).sum(), [tx, tz], allow_unused=True)[1] is None


@requires_torch
def test_a_second_grad_or_backward_without_retain_graph_is_refused_like_torch():
    for second in (lambda y, x: cr.grad(y, x), lambda y, x: y.backward()):
        x = t64([1.0, 2.0])
        y = (x * x).sum()
        cr.grad(y, x)
        with pytest.raises(GraphFreedError, match="retain_graph=True"):
            second(y, x)
    tx = th64([1.0, 2.0])
    ty = (tx * tx).sum()
    torch.autograd.grad(ty, tx)
    with pytest.raises(RuntimeError, match="second time"):
        torch.autograd.grad(ty, tx)


@requires_torch
def test_grad_with_create_graph_and_retain_graph_false_like_torch():
    # Exp's gradient graph reads Exp's saved output: freed, refused in both
    x = t64([1.0, 2.0])
    (g,) = cr.grad(x.exp().sum(), x, create_graph=True, retain_graph=False)
    with pytest.raises(GraphFreedError):
        g.sum().backward()
    tx = th64([1.0, 2.0])
    (tg,) = torch.autograd.grad(tx.exp().sum(), tx, create_graph=True, retain_graph=False)
    with pytest.raises(RuntimeError):
        tg.sum().backward()
    # x * w: the gradient graph reaches only the leaves, so differentiating it again works in both
    x, w = t64([1.0, 2.0]), t64([3.0, 5.0])
    (g,) = cr.grad((x * w * w).sum(), x, create_graph=True, retain_graph=False)
    tx, tw = th64([1.0, 2.0]), th64([3.0, 5.0])
    (tg,) = torch.autograd.grad((tx * tw * tw).sum(), tx, create_graph=True, retain_graph=False)
    same(cr.grad(g.sum(), w)[0], torch.autograd.grad(tg.sum(), tw)[0])


@requires_torch
def test_backward_with_create_graph_and_retain_graph_false_frees_the_graph_like_torch():
    tx = th64([1.0, 2.0])
    ty = (tx * tx).sum()
    ty.backward(create_graph=True, retain_graph=False)
    with pytest.raises(RuntimeError):
        ty.backward()
    x = t64([1.0, 2.0])
    y = (x * x).sum()
    y.backward(create_graph=True, retain_graph=False)
    with pytest.raises(GraphFreedError):
        y.backward()


@requires_torch
def test_grad_of_grad_wrt_intermediates_matches_torch():
    def run(lib, mk):
        x = mk([0.3, 1.0, 2.0])
        h = x.sin()
        y = (h**3).sum()
        g = cr.grad if lib is cr else torch.autograd.grad
        (gh,) = g(y, h, create_graph=True)
        return g((gh * gh).sum(), [h, x])

    for a, b in zip(run(cr, t64), run(torch, th64)):
        same(a, b)


@requires_torch
def test_hooks_returning_replacements_under_create_graph_match_torch():
    def run(lib, mk):
        x = mk([1.0, 2.0])
        h = x * x
        h.register_hook(lambda g: g * h)  # the replacement depends on h: it must be differentiated
        x.register_hook(lambda g: g * x)
        g = cr.grad if lib is cr else torch.autograd.grad
        (h * 3).sum().backward(create_graph=True)
        first = x.grad
        return first, g(first.sum(), x)[0]

    for a, b in zip(run(cr, t64), run(torch, th64)):
        same(a, b)


@requires_torch
def test_retain_grad_under_create_graph_and_backward_twice_accumulate_like_torch():
    def run(mk):
        x = mk([1.0, 2.0])
        h = x * x
        h.retain_grad()
        y = (h**2).sum()
        y.backward(create_graph=True)
        assert h.grad.requires_grad and x.grad.requires_grad
        y.backward(retain_graph=True)
        y.backward()
        return x.grad, h.grad

    for a, b in zip(run(t64), run(th64)):
        same(a, b)


@requires_torch
def test_split_with_unused_used_twice_hooked_and_retained_outputs_matches_torch():
    def run(lib, mk):
        x = mk(np.arange(6.0))
        a, b, c = (cr if lib is cr else torch).split(x, 2)
        b.retain_grad()
        c.retain_grad()
        a.register_hook(lambda g: g * 10)
        y = (a * b).sum() + (a * a).sum()  # a used twice, c unused
        y.backward(retain_graph=True)
        gfun = cr.grad if lib is cr else torch.autograd.grad
        (g,) = gfun(y, x, create_graph=True)
        return x.grad, b.grad, c.grad, g, gfun((g * x).sum(), x)[0]

    for p, q in zip(run(cr, t64), run(torch, th64)):
        same(p, q)


@requires_torch
@pytest.mark.xfail(
    strict=True,
    reason="PyTorch captures an intermediate's gradient for grad() BEFORE the tensor's hooks when the node "
    "must still run to reach another requested input (engine.cpp: pre-hooks are called before capture only "
    "when the node is not needed), and after them otherwise; chainrule always captures the hooked gradient "
    "(autograd.py:474-477). A PyTorch quirk, but a silent difference",
)
def test_grad_captures_an_intermediate_before_its_hook_when_the_walk_continues_like_torch():
    x = t64([1.0, 2.0])
    h = x * 2
    h.register_hook(lambda g: g * 10)
    gh, gx = cr.grad((h * h).sum(), [h, x])
    tx = th64([1.0, 2.0])
    th_ = tx * 2
    th_.register_hook(lambda g: g * 10)
    tgh, tgx = torch.autograd.grad((th_ * th_).sum(), [th_, tx])
    same(gx, tgx)
    same(gh, tgh)


def test_a_hook_changing_the_shape_under_create_graph_is_refused():
    x = t64([1.0, 2.0])
    x.register_hook(lambda g: cr.tensor(np.ones(5)))
    with pytest.raises(ShapeError):
        (x * x).sum().backward(create_graph=True)


@requires_torch
@pytest.mark.parametrize("create_graph", [False, True])
def test_a_hook_changing_the_dtype_is_refused_like_torch(create_graph):
    tx = th64([1.0, 2.0])
    tx.register_hook(lambda g: g.float())
    with pytest.raises(RuntimeError, match="changed the type"):
        (tx * tx).sum().backward(create_graph=create_graph)
    x = t64([1.0, 2.0])
    x.register_hook(lambda g: g.astype(np.float32))
    try:
        (x * x).sum().backward(create_graph=create_graph)
    except cr.errors.ChainruleError:
        return
    assert x.grad.dtype == x.dtype, f"a float64 leaf got a {x.grad.dtype} gradient"
    pytest.fail("the hook's dtype change was accepted")


@requires_torch
@pytest.mark.parametrize("where", ["leaf", "intermediate"])
def test_the_gradient_a_hook_saw_does_not_alias_the_leaf_grad(where):
    for mk in (th64, t64):  # PyTorch first: it passes
        x = mk([1.0, 2.0])
        seen = []
        y = x + 0.0
        (x if where == "leaf" else y).register_hook(seen.append)
        (y * 3).sum().backward()
        x.grad.zero_()
        np.testing.assert_array_equal(np.asarray(seen[0].detach() if mk is th64 else seen[0].data), [3.0, 3.0])


@requires_torch
@pytest.mark.parametrize("create_graph", [False, True])
def test_a_tensor_returned_by_a_leaf_hook_is_not_aliased_by_grad(create_graph):
    tT = torch.tensor([3.0, 4.0], dtype=torch.float64)
    tx = th64([1.0, 2.0])
    tx.register_hook(lambda g: tT)
    (tx * tx).sum().backward(create_graph=create_graph)
    assert tx.grad.data_ptr() != tT.data_ptr()
    T = cr.tensor([3.0, 4.0], dtype=D)
    x = t64([1.0, 2.0])
    x.register_hook(lambda g: T)
    (x * x).sum().backward(create_graph=create_graph)
    assert x.grad is not T and not np.shares_memory(x.grad.data, T.data)


@requires_torch
def test_the_backward_seed_is_not_aliased_by_grad_under_create_graph():
    tx, tv = th64([1.0, 2.0]), torch.tensor([3.0, 4.0], dtype=torch.float64)
    (tx + 0.0).backward(tv, create_graph=True)
    assert tx.grad is not tv and tx.grad.data_ptr() != tv.data_ptr()
    x, v = t64([1.0, 2.0]), cr.tensor([3.0, 4.0], dtype=D)
    (x + 0.0).backward(v, create_graph=True)
    assert x.grad is not v and not np.shares_memory(x.grad.data, v.data)


# =============================================================================== user Functions
class TutorialMul(cr.Function):
    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, g):
        return g * self.y, g * self.x


class SavedMul(cr.Function):
    def forward(self, x, y):
        self.save_for_backward(x, y)
        return x * y

    def backward(self, g):
        x, y = self.saved_tensors
        return g * y, g * x


class ScaleShift(cr.Function):  # numbers and arrays among the arguments
    def forward(self, x, k, shift):
        self.k = k
        return x * k + shift

    def backward(self, g):
        return g * self.k, None, None


@requires_torch
@pytest.mark.parametrize("F", [TutorialMul, SavedMul])
def test_user_functions_match_torch(F):
    x, y = t64([1.0, -2.0, 3.0]), t64([4.0, 5.0, 0.5])
    z = F()(x, y)
    w = ScaleShift()(z, 3.0, np.ones(3))
    (w * w).sum().backward()
    tx, ty = th64([1.0, -2.0, 3.0]), th64([4.0, 5.0, 0.5])
    tw = tx * ty * 3.0 + 1.0
    (tw * tw).sum().backward()
    same(w, tw)
    same(x.grad, tx.grad)
    same(y.grad, ty.grad)


def test_backward_may_return_tensors_lists_numbers_and_broadcast_shapes():
    class Loose(cr.Function):
        def forward(self, x, s):
            return x * s

        def backward(self, g):
            return [cr.tensor(g * 2), np.sum(g, keepdims=True)[None]]  # a list; (1, 1) for the 0-d s: summed

    x, s = t64([1.0, 2.0]), cr.tensor(np.float64(3.0), requires_grad=True)
    Loose()(x, s).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])
    assert s.grad.shape == () and s.grad.item() == 2.0


@requires_torch
def test_backward_returning_another_dtype_is_cast_to_the_input_dtype_like_torch():
    class IntGrad(cr.Function):
        def forward(self, x):
            return x * 2

        def backward(self, g):
            return (g * 2).astype(np.int64)

    x = t64([1.0, 2.0])
    IntGrad()(x).sum().backward()
    assert x.grad.dtype == np.float64

    class TIntGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return (g * 2).long()

    tx = th64([1.0, 2.0])
    TIntGrad.apply(tx).sum().backward()
    same(x.grad, tx.grad)


@pytest.mark.parametrize(
    "backward, match",
    [
        (
            lambda self, g: (np.ones(5), None),
            r"WrongBackward\.backward returned a gradient of shape \(5,\) for input 0",
        ),
        (lambda self, g: (g, g, g), r"WrongBackward\.backward returned 3 gradients but the node has 2 inputs"),
        (lambda self, g: g, r"WrongBackward\.backward returned 1 gradient but the node has 2 inputs"),
    ],
)
def test_backward_returning_a_wrong_shape_or_count_raises_a_clear_backward_error(backward, match):
    WrongBackward = type("WrongBackward", (cr.Function,), {"forward": lambda self, x, k: x * k, "backward": backward})
    x = t64([1.0, 2.0, 3.0])
    with pytest.raises(BackwardError, match=match):
        WrongBackward()(x, 2.0).sum().backward()


def test_a_function_instance_is_one_node_even_after_a_call_under_no_grad():
    x, y = t64([1.0]), t64([2.0])
    f = TutorialMul()
    f(x, y)
    with pytest.raises(GraphError, match="create a new one for each call"):
        f(x, y)
    g = SavedMul()
    with cr.no_grad():
        out = g(x, y)
    assert not out.requires_grad and out.grad_fn is None
    with pytest.raises(GraphError, match="single graph node"):
        g(x, y)


@pytest.mark.parametrize("F", [TutorialMul, SavedMul])
def test_user_functions_under_detect_anomaly(F):
    x, y = t64([1.0, 2.0]), t64([3.0, 4.0])
    with cr.detect_anomaly():
        F()(x, y).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 4.0])

    class NaNBackward(F):
        def backward(self, g):
            return g * np.nan, g

    with cr.detect_anomaly(), pytest.raises(AnomalyError, match="backward of NaNBackward"):
        NaNBackward()(x, y).sum().backward()


def test_a_numpy_backward_under_create_graph_raises_a_clear_error():
    class NumpyExp(cr.Function):
        def forward(self, x):
            self.save_for_backward(x)
            return np.exp(x)

        def backward(self, g):
            (x,) = self.saved_tensors
            return g * np.exp(x)

    x = t64([1.0, 2.0])
    NumpyExp()(x).sum().backward()  # first derivatives: fine
    with pytest.raises(BackwardError, match="NumpyExp"):
        cr.grad(NumpyExp()(x).sum(), x, create_graph=True)


@requires_torch
def test_a_function_returning_its_input_shares_the_version_counter_like_torch():
    class Reverse(cr.Function):
        def forward(self, x):
            return x

        def backward(self, g):
            return -g

    class TReverse(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return -g

    tx = th64([1.0, 2.0])
    ty = (tx * tx).sum()
    tz = TReverse.apply(tx)
    with torch.no_grad():
        tz.add_(1)
    with pytest.raises(RuntimeError, match="inplace"):
        ty.backward()
    x = t64([1.0, 2.0])
    y = (x * x).sum()
    z = Reverse()(x)
    with cr.no_grad():
        z.add_(1)
    with pytest.raises(GraphError, match="changed in place"):
        y.backward()


def test_multi_output_function_with_unused_and_integer_outputs():
    class Parts(cr.Function):
        def forward(self, x):
            self.save_for_backward(x)
            return x * 2, (x > 1).astype(np.int64), x * x

        def backward(self, g1, g_int, g3):
            (x,) = self.saved_tensors
            assert not np.any(g1) and not np.any(g_int)  # outputs with no gradient get zeros
            return g3 * 2 * x

    x = t64([1.0, 2.0])
    a, n, b = Parts()(x)
    assert a.requires_grad and not n.requires_grad and b.requires_grad
    b.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])


def test_a_function_returning_a_numpy_scalar_keeps_it_checked():
    class Total(cr.Function):
        def forward(self, x):
            out = x.sum()  # a NumPy scalar, not an array
            self.save_for_backward(out)
            return out

        def backward(self, g):
            (out,) = self.saved_tensors
            return g * out * np.ones(2)

    x = t64([1.0, 2.0])
    y = Total()(x)
    assert type(y.data) is np.ndarray and y.shape == ()
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])
    with cr.no_grad():
        y.add_(1)
    with pytest.raises(GraphError, match="output 0"):
        y.backward()


# =============================================================================== explain, gradcheck_graph, nodes
def _inplace_view_graph():
    x = cr.tensor([1.0, 2.0, 3.0], dtype=D, requires_grad=True, name="x")
    h = x * 2
    h.add_(1)
    h[np.array([0, 2])] = x[1] * 2
    h.mul_(x)
    v = h.reshape(3, 1).T
    a, b = cr.split(x, [1, x.shape[0] - 1])
    z = TutorialMul()(v[0], x[::-1])
    return x, (z * z).sum() + (a * b.sum()).sum()


def test_explain_and_gradcheck_graph_on_graphs_with_in_place_ops_and_views():
    x, L = _inplace_view_graph()
    assert cr.gradcheck_graph(L)
    tr = cr.explain(L)
    explained = tr.grad(x)
    L.backward()
    np.testing.assert_allclose(explained, x.grad.data, rtol=1e-12)


def test_explain_after_an_in_place_change_of_a_used_tensor_is_refused():
    """A node whose input was changed in place after it used it would be shown with the new values (here Tanh's
    input as [12, 14] instead of [2, 4]): explain and gradcheck_graph refuse, naming the tensor."""
    x = cr.tensor([1.0, 2.0], dtype=D, requires_grad=True, name="x")
    h = x * 2
    h.name = "h"
    a = h.tanh()
    h.add_(10)
    L = (a * h).sum()
    for fn, op in ((cr.explain, "explain"), (cr.gradcheck_graph, "gradcheck_graph")):
        with pytest.raises(GraphError, match=rf"^{op}: 'h' of Tanh was changed in place after Tanh used it"):
            fn(L)
    L.backward()  # (backward itself uses the saved values and is right: d/dx of tanh(2x) * (2x + 10))
    hx = 2 * np.array([1.0, 2.0])
    want = 2 * (1 - np.tanh(hx) ** 2) * (hx + 10) + 2 * np.tanh(hx)
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-12)


def test_fresh_node_runs_the_same_operation_again():
    x = t64([[1.0, 2.0], [3.0, 4.0]])
    y = x.reshape(4)
    node = y.grad_fn
    f = node.fresh()
    assert f is not node and f.inputs is None and f.n_outputs == 0
    z = f(x)
    np.testing.assert_array_equal(z.data, y.data)
    assert z.grad_fn is f and f.n_outputs == 1
    z.sum().backward()
    assert not node.freed  # running the copy leaves the original graph alone


def test_fresh_of_a_freed_node_raises_graph_freed_error():
    x = t64([1.0, 2.0, 3.0, 4.0])
    y = x.reshape(2, 2)
    y.sum().backward()
    with pytest.raises(GraphFreedError):
        y.grad_fn.fresh()(x)


@requires_torch
def test_grad_fn_and_freed_after_backward_like_torch():
    x = t64([1.0, 2.0])
    y = (x * x).sum()
    node = y.grad_fn
    assert not node.freed and node.next_functions[0][0] is not None
    y.backward()
    assert y.grad_fn is node and node.freed and node.n_outputs == 1
    ty = (th64([1.0, 2.0]) ** 2).sum()
    tnode = ty.grad_fn
    ty.backward()
    assert ty.grad_fn is tnode


@requires_torch
@pytest.mark.xfail(
    strict=True,
    reason="backward clears a node's _edges (Function._free, function.py:298-303), so next_functions is () "
    "afterwards: a tool drawing the graph after backward sees it cut off; PyTorch frees only saved values "
    "and keeps next_functions",
)
def test_next_functions_survive_backward_like_torch():
    ty = (th64([1.0, 2.0]) * 2).sum()
    ty.backward()
    assert len(ty.grad_fn.next_functions) == 1
    y = (t64([1.0, 2.0]) * 2).sum()
    y.backward()
    assert len(y.grad_fn.next_functions) == 1


def test_gradcheck_graph_on_a_freed_graph_names_itself():
    x = t64([1.0, 2.0])
    L = (x * x).sum()
    L.backward()
    with pytest.raises(GraphFreedError, match="^gradcheck_graph"):
        cr.gradcheck_graph(L)


# =============================================================================== the version (tick) check
def test_a_write_from_another_thread_between_forward_and_backward_is_refused():
    w, x = t64([1.0, 2.0]), t64([3.0, 4.0], grad=False)
    y = (w * x).sum()

    def write():
        x.add_(1)
        with cr.no_grad():
            w.mul_(2)

    t = threading.Thread(target=write)
    t.start()
    t.join()
    with pytest.raises(GraphError, match=r"input \d .*version 0.*now version 1"):
        y.backward()


class _HeldTicks:
    """The engine's tick source, except that the first tick the thread ``slow`` takes is handed out only
    once ``go`` is set: the moment between taking a tick and publishing it in ``written``, made long."""

    def __init__(self, real):
        self.real, self.slow = real, None
        self.taken, self.go = threading.Event(), threading.Event()

    def __iter__(self):
        return self

    def __next__(self):
        tick = next(self.real)
        if threading.current_thread() is self.slow and not self.go.is_set():
            self.taken.set()
            self.go.wait(5)
        return tick


def test_a_write_published_late_by_another_thread_still_counts(monkeypatch):
    held = _HeldTicks(TENSOR_MODULE.ticks)
    monkeypatch.setattr(TENSOR_MODULE, "ticks", held)
    unrelated = cr.tensor([0.0], dtype=D)
    x, w = t64([3.0, 4.0], grad=False), t64([1.0, 2.0])
    other = threading.Thread(target=lambda: unrelated.add_(1))
    held.slow = other
    other.start()
    held.taken.wait(5)  # the other thread holds an older tick
    y = (w * x).sum()  # Mul saves x
    x.add_(1)  # then x is written: written[0] is the newest tick
    held.go.set()
    other.join()  # and the other thread publishes its older tick
    with pytest.raises(GraphError, match="changed in place"):
        y.backward()


def test_concurrent_backward_into_a_shared_leaf_accumulates_every_gradient():
    class Slow(np.ndarray):
        hold = None
        entered, done = threading.Event(), threading.Event()

        def __add__(self, other):
            if threading.current_thread() is Slow.hold:
                Slow.entered.set()
                Slow.done.wait(5)
            return np.add(np.asarray(self), other)

    w = t64([1.0, 2.0])
    w.grad = TENSOR_MODULE.from_numpy(np.zeros(2).view(Slow))
    other = threading.Thread(target=lambda: (w * 3).sum().backward())
    Slow.hold = other
    other.start()
    Slow.entered.wait(5)  # the other thread has read w.grad and is adding to it
    (w * 5).sum().backward()
    Slow.done.set()
    other.join()
    np.testing.assert_array_equal(np.asarray(w.grad.data), [8.0, 8.0])


@requires_torch
@pytest.mark.parametrize("before, after", [(0, 1), (0, 64), (0, 65), (40, 40), (63, 2), (100, 10), (1, 200)])
def test_the_message_names_the_versions_like_torch_or_says_it_no_longer_knows(before, after):
    def run(mk, exc):
        w, x = mk([1.0, 2.0]), mk([3.0, 4.0], False)
        for _ in range(before):
            x.add_(1)
        y = (w * x).sum()
        for _ in range(after):
            x.add_(1)
        with pytest.raises(exc) as e:
            y.backward()
        return str(e.value)

    tmsg = run(th64, RuntimeError)
    msg = run(t64, GraphError)
    now = int(re.search(r"is at version (\d+)", tmsg).group(1))
    was = int(re.search(r"expected version (\d+)", tmsg).group(1))
    assert f"now version {now})" in msg
    said = re.search(r"forward pass \((version (\d+)|an earlier version than (\d+))\)", msg)
    if said.group(2) is not None:
        assert int(said.group(2)) == was
    else:
        assert int(said.group(3)) == now and after > 32  # only a long run of writes loses the exact number


@requires_torch
def test_detach_shares_the_version_and_data_writes_are_not_counted_like_torch():
    for mk, exc in ((t64, GraphError), (th64, RuntimeError)):
        w = mk([1.0, 2.0])
        h = w * 2
        y = (h * h).sum()
        d = h.detach()
        d.add_(1)
        assert h._version == d._version == 1
        with pytest.raises(exc):
            y.backward()
        w = mk([1.0, 2.0])
        y = (w.detach() * w).sum()
        w.data[0] = 5.0  # through .data: not counted, the new value is used
        assert w._version == 0
        y.backward()
        np.testing.assert_array_equal(np.asarray(w.grad), [5.0, 2.0])


@requires_torch
@pytest.mark.parametrize("under_no_grad", [True, False])
def test_split_without_recording_shares_the_version_counter_like_torch(under_no_grad):
    def run(mk, split):
        if under_no_grad:  # a write through a piece made under no_grad changes a saved leaf
            w = mk([1.0, 2.0, 3.0, 4.0])
            y = (w * w).sum()
            with cr.no_grad() if mk is t64 else torch.no_grad():
                a, _ = split(w)
                a.add_(1)
        else:  # a write to the base changes a piece a node saved
            w = mk([1.0, 2.0, 3.0, 4.0], False)
            _, b = split(w)
            s = mk(1.0)
            y = (b * s).sum()
            w.add_(1)
        y.backward()

    with pytest.raises(RuntimeError, match="inplace"):
        run(th64, lambda t: torch.split(t, 2))
    with pytest.raises(GraphError, match="changed in place"):
        run(t64, lambda t: cr.split(t, 2))


@requires_torch
def test_integer_indexing_gives_a_view_like_torch():
    tx = torch.tensor([1.0, 2.0])
    tv = tx[0]
    tx.add_(1)
    x = cr.tensor([1.0, 2.0])
    v = x[0]
    x.add_(1)
    assert v.item() == tv.item() == 2.0


@requires_torch
def test_a_saved_output_in_a_gradient_graph_keeps_its_version_counter_like_torch():
    def run(mk, grad, no_grad):
        x, s = mk([1.0, 2.0]), mk([1.0, 1.0])
        y = x.exp()
        (g,) = grad(y, x, grad_outputs=s, create_graph=True)  # g = s * y
        with no_grad():
            y.mul_(2)
        return grad(g.sum(), s)

    with pytest.raises(RuntimeError, match="inplace"):
        run(th64, torch.autograd.grad, torch.no_grad)
    with pytest.raises(GraphError, match="changed in place"):
        run(t64, cr.grad, cr.no_grad)


# =============================================================================== modes
@requires_torch
def test_no_grad_decorating_a_generator_applies_to_its_body_like_torch():
    tx = th64([1.0])

    @torch.no_grad()
    def tgen():
        yield tx * 2

    assert not next(tgen()).requires_grad
    x = t64([1.0])

    @cr.no_grad()
    def gen():
        yield x * 2

    assert not next(gen()).requires_grad


def test_a_decorated_generator_runs_each_step_in_its_mode_and_the_caller_in_its_own():
    x = t64([1.0])
    modes = []

    @cr.no_grad()
    def gen():
        modes.append(cr.is_grad_enabled())
        got = yield x * 2
        modes.append(cr.is_grad_enabled())
        try:
            yield got * 3
        except KeyError:
            modes.append(cr.is_grad_enabled())
            yield "caught"
        return "done"

    g = gen()
    assert not next(g).requires_grad
    assert cr.is_grad_enabled()  # the caller records between steps
    sent = x * 1
    y = g.send(sent)
    assert sent.requires_grad and not y.requires_grad  # made by the caller (recording), and in the body
    assert g.throw(KeyError()) == "caught"
    with pytest.raises(StopIteration) as stop:
        next(g)
    assert stop.value.value == "done" and modes == [False, False, False]


def test_set_grad_enabled_as_block_and_as_decorator_restore_the_mode():
    with cr.no_grad():
        with cr.set_grad_enabled(True):
            assert cr.is_grad_enabled()
        assert not cr.is_grad_enabled()

    @cr.set_grad_enabled(False)
    def f():
        return cr.is_grad_enabled()

    assert cr.is_grad_enabled()  # decorating changes nothing until the function runs

    assert f() is False and cr.is_grad_enabled()


@requires_torch
def test_set_grad_enabled_called_as_a_function_sets_the_mode_like_torch():
    try:
        torch.set_grad_enabled(False)
        assert not torch.is_grad_enabled()
    finally:
        torch.set_grad_enabled(True)
    try:
        cr.set_grad_enabled(False)
        assert not cr.is_grad_enabled()
    finally:
        cr.modes.state.grad_enabled = True


def test_create_graph_backward_in_a_thread_leaves_another_threads_no_grad_alone():
    x = t64([1.0, 2.0])
    out = {}

    def work():
        (x**3).sum().backward(create_graph=True)
        out["recorded"] = x.grad.requires_grad

    with cr.no_grad():
        t = threading.Thread(target=work)
        t.start()
        t.join()
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled() and out["recorded"]


# =============================================================================== dtypes and 0-d tensors
FLOATS = [(np.float16, "float16"), (np.float32, "float32"), (np.float64, "float64")]


@requires_torch
@pytest.mark.parametrize("da", FLOATS, ids=lambda d: d[1])
@pytest.mark.parametrize("db", FLOATS, ids=lambda d: d[1])
def test_mixed_float_dtypes_deliver_gradients_in_each_leafs_dtype_like_torch(da, db):
    A, B = np.array([1.0, 1.5, 2.0]), np.array([2.0, 2.5, 3.0])
    a, b = cr.tensor(A.astype(da[0]), requires_grad=True), cr.tensor(B.astype(db[0]), requires_grad=True)
    ta = torch.tensor(A, dtype=getattr(torch, da[1]), requires_grad=True)
    tb = torch.tensor(B, dtype=getattr(torch, db[1]), requires_grad=True)
    out = []
    for lib, p, q in ((cr, a, b), (torch, ta, tb)):
        y = (p * q + p / q - q**2).exp().sum() + (lib.maximum(p, q) * 2).sum()
        y.backward()
        out.append(str(y.dtype).replace("torch.", ""))
    assert out[0] == out[1]
    assert (a.grad.dtype, b.grad.dtype) == (a.dtype, b.dtype)
    tol = 2e-2 if "float16" in (da[1], db[1]) else 1e-5
    np.testing.assert_allclose(a.grad.data.astype(np.float64), ta.grad.double().numpy(), rtol=tol)
    np.testing.assert_allclose(b.grad.data.astype(np.float64), tb.grad.double().numpy(), rtol=tol)


@requires_torch
@pytest.mark.parametrize("op", ["add", "mul", "div", "maximum"])
def test_a_0d_tensor_does_not_promote_a_dimensioned_one_like_torch(op):
    a = cr.tensor(np.ones(3, np.float32), requires_grad=True)
    s = cr.tensor(np.float64(2.0), requires_grad=True)
    ta = torch.ones(3, requires_grad=True)
    ts = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    y, ty = getattr(cr, op)(a, s), getattr(torch, op)(ta, ts)
    y.sum().backward()
    assert (a.grad.dtype, s.grad.dtype) == (np.float32, np.float64)  # gradients: in each leaf's dtype
    assert str(y.dtype) == str(ty.dtype).replace("torch.", "")


@requires_torch
def test_0d_tensors_everywhere_stay_arrays_and_match_torch():
    ops = {
        "exp": lambda t: t.exp(),
        "tanh": lambda t: t.tanh(),
        "sigmoid": lambda t: t.sigmoid(),
        "sqrt": lambda t: t.sqrt(),
        "log": lambda t: t.log(),
        "cube": lambda t: t**3,
        "recip": lambda t: 1 / t,
        "mix": lambda t: (t * t + t).exp().sum().mean() * t,
    }
    for name, f in ops.items():
        x = cr.tensor(np.float64(0.7), requires_grad=True)
        y = f(x)
        (g,) = cr.grad(y, x, create_graph=True)
        (h,) = cr.grad(g, x)
        for t in (y, g, h):
            assert type(t.data) is np.ndarray and t.shape == (), name
        tx = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
        ty = f(tx)
        (tg,) = torch.autograd.grad(ty, tx, create_graph=True)
        (th_,) = torch.autograd.grad(tg, tx)
        for p, q in ((y, ty), (g, tg), (h, th_)):
            same(p, q)


@requires_torch
def test_float16_leaf_gets_its_gradient_in_float16_with_overflow_like_torch():
    x = cr.tensor(np.array([3.0, 1e-3], np.float16), requires_grad=True)
    (x.astype(np.float32) * np.float32(1e5)).sum().backward()
    tx = torch.tensor([3.0, 1e-3], dtype=torch.float16, requires_grad=True)
    (tx.float() * 1e5).sum().backward()
    assert x.grad.dtype == np.float16
    np.testing.assert_array_equal(x.grad.data, tx.grad.numpy())
