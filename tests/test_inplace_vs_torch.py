"""In-place operations against PyTorch (float64): the same program in both libraries, compared.

Every program runs twice, once per library, through a small adapter (``CR``/``TH``), and records what
PyTorch users look at: values, gradients, ``grad_fn``, ``is_leaf``, ``_version``, and at which step an
error was raised (the in-place call, or backward). The two records must be equal.

The one deliberate difference: a recorded in-place operation on a tensor that shares memory with a
view (reshape, transpose, slicing, split, broadcast_to; the view or its base) raises GraphError in
chainrule where PyTorch rewrites the view's history. Those tests assert chainrule raises, never that
it computes PyTorch's number (and never a different one).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import chainrule as cr

from conftest import requires_torch, torch

pytestmark = requires_torch

GraphError = cr.errors.GraphError

_rng = np.random.default_rng(20240601)
X0 = _rng.uniform(0.5, 1.5, (2, 3))  # the leaf; y = x * 2 + 0 is in (1, 3)
W0 = _rng.normal(size=(2, 3))  # the loss's weights: loss = sum(tanh(y) * W)
A0 = _rng.uniform(0.5, 1.5, (2, 3))  # a plain tensor (no grad) changed in place
OPERANDS = {
    (2, 3): _rng.uniform(0.5, 1.5, (2, 3)),
    (3,): _rng.uniform(0.5, 1.5, (3,)),
    (2, 1): _rng.uniform(0.5, 1.5, (2, 1)),
    (2, 2): _rng.uniform(0.5, 1.5, (2, 2)),
    (2,): _rng.uniform(0.5, 1.5, (2,)),
    (1,): _rng.uniform(0.5, 1.5, (1,)),
    (): np.array(1.375),
}
MASK = np.array([[True, False, True], [False, True, False]])


# ------------------------------------------------------------------------------ the two libraries
class CR:
    """chainrule, through the names the programs use."""

    name = "chainrule"
    Tensor = cr.Tensor

    @staticmethod
    def t(a, rg=False):
        return cr.tensor(np.asarray(a), requires_grad=rg)

    no_grad = staticmethod(cr.no_grad)

    @staticmethod
    def np(t):
        return np.array(t.numpy())

    @staticmethod
    def split(t, n, axis):
        return cr.split(t, t.shape[axis] // n, dim=axis)

    @staticmethod
    def broadcast_to(t, shape):
        return t.broadcast_to(shape)

    @staticmethod
    def index(i):
        return i


class TH:
    """PyTorch, through the same names."""

    name = "torch"
    Tensor = torch.Tensor if torch is not None else None

    @staticmethod
    def t(a, rg=False):
        return torch.tensor(np.asarray(a), requires_grad=rg)

    no_grad = staticmethod(torch.no_grad) if torch is not None else None

    @staticmethod
    def np(t):
        return t.detach().numpy().copy()

    @staticmethod
    def split(t, n, axis):
        return torch.split(t, t.shape[axis] // n, dim=axis)

    @staticmethod
    def broadcast_to(t, shape):
        return t.expand(shape)

    @staticmethod
    def index(i):
        if isinstance(i, np.ndarray):
            return torch.tensor(i)
        return i


def grad_of(L, t):
    return None if t.grad is None else L.np(t.grad)


def run(L, program, *args):
    """Run ``program(L, rec, *args)``; return its record, with 'error' = (step, exception) if it raised."""
    rec = {"step": "setup"}
    try:
        program(L, rec, *args)
    except Exception as e:  # both libraries' errors are compared
        rec["error"] = (rec["step"], e)
    return rec


def assert_same(ours, theirs, *, chainrule_error=cr.errors.ChainruleError):
    """The two records agree: the same step raised (or none), and every recorded value is equal."""
    eo, et = ours.get("error"), theirs.get("error")
    assert (eo is None) == (et is None), f"chainrule raised {eo!r}, PyTorch raised {et!r}"
    if eo is not None:
        assert eo[0] == et[0], f"chainrule raised at {eo[0]} ({eo[1]!r}), PyTorch at {et[0]} ({et[1]!r})"
        assert isinstance(eo[1], chainrule_error), f"chainrule raised {type(eo[1]).__name__}: {eo[1]}"
    assert ours.keys() == theirs.keys(), (sorted(ours), sorted(theirs))
    for k, v in theirs.items():
        if k in ("error", "step"):
            continue
        o = ours[k]
        if isinstance(v, np.ndarray) or isinstance(o, np.ndarray):
            assert o is not None and v is not None, f"{k}: chainrule {o!r}, PyTorch {v!r}"
            np.testing.assert_allclose(o, v, rtol=1e-12, atol=1e-12, err_msg=k)
        else:
            assert o == v, f"{k}: chainrule {o!r}, PyTorch {v!r}"


def compare(program, *args, **kw):
    ours, theirs = run(CR, program, *args), run(TH, program, *args)
    assert_same(ours, theirs, **kw)
    return ours, theirs


# ------------------------------------------------------------------------------ the in-place operations
def _iadd(t, o):
    t += o
    return t


def _isub(t, o):
    t -= o
    return t


def _imul(t, o):
    t *= o
    return t


def _idiv(t, o):
    t /= o
    return t


def _ipow(t, o):
    t **= o
    return t


def _setter(index):
    def op(t, o, L):
        t[L.index(index)] = o
        return t

    op.needs_lib = True  # the index is converted for the library (a boolean mask becomes its tensor)
    return op


#: name -> op(t, operand): the in-place operations that take an operand
BINARY = {
    "add_": lambda t, o: t.add_(o),
    "add_alpha": lambda t, o: t.add_(o, alpha=-0.5),
    "sub_": lambda t, o: t.sub_(o),
    "sub_alpha": lambda t, o: t.sub_(o, alpha=2.0),
    "mul_": lambda t, o: t.mul_(o),
    "div_": lambda t, o: t.div_(o),
    "pow_": lambda t, o: t.pow_(o),
    "copy_": lambda t, o: t.copy_(o),
    "+=": _iadd,
    "-=": _isub,
    "*=": _imul,
    "/=": _idiv,
    "**=": _ipow,
}
SETITEM = {  # index -> (region shape, broadcast operand shape)
    "t[0]=": (0, (3,), (1,)),
    "t[:,1:]=": ((slice(None), slice(1, None)), (2, 2), (2, 1)),
    "t[[0,1],[2,0]]=": (([0, 1], [2, 0]), (2,), (1,)),
    "t[mask]=": (MASK, (int(MASK.sum()),), (1,)),
}
NULLARY = {
    "zero_": lambda t: t.zero_(),
    "clamp_": lambda t: t.clamp_(1.6, 2.4),
    "clamp_min": lambda t: t.clamp_(min=1.6),
    "clamp_max": lambda t: t.clamp_(max=2.4),
    "fill_": lambda t: t.fill_(1.375),
}
RANDOM = {
    "normal_": lambda t: t.normal_(0.5, 2.0),
    "uniform_": lambda t: t.uniform_(-1.0, 1.0),
}


def operand(L, kind, region, bshape):
    """The operand of kind ``kind``: a number, a constant tensor, a tensor requiring grad, or one broadcast."""
    if kind == "none":
        return None
    if kind == "number":
        return 1.375
    if kind == "const":
        return L.t(OPERANDS[region])
    if kind == "grad":
        return L.t(OPERANDS[region], rg=True)
    if kind == "bcast":
        return L.t(OPERANDS[bshape], rg=True)
    if kind == "grad0d":
        return L.t(OPERANDS[()], rg=True)
    raise AssertionError(kind)


def _cases():
    for name, fn in BINARY.items():
        kinds = ["number", "const", "grad", "bcast"]
        if name == "copy_":
            kinds = ["grad0d", "const", "grad", "bcast"]  # copy_ takes a tensor (a 0-d one for a number)
        for kind in kinds:
            yield name, fn, kind, (2, 3), (3,) if name != "div_" else (2, 1), False
    for name, (index, region, bshape) in SETITEM.items():
        for kind in ("number", "const", "grad", "bcast"):
            yield name, _setter(index), kind, region, bshape, False
    for name, fn in NULLARY.items():
        yield name, (lambda t, o, fn=fn: fn(t)), "none", None, None, False
    yield "fill_tensor", (lambda t, o: t.fill_(o)), "grad0d", None, None, False
    for name, fn in RANDOM.items():
        yield name, (lambda t, o, fn=fn: fn(t)), "none", None, None, True


CASES = list(_cases())
CASE_IDS = [f"{c[0]}-{c[2]}" for c in CASES]


def _apply(L, fn, t, o):
    return fn(t, o, L) if getattr(fn, "needs_lib", False) else fn(t, o)


def _record_tensor(L, rec, prefix, t, random):
    if not random:
        rec[prefix] = L.np(t)
    rec[prefix + ".shape"] = tuple(t.shape)
    rec[prefix + ".grad_fn"] = t.grad_fn is not None
    rec[prefix + ".is_leaf"] = t.is_leaf
    rec[prefix + ".requires_grad"] = t.requires_grad
    rec[prefix + "._version"] = t._version


def _record_operand(L, rec, o):
    if isinstance(o, L.Tensor):
        rec["o._version"] = o._version
        if o.requires_grad:
            rec["o.grad"] = grad_of(L, o)


def inplace_program(L, rec, mode, fn, kind, region, bshape, random):
    """One in-place operation in one situation (``mode``), then a loss and backward where there is a graph.

    graph: on y = x * 2 + 0, part of a graph; leaf: on the leaf x (requires grad), grad mode on;
    leaf_no_grad: on x under no_grad; graph_no_grad: on y under no_grad; plain: on a tensor that
    requires no grad (it joins the graph if the operand requires grad).
    """
    x = L.t(X0, rg=True)
    o = operand(L, kind, region, bshape)
    W = L.t(W0)
    if mode in ("graph", "graph_no_grad"):
        target = x * 2 + 0
    elif mode in ("leaf", "leaf_no_grad"):
        target = x
    else:
        target = L.t(A0)
    before = target.grad_fn
    rec["step"] = "inplace"
    if mode.endswith("no_grad"):
        with L.no_grad():
            res = _apply(L, fn, target, o)
    else:
        res = _apply(L, fn, target, o)
    rec["step"] = "after"
    rec["same object"] = res is target
    _record_tensor(L, rec, "t", target, random)
    rec["x._version"] = x._version
    if before is not None and target.grad_fn is not None:  # the new node's input is the old one's output
        rec["new node reads the old"] = any(f is before for f, _ in target.grad_fn.next_functions)
    if target.requires_grad:
        rec["step"] = "backward"
        # random values differ between the libraries: then a loss whose gradient does not depend on them
        ((target if random else target.tanh()) * W).sum().backward()
        rec["x.grad"] = grad_of(L, x)
    _record_operand(L, rec, o)


@pytest.mark.parametrize("mode", ["graph", "graph_no_grad", "leaf", "leaf_no_grad", "plain"])
@pytest.mark.parametrize("name, fn, kind, region, bshape, random", CASES, ids=CASE_IDS)
def test_inplace_matrix_matches_torch(mode, name, fn, kind, region, bshape, random):
    ours, _ = compare(inplace_program, mode, fn, kind, region, bshape, random)
    if mode == "leaf":  # both refuse; chainrule with a GraphError naming the tensor
        assert ours["error"][0] == "inplace"
        assert isinstance(ours["error"][1], GraphError)
        assert "leaf" in str(ours["error"][1]) and "(shape (2, 3))" in str(ours["error"][1])


@pytest.mark.parametrize("name, fn, kind, region, bshape, random", CASES, ids=CASE_IDS)
def test_a_refused_inplace_on_a_leaf_changes_nothing_and_names_the_tensor(name, fn, kind, region, bshape, random):
    def program(L, rec):
        w = L.t(X0, rg=True)
        if L is CR:
            w.name = "w"
        o = operand(L, kind, region, bshape)
        rec["step"] = "inplace"
        try:
            _apply(L, fn, w, o)
            rec["raised"] = False
        except RuntimeError as e:  # GraphError is a RuntimeError, as PyTorch's error is
            rec["raised"] = True
            rec["message names w"] = L is TH or "'w'" in str(e)
        rec["w"] = L.np(w)
        rec["w._version"] = w._version
        rec["w.grad_fn"] = w.grad_fn is not None

    ours, _ = compare(program)
    assert ours["raised"] and ours["message names w"]
    np.testing.assert_array_equal(ours["w"], X0)


def test_the_random_fills_fill_with_their_distributions():
    y = CR.t(np.zeros((200, 50)))
    g = np.random.default_rng(0)
    y.normal_(0.5, 2.0, generator=g)
    assert abs(y.numpy().mean() - 0.5) < 0.1 and abs(y.numpy().std() - 2.0) < 0.1
    y.uniform_(-1.0, 1.0, generator=g)
    assert y.numpy().min() >= -1.0 and y.numpy().max() < 1.0 and abs(y.numpy().mean()) < 0.05
    assert y._version == 2


# ------------------------------------------------------------------------------ graph history
def test_consumers_recorded_before_an_inplace_op_keep_their_gradients():
    def program(L, rec, extra):
        x = L.t(X0, rg=True)
        y = x * 2
        z = y * 3
        y.mul_(2)
        loss = z.sum() + (y.sum() if extra else 0)
        rec["step"] = "backward"
        loss.backward()
        rec["x.grad"] = grad_of(L, x)
        rec["y._version"] = y._version

    for extra in (False, True):
        ours, _ = compare(program, extra)
        # by hand: dz/dx = 3 * 2 = 6; the changed y = 4x adds 4
        np.testing.assert_array_equal(ours["x.grad"], np.full((2, 3), 10.0 if extra else 6.0))


def test_setitem_from_a_tensor_requiring_grad_puts_a_plain_tensor_in_the_graph():
    def program(L, rec):
        x = L.t(np.array([1.0, 2.0, 3.0]), rg=True)
        a = L.t(np.zeros(3))
        rec["a before"] = (a.is_leaf, a.requires_grad)
        a[0] = x[1]
        rec["a after"] = (a.is_leaf, a.requires_grad, a.grad_fn is not None, a._version)
        rec["a"] = L.np(a)
        rec["step"] = "backward"
        (a * L.t(np.array([5.0, 7.0, 11.0]))).sum().backward()
        rec["x.grad"] = grad_of(L, x)

    ours, _ = compare(program)
    assert ours["a after"] == (False, True, True, 1)
    np.testing.assert_array_equal(ours["x.grad"], [0.0, 5.0, 0.0])  # by hand: a[0] = x[1], weighted by 5


CHAINS = {
    "add,mul,pow,div": lambda L, y, w, v: y.add_(w).mul_(v).pow_(2).div_(w),
    "sub,clamp,setitem,mul": lambda L, y, w, v: (
        y.sub_(v, alpha=0.5).clamp_(0.8, 2.6),
        y.__setitem__(0, w[1]),
        y.mul_(v),
    ),
    "operators": lambda L, y, w, v: (_iadd(y, w), _imul(y, v), _ipow(y, 1.5), _isub(y, v), _idiv(y, 3.0)),
    "copy then mul": lambda L, y, w, v: y.copy_(w).mul_(v).add_(y.detach()),
    "setitem twice": lambda L, y, w, v: (
        y.__setitem__((slice(None), 0), v[:, 1]),
        y.__setitem__(L.index(MASK), 2.0),
    ),
    "mul by itself": lambda L, y, w, v: y.mul_(y),  # the saved factor is the tensor being changed: refused
    "add itself": lambda L, y, w, v: y.add_(y),  # an addition reads nothing: fine
    "fill then add": lambda L, y, w, v: y.fill_(w[0, 0]).add_(v),
}


@pytest.mark.parametrize("chain", list(CHAINS), ids=list(CHAINS))
def test_chains_of_inplace_ops_match_torch(chain):
    def program(L, rec):
        x = L.t(X0, rg=True)
        w = L.t(OPERANDS[(2, 3)], rg=True)
        v = L.t(A0, rg=True)
        y = x * 2 + 0
        rec["step"] = "inplace"
        CHAINS[chain](L, y, w, v)
        _record_tensor(L, rec, "y", y, False)
        rec["step"] = "backward"
        (y.tanh() * L.t(W0)).sum().backward()
        for k, t in (("x", x), ("w", w), ("v", v)):
            rec[k + ".grad"] = grad_of(L, t)
            rec[k + "._version"] = t._version

    compare(program)


# ------------------------------------------------------------------------------ saved values changed
SAVES_OUTPUT = {  # ops whose backward reads their output in both libraries
    "exp": lambda L, t: t.exp(),
    "sigmoid": lambda L, t: t.sigmoid(),
    "tanh": lambda L, t: t.tanh(),
    "sqrt": lambda L, t: t.sqrt(),
    "softmax": lambda L, t: t.softmax(-1),
    "log_softmax": lambda L, t: t.log_softmax(-1),
}


@pytest.mark.parametrize("how", ["add_", "mul_ by a tensor", "setitem", "no_grad add_", "detach add_"])
@pytest.mark.parametrize("op", list(SAVES_OUTPUT), ids=list(SAVES_OUTPUT))
def test_changing_an_output_the_node_saved_is_refused_at_backward_like_torch(op, how):
    def program(L, rec):
        x = L.t(X0, rg=True)
        y = SAVES_OUTPUT[op](L, x)
        rec["step"] = "inplace"
        if how == "add_":
            y.add_(1.0)
        elif how == "mul_ by a tensor":
            y.mul_(L.t(A0, rg=True))
        elif how == "setitem":
            y[0, 1] = 0.25
        elif how == "no_grad add_":
            with L.no_grad():
                y.add_(1.0)
        else:
            y.detach().add_(1.0)
        rec["y._version"] = y._version
        rec["step"] = "backward"
        (y * L.t(W0)).sum().backward()
        rec["x.grad"] = grad_of(L, x)

    ours, _ = compare(program, chainrule_error=GraphError)
    assert ours["error"][0] == "backward"


@pytest.mark.parametrize("what", ["non-leaf", "leaf", "view of a leaf"])
def test_a_write_through_detach_after_a_node_saved_the_tensor_is_refused_like_torch(what):
    def program(L, rec):
        x = L.t(X0, rg=True)
        t = {"non-leaf": lambda: x * 2, "leaf": lambda: x, "view of a leaf": lambda: x[0]}[what]()
        u = t * t  # saves t
        rec["step"] = "inplace"
        d = t.detach()
        d.add_(1.0)
        rec["versions"] = (t._version, d._version, x._version)
        rec["t"] = L.np(t)
        rec["step"] = "backward"
        u.sum().backward()

    ours, _ = compare(program, chainrule_error=GraphError)
    assert ours["error"][0] == "backward"


def _versions_in(msg, lib):
    """(expected version, current version) out of an error message."""
    if lib is TH:
        m = re.search(r"is at version (\d+); expected version (\d+)", msg)
        return int(m.group(2)), int(m.group(1))
    m = re.search(r"\(version (\d+)\).*\(now version (\d+)\)", msg)
    if m is None:
        return None, int(re.search(r"\(now version (\d+)\)", msg).group(1))
    return int(m.group(1)), int(m.group(2))


@pytest.mark.parametrize("before, after", [(0, 1), (0, 3), (2, 1), (100, 2), (0, 70)])
@pytest.mark.parametrize("what", ["input", "output"])
def test_the_stale_value_error_gives_the_same_versions_as_torch(what, before, after):
    def program(L, rec):
        w = L.t(X0, rg=True)
        if L is CR:
            w.name = "w"
        with L.no_grad():
            for _ in range(before):
                w.add_(0.0)
        y = (w * L.t(A0, rg=True)) if what == "input" else w.exp()
        bumped = w if what == "input" else y
        with L.no_grad():
            for _ in range(after):
                bumped.mul_(1.0)
        rec["step"] = "backward"
        try:
            y.sum().backward()
        except RuntimeError as e:
            rec["versions"] = _versions_in(str(e), L)
            rec["message"] = str(e) if L is CR else None
            return
        rec["versions"] = None

    ours, theirs = run(CR, program), run(TH, program)
    msg = ours["message"]
    if after > 32 and "an earlier version than" in msg:  # chainrule keeps a bounded record of the writes
        assert f"an earlier version than {theirs['versions'][1]}" in msg
        assert f"now version {theirs['versions'][1]}" in msg
    else:
        assert ours["versions"] == theirs["versions"]
    if what == "input":
        assert "Mul" in msg and "'w'" in msg and "(shape (2, 3))" in msg
    else:
        assert "Exp" in msg and "output 0" in msg


# ------------------------------------------------------------------------------ views (the one difference)
def _view_program(L, rec, case, inplace_on):
    """A view of y = x * 2 + 0 (or of the leaf x), changed in place through the view or through its base,
    then a loss over both. PyTorch rewrites the history; chainrule must refuse at the in-place call."""
    x = L.t(X0, rg=True)
    w = L.t(OPERANDS[(2, 3)], rg=True)
    base = x if case.endswith("of a leaf") else x * 2 + 0
    make = {
        "reshape": lambda b: b.reshape(3, 2),
        "transpose": lambda b: b.T,
        "unsqueeze": lambda b: b.unsqueeze(0),
        "flatten": lambda b: b.reshape(6),
        "row": lambda b: b[0],
        "slice": lambda b: b[:, 1:],
        "split": lambda b: L.split(b, 3, 1)[1],
        "broadcast_to": lambda b: L.broadcast_to(b, (4, 2, 3)),
        "no_grad view": lambda b: b.reshape(3, 2),
        "transpose of a leaf": lambda b: b.T,
        "row of a leaf": lambda b: b[1],
    }[case]
    if case == "no_grad view":
        with L.no_grad():
            view = make(base)
    else:
        view = make(base)
    changed = view if inplace_on == "view" else base
    rec["step"] = "inplace"
    if case == "broadcast_to" and inplace_on == "view" or case == "no_grad view":
        changed.add_(1.0 if case != "no_grad view" else w.reshape(3, 2))
    else:
        changed.mul_(1.5)
    rec["step"] = "backward"
    loss = (base.tanh() * L.t(W0)).sum() + (view.sin() * 0.5).sum() + (changed * 0.25).sum()
    loss.backward()
    rec["x.grad"] = grad_of(L, x)
    rec["w.grad"] = grad_of(L, w)


VIEW_CASES = [
    ("reshape", "view"),
    ("reshape", "base"),
    ("transpose", "view"),
    ("transpose", "base"),
    ("unsqueeze", "view"),
    ("flatten", "base"),
    ("row", "view"),
    ("row", "base"),
    ("slice", "view"),
    ("slice", "base"),
    ("split", "view"),
    ("split", "base"),
    ("broadcast_to", "view"),
    ("broadcast_to", "base"),
    ("no_grad view", "view"),
    ("transpose of a leaf", "view"),
    ("row of a leaf", "view"),
]


def _view_params():
    return [pytest.param(c, s, id=f"{c}-{s}") for c, s in VIEW_CASES]


@pytest.mark.parametrize("case, inplace_on", _view_params())
def test_a_recorded_inplace_op_through_a_view_raises_graph_error_at_the_call(case, inplace_on):
    theirs = run(TH, _view_program, case, inplace_on)
    ours = run(CR, _view_program, case, inplace_on)
    assert "error" in ours, f"no error (PyTorch: {theirs.get('error')!r}); chainrule's x.grad {ours.get('x.grad')}"
    assert ours["error"][0] == "inplace"
    assert isinstance(ours["error"][1], GraphError), repr(ours["error"][1])
    assert "view" in str(ours["error"][1])


@pytest.mark.parametrize("case, inplace_on", _view_params())
def test_an_inplace_op_through_a_view_never_gives_a_wrong_gradient(case, inplace_on):
    """The weaker promise: whatever chainrule does, it either raises or gives PyTorch's gradients."""
    theirs = run(TH, _view_program, case, inplace_on)
    ours = run(CR, _view_program, case, inplace_on)
    if "error" in ours:
        assert isinstance(ours["error"][1], cr.errors.ChainruleError), repr(ours["error"][1])
        return
    assert "error" not in theirs, f"PyTorch refused ({theirs['error']!r}) where chainrule went ahead"
    for k in ("x.grad", "w.grad"):
        if theirs[k] is None:
            assert ours[k] is None or not np.any(ours[k]), k
        else:
            assert ours[k] is not None, k
            np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12, err_msg=k)


@pytest.mark.parametrize("case", ["reshape", "transpose", "row", "slice", "split"])
def test_views_changed_under_no_grad_change_their_base_like_torch(case):
    def program(L, rec):
        x = L.t(X0, rg=True)
        make = {
            "reshape": lambda b: b.reshape(3, 2),
            "transpose": lambda b: b.T,
            "row": lambda b: b[0],
            "slice": lambda b: b[:, 1:],
            "split": lambda b: L.split(b, 3, 1)[2],
        }[case]
        v = make(x)
        u = x * x  # saves x
        with L.no_grad():
            v.mul_(2.0)
        rec["x"] = L.np(x)
        rec["v"] = L.np(v)
        rec["versions"] = (x._version, v._version)
        rec["step"] = "backward"
        u.sum().backward()

    ours, _ = compare(program, chainrule_error=GraphError)
    assert ours["error"][0] == "backward"  # x was changed through its view after x * x saved it


# ------------------------------------------------------------------------------ dtypes and shapes
INT_OPS = {
    "add_": lambda t, o: t.add_(o),
    "sub_": lambda t, o: t.sub_(o),
    "mul_": lambda t, o: t.mul_(o),
    "div_": lambda t, o: t.div_(o),
    "pow_": lambda t, o: t.pow_(o),
    "+=": _iadd,
    "*=": _imul,
    "/=": _idiv,
    "clamp_": lambda t, o: t.clamp_(min=o),
    "setitem": lambda t, o: t.__setitem__(0, o),
}
INT_KINDS = ["float number", "float tensor", "float tensor requiring grad", "int", "int tensor"]


def _int_params():
    for op in INT_OPS:
        for kind in INT_KINDS:
            if op == "clamp_" and "tensor" in kind:
                continue  # bounds are numbers
            yield pytest.param(op, kind, id=f"{op}-{kind}")


@pytest.mark.parametrize("op, kind", list(_int_params()))
def test_integer_tensors_changed_in_place_like_torch(op, kind):
    """A float result does not fit an integer tensor: both refuse (and change nothing); integers go ahead.
    (Division is true division: refused even by an integer. setitem converts, in both.)"""

    def program(L, rec):
        i = L.t(np.array([1, 2, 3], dtype=np.int64))
        o = {
            "float number": lambda: 2.5,
            "float tensor": lambda: L.t(np.array([0.5, 1.5, 2.5])),
            "float tensor requiring grad": lambda: L.t(np.array(2.5), rg=True),
            "int": lambda: 2,
            "int tensor": lambda: L.t(np.array([2, 1, 3], dtype=np.int64)),
        }[kind]()
        if op == "setitem" and hasattr(o, "shape") and o.shape == (3,):
            o = o[1]
        rec["step"] = "inplace"
        try:
            INT_OPS[op](i, o)
        finally:
            rec["i"] = L.np(i)
            rec["i._version"] = i._version
            rec["i.requires_grad"] = i.requires_grad

    compare(program)


def test_fill_of_an_integer_tensor_with_a_float_truncates_like_torch():
    def program(L, rec):
        i = L.t(np.array([1, 2, 3], dtype=np.int64))
        i.fill_(2.75)
        rec["i"], rec["v"] = L.np(i), i._version

    compare(program)


def test_copy_of_float_values_into_an_integer_tensor_converts_like_torch():
    def program(L, rec):
        i = L.t(np.array([1, 2, 3], dtype=np.int64))
        rec["step"] = "inplace"
        i.copy_(L.t(np.array([0.5, 1.5, -2.5])))
        rec["i"], rec["v"] = L.np(i), i._version

    compare(program)


SHAPE_OPS = {
    "add_": lambda t, o: t.add_(o),
    "sub_": lambda t, o: t.sub_(o),
    "mul_": lambda t, o: t.mul_(o),
    "div_": lambda t, o: t.div_(o),
    "pow_": lambda t, o: t.pow_(o),
    "copy_": lambda t, o: t.copy_(o),
    "+=": _iadd,
    "*=": _imul,
    "setitem": lambda t, o: t.__setitem__(slice(0, 2), o),
}


@pytest.mark.parametrize("mode", ["graph", "plain", "no_grad"])
@pytest.mark.parametrize("op", list(SHAPE_OPS), ids=list(SHAPE_OPS))
def test_inplace_ops_that_would_change_the_shape_are_refused_like_torch(op, mode):
    def program(L, rec):
        x = L.t(X0[0], rg=True)  # shape (3,)
        o = L.t(OPERANDS[(2, 3)], rg=mode != "no_grad")  # (2, 3): broadcasting would make (2, 3)
        t = x * 2 + 0 if mode == "graph" else L.t(A0[0])
        fn_before = t.grad_fn
        rec["step"] = "inplace"
        try:
            if mode == "no_grad":
                with L.no_grad():
                    SHAPE_OPS[op](t, o)
            else:
                SHAPE_OPS[op](t, o)
        finally:
            rec["t"] = L.np(t)
            rec["t.shape"] = tuple(t.shape)
            rec["t._version"] = t._version
            rec["t.grad_fn unchanged"] = t.grad_fn is fn_before

    ours, _ = compare(program)
    assert ours["error"][0] == "inplace"


MIXED = {
    "copy_ float32 into float64": ("float64", "float32", lambda y, o: y.copy_(o)),
    "add_ float64 into float32": ("float32", "float64", lambda y, o: y.add_(o)),
    "mul_ float64 into float32": ("float32", "float64", lambda y, o: y.mul_(o)),
    "-= float32 from float64": ("float64", "float32", _isub),
    "setitem float64 into float32": ("float32", "float64", lambda y, o: y.__setitem__(0, o[1])),
}


@pytest.mark.parametrize("case", list(MIXED), ids=list(MIXED))
def test_inplace_ops_between_float_dtypes_keep_the_tensors_dtype_like_torch(case):
    ydt, odt, fn = MIXED[case]

    def program(L, rec):
        x = L.t(X0.astype(ydt), rg=True)
        o = L.t(OPERANDS[(2, 3)].astype(odt), rg=True)
        y = x * 2 + 0
        fn(y, o)
        rec["y.dtype"] = str(L.np(y).dtype)
        rec["y"] = L.np(y).astype(np.float64)
        rec["step"] = "backward"
        (y * y).sum().backward()
        for k, t in (("x", x), ("o", o)):
            g = grad_of(L, t)
            rec[k + ".grad.dtype"] = str(g.dtype)
            rec[k + ".grad"] = g.astype(np.float64)

    ours, theirs = run(CR, program), run(TH, program)
    assert "error" not in ours and "error" not in theirs
    for k, v in theirs.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_allclose(ours[k], v, rtol=1e-6, err_msg=k)  # float32 arithmetic in either
        else:
            assert ours[k] == v, k


# ------------------------------------------------------------------------------ hooks and retained gradients
def test_a_hook_registered_before_an_inplace_op_sees_the_old_values_gradient_like_torch():
    def program(L, rec):
        x = L.t(X0, rg=True)
        y = x * 2 + 0
        seen = []
        y.register_hook(lambda g: seen.append(np.array(g.tolist())))
        y.mul_(3.0)
        rec["step"] = "backward"
        (y * y).sum().backward()
        rec["seen"] = seen[0]
        rec["x.grad"] = grad_of(L, x)

    compare(program)


def test_retain_grad_before_an_inplace_op_gives_the_new_values_gradient_like_torch():
    def program(L, rec):
        x = L.t(X0, rg=True)
        y = x * 2 + 0
        y.retain_grad()
        y.mul_(3.0)
        rec["step"] = "backward"
        (y * y).sum().backward()
        rec["y.grad"] = grad_of(L, y)
        rec["x.grad"] = grad_of(L, x)

    ours, _ = compare(program)
    np.testing.assert_allclose(ours["y.grad"], 2 * (X0 * 2) * 3)  # by hand: d(y^2)/dy at the new y = 6x


def test_clamp_with_tensor_bounds_matches_torch_or_says_bounds_must_be_numbers():
    def program(L, rec):
        x = L.t(X0, rg=True)
        lo = L.t(np.array([2.0, 2.2, 2.4]), rg=True)
        y = x * 2 + 0
        rec["step"] = "inplace"
        y.clamp_(min=lo)
        rec["y"] = L.np(y)
        rec["step"] = "backward"
        (y * y).sum().backward()
        rec["x.grad"], rec["lo.grad"] = grad_of(L, x), grad_of(L, lo)

    ours, theirs = run(CR, program), run(TH, program)
    if "error" in ours:
        assert isinstance(ours["error"][1], cr.errors.ChainruleError), repr(ours["error"][1])
    else:
        assert_same(ours, theirs)


# ------------------------------------------------------------------------------ manual updates
def _moons(n=40, seed=0):
    """Two interleaved half circles, labels -1 and 1 (micrograd's make_moons, generated here)."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, np.pi, n)
    first = rng.random(n) < 0.5
    X = np.where(first[:, None], np.c_[np.cos(t), np.sin(t)], np.c_[1 - np.cos(t), 0.5 - np.sin(t)])
    X = X + rng.normal(0, 0.1, X.shape)
    return X, np.where(first, -1.0, 1.0)


def _update(L, p, lr, how):
    if how == "no_grad -=":
        with L.no_grad():
            p -= lr * p.grad
    elif how == ".data -=":
        p.data -= lr * p.grad.data
    elif how == "no_grad sub_":
        with L.no_grad():
            p.sub_(p.grad, alpha=lr)
    else:
        raise AssertionError(how)


def _zero_grads(params, how):
    for p in params:
        if how == "None":
            p.grad = None
        elif p.grad is not None:
            p.grad.zero_()


def micrograd_loop(L, rec, update, zero, steps=6):
    """micrograd's demo: an MLP 2-16-16-1 (ReLU), max-margin loss plus L2, lr = 1 - 0.9 k / 100, and
    ``for p in model.parameters(): p.data -= learning_rate * p.grad``."""
    rng = np.random.default_rng(1)
    X, y = _moons()
    sizes = [2, 16, 16, 1]
    params = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        params += [L.t(rng.uniform(-1, 1, (i, o)), rg=True), L.t(np.zeros(o), rg=True)]
    Xt, yt = L.t(X), L.t(y)
    for k in range(steps):
        h = Xt
        for j in range(0, len(params), 2):
            h = h @ params[j] + params[j + 1]
            if j < len(params) - 2:
                h = h.relu()
        scores = h.reshape(-1)
        data_loss = (1 + -yt * scores).relu().mean()
        reg_loss = 1e-4 * sum((p * p).sum() for p in params)
        total = data_loss + reg_loss
        _zero_grads(params, zero)
        total.backward()
        lr = 1.0 - 0.9 * k / 100
        for p in params:
            _update(L, p, lr, update)
        rec[f"loss {k}"] = float(total.item())
    for n, p in enumerate(params):
        rec[f"param {n}"] = L.np(p)
        rec[f"param {n} version"] = p._version


class DLFSSGD:
    """Deep Learning from Scratch's common/optimizer.py SGD, as written there."""

    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for key in params.keys():
            params[key] -= self.lr * grads[key]


class DLFSMomentum:
    """Deep Learning from Scratch's Momentum, as written there (v as tensors of the same library)."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum, self.v = lr, momentum, None

    def update(self, params, grads):
        if self.v is None:
            self.v = {key: val.detach() * 0 for key, val in params.items()}
        for key in params.keys():
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] += self.v[key]


def dlfs_loop(L, rec, optimizer, steps=5):
    """DLFS's train_neuralnet.py: TwoLayerNet (Affine-ReLU-Affine-SoftmaxWithLoss), random mini-batches,
    ``grad = network.gradient(x_batch, t_batch)`` then the optimizer's update, under no_grad."""
    rng = np.random.default_rng(2)
    X, t = rng.normal(size=(60, 8)), rng.integers(0, 4, 60)
    params = {
        "W1": L.t(0.1 * rng.standard_normal((8, 10)), rg=True),
        "b1": L.t(np.zeros(10), rg=True),
        "W2": L.t(0.1 * rng.standard_normal((10, 4)), rg=True),
        "b2": L.t(np.zeros(4), rg=True),
    }
    opt = {"SGD": lambda: DLFSSGD(lr=0.5), "Momentum": lambda: DLFSMomentum(lr=0.2)}[optimizer]()
    batches = np.random.default_rng(3)
    for i in range(steps):
        mask = batches.choice(len(X), 16)
        xb, tb = L.t(X[mask]), L.t(t[mask])
        scores = (xb @ params["W1"] + params["b1"]).relu() @ params["W2"] + params["b2"]
        loss = L.cross_entropy(scores, tb)
        for p in params.values():
            p.grad = None
        loss.backward()
        grads = {k: p.grad for k, p in params.items()}
        with L.no_grad():
            opt.update(params, grads)
        rec[f"loss {i}"] = float(loss.item())
    for k, p in params.items():
        rec[k] = L.np(p)
        rec[k + " version"] = p._version
        rec[k + " is a leaf"] = (p.is_leaf, p.requires_grad)


CR.cross_entropy = staticmethod(cr.nn.functional.cross_entropy)
TH.cross_entropy = staticmethod(torch.nn.functional.cross_entropy) if torch is not None else None


def _close(ours, theirs):
    assert "error" not in ours and "error" not in theirs, (ours.get("error"), theirs.get("error"))
    assert ours.keys() == theirs.keys()
    for k, v in theirs.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_allclose(ours[k], v, rtol=1e-10, atol=1e-12, err_msg=k)
        elif isinstance(v, float):
            assert ours[k] == pytest.approx(v, rel=1e-10), k
        else:
            assert ours[k] == v, k


@pytest.mark.parametrize("zero", ["None", "zero_"])
@pytest.mark.parametrize("update", ["no_grad -=", ".data -=", "no_grad sub_"])
def test_micrograds_manual_update_loop_matches_torch(update, zero):
    ours, theirs = run(CR, micrograd_loop, update, zero), run(TH, micrograd_loop, update, zero)
    _close(ours, theirs)
    steps = sum(k.startswith("loss") for k in ours)
    # a write through .data is not counted, in either library; the others count one per step
    assert ours["param 0 version"] == (0 if update == ".data -=" else steps)
    assert ours["loss 0"] != ours[f"loss {steps - 1}"]  # it trained


@pytest.mark.parametrize("optimizer", ["SGD", "Momentum"])
def test_dlfs_manual_update_loop_matches_torch(optimizer):
    ours, theirs = run(CR, dlfs_loop, optimizer), run(TH, dlfs_loop, optimizer)
    _close(ours, theirs)
    assert ours["W1 is a leaf"] == (True, True)


def test_a_backward_after_a_manual_update_is_refused_like_torch():
    def program(L, rec):
        W = L.t(OPERANDS[(2, 3)], rg=True)
        x = L.t(X0[:, :2].T)  # (2, 2) @ (2, 3)
        loss = (x @ W).tanh().sum()
        loss.backward(retain_graph=True)
        with L.no_grad():
            W -= 0.1 * W.grad
        rec["W._version"] = W._version
        rec["step"] = "backward"
        loss.backward()  # Matmul's backward would need the old W (for x's gradient it is not needed ...)

    def program_x_grad(L, rec):
        W = L.t(OPERANDS[(2, 3)], rg=True)
        x = L.t(X0[:, :2].T, rg=True)  # ... but here x requires grad: its gradient reads W
        loss = (x @ W).tanh().sum()
        loss.backward(retain_graph=True)
        with L.no_grad():
            W -= 0.1 * W.grad
        rec["W._version"] = W._version
        rec["step"] = "backward"
        loss.backward()

    ours, _ = compare(program)
    assert "error" not in ours  # nothing read W: both go ahead
    ours, _ = compare(program_x_grad, chainrule_error=GraphError)
    assert ours["error"][0] == "backward"
