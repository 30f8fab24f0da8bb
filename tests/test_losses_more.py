"""More losses (l1, smooth L1, Huber, KL divergence, cosine similarity and embedding, margin ranking) and class
weights for nll_loss and cross_entropy: values and gradients equal PyTorch's (float64), gradcheck passes, and
the nn modules equal PyTorch's."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

from conftest import compare_with_torch, requires_torch, torch

pytestmark = requires_torch

R = np.random.default_rng(5)
REDUCTIONS = ["mean", "sum", "none"]


def rand(*shape, low=-2.0, high=2.0):
    return np.asarray(R.uniform(low, high, size=shape))


def tf():
    return torch.nn.functional


def _apart(x, t, kinks):
    """x moved so that x - t keeps clear of the kinks (gradcheck's differences must not cross one)."""
    for k in kinks:
        for s in (k, -k):
            x = np.where(np.abs(x - t - s) < 0.05, x + 0.1, x)
    return x


# ----------------------------------------------------------------------------- regression losses
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_l1_loss(reduction):
    x, t = rand(4, 3), rand(4, 3)
    x = _apart(x, t, [0.0])
    compare_with_torch(
        lambda a, b: F.l1_loss(a, b, reduction), lambda a, b: tf().l1_loss(a, b, reduction=reduction), x, t
    )


@pytest.mark.parametrize("beta", [1.0, 0.5, 0.0])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_smooth_l1_loss(reduction, beta):
    x, t = rand(5, 3), rand(5, 3)
    x = _apart(x, t, [0.0, beta])
    compare_with_torch(
        lambda a, b: F.smooth_l1_loss(a, b, reduction, beta),
        lambda a, b: tf().smooth_l1_loss(a, b, reduction=reduction, beta=beta),
        x,
        t,
    )


@pytest.mark.parametrize("delta", [1.0, 0.3, 2.5])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_huber_loss(reduction, delta):
    x, t = rand(5, 3), rand(5, 3)
    x = _apart(x, t, [delta])
    compare_with_torch(
        lambda a, b: F.huber_loss(a, b, reduction, delta),
        lambda a, b: tf().huber_loss(a, b, reduction=reduction, delta=delta),
        x,
        t,
    )


def test_regression_losses_at_their_kinks_are_torchs():
    t = np.zeros(7)
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 2.0, -2.0])
    for beta in (0.0, 0.5, 1.0):
        compare_with_torch(
            lambda a, b, be=beta: F.smooth_l1_loss(a, b, beta=be),
            lambda a, b, be=beta: tf().smooth_l1_loss(a, b, beta=be),
            x,
            t,
            check_numeric=False,
        )
    for delta in (0.5, 1.0):
        compare_with_torch(
            lambda a, b, d=delta: F.huber_loss(a, b, delta=d),
            lambda a, b, d=delta: tf().huber_loss(a, b, delta=d),
            x,
            t,
            check_numeric=False,
        )
    compare_with_torch(F.l1_loss, tf().l1_loss, x, t, check_numeric=False)


def test_regression_loss_arguments_are_checked():
    x = cr.tensor([1.0, 2.0])
    with pytest.raises(cr.errors.ShapeError, match="differ"):
        F.l1_loss(x, cr.tensor([[1.0, 2.0]]))
    with pytest.raises(cr.errors.ArgumentError, match="beta"):
        F.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(cr.errors.ArgumentError, match="delta"):
        F.huber_loss(x, x, delta=0.0)
    with pytest.raises(cr.errors.ArgumentError, match="reduction"):
        F.l1_loss(x, x, "batchmean")


def test_targets_may_be_arrays_and_float32_stays_float32():
    x = cr.tensor(np.array([0.5, -1.5, 2.0], np.float32), requires_grad=True)
    for fn in (F.l1_loss, F.smooth_l1_loss, F.huber_loss):
        y = fn(x, np.array([0.0, 1.0, 1.0]))
        assert y.dtype == np.float32
        y.backward()
        assert x.grad.dtype == np.float32
        x.grad = None


# ----------------------------------------------------------------------------- kl_div
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none", "mean"])
def test_kl_div(reduction, log_target):
    x = np.log(R.dirichlet(np.ones(4), size=3))
    p = R.dirichlet(np.ones(4), size=3)
    t = np.log(p) if log_target else p
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # both warn about 'mean'
        compare_with_torch(
            lambda a, b: F.kl_div(a, b, reduction, log_target),
            lambda a, b: tf().kl_div(a, b, reduction=reduction, log_target=log_target),
            x,
            t,
        )


def test_kl_div_mean_warns_as_torch_does_and_zero_targets_count_zero():
    x = np.log(np.array([[0.2, 0.3, 0.5]]))
    t = np.array([[0.0, 0.4, 0.6]])
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(cr.tensor(x), cr.tensor(t))
    compare_with_torch(
        lambda a: F.kl_div(a, cr.tensor(t), "batchmean"),
        lambda a: tf().kl_div(a, torch.tensor(t), reduction="batchmean"),
        x,
    )
    with pytest.raises(cr.errors.ArgumentError, match="reduction"):
        F.mse_loss(cr.tensor(x), cr.tensor(t), "batchmean")


# ----------------------------------------------------------------------------- cosine similarity and embedding
@pytest.mark.parametrize(
    "sa,sb,dim",
    [((4, 3), (4, 3), 1), ((4, 3), (4, 3), 0), ((2, 3, 4), (2, 3, 4), -1), ((4, 3), (3,), 1), ((1, 3), (5, 3), 1)],
)
def test_cosine_similarity(sa, sb, dim):
    compare_with_torch(
        lambda a, b: F.cosine_similarity(a, b, dim),
        lambda a, b: tf().cosine_similarity(a, b, dim),
        rand(*sa),
        rand(*sb),
        rtol=1e-12,
        atol=1e-14,
    )


def test_cosine_similarity_clamps_small_norms_as_torch_does():
    a = np.array([[1e-9, 2e-9, 0.0], [0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    b = np.array([[1.0, -1.0, 2.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    compare_with_torch(
        lambda x, y: F.cosine_similarity(x, y, eps=1e-8),
        lambda x, y: tf().cosine_similarity(x, y, eps=1e-8),
        a,
        b,
        rtol=1e-7,  # (gradients of order 1e7 here, from differences of large terms)
        atol=1e-14,
        check_numeric=False,
    )
    assert cr.cosine_similarity is F.cosine_similarity
    x, y = cr.tensor(a), cr.tensor(b)
    np.testing.assert_array_equal(F.cosine_similarity(x, y, axis=0).numpy(), F.cosine_similarity(x, y, 0).numpy())


@pytest.mark.parametrize("margin", [0.0, 0.3, -0.2])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cosine_embedding_loss(reduction, margin):
    a, b = rand(6, 4), rand(6, 4)
    y = np.array([1, -1, 1, -1, -1, 1])
    compare_with_torch(
        lambda p, q: F.cosine_embedding_loss(p, q, cr.tensor(y), margin, reduction),
        lambda p, q: tf().cosine_embedding_loss(p, q, torch.tensor(y), margin=margin, reduction=reduction),
        a,
        b,
        rtol=1e-12,
        atol=1e-14,
    )


def test_cosine_embedding_loss_of_one_pair_and_float_targets():
    a, b = rand(5), rand(5)
    for y in (1.0, -1.0):
        compare_with_torch(
            lambda p, q, t=y: F.cosine_embedding_loss(p, q, np.array(t), 0.1),
            lambda p, q, t=y: tf().cosine_embedding_loss(p, q, torch.tensor(t), margin=0.1),
            a,
            b,
        )
    with pytest.raises(cr.errors.ShapeError, match="1-d inputs"):
        F.cosine_embedding_loss(cr.tensor(rand(3, 5)), cr.tensor(rand(3, 5)), np.array(1.0))
    with pytest.raises(cr.errors.ShapeError, match="do not fit"):
        F.cosine_embedding_loss(cr.tensor(rand(3, 5)), cr.tensor(rand(3, 5)), np.ones(4))


@pytest.mark.parametrize("margin", [0.0, 0.5])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_margin_ranking_loss_differentiates_all_three_inputs(reduction, margin):
    a, b = rand(6), rand(6)
    y = np.array([1.0, -1.0, 1.0, 1.0, -1.0, -1.0])
    a = np.where(np.abs(-y * (a - b) + margin) < 0.05, a + 0.2, a)  # clear of the kink
    compare_with_torch(
        lambda p, q, t: F.margin_ranking_loss(p, q, t, margin, reduction),
        lambda p, q, t: tf().margin_ranking_loss(p, q, t, margin=margin, reduction=reduction),
        a,
        b,
        y,
    )


def test_margin_ranking_loss_broadcasts_and_passes_the_gradient_at_the_kink():
    compare_with_torch(
        lambda p, q: F.margin_ranking_loss(p, q, np.array([[1.0, -1.0, 1.0]])),
        lambda p, q: tf().margin_ranking_loss(p, q, torch.tensor([[1.0, -1.0, 1.0]])),
        rand(4, 3),
        rand(1, 3),
    )
    compare_with_torch(  # -y (a - b) + margin = 0 exactly: PyTorch's clamp_min passes the gradient there
        lambda p, q: F.margin_ranking_loss(p, q, np.array([1.0, -1.0])),
        lambda p, q: tf().margin_ranking_loss(p, q, torch.tensor([1.0, -1.0])),
        np.array([1.0, 2.0]),
        np.array([1.0, 2.0]),
        check_numeric=False,
    )
    with pytest.raises(cr.errors.ShapeError, match="same number of dimensions"):
        F.margin_ranking_loss(cr.tensor(rand(4, 3)), cr.tensor(rand(3)), np.ones(3))


# ----------------------------------------------------------------------------- class weights
W = np.array([0.5, 2.0, 1.0, 3.0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 2), (2, 4, 2, 3), (4,)])
def test_nll_loss_with_weights_and_extra_dimensions(shape, reduction):
    rest = shape[:1] + shape[2:] if len(shape) > 1 else ()
    logp = np.log(R.dirichlet(np.ones(4), size=rest))  # (..., C): the class axis moved to 1 below
    logp = np.ascontiguousarray(np.moveaxis(logp, -1, 1)) if len(shape) > 1 else logp
    target = R.integers(0, 4, size=rest)
    for w in (None, W):
        compare_with_torch(
            lambda a, ww=w: F.nll_loss(a, target, ww, reduction=reduction),
            lambda a, ww=w: tf().nll_loss(
                a, torch.tensor(target), None if ww is None else torch.tensor(ww), reduction=reduction
            ),
            logp,
        )


def test_nll_loss_with_weights_and_ignore_index():
    logp = np.log(R.dirichlet(np.ones(4), size=6))
    target = np.array([1, -100, 3, 0, 3, -100])
    for reduction in REDUCTIONS:
        compare_with_torch(
            lambda a, r=reduction: F.nll_loss(a, target, cr.tensor(W), reduction=r),
            lambda a, r=reduction: tf().nll_loss(a, torch.tensor(target), torch.tensor(W), reduction=r),
            logp,
        )
    target = np.array([[1, 2], [0, 2]])
    compare_with_torch(
        lambda a: F.nll_loss(a, target, W, ignore_index=2),
        lambda a: tf().nll_loss(a, torch.tensor(target), torch.tensor(W), ignore_index=2),
        logp[:4].reshape(2, 2, 4).transpose(0, 2, 1).copy(),
    )


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_with_weights_and_class_indices(reduction, label_smoothing):
    for shape in [(6, 4), (3, 4, 2)]:
        x = rand(*shape)
        target = R.integers(0, 4, size=shape[:1] + shape[2:])
        target.flat[1] = -100
        compare_with_torch(
            lambda a, t=target: F.cross_entropy(a, t, W, reduction=reduction, label_smoothing=label_smoothing),
            lambda a, t=target: tf().cross_entropy(
                a, torch.tensor(t), torch.tensor(W), reduction=reduction, label_smoothing=label_smoothing
            ),
            x,
        )


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_with_weights_and_probability_targets(reduction, label_smoothing):
    x, p = rand(5, 4), R.dirichlet(np.ones(4), size=5)
    compare_with_torch(
        lambda a, t: F.cross_entropy(a, t, W, reduction=reduction, label_smoothing=label_smoothing),
        lambda a, t: tf().cross_entropy(a, t, torch.tensor(W), reduction=reduction, label_smoothing=label_smoothing),
        x,
        p,
    )


def test_class_weight_arguments_are_checked():
    x, t = cr.tensor(rand(3, 4)), np.array([0, 1, 2])
    with pytest.raises(cr.errors.ShapeError, match=r"shape \(4,\)"):
        F.cross_entropy(x, t, np.ones(3))
    with pytest.raises(cr.errors.ShapeError, match=r"shape \(4,\)"):
        F.nll_loss(x, t, np.ones(5))
    with pytest.raises(cr.errors.UnsupportedError, match="detach"):
        F.cross_entropy(x, t, cr.tensor(np.ones(4), requires_grad=True))
    with pytest.raises(cr.errors.ArgumentTypeError, match="reduction='sum'"):
        F.cross_entropy(x, t, "sum")
    with pytest.raises(cr.errors.ArgumentTypeError, match="reduction='sum'"):
        cr.nn.CrossEntropyLoss("sum")
    with pytest.raises(cr.errors.ShapeError, match="targets of shape"):
        F.nll_loss(x, np.array([0, 1]))


def test_weighted_losses_differentiate_twice_like_torch():
    x = rand(5, 4)
    target = np.array([0, 3, 1, -100, 2])
    v = R.normal(size=x.shape)
    for name in ("nll", "ce"):
        xs = cr.tensor(x, requires_grad=True)
        tx = torch.tensor(x, requires_grad=True)
        if name == "nll":
            loss = F.nll_loss(cr.log_softmax(xs * xs, 1), target, W)
            tloss = tf().nll_loss(torch.log_softmax(tx * tx, 1), torch.tensor(target), torch.tensor(W))
        else:
            loss = F.cross_entropy(xs * xs, target, W, label_smoothing=0.1)
            tloss = tf().cross_entropy(tx * tx, torch.tensor(target), torch.tensor(W), label_smoothing=0.1)
        (g,) = cr.grad(loss, [xs], create_graph=True)
        (h,) = cr.grad((g * cr.tensor(v)).sum(), [xs])
        (tg,) = torch.autograd.grad(tloss, [tx], create_graph=True)
        (th,) = torch.autograd.grad((tg * torch.tensor(v)).sum(), [tx])
        np.testing.assert_allclose(g.numpy(), tg.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(h.numpy(), th.numpy(), rtol=1e-9, atol=1e-11)


# ----------------------------------------------------------------------------- nn modules
def _inputs(name):
    a, b = rand(6, 4), rand(6, 4)
    if name in ("CosineEmbeddingLoss",):
        return (a, b, np.array([1, -1, 1, 1, -1, -1]))
    if name == "MarginRankingLoss":
        return (a[:, 0], b[:, 0], np.array([1.0, -1.0, 1.0, 1.0, -1.0, -1.0]))
    if name == "KLDivLoss":
        return (np.log(R.dirichlet(np.ones(4), size=6)), R.dirichlet(np.ones(4), size=6))
    if name in ("CrossEntropyLoss", "NLLLoss"):
        return (a, np.array([0, 3, 1, 2, 2, 0]))
    return (a, b)


MODULES = [
    ("L1Loss", {}, {}),
    ("L1Loss", {"reduction": "sum"}, {"reduction": "sum"}),
    ("SmoothL1Loss", {"beta": 0.5}, {"beta": 0.5}),
    ("SmoothL1Loss", {"reduction": "none"}, {"reduction": "none"}),
    ("HuberLoss", {"delta": 0.7}, {"delta": 0.7}),
    ("HuberLoss", {"reduction": "sum", "delta": 2.0}, {"reduction": "sum", "delta": 2.0}),
    ("KLDivLoss", {"reduction": "batchmean"}, {"reduction": "batchmean"}),
    ("KLDivLoss", {"reduction": "sum", "log_target": False}, {"reduction": "sum", "log_target": False}),
    ("CosineEmbeddingLoss", {"margin": 0.2}, {"margin": 0.2}),
    ("CosineEmbeddingLoss", {"reduction": "none"}, {"reduction": "none"}),
    ("MarginRankingLoss", {"margin": 0.3}, {"margin": 0.3}),
    ("MarginRankingLoss", {"reduction": "sum"}, {"reduction": "sum"}),
    ("CrossEntropyLoss", {"weight": W}, {"weight": W}),
    ("CrossEntropyLoss", {"weight": W, "label_smoothing": 0.1}, {"weight": W, "label_smoothing": 0.1}),
    ("NLLLoss", {"weight": W, "reduction": "sum"}, {"weight": W, "reduction": "sum"}),
    ("NLLLoss", {"ignore_index": 3}, {"ignore_index": 3}),
]


@pytest.mark.parametrize("name,kw,tkw", MODULES, ids=[f"{m[0]}-{i}" for i, m in enumerate(MODULES)])
def test_loss_modules_equal_torchs(name, kw, tkw):
    tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in tkw.items()}
    ours, theirs = getattr(cr.nn, name)(**kw), getattr(torch.nn, name)(**tkw)
    compare_with_torch(lambda *a: ours(*a), lambda *a: theirs(*a), *_inputs(name))  # float inputs: differentiated


def test_class_weights_are_a_buffer_of_the_module():
    m = cr.nn.CrossEntropyLoss(weight=[1.0, 2.0, 0.5])
    assert set(m.state_dict()) == {"weight"}
    np.testing.assert_array_equal(m.state_dict()["weight"], np.array([1.0, 2.0, 0.5], np.float32))
    assert "weight" not in cr.nn.NLLLoss().state_dict()
    assert repr(cr.nn.KLDivLoss("batchmean")) == "KLDivLoss(reduction='batchmean')"
    with pytest.raises(cr.errors.ArgumentError, match="batchmean"):
        cr.nn.KLDivLoss("average")
    with pytest.raises(cr.errors.ArgumentError, match="reduction"):
        cr.nn.L1Loss("batchmean")
