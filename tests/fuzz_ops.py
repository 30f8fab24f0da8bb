"""A differential fuzzer: random programs, run by chainrule and by PyTorch, must agree.

A program is data: a list of nodes, each either a ``Leaf`` (an input array; differentiable when it holds
floats) or a ``Step`` (one operation of :data:`OPS` applied to earlier nodes, with its parameters).
:func:`generate` draws one from ``(seed, case)``: 3 to 8 operations on random shapes (size-0 and size-1
dimensions included), all float32 or all float64 (an ``astype`` step may mix them), with ordinary,
integer-valued (ties), positive and special (0, -0, +-inf, NaN, large, small) values, and now and then an
argument both libraries must refuse. :func:`run` interprets a program with either library; both run the same
source text, which comes from the one table :data:`OPS` (name -> chainrule call, PyTorch call, argument
generator). :func:`check` runs both and lists every disagreement:

- errors: both raise at the same step, or neither; chainrule's are ``ChainruleError``s;
- the shape, dtype, ``requires_grad`` and values of every step;
- the gradients of a fixed weighted sum of the program's results with respect to every float input, and for a
  quarter of the float64 programs a Hessian-vector product (where the first derivatives are finite);
- with ``--warnings``, NumPy warnings chainrule lets through.

Values agree to rtol 1e-9 in float64 and 1e-4 in float32, each with an absolute tolerance of the same factor
times the array's largest finite magnitude (for gradients: the largest gradient met on the way, which bounds
their rounding); NaN and infinities must be at the same places, except that a gradient may be NaN on one side
and infinite on the other where an operation received an infinite or NaN gradient (the order of products
inside two correct formulas decides). A float32 disagreement where chainrule is as close to PyTorch's float64
run of the same program as PyTorch's float32 result is, is rounding and is dropped. The generators steer
clear of inputs where the two libraries differ on purpose or by PyTorch's approximation (each says why; the
README's table of differences lists them) and of ill-conditioned inputs where rounding decides the outcome
(divisions by values near 0, sin of 1e4, std of constant values). Still rare in long runs: the sign of a zero
(a one-term matmul, clip at a bound of 0), and so of an infinity computed from it.

    python tests/fuzz_ops.py --cases 20000 --seed 1     # a long run: each disagreement, shrunk to a reproducer
    python tests/fuzz_ops.py --seed 1 --case 123         # one case again, with its program in both libraries

tests/test_fuzz.py runs 2,000 seeded cases as part of the test suite.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np

import chainrule as cr
import chainrule.nn.functional as F

try:
    import torch
    import torch.nn.functional as tF
except ImportError:  # pragma: no cover - the fuzzer needs its reference
    torch = tF = None

MIN_STEPS, MAX_STEPS = 3, 8
P_BAD = 0.03  # how often a generator makes an argument that both libraries must refuse
P_SECOND = 0.25  # the share of float64 programs whose second derivatives are compared too
RTOL = {"float64": 1e-9, "float32": 1e-4}


# ----------------------------------------------------------------------------- programs as data
@dataclass
class Leaf:
    value: np.ndarray
    grad: bool  # differentiated (float inputs); integer targets are not


@dataclass
class Step:
    op: str
    args: tuple
    params: dict


@dataclass
class Program:
    seed: int
    case: int
    dtype: str
    nodes: list
    second: bool = False  # compare a Hessian-vector product too

    def steps(self):
        return [n for n in self.nodes if isinstance(n, Step)]


class Arr:
    """An index or mask array parameter: NumPy's for chainrule, a torch tensor for PyTorch."""

    def __init__(self, a):
        self.a = np.asarray(a)


class DType:
    """A dtype parameter: a string for chainrule, ``torch.<name>`` for PyTorch."""

    def __init__(self, name):
        self.name = name


def render(v, lib: str) -> str:
    """Python source for a parameter, for chainrule (``lib == "cr"``) or PyTorch."""
    if isinstance(v, Arr):
        kind = "bool" if v.a.dtype == bool else "int64"
        mod = "np.array" if lib == "cr" else "torch.tensor"
        dt = f"np.{kind}_".replace("int64_", "int64") if lib == "cr" else f"torch.{kind}"  # (np.bool_: NumPy 1.x)
        src = f"{mod}({v.a.tolist()!r}, dtype={dt})"
        return src if v.a.size or v.a.ndim == 1 else f"{src}.reshape({v.a.shape!r})"
    if isinstance(v, DType):
        return repr(v.name) if lib == "cr" else f"torch.{v.name}"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    if isinstance(v, tuple):
        inner = ", ".join(render(x, lib) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if isinstance(v, list):
        return "[" + ", ".join(render(x, lib) for x in v) + "]"
    if isinstance(v, slice):
        return f"slice({render(v.start, lib)}, {render(v.stop, lib)}, {render(v.step, lib)})"
    if v is Ellipsis:
        return "..."
    return repr(v)


def source(step: Step, lib: str) -> str:
    op = OPS[step.op]
    template = op.cr if lib == "cr" else op.torch
    names = [f"v{i}" for i in step.args]
    return template.format(*names, args=", ".join(names), **{k: render(v, lib) for k, v in step.params.items()})


@functools.lru_cache(maxsize=8192)
def _compiled(src: str):
    return compile(src, "<fuzz>", "eval")


def _namespace(lib):
    if lib == "cr":
        return {"cr": cr, "F": F, "np": np, "nan": np.nan, "inf": np.inf}
    return {"torch": torch, "tF": tF, "np": np, "nan": np.nan, "inf": np.inf}


# ----------------------------------------------------------------------------- the generator
class Gen:
    """Draws a program node by node; every step is evaluated with PyTorch at once, so that the next one
    knows the shapes it works on (and a step PyTorch refuses ends the program: both must refuse it)."""

    def __init__(self, rng, dtype):
        self.rng = rng
        self.dtype = dtype
        self.nodes: list = []
        self.tvals: list = []  # PyTorch's value of each node
        self.failed = False
        self.second = False  # second derivatives will be compared
        self.strict = False  # the operation drawn wants operands of the program's dtype (PyTorch refuses a mix)
        self.ns = _namespace("torch")

    # -- drawing
    def chance(self, p) -> bool:
        return bool(self.rng.random() < p)

    def choice(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def bad(self) -> bool:
        return self.chance(P_BAD)

    def shape(self, i) -> tuple:
        return tuple(self.tvals[i].shape)

    def size(self, lo=0, hi=4) -> int:
        r = self.rng.random()
        return 0 if r < 0.07 and lo == 0 else (1 if r < 0.25 else int(self.rng.integers(max(lo, 2), hi + 1)))

    def rand_shape(self, min_nd=0, max_nd=4) -> tuple:
        nd = int(self.rng.choice(np.arange(5), p=[0.1, 0.25, 0.35, 0.2, 0.1]))
        nd = min(max(nd, min_nd), max_nd)
        return tuple(self.size() for _ in range(nd))

    def values(self, shape) -> np.ndarray:
        rng = self.rng
        kind = self.choice(["normal", "normal", "normal", "ints", "ints", "pos", "pos", "special"])
        if kind == "normal":
            v = rng.normal(size=shape) * self.choice([1.0, 1.0, 3.0])
        elif kind == "ints":
            v = rng.integers(-3, 4, size=shape).astype(np.float64)
        elif kind == "pos":
            v = rng.uniform(0.2, 3.0, size=shape)
        else:
            v = rng.normal(size=shape)
            big = 1e4 if self.dtype == "float64" else 100.0  # (float32 keeps 3 digits after the point of 1e4)
            special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, big, -big, 1e-3])
            hit = rng.random(shape) < 0.3
            v = np.where(hit, rng.choice(special, size=shape), v)
        return np.asarray(v, dtype=self.dtype)

    # -- nodes
    def leaf(self, shape, value=None, grad=True) -> int:
        value = self.values(shape) if value is None else value
        self.nodes.append(Leaf(value, grad))
        self.tvals.append(torch.tensor(value))
        return len(self.nodes) - 1

    def step(self, op, args, params) -> bool:
        s = Step(op, tuple(args), params)
        self.nodes.append(s)
        env = dict(self.ns)
        env.update({f"v{i}": self.tvals[i] for i in s.args})
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = eval(_compiled(source(s, "torch")), env)  # noqa: S307 - the fuzzer's own program text
        except Exception:
            self.tvals.append(None)
            self.failed = True
            return False
        self.tvals.append(out)
        return True

    def floats(self, pred=None, vpred=None) -> list:
        out = []
        for i, t in enumerate(self.tvals):
            if t is None or not t.is_floating_point() or (self.strict and str(t.dtype) != f"torch.{self.dtype}"):
                continue
            if (pred is None or pred(tuple(t.shape))) and (vpred is None or vpred(t)):
                out.append(i)
        return out

    def pick(self, pred=None, vpred=None):
        """A float node satisfying ``pred`` (on its shape) and ``vpred`` (on its values): mostly the newest, so
        that operations compose."""
        cands = self.floats(pred, vpred)
        if not cands:
            return None
        if self.chance(0.6):
            return cands[-1]
        return self.choice(cands)

    def of_shape(self, shape) -> int:
        """An existing float node of exactly ``shape`` (half the time, when there is one), else a new leaf."""
        cands = self.floats(lambda s: s == tuple(shape))
        if cands and self.chance(0.5):
            return self.choice(cands)
        return self.leaf(tuple(shape))

    def partner(self, shape) -> tuple:
        """A shape that broadcasts with ``shape`` (or, rarely, one that does not)."""
        out = [1 if self.chance(0.25) else s for s in shape]
        out = [self.choice([2, 3]) if s == 1 and self.chance(0.2) else s for s in out]
        if out and self.chance(0.3):
            out = out[int(self.rng.integers(0, len(out) + 1)) :]
        if self.chance(0.2) and len(out) < 4:
            out = [self.choice([1, 2, 3])] + out
        if self.bad():
            big = [k for k, s in enumerate(out) if s != 1]
            if big:
                k = self.choice(big)
                out[k] = out[k] + 1
        return tuple(out)

    def axis(self, nd, allow_none=True):
        """An axis argument for a reduction: None, an int (maybe negative) or a tuple of distinct ints."""
        if self.bad():  # out of range, or named twice
            return nd + int(self.rng.integers(0, 2)) if self.chance(0.5) else (0, -max(nd, 1))
        if nd == 0:
            return None if allow_none and self.chance(0.5) else self.choice([0, -1])
        r = self.rng.random()
        if allow_none and r < 0.25:
            return None
        if r < 0.65:
            return int(self.rng.integers(-nd, nd))
        k = int(self.rng.integers(1, nd + 1))
        axes = [int(a) - (nd if self.chance(0.3) else 0) for a in self.rng.choice(nd, k, replace=False)]
        return tuple(axes)

    def dim(self, nd):
        """A single dimension for softmax-like operations (0 and -1 also for 0-d, as PyTorch allows)."""
        if self.bad():
            return max(nd, 1)
        n = max(nd, 1)
        return int(self.rng.integers(-n, n))


# ----------------------------------------------------------------------------- argument generators
def g_unary(g: Gen, **choices):
    x = g.pick()
    if x is None:
        return None
    return (x,), {k: g.choice(v) for k, v in choices.items()}


def unary(**choices):
    return functools.partial(g_unary, **choices)


def _divisor(g: Gen):
    """No zeros or values near 0 (a division by 0 has the sign of a zero that the two libraries may round
    differently, and a value near 0 made by cancellation carries its rounding into the quotient many times)."""
    eps = 1e-6 if g.dtype == "float64" else 1e-3
    return lambda t: not bool(((t.abs() < eps) & t.isfinite()).any())


def g_rdiv(g: Gen):
    x = g.pick(vpred=_divisor(g))
    return None if x is None else ((x,), {"c": g.choice(_SCALARS)})


def g_pow_scalar(g: Gen):
    p = g.choice([2, 3, -1, 0, 1, 0.5, 1.5, -0.5, 2.0, -2])
    x = g.pick(vpred=_divisor(g) if p < 0 else None)
    return None if x is None else ((x,), {"p": p})


def g_softplus(g: Gen):
    # PyTorch's softplus returns x itself above 20 (threshold=20), with derivatives 1 and 0: 2e-9 off in
    # float64, where chainrule computes log(1 + e^x) exactly; float64 programs keep below 20
    x = g.pick(vpred=(lambda t: not bool(((t > 20) & t.isfinite()).any())) if g.dtype == "float64" else None)
    return None if x is None else ((x,), {})


def g_periodic(g: Gen):
    # sin and cos of large arguments: a last-digit difference in the argument moves the value
    x = g.pick(vpred=_moderate(g, 1e5, 100))
    return None if x is None else ((x,), {})


def g_clip(g: Gen):
    x = g.pick()
    bounds = [None, -1.0, -0.5, 0.0, 0.5, 1.0, 2]
    lo, hi = g.choice(bounds), g.choice(bounds)
    if lo is None and hi is None:
        hi = 1.0
    return (x,), {"lo": lo, "hi": hi}


def g_binary(g: Gen):
    a = g.pick()
    b = g.of_shape(g.partner(g.shape(a)))
    return ((a, b) if g.chance(0.5) else (b, a)), {}


def g_minmax(g: Gen):
    (a, b), _ = g_binary(g)
    computed = isinstance(g.nodes[a], Step) or isinstance(g.nodes[b], Step)
    try:
        tie = bool((g.tvals[a] == g.tvals[b]).any())
    except RuntimeError:  # (shapes both must refuse)
        tie = False
    return None if computed and tie else ((a, b), {})  # (a tie with a computed value is decided by rounding)


def g_div(g: Gen):
    (a, b), _ = g_binary(g)
    return None if not _divisor(g)(g.tvals[b]) else ((a, b), {})


def g_pow(g: Gen):
    (a, b), _ = g_binary(g)
    # second derivatives where chainrule's are exact and PyTorch's are not are left out: d2(0^b)/db2 (PyTorch:
    # NaN, 0 * inf inside its formula; chainrule: 0) and d2(a^b)/da db at b = 0 (PyTorch: 0; chainrule: 1/a)
    # (and NaN operands: with an empty exponent, PyTorch's second derivative for a NaN 0-d base is NaN, not the
    # sum over nothing)
    ta, tb = g.tvals[a], g.tvals[b]
    if g.second and ((ta == 0).any() or (tb == 0).any() or ta.isnan().any() or tb.isnan().any()):
        return None
    # a negative base to a computed exponent: where that is an integer up to rounding (logsumexp of a
    # log_softmax, say), the power is real where it rounds to the integer and NaN where it is off by a digit
    if (ta < 0).any() and isinstance(g.nodes[b], Step):
        return None
    return (a, b), {}


def _not_huge(g: Gen, small64, small32, big64, big32):
    """Values below ``small`` in magnitude or beyond ``big`` (where exp overflows in both libraries alike): huge
    but finite results (exp(69) = 1e30) amplify rounding past any tolerance, mostly in second derivatives."""
    small, big = (small64, big64) if g.dtype == "float64" else (small32, big32)
    return lambda t: bool(((t.abs() < small) | (t.abs() > big) | t.isnan()).all())


def g_exp(g: Gen):
    x = g.pick(vpred=_not_huge(g, 30, 15, 710, 89))
    return None if x is None else ((x,), {})


def g_rpow(g: Gen):
    x = g.pick(vpred=_not_huge(g, 40, 20, 1080, 130))
    c = g.choice([2.0, 0.5, 0.0, -2.0, 1])
    if x is None or (g.second and c == 0.0):
        return None
    return (x,), {"c": c}


def g_ternary(g: Gen):
    a = g.pick()
    s = g.shape(a)
    return (a, g.of_shape(g.partner(s)), g.of_shape(g.partner(s))), {}


def g_clip_tensors(g: Gen):
    # bounds that broadcast to x's shape: with larger ones, PyTorch's clamp computes a value but its
    # backward fails ("output with shape ... doesn't match the broadcast shape")
    a = g.pick()
    s = g.shape(a)

    def bound():
        b = g.partner(s)
        try:
            fits = np.broadcast_shapes(s, b) == s
        except ValueError:
            fits = True  # (a shape that cannot broadcast: both must refuse it)
        return g.of_shape(b if fits else s)

    return (a, bound(), bound()), {}


def g_reduce(g: Gen, ddof=False, finite=False):
    # finite: max and min of values with a NaN are left out: chainrule's gradient goes to the NaN (as torch.max's
    # does); torch.amax/amin's is NaN everywhere
    x = g.pick(vpred=(lambda t: not t.isnan().any()) if finite else None)
    if x is None:
        return None
    t = g.tvals[x]
    if finite and isinstance(g.nodes[x], Step) and t.numel() != t.unique().numel():
        return None  # ties between computed values (var of [1, 3, -2] and of [1, -3, 1]) are decided by rounding
    nd = len(g.shape(x))
    axis = g.axis(nd)
    params = {"axis": axis, "dim": tuple(range(nd)) if axis is None else axis, "keepdims": g.chance(0.4)}
    if ddof:
        params["ddof"] = g.choice([0, 1])
    return (x,), params


def g_std(g: Gen):
    # where the variance is 0 or lost in rounding (constant values), d std = (x - mean) / (n std) is 0 / 0: each
    # library's rounding decides it (tests/test_ops_edges.py checks exact constants); those are left out
    (x,), params = g_reduce(g, ddof=True)
    t = g.tvals[x].double()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            dim = params["dim"] if params["dim"] != () else None
            var = torch.var(t, dim=dim, keepdim=True, correction=params["ddof"])
            mean2 = torch.mean(t, dim=dim, keepdim=True) ** 2
        except Exception:  # noqa: BLE001 - arguments both must refuse: kept
            return (x,), params
    if bool((var <= (1e-20 if g.dtype == "float64" else 1e-10) * (mean2 + 1)).any()):
        return None
    return (x,), params


def g_dim(g: Gen):
    x = g.pick()
    return (x,), {"axis": g.dim(len(g.shape(x)))}


def g_matmul(g: Gen):
    a = g.pick(lambda s: len(s) >= 1)
    if a is None:
        return None
    sa = g.shape(a)
    m = g.size()
    if g.chance(0.3):  # a as the right operand: (..., n, k) @ a
        k = sa[-2] if len(sa) >= 2 else sa[0]
        k = k + 1 if g.bad() else k
        left = g.choice([(k,), (g.size(), k), g.partner(sa[:-2])[-2:] + (g.size(), k)])
        return (g.of_shape(left), a), {}
    k = sa[-1] + 1 if g.bad() else sa[-1]
    batch = g.partner(sa[:-2]) if len(sa) > 2 else tuple(g.size() for _ in range(int(g.rng.integers(0, 2))))
    right = g.choice([(k,), (k, m), batch + (k, m)])
    return (a, g.of_shape(right)), {}


def g_linear(g: Gen):
    x = g.pick(lambda s: len(s) >= 1)
    if x is None:
        return None
    n_in, n_out = g.shape(x)[-1], g.size()
    w = g.leaf((n_out, n_in + (1 if g.bad() else 0)))
    if g.chance(0.3):
        return (x, w), {}
    return (x, w, g.leaf((n_out,))), {}


def _basic_item(g: Gen, n):
    r = g.rng.random()
    if r < 0.35 and n > 0:
        return int(g.rng.integers(-n, n))
    if r < 0.5:
        return slice(None)
    lim = n + 1

    def end():
        return None if g.chance(0.3) else int(g.rng.integers(-lim, lim + 1))

    return slice(end(), end(), g.choice([None, 1, 2, 3]))


def g_index(g: Gen):
    x = g.pick(lambda s: len(s) >= 1)
    if x is None:
        return None
    s = g.shape(x)
    nd = len(s)
    used = int(g.rng.integers(1, nd + 1))
    items = [_basic_item(g, s[d]) for d in range(used)]
    if g.bad():
        items[0] = s[0] + int(g.rng.integers(0, 2))
    if g.chance(0.2):
        items.insert(int(g.rng.integers(0, len(items) + 1)), None)
    if used < nd and g.chance(0.3):
        items = [Ellipsis] + items[1:] if g.chance(0.5) else items + [Ellipsis]
    return (x,), {"index": tuple(items)}


def g_adv_index(g: Gen):
    x = g.pick(lambda s: len(s) >= 1)
    if x is None:
        return None
    s = g.shape(x)
    nd = len(s)
    r = g.rng.random()
    if r < 0.3:  # a boolean mask over the leading dimensions
        k = int(g.rng.integers(1, nd + 1))
        index = (Arr(g.rng.random(s[:k]) < 0.5),)
    else:
        d = int(g.rng.integers(0, nd))
        # out of range: only where the result is not empty (PyTorch checks no index that selects nothing)
        n = s[d] + (1 if g.bad() and 0 not in s else 0)
        ishape = g.choice([(g.size(),), (g.size(), g.size()), ()]) if n else (0,)
        idx = g.rng.integers(-n, n, size=ishape) if n else np.zeros(ishape, np.int64)
        items = [slice(None)] * d + [Arr(idx)]
        if r > 0.7 and d + 1 < nd and s[d + 1]:  # a second index array, broadcast against the first
            items.append(Arr(g.rng.integers(0, s[d + 1], size=g.choice([(1,), ishape[-1:] or (1,)]))))
        elif r > 0.55 and d + 1 < nd:  # a slice after it
            items.append(_basic_item(g, s[d + 1]) if s[d + 1] else slice(None))
        index = tuple(items)
    return (x,), {"index": index}


def _factor_shape(g: Gen, n: int):
    nd = int(g.rng.integers(0, 5)) if n == 1 else int(g.rng.integers(1, 5))
    if n == 0:
        shape = [g.size(1) for _ in range(nd)]
        shape[int(g.rng.integers(0, nd))] = 0
        return tuple(shape)
    if nd == 0:
        return ()
    shape = [1] * nd
    m = n
    for p in (2, 3, 5, 7):
        while m % p == 0:
            shape[int(g.rng.integers(0, nd))] *= p
            m //= p
    shape[int(g.rng.integers(0, nd))] *= m
    if g.chance(0.3):
        shape[int(g.rng.integers(0, nd))] = -1
    if g.bad():
        shape[0] += 1 if shape[0] != -1 else 0
    return tuple(shape)


def g_reshape(g: Gen):
    x = g.pick()
    return (x,), {"shape": _factor_shape(g, int(np.prod(g.shape(x))))}


def g_permute(g: Gen):
    x = g.pick(lambda s: len(s) >= 2)
    if x is None:
        return None
    nd = len(g.shape(x))
    perm = [int(a) - (nd if g.chance(0.2) else 0) for a in g.rng.permutation(nd)]
    if g.bad():
        perm[0] = perm[-1]
    return (x,), {"axes": tuple(perm)}


def g_two_dims(g: Gen):
    x = g.pick()
    nd = max(len(g.shape(x)), 1)
    return (x,), {"a": int(g.rng.integers(-nd, nd)), "b": int(g.rng.integers(-nd, nd + (1 if g.bad() else 0)))}


def g_unsqueeze(g: Gen):
    x = g.pick()
    nd = len(g.shape(x)) + 1
    return (x,), {"a": int(g.rng.integers(-nd, nd + (1 if g.bad() else 0)))}


def g_squeeze(g: Gen):
    x = g.pick()
    s = g.shape(x)
    n = max(len(s), 1)
    ones = [d for d in range(len(s)) if s[d] == 1]
    d = g.choice(ones) if ones and g.chance(0.7) else int(g.rng.integers(0, n + (1 if g.bad() else 0)))
    return (x,), {"a": d - n if g.chance(0.3) else d}


def g_flatten(g: Gen):
    x = g.pick(lambda s: len(s) >= 1)
    if x is None:
        return None
    nd = len(g.shape(x))
    a, b = sorted(int(v) for v in g.rng.integers(0, nd, size=2))
    if g.bad():
        a, b = b, a - 1
    return (x,), {"start": a - (nd if g.chance(0.3) else 0), "end": b - (nd if g.chance(0.3) else 0)}


def g_broadcast_to(g: Gen):
    x = g.pick()
    s = list(g.shape(x))
    target = [g.choice([2, 3]) if d == 1 and g.chance(0.5) else d for d in s]
    while len(target) < 4 and g.chance(0.4):
        target.insert(0, g.size())
    if g.bad() and target:
        target[-1] += 2 if target[-1] != 1 else 1
    return (x,), {"shape": tuple(target)}


def g_cat(g: Gen):
    x = g.pick(lambda s: len(s) >= 1)
    if x is None:
        return None
    s = g.shape(x)
    nd = len(s)
    axis = int(g.rng.integers(-nd, nd))
    others = []
    for _ in range(int(g.rng.integers(1, 3))):
        t = list(s)
        t[axis] = g.size()
        if g.bad() and s != (0,):  # (PyTorch's cat skips a 1-d empty tensor whatever the others' shapes)
            t = t + [1] if nd == 1 else [d + (1 if k != axis % nd else 0) for k, d in enumerate(t)]
        others.append(x if g.chance(0.2) else g.of_shape(t))
    return (x, *others), {"axis": axis}


def g_stack(g: Gen):
    x = g.pick()
    s = g.shape(x)
    n = len(s) + 1
    axis = int(g.rng.integers(-n, n))
    other = x if g.chance(0.2) else g.of_shape(s if not g.bad() else s + (1,))
    return (x, other), {"axis": axis}


def g_split(g: Gen):
    x = g.pick(lambda s: len(s) >= 1)
    if x is None:
        return None
    s = g.shape(x)
    axis = int(g.rng.integers(-len(s), len(s)))
    idx = sorted(int(v) for v in g.rng.integers(0, s[axis] + 2, size=int(g.rng.integers(1, 3))))
    return (x,), {"indices": idx, "axis": axis, "k": int(g.rng.integers(0, len(idx) + 1))}


def g_astype(g: Gen):
    x = g.pick()
    other = "float32" if g.tvals[x].dtype == torch.float64 else "float64"
    return (x,), {"dt": DType(other)}


REDUCTIONS = ["mean", "sum", "none"]


def g_mse(g: Gen):
    x = g.pick()
    if x is None:
        return None
    return (x, g.of_shape(g.shape(x))), {"r": g.choice(REDUCTIONS)}


def _class_targets(g: Gen, shape, c, ignore=True):
    t = g.rng.integers(0, max(c, 1), size=shape)
    if ignore and g.chance(0.3):
        t = np.where(g.rng.random(shape) < 0.3, -100, t)
    if g.bad():
        t = t + c
    return g.leaf(shape, value=np.asarray(t, np.int64), grad=False)


def g_cross_entropy(g: Gen):
    x = g.pick(lambda s: 1 <= len(s) <= 3 and (s[1] if len(s) > 1 else s[0]) > 0)
    if x is None:
        return None
    s = g.shape(x)
    c = s[1] if len(s) > 1 else s[0]
    if g.chance(0.3):  # class probabilities (not necessarily normalised), differentiated too
        t = g.of_shape(s)
    else:
        t = _class_targets(g, (s[0],) + s[2:] if len(s) > 1 else (), c)
    return (x, t), {"r": g.choice(REDUCTIONS), "ls": g.choice([0.0, 0.0, 0.1])}


def g_nll(g: Gen):
    x = g.pick(lambda s: len(s) in (1, 2) and s[-1] > 0)
    if x is None:
        return None
    s = g.shape(x)
    return (x, _class_targets(g, s[:-1], s[-1])), {"r": g.choice(REDUCTIONS)}


def _moderate(g: Gen, limit64, limit32):
    """Values (before NaN and infinities) within a limit where the operation is well conditioned enough for the
    program's tolerance."""
    lim = limit64 if g.dtype == "float64" else limit32
    return lambda t: bool(((t.abs() < lim) | ~t.isfinite()).all())


def g_bce(g: Gen):
    # well conditioned: 1 - sigmoid(x) loses its digits as x grows (and each library rounds it its own way);
    # PyTorch's second derivatives of binary_cross_entropy lose digits already beyond |x| = 2 (chainrule's are
    # exact: 1e-6 apart at |x| = 7.5)
    x = g.pick(vpred=_moderate(g, 2 if g.second else 8, 4))
    if x is None:
        return None
    s = g.shape(x)
    # the target is differentiated where the probabilities stay away from 0 and 1: where log(p) or log(1 - p)
    # is below -100, PyTorch's loss uses -100 but its target gradient the log itself (inf at 0 and 1)
    moderate = bool(g.tvals[x].isfinite().all())
    t = g.leaf(s, value=np.asarray(g.rng.uniform(0, 1, size=s), g.dtype), grad=moderate)
    return (x, t), {"r": g.choice(REDUCTIONS)}


def g_bce_pos_weight(g: Gen):
    got = g_bce(g)
    if got is None:
        return None
    (x, t), params = got
    s = g.shape(x)
    w = g.leaf(s[-1:], value=np.asarray(g.rng.uniform(0.5, 2, size=s[-1:]), g.dtype), grad=False)
    return (x, t, w), params


@dataclass(frozen=True)
class Op:
    cr: str  # chainrule's call, a format string: {0}, {1}, ... are the operands, {name} the parameters
    torch: str  # PyTorch's
    gen: object  # Gen -> (operand node indices, parameters) or None where no operand fits


_SCALARS = [0, 1, -1, 2.5, 0.5, -3.0, 2]

#: Every operation the fuzzer draws from: name -> (chainrule call, PyTorch call, argument generator).
#: The calls are written so that each means the same in both libraries whatever the names' defaults.
OPS: dict[str, Op] = {
    # elementwise
    "neg": Op("-{0}", "-{0}", unary()),
    "exp": Op("cr.exp({0})", "torch.exp({0})", g_exp),
    "log": Op("cr.log({0})", "torch.log({0})", unary()),
    "log1p": Op("cr.log1p({0})", "torch.log1p({0})", unary()),
    "sqrt": Op("cr.sqrt({0})", "torch.sqrt({0})", unary()),
    "abs": Op("cr.abs({0})", "torch.abs({0})", unary()),
    "sin": Op("cr.sin({0})", "torch.sin({0})", g_periodic),
    "cos": Op("cr.cos({0})", "torch.cos({0})", g_periodic),
    "tanh": Op("cr.tanh({0})", "torch.tanh({0})", unary()),
    "sigmoid": Op("cr.sigmoid({0})", "torch.sigmoid({0})", unary()),
    "relu": Op("cr.relu({0})", "torch.relu({0})", unary()),
    "leaky_relu": Op("cr.leaky_relu({0}, {s})", "tF.leaky_relu({0}, {s})", unary(s=[0.01, 0.2, 0.0])),
    "softplus": Op("cr.softplus({0})", "tF.softplus({0})", g_softplus),
    "pow_scalar": Op("{0} ** {p}", "{0} ** {p}", g_pow_scalar),
    "add_scalar": Op("{0} + {c}", "{0} + {c}", unary(c=_SCALARS)),
    "rsub_scalar": Op("{c} - {0}", "{c} - {0}", unary(c=_SCALARS)),
    "mul_scalar": Op("{0} * {c}", "{0} * {c}", unary(c=_SCALARS)),
    "div_scalar": Op("{0} / {c}", "{0} / {c}", unary(c=_SCALARS)),
    "rdiv_scalar": Op("{c} / {0}", "{c} / {0}", g_rdiv),
    "rpow_scalar": Op("{c} ** {0}", "{c} ** {0}", g_rpow),
    "clip": Op("cr.clip({0}, {lo}, {hi})", "torch.clamp({0}, {lo}, {hi})", g_clip),
    "astype": Op("{0}.astype({dt})", "{0}.to({dt})", g_astype),
    # broadcasting binary and ternary
    "add": Op("{0} + {1}", "{0} + {1}", g_binary),
    "sub": Op("{0} - {1}", "{0} - {1}", g_binary),
    "mul": Op("{0} * {1}", "{0} * {1}", g_binary),
    "div": Op("{0} / {1}", "{0} / {1}", g_div),
    "pow": Op("{0} ** {1}", "{0} ** {1}", g_pow),
    "maximum": Op("cr.maximum({0}, {1})", "torch.maximum({0}, {1})", g_minmax),
    "minimum": Op("cr.minimum({0}, {1})", "torch.minimum({0}, {1})", g_minmax),
    "where": Op("cr.where({2} > 0, {0}, {1})", "torch.where({2} > 0, {0}, {1})", g_ternary),
    "clip_tensors": Op("cr.clip({0}, {1}, {2})", "torch.clamp({0}, {1}, {2})", g_clip_tensors),
    # reductions (chainrule's axis=None is PyTorch's dim over every dimension)
    "sum": Op(
        "cr.sum({0}, axis={axis}, keepdims={keepdims})", "torch.sum({0}, dim={dim}, keepdim={keepdims})", g_reduce
    ),
    "mean": Op(
        "cr.mean({0}, axis={axis}, keepdims={keepdims})", "torch.mean({0}, dim={dim}, keepdim={keepdims})", g_reduce
    ),
    "var": Op(
        "cr.var({0}, axis={axis}, keepdims={keepdims}, ddof={ddof})",
        "torch.var({0}, dim={dim}, keepdim={keepdims}, correction={ddof})",
        functools.partial(g_reduce, ddof=True),
    ),
    "std": Op(
        "cr.std({0}, axis={axis}, keepdims={keepdims}, ddof={ddof})",
        "torch.std({0}, dim={dim}, keepdim={keepdims}, correction={ddof})",
        g_std,
    ),
    "amax": Op(
        "cr.amax({0}, axis={axis}, keepdims={keepdims})",
        "torch.amax({0}, dim={dim}, keepdim={keepdims})",
        functools.partial(g_reduce, finite=True),
    ),
    "amin": Op(
        "cr.amin({0}, axis={axis}, keepdims={keepdims})",
        "torch.amin({0}, dim={dim}, keepdim={keepdims})",
        functools.partial(g_reduce, finite=True),
    ),
    "logsumexp": Op(
        "cr.logsumexp({0}, axis={axis}, keepdims={keepdims})",
        "torch.logsumexp({0}, dim={dim}, keepdim={keepdims})",
        g_reduce,
    ),
    # softmax family
    "softmax": Op("cr.softmax({0}, {axis})", "torch.softmax({0}, {axis})", g_dim),
    "log_softmax": Op("cr.log_softmax({0}, {axis})", "torch.log_softmax({0}, {axis})", g_dim),
    # products
    "matmul": Op("{0} @ {1}", "{0} @ {1}", g_matmul),
    "linear": Op("F.linear({args})", "tF.linear({args})", g_linear),
    # indexing
    "index": Op("{0}[{index}]", "{0}[{index}]", g_index),
    "adv_index": Op("{0}[{index}]", "{0}[{index}]", g_adv_index),
    # shapes
    "reshape": Op("cr.reshape({0}, {shape})", "torch.reshape({0}, {shape})", g_reshape),
    "permute": Op("cr.permute({0}, {axes})", "{0}.permute({axes})", g_permute),
    "swapaxes": Op("cr.swapaxes({0}, {a}, {b})", "torch.swapaxes({0}, {a}, {b})", g_two_dims),
    "moveaxis": Op("cr.ops.moveaxis({0}, {a}, {b})", "torch.movedim({0}, {a}, {b})", g_two_dims),
    "unsqueeze": Op("cr.expand_dims({0}, {a})", "torch.unsqueeze({0}, {a})", g_unsqueeze),
    "squeeze": Op("cr.squeeze({0}, {a})", "torch.squeeze({0}, {a})", g_squeeze),
    "squeeze_all": Op("cr.squeeze({0})", "torch.squeeze({0})", unary()),
    "flatten": Op("cr.flatten({0}, {start}, {end})", "torch.flatten({0}, {start}, {end})", g_flatten),
    "broadcast_to": Op("cr.broadcast_to({0}, {shape})", "torch.broadcast_to({0}, {shape})", g_broadcast_to),
    "cat": Op("cr.concatenate([{args}], axis={axis})", "torch.cat([{args}], dim={axis})", g_cat),
    "stack": Op("cr.stack([{0}, {1}], axis={axis})", "torch.stack([{0}, {1}], dim={axis})", g_stack),
    "split": Op(
        "cr.tensor_split({0}, {indices}, dim={axis})[{k}]",
        "torch.tensor_split({0}, {indices}, dim={axis})[{k}]",
        g_split,
    ),
    # losses
    "mse_loss": Op("F.mse_loss({0}, {1}, reduction={r})", "tF.mse_loss({0}, {1}, reduction={r})", g_mse),
    "cross_entropy": Op(
        "F.cross_entropy({0}, {1}, reduction={r}, label_smoothing={ls})",
        "tF.cross_entropy({0}, {1}, reduction={r}, label_smoothing={ls})",
        g_cross_entropy,
    ),
    "nll_loss": Op("F.nll_loss({0}, {1}, reduction={r})", "tF.nll_loss({0}, {1}, reduction={r})", g_nll),
    "bce": Op(
        "F.binary_cross_entropy(cr.sigmoid({0}), {1}, reduction={r})",
        "tF.binary_cross_entropy(torch.sigmoid({0}), {1}, reduction={r})",
        g_bce,
    ),
    "bce_with_logits": Op(
        "F.binary_cross_entropy_with_logits({0}, {1}, reduction={r})",
        "tF.binary_cross_entropy_with_logits({0}, {1}, reduction={r})",
        g_bce,
    ),
    "bce_with_logits_pos_weight": Op(
        "F.binary_cross_entropy_with_logits({0}, {1}, reduction={r}, pos_weight={2})",
        "tF.binary_cross_entropy_with_logits({0}, {1}, reduction={r}, pos_weight={2})",
        g_bce_pos_weight,
    ),
}

NAMES = sorted(OPS)
#: Operations given operands of the program's dtype only: losses, and matmul and linear, where both libraries
#: refuse mixed dtypes (tests/test_names.py) except that PyTorch computes with empty operands, which chainrule
#: refuses too (the README's differences table)
STRICT = {
    "matmul",
    "linear",
    "mse_loss",
    "cross_entropy",
    "nll_loss",
    "bce",
    "bce_with_logits",
    "bce_with_logits_pos_weight",
}


def generate(seed: int, case: int) -> Program:
    """Program number ``case`` of ``seed`` (each drawn on its own, so any one can be drawn again alone)."""
    rng = np.random.default_rng([seed, case])
    dtype = "float64" if rng.random() < 0.5 else "float32"
    g = Gen(rng, dtype)
    g.second = dtype == "float64" and rng.random() < P_SECOND
    g.leaf(g.rand_shape())
    want = int(rng.integers(MIN_STEPS, MAX_STEPS + 1))
    for _ in range(20 * MAX_STEPS):
        if sum(isinstance(n, Step) for n in g.nodes) >= want or g.failed:
            break
        name = g.choice(NAMES)
        g.strict = name in STRICT
        got = OPS[name].gen(g)
        if got is not None:
            g.step(name, *got)
    return Program(seed, case, dtype, prune(g.nodes), g.second)


def prune(nodes: list) -> list:
    """``nodes`` without the leaves no step uses, the steps' operands renumbered."""
    used = {i for n in nodes if isinstance(n, Step) for i in n.args}
    keep = [i for i, n in enumerate(nodes) if isinstance(n, Step) or i in used]
    new = {old: k for k, old in enumerate(keep)}
    out = []
    for i in keep:
        n = nodes[i]
        out.append(n if isinstance(n, Leaf) else Step(n.op, tuple(new[a] for a in n.args), n.params))
    return out


# ----------------------------------------------------------------------------- running a program
def weights(shape, k=0.7):
    """Fixed weights for the loss (and directions for Hessian-vector products): no random state involved."""
    n = int(np.prod(shape))
    return (np.cos(np.arange(n) * k + 0.3) + 0.1).reshape(tuple(shape))


def sinks(prog: Program) -> list:
    """The steps no other step uses: the program's results, whose weighted sum is differentiated."""
    used = {i for n in prog.nodes if isinstance(n, Step) for i in n.args}
    return [i for i, n in enumerate(prog.nodes) if isinstance(n, Step) and i not in used]


@dataclass
class Outcome:
    values: dict = field(default_factory=dict)  # node -> array (steps only)
    requires_grad: dict = field(default_factory=dict)
    error: tuple | None = None  # (where: a node index, "grad" or "hvp"; the exception)
    grads: list | None = None  # per differentiated leaf: array or None
    node_grads: dict = field(default_factory=dict)  # PyTorch's only: step -> the gradient of the loss there
    hvp: list | None = None
    warnings: list = field(default_factory=list)


def _np(t):
    if t is None:
        return None
    if torch is not None and isinstance(t, torch.Tensor):
        if t._is_zerotensor():  # PyTorch's second derivatives may be "zero tensors", which have no array to show
            return np.zeros(tuple(t.shape), torch.empty(0, dtype=t.dtype).numpy().dtype)
        return t.detach().numpy()
    return t.numpy()


class _Lib:
    """What differs between the two libraries when a program runs: making tensors and differentiating."""

    def __init__(self, name):
        self.name = name
        self.ns = _namespace(name)

    def tensor(self, a, grad=False):
        if self.name == "cr":
            return cr.tensor(a.copy(), requires_grad=grad)
        return torch.tensor(a.copy(), requires_grad=grad)

    def is_float(self, v):
        if self.name == "cr":
            return isinstance(v, cr.Tensor) and v.dtype.kind == "f"
        return isinstance(v, torch.Tensor) and v.is_floating_point()

    def grad(self, out, inputs, create_graph):
        if self.name == "cr":
            return list(cr.grad(out, inputs, allow_unused=True, create_graph=create_graph))
        return list(torch.autograd.grad(out, inputs, allow_unused=True, create_graph=create_graph))

    def weighted(self, vs, k):
        """sum(v * w) over ``vs`` with the fixed weights, in each v's dtype."""
        total = None
        for v in vs:
            w = weights(tuple(v.shape), k).astype(_np(v.detach() if self.name != "cr" else v).dtype)
            term = (v * self.tensor(w)).sum()
            total = term if total is None else total + term
        return total


def run(prog: Program, lib: str) -> Outcome:
    """Interpret ``prog`` with chainrule (``"cr"``) or PyTorch (``"torch"``)."""
    L = _Lib(lib)
    out = Outcome()
    vals: list = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always" if lib == "cr" else "ignore")
        for i, n in enumerate(prog.nodes):
            if isinstance(n, Leaf):
                vals.append(L.tensor(n.value, n.grad))
                continue
            env = dict(L.ns)
            env.update({f"v{a}": vals[a] for a in n.args})
            try:
                v = eval(_compiled(source(n, lib)), env)  # noqa: S307 - the fuzzer's own program text
            except Exception as e:  # noqa: BLE001 - every error is compared
                out.error = (i, e)
                break
            vals.append(v)
            out.values[i] = _np(v)
            out.requires_grad[i] = bool(v.requires_grad)
        _differentiate(prog, L, vals, out)
    out.warnings = [f"{w.category.__name__}: {w.message}" for w in caught]
    return out


def _differentiate(prog, L, vals, out):
    leaves = [vals[i] for i, n in enumerate(prog.nodes[: len(vals)]) if isinstance(n, Leaf) and n.grad]
    results = [vals[i] for i in sinks(prog) if i < len(vals) and L.is_float(vals[i])]
    if out.error is not None:  # the program ended early: its results are the steps that ran
        ran = Program(prog.seed, prog.case, prog.dtype, prog.nodes[: len(vals)])
        results = [vals[i] for i in sinks(ran) if L.is_float(vals[i])]
    results = [r for r in results if r.requires_grad]
    if not leaves or not results:
        return
    where = "grad"
    try:
        loss = L.weighted(results, 0.7)
        if L.name == "torch":  # the gradient arriving at each step, to tell where a non-finite one began
            steps = [i for i in range(len(vals)) if isinstance(prog.nodes[i], Step) and L.is_float(vals[i])]
            steps = [i for i in steps if vals[i].requires_grad]
            ng = torch.autograd.grad(loss, [vals[i] for i in steps], allow_unused=True, retain_graph=True)
            out.node_grads = {i: _np(g) for i, g in zip(steps, ng) if g is not None}
        gs = L.grad(loss, leaves, create_graph=prog.second)
        out.grads = [_np(g) for g in gs]
        if prog.second and all(g is None or np.isfinite(_np(g)).all() for g in gs):
            # (where a first derivative is infinite or NaN, second derivatives depend on how the formulas
            # order their products: they are compared where the first ones are finite)
            where = "hvp"
            used = [(g, leaf) for g, leaf in zip(gs, leaves) if g is not None and g.requires_grad]
            out.hvp = [None] * len(leaves)
            if used:
                hs = L.grad(L.weighted([g for g, _ in used], 1.3), leaves, create_graph=False)
                out.hvp = [_np(h) for h in hs]
    except Exception as e:  # noqa: BLE001 - every error is compared
        out.error = (where, e)


# ----------------------------------------------------------------------------- comparing
@dataclass
class Disagreement:
    kind: str  # error, raw-error, shape, dtype, value, requires_grad, grad, hvp, warning
    node: object  # the node index, or the leaf's for gradients
    op: str
    detail: str

    def key(self):
        return (self.kind, self.op)


def close(got, want, dtype, nonfinite_ok=False, scale=1.0) -> str | None:
    """Why ``got`` (chainrule's) and ``want`` (PyTorch's) differ, or None; NaN and infinities must match (with
    ``nonfinite_ok``, NaN where the other has an infinity is accepted too). The absolute tolerance is the
    relative one times the largest of ``scale`` and the finite magnitudes of ``want``."""
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    if got.shape != want.shape:
        return f"shape {got.shape} != torch's {want.shape}"
    if nonfinite_ok:
        either = np.isnan(got) != np.isnan(want)
        swap = either & ~np.isfinite(got) & ~np.isfinite(want)
        if swap.any():
            got = np.where(swap, np.nan, got)
            want = np.where(swap, np.nan, want)
    for name, test in (("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        bad = test(got) != test(want)
        if bad.any():
            k = tuple(int(i) for i in np.argwhere(bad)[0])
            return f"{name} pattern differs: at {k} chainrule {got[k]!r}, torch {want[k]!r}"
    fin = np.isfinite(want)
    if not fin.any():
        return None
    rtol = RTOL[dtype]
    scale = max(1.0, scale, float(np.abs(want[fin]).max()))
    with np.errstate(invalid="ignore"):
        err = np.abs(got - want)
    bad = fin & (err > rtol * scale + rtol * np.abs(want))
    if bad.any():
        k = tuple(int(i) for i in np.argwhere(bad)[0])
        return f"at {k}: chainrule {got[k]!r}, torch {want[k]!r} (max abs diff {err[fin].max():.3g}, scale {scale:.3g})"
    return None


def _tol_dtype(prog):
    """float32 tolerances for float32 programs and for float64 ones that convert a value to float32."""
    if prog.dtype == "float32" or any(isinstance(n, Step) and n.op == "astype" for n in prog.nodes):
        return "float32"
    return prog.dtype


def compare(prog: Program, c: Outcome, t: Outcome, warnings=False) -> list:
    """The disagreements of chainrule's outcome ``c`` with PyTorch's ``t``; with ``warnings``, the NumPy warnings
    chainrule let through count as disagreements too."""
    out = []
    nodes = prog.nodes

    def op_at(i):
        return nodes[i].op if isinstance(i, int) and isinstance(nodes[i], Step) else str(i)

    ce, te = c.error, t.error
    if ce is not None and not isinstance(ce[1], cr.errors.ChainruleError):
        out.append(Disagreement("raw-error", ce[0], op_at(ce[0]), f"{type(ce[1]).__name__}: {ce[1]}"))
    if (ce is None) != (te is None) or (ce and te and ce[0] != te[0]):
        say = f"chainrule: {_err(ce)}; torch: {_err(te)}"
        where = (ce or te)[0] if not (ce and te) else min(ce[0], te[0], key=str)
        out.append(Disagreement("error", where, op_at(where), say))
        if not isinstance(where, int):
            return out
    for i, tv in t.values.items():
        if i not in c.values:
            continue
        cv = c.values[i]
        if cv.shape != tv.shape:
            out.append(Disagreement("shape", i, op_at(i), f"{cv.shape} != torch's {tv.shape}"))
            continue
        if cv.dtype != tv.dtype:
            out.append(Disagreement("dtype", i, op_at(i), f"{cv.dtype} != torch's {tv.dtype}"))
        if cv.dtype.kind == "f" and tv.dtype.kind == "f":
            why = close(cv, tv, _tol_dtype(prog))
            if why:
                out.append(Disagreement("value", i, op_at(i), why))
        elif not np.array_equal(cv, tv):
            out.append(Disagreement("value", i, op_at(i), "values differ"))
        if c.requires_grad.get(i) != t.requires_grad.get(i):
            out.append(Disagreement("requires_grad", i, op_at(i), f"{c.requires_grad.get(i)} != torch's"))
    if out and any(d.kind in ("shape", "error") for d in out):
        return out
    leaves = [i for i, n in enumerate(nodes) if isinstance(n, Leaf) and n.grad]
    # a gradient's rounding error grows with the largest gradient on the way to it, even where that one
    # cancels: the absolute tolerance follows the largest (finite) gradient at any step of PyTorch's run
    flow = max([float(np.abs(g[np.isfinite(g)]).max(initial=0)) for g in t.node_grads.values()], default=1.0)
    for kind, cg, tg in (("grad", c.grads, t.grads), ("hvp", c.hvp, t.hvp)):
        if (cg is None) != (tg is None):
            out.append(Disagreement(kind, "-", kind, f"chainrule computed {cg is not None}, torch {tg is not None}"))
            continue
        for leaf, a, b in zip(leaves, cg or [], tg or []):
            ref = np.zeros_like(nodes[leaf].value) if b is None else b
            got = np.zeros_like(nodes[leaf].value) if a is None else a
            if a is not None and a.dtype != nodes[leaf].value.dtype:
                out.append(Disagreement(kind, leaf, kind, f"gradient dtype {a.dtype} != input's"))
            lenient = kind == "grad" and _nonfinite_upstream(prog, leaf, t)
            why = close(got, ref, _tol_dtype(prog), lenient, flow if kind == "grad" else 1.0)
            if why:
                out.append(Disagreement(kind, leaf, kind, f"d/dv{leaf}: {why}"))
    for w in c.warnings if warnings else ():
        out.append(Disagreement("warning", "-", "warning", w))
    return out


def _nonfinite_upstream(prog: Program, leaf: int, t: Outcome) -> bool:
    """Whether a step using ``leaf`` received a gradient that is not finite (in PyTorch's run): then NaN on one
    side and an infinity on the other is the order of products inside the two formulas, and is accepted (e.g.
    cross_entropy under an infinite gradient: chainrule's fused (softmax - target) * g gives +-inf, PyTorch's
    log_softmax and nll_loss give inf - inf = NaN)."""
    for i, n in enumerate(prog.nodes):
        if isinstance(n, Step) and leaf in n.args and i in t.node_grads and not np.isfinite(t.node_grads[i]).all():
            return True
    return False


def _err(e):
    return "no error" if e is None else f"{type(e[1]).__name__} at {e[0]}: {str(e[1])[:200]}"


def check(prog: Program, warnings=False) -> list:
    """Run ``prog`` in both libraries; the list of their disagreements (empty when they agree)."""
    c, t = run(prog, "cr"), run(prog, "torch")
    found = compare(prog, c, t, warnings)
    if found and prog.dtype == "float32":
        found = _referee(prog, c, t, found)
    return found


def widen(prog: Program) -> Program:
    """The same program in float64: float inputs converted, conversions to float32 made no-ops."""
    nodes = []
    for n in prog.nodes:
        if isinstance(n, Leaf):
            nodes.append(Leaf(n.value.astype(np.float64) if n.value.dtype.kind == "f" else n.value, n.grad))
        elif n.op == "astype":
            nodes.append(Step(n.op, n.args, {**n.params, "dt": DType("float64")}))
        else:
            nodes.append(n)
    return Program(prog.seed, prog.case, "float64", nodes, prog.second)


def _referee(prog: Program, c: Outcome, t: Outcome, found: list) -> list:
    """Of a float32 program's disagreements in values and gradients, those where chainrule's float32 result is
    as close to PyTorch's float64 run of the same program as PyTorch's float32 result is (or agrees with it to
    float32's tolerance) are rounding in an ill-conditioned step (gradients that cancel at a large magnitude,
    say), not chainrule's error: they are dropped."""
    ref = run(widen(prog), "torch")
    keep = []
    for d in found:
        mine, theirs, exact = (_array_of(o, d, prog) for o in (c, t, ref))
        if mine is None or theirs is None or exact is None or not _as_good(mine, theirs, exact):
            keep.append(d)
    return keep


def _array_of(o: Outcome, d: Disagreement, prog: Program):
    """The array a value or gradient disagreement ``d`` is about, in outcome ``o`` (None: none to referee)."""
    if d.kind == "value":
        return o.values.get(d.node)
    leaves = [i for i, n in enumerate(prog.nodes) if isinstance(n, Leaf) and n.grad]
    got = o.grads if d.kind == "grad" else (o.hvp if d.kind == "hvp" else None)
    if got is None or d.node not in leaves:
        return None
    g = got[leaves.index(d.node)]
    return np.zeros(prog.nodes[d.node].value.shape) if g is None else g


def _as_good(mine, theirs, exact) -> bool:
    """Whether ``mine`` is as close to ``exact`` as ``theirs`` is (or agrees with it to float32's tolerance)."""
    if close(mine, exact, "float32") is None:
        return True
    mine, theirs, exact = (np.asarray(a, np.float64) for a in (mine, theirs, exact))
    if mine.shape != exact.shape or theirs.shape != exact.shape:
        return False
    same = (np.isnan(mine) == np.isnan(theirs)) & (np.isposinf(mine) == np.isposinf(theirs))
    if not (same & (np.isneginf(mine) == np.isneginf(theirs))).all():  # NaN and infinities: never rounding
        return False
    fin = np.isfinite(mine) & np.isfinite(exact)
    with np.errstate(invalid="ignore"):
        slack = RTOL["float32"] * max(1.0, float(np.abs(exact[fin]).max(initial=0)))
        return bool((np.abs(mine - exact)[fin] <= 2 * np.abs(theirs - exact)[fin] + slack).all())


# ----------------------------------------------------------------------------- reproducers
def _renumber(nodes: list, gone: set, redirect=None) -> list:
    """``nodes`` without the indices in ``gone`` (and whatever uses them), operands renumbered; ``redirect``
    maps a removed node to the node its users take instead."""
    redirect = redirect or {}
    gone = set(gone)
    for j, n in enumerate(nodes):
        if isinstance(n, Step) and j not in gone and any(a in gone and a not in redirect for a in n.args):
            gone.add(j)
    keep = [k for k in range(len(nodes)) if k not in gone]
    new = {old: k for k, old in enumerate(keep)}
    out = []
    for k in keep:
        n = nodes[k]
        if isinstance(n, Step):
            n = Step(n.op, tuple(new[redirect.get(a, a)] for a in n.args), n.params)
        out.append(n)
    return prune(out)


def _moves(prog: Program, values: dict):
    """Smaller variants of ``prog``: a step replaced by a leaf holding PyTorch's value of it (what led to it
    dropped), a step bypassed (its users take its first operand), a node dropped with its users."""
    nodes = prog.nodes
    for i in reversed(range(len(nodes))):
        n = nodes[i]
        if (
            isinstance(n, Step)
            and i in values
            and values[i].dtype.kind == "f"
            and any(isinstance(m, Step) and i in m.args for m in nodes)
        ):
            frozen = list(nodes)
            frozen[i] = Leaf(values[i].copy(), True)
            yield prune(frozen)
        if isinstance(n, Step) and n.args:
            yield _renumber(nodes, {i}, {i: n.args[0]})
        yield _renumber(nodes, {i})


def shrink(prog: Program, key, warnings=False) -> Program:
    """A smaller program with a disagreement of the same ``key``, by the moves of :func:`_moves` while the
    disagreement stays."""
    best = prog
    changed = True
    while changed:
        changed = False
        values = run(best, "torch").values
        for nodes in _moves(best, values):
            if not any(isinstance(n, Step) for n in nodes) or len(nodes) > len(best.nodes):
                continue
            if len(nodes) == len(best.nodes) and sum(isinstance(n, Step) for n in nodes) >= len(best.steps()):
                continue
            for second in [False, True] if best.second else [False]:
                trial = Program(best.seed, best.case, best.dtype, nodes, second)
                try:
                    found = {d.key() for d in check(trial, warnings)}
                except Exception:  # noqa: BLE001 - a shrunk program the harness cannot run is skipped
                    continue
                if key in found:
                    best, changed = trial, True
                    break
            if changed:
                break
    return best


def _array_src(a: np.ndarray) -> str:
    dt = "bool_" if a.dtype == bool else a.dtype
    return f"np.array({a.tolist()!r}, dtype=np.{dt})" + ("" if a.size or a.ndim == 1 else f".reshape({a.shape!r})")


def listing(prog: Program, lib: str) -> str:
    """The program as Python source for one library, ending in the gradients it compares."""
    mk = "cr.tensor" if lib == "cr" else "torch.tensor"
    lines = []
    for i, n in enumerate(prog.nodes):
        if isinstance(n, Leaf):
            lines.append(f"v{i} = {mk}({_array_src(n.value)}{', requires_grad=True' if n.grad else ''})")
        else:
            lines.append(f"v{i} = {source(n, lib)}")
    res = ", ".join(f"v{i}" for i in sinks(prog))
    ins = ", ".join(f"v{i}" for i, n in enumerate(prog.nodes) if isinstance(n, Leaf) and n.grad)
    lines.append(f"loss = sum(({mk}(w(r)) * r).sum() for r in [{res}])")
    grad = "cr.grad" if lib == "cr" else "torch.autograd.grad"
    lines.append(f"print({grad}(loss, [{ins}], allow_unused=True{', create_graph=True' if prog.second else ''}))")
    return "\n".join(lines)


def reproducer(prog: Program, d: Disagreement) -> str:
    head = (
        f"# seed {prog.seed}, case {prog.case} ({prog.dtype}): {d.kind} at {d.op} (node {d.node}): {d.detail}\n"
        f"# again: python tests/fuzz_ops.py --seed {prog.seed} --case {prog.case}\n"
        "import numpy as np, torch, chainrule as cr\n"
        "import chainrule.nn.functional as F, torch.nn.functional as tF\n"
        "from numpy import nan, inf\n"
        "def w(r): n = int(np.prod(r.shape)); "
        "return (np.cos(np.arange(n) * 0.7 + 0.3) + 0.1).reshape(tuple(r.shape)).astype(str(r.dtype).split('.')[-1])\n"
    )
    return head + "# chainrule\n" + listing(prog, "cr") + "\n# torch\n" + listing(prog, "torch") + "\n"


# ----------------------------------------------------------------------------- runs
def fuzz(seed: int, cases, shrink_found=True, warnings=False):
    """Check ``cases`` (an iterable of case numbers) of ``seed``; yields (program, disagreements, shrunk
    reproducers) for each case with disagreements."""
    for case in cases:
        prog = generate(seed, case)
        found = check(prog, warnings)
        if not found:
            continue
        texts = []
        seen = set()
        for d in found:
            if d.key() in seen:
                continue
            seen.add(d.key())
            small = shrink(prog, d.key(), warnings) if shrink_found else prog
            again = [e for e in check(small, warnings) if e.key() == d.key()] or [d]
            texts.append(reproducer(small, again[0]))
        yield prog, found, texts


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=2000, help="how many programs (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--case", type=int, help="check only this case, and print its program")
    p.add_argument("--first", type=int, default=0, help="the first case number (default 0)")
    p.add_argument("--no-shrink", action="store_true", help="print the programs as drawn, not shrunk")
    p.add_argument("--warnings", action="store_true", help="count NumPy warnings chainrule lets through too")
    args = p.parse_args(argv)
    if torch is None:
        print("fuzz_ops: PyTorch is needed (pip install 'chainrule[test]')", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    if args.case is not None:
        prog = generate(args.seed, args.case)
        print(reproducer(prog, Disagreement("-", "-", "-", "the program as drawn")))
        cases = [args.case]
    else:
        cases = range(args.first, args.first + args.cases)
    counts: dict = {}
    n = 0
    warnings.filterwarnings("ignore", category=UserWarning)  # PyTorch's own (degrees of freedom of var, ...)
    for _prog, found, texts in fuzz(args.seed, cases, not args.no_shrink, args.warnings):
        n += 1
        for d in found:
            counts[d.key()] = counts.get(d.key(), 0) + 1
        print("\n".join(texts))
    total = len(cases)
    print(f"# {total} programs, {n} with disagreements")
    for (kind, op), k in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"#   {k:5d}  {kind:13s} {op}")
    return 1 if n else 0


if __name__ == "__main__":
    sys.exit(main())
