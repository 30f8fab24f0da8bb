"""cr.autograd.Function: PyTorch's ctx-style custom operation, compared with torch.autograd.Function."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

from conftest import requires_torch, torch

rng = np.random.default_rng(11)


def _both(name, forward, backward, setup_context=None):
    """The same ctx-style Function for chainrule and for PyTorch (the bodies use methods both Tensors have)."""
    body = {"forward": staticmethod(forward), "backward": staticmethod(backward)}
    if setup_context is not None:
        body["setup_context"] = staticmethod(setup_context)
    made = [type(name, (cr.autograd.Function,), dict(body))]
    if torch is not None:
        made.append(type(name, (torch.autograd.Function,), dict(body)))
    return made


def _exp_forward(ctx, x):
    y = x.exp()
    ctx.save_for_backward(y)
    return y


def _exp_backward(ctx, g):
    (y,) = ctx.saved_tensors
    return g * y


Exp, TExp = _both("Exp", _exp_forward, _exp_backward)


def _cube_forward(ctx, x, k):
    ctx.save_for_backward(x)
    ctx.k = k
    return x * x * x * k


def _cube_backward(ctx, g):
    (x,) = ctx.saved_tensors
    return g * 3 * x * x * ctx.k, None


Cube, TCube = _both("Cube", _cube_forward, _cube_backward)


def _mulsin_forward(ctx, x, y):
    ctx.save_for_backward(x, y)
    return x * y.sin()


def _mulsin_backward(ctx, g):
    x, y = ctx.saved_tensors
    return g * y.sin(), g * x * y.cos()


MulSin, TMulSin = _both("MulSin", _mulsin_forward, _mulsin_backward)


def _t(a, requires_grad=True):
    return cr.tensor(a, requires_grad=requires_grad), torch.tensor(a, requires_grad=requires_grad)


@requires_torch
def test_values_and_gradients_match_torch():
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    for fn, tfn, args in [(Exp, TExp, (a,)), (MulSin, TMulSin, (a, b))]:
        xs, txs = zip(*[_t(v) for v in args])
        y, ty = fn.apply(*xs), tfn.apply(*txs)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-14)
        v = rng.standard_normal(y.shape)
        (y * cr.tensor(v)).sum().backward()
        (ty * torch.tensor(v)).sum().backward()
        for x, tx in zip(xs, txs):
            np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-14)
        assert (
            type(y.grad_fn).__name__ == type(ty.grad_fn).__name__ == ("ExpBackward" if fn is Exp else "MulSinBackward")
        )
    assert cr.gradcheck(lambda x, y: MulSin.apply(x, y), *[cr.tensor(v, requires_grad=True) for v in (a, b)])


@requires_torch
def test_hessian_vector_product_through_the_function_matches_torch():
    """With create_graph the backward is recorded: differentiating the gradient again works, as in PyTorch."""
    a, b, u, w = (rng.standard_normal(5) for _ in range(4))
    for fn, tfn, args in [(Cube, TCube, (a, 2.5)), (MulSin, TMulSin, (a, b))]:
        xs = [cr.tensor(v, requires_grad=True) if isinstance(v, np.ndarray) else v for v in args]
        txs = [torch.tensor(v, requires_grad=True) if isinstance(v, np.ndarray) else v for v in args]
        ins = [x for x in xs if isinstance(x, cr.Tensor)]
        tins = [x for x in txs if isinstance(x, torch.Tensor)]
        gs = cr.grad((fn.apply(*xs) * cr.tensor(w)).sum(), ins, create_graph=True)
        tgs = torch.autograd.grad((tfn.apply(*txs) * torch.tensor(w)).sum(), tins, create_graph=True)
        hv = cr.grad(sum((g * cr.tensor(u)).sum() for g in gs), ins)
        thv = torch.autograd.grad(sum((g * torch.tensor(u)).sum() for g in tgs), tins)
        for g, tg, h, th in zip(gs, tgs, hv, thv):
            np.testing.assert_allclose(g.numpy(), tg.detach().numpy(), rtol=1e-13)
            np.testing.assert_allclose(h.numpy(), th.numpy(), rtol=1e-12, atol=1e-14)


@requires_torch
def test_an_output_saved_for_backward_is_differentiated_again_like_torch():
    a, u = rng.standard_normal(4), rng.standard_normal(4)
    x, tx = _t(a)
    (g,) = cr.grad(Exp.apply(x).sum(), [x], create_graph=True)
    (tg,) = torch.autograd.grad(TExp.apply(tx).sum(), [tx], create_graph=True)
    (h,) = cr.grad((g * cr.tensor(u)).sum(), [x])
    (th,) = torch.autograd.grad((tg * torch.tensor(u)).sum(), [tx])
    np.testing.assert_allclose(h.numpy(), th.numpy(), rtol=1e-14)


def test_forward_gets_the_tensors_without_recording_and_ctx_knows_what_needs_a_gradient():
    seen = {}

    class Probe(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x, scale, y, *, offset=0.0):
            seen["x"], seen["grad_mode"], seen["needs"] = x, cr.is_grad_enabled(), ctx.needs_input_grad
            out = x * scale + y + offset
            seen["recorded"] = out.grad_fn is not None
            return out

        @staticmethod
        def backward(ctx, g):
            seen["g"] = g
            seen["backward_needs"] = ctx.needs_input_grad
            return g * 2.0, None, g  # a gradient for y, which needs none, is ignored (as in PyTorch)

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cr.tensor([0.5, 0.5])
    out = Probe.apply(x, 2.0, y, offset=1.0)
    np.testing.assert_array_equal(out.numpy(), [3.5, 5.5])
    assert seen["x"] is x and seen["grad_mode"] is False and seen["recorded"] is False
    assert seen["needs"] == (True, False, False)
    out.sum().backward()
    assert isinstance(seen["g"], cr.Tensor) and seen["backward_needs"] == (True, False, False)
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
    assert y.grad is None
    with cr.no_grad():
        assert Probe.apply(x, 2.0, y).grad_fn is None


@requires_torch
def test_several_outputs_and_an_unused_one_gets_zeros_like_torch():
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * 2, x * x

    def backward(ctx, ga, gb):
        (x,) = ctx.saved_tensors
        return ga * 2 + gb * 2 * x

    Two, TTwo = _both("Two", forward, backward)
    a = rng.standard_normal(3)
    x, tx = _t(a)
    p, q = Two.apply(x)
    tp, tq = TTwo.apply(tx)
    q.sum().backward()  # only the second output is used: the first gets a zero gradient
    tq.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-15)
    np.testing.assert_allclose(p.numpy(), tp.detach().numpy())


@requires_torch
def test_setup_context_style_matches_torch():
    def forward(x, k):
        return x * k

    def setup_context(ctx, inputs, output):
        ctx.k = inputs[1]

    def backward(ctx, g):
        return g * ctx.k, None

    Scale, TScale = _both("Scale", forward, backward, setup_context)
    a = rng.standard_normal(3)
    x, tx = _t(a)
    Scale.apply(x, 3.0).sum().backward()
    TScale.apply(tx, 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_an_input_returned_as_is_gets_its_own_memory():
    class Ident(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = Ident.apply(x)
    assert not np.shares_memory(y.numpy(), x.numpy()) and y.grad_fn is not None
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


def test_a_saved_tensor_changed_in_place_is_refused():
    x = cr.tensor(rng.standard_normal(3), requires_grad=True)
    h = x * 1.0
    y = Cube.apply(h, 2.0)
    with cr.no_grad():
        h.add_(1.0)
    with pytest.raises(cr.errors.GraphError, match="changed in place"):
        y.sum().backward()


def test_wrong_uses_are_explained():
    class Short(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    a = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(cr.errors.BackwardError, match="returned 1 gradient.*forward took 2"):
        Short.apply(a, a).sum().backward()
    with pytest.raises(cr.errors.ArgumentTypeError, match=r"call Exp\.apply"):
        Exp()

    class SavesNumber(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(3)
            return x

    with pytest.raises(cr.errors.ArgumentTypeError, match="only save Tensors"):
        SavesNumber.apply(a)

    for method in ("mark_dirty", "mark_non_differentiable"):

        class Marks(cr.autograd.Function):
            @staticmethod
            def forward(ctx, x, method=method):
                getattr(ctx, method)(x)
                return x

        with pytest.raises(cr.errors.UnsupportedError, match=method):
            Marks.apply(a)
    with pytest.raises(cr.errors.UnsupportedError, match="once_differentiable"):
        cr.autograd.once_differentiable(lambda ctx, g: g)


def test_both_styles_coexist():
    assert cr.autograd.Function is not cr.Function
    assert cr.autograd.FunctionCtx.__name__ == "FunctionCtx"

    class Mul(cr.Function):  # the tutorials' style, unchanged
        def forward(self, x, y):
            self.x, self.y = x, y
            return x * y

        def backward(self, dout):
            return dout * self.y, dout * self.x

    a = cr.tensor([2.0], requires_grad=True)
    Exp.apply(Mul()(a, a)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 2 * 2.0 * np.exp(4.0))


def test_gradcheck_graph_reruns_the_node():
    x = cr.tensor(rng.standard_normal(3), requires_grad=True)
    y = cr.tensor(rng.standard_normal(3), requires_grad=True)
    out = (MulSin.apply(x, y) * 2).sum()
    assert cr.gradcheck_graph(out)


def test_the_readme_example_runs():
    import pathlib
    import re

    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "cr.autograd.Function" in b]
    ns = {"cr": cr}
    exec(block, ns)
    np.testing.assert_allclose(ns["g"].numpy(), [6.0, 24.0])
    np.testing.assert_allclose(ns["h"].numpy(), [12.0, 24.0])
