"""einsum with PyTorch's string syntax (``'...'`` included), one graph node, its gradient an einsum.

The gradient with respect to one operand is the einsum of the output's gradient with the other operands,
giving that operand's subscripts: written once with ``xp.einsum``, so it is differentiable again. Two
details need more than one einsum: a subscript only that operand has (summed over in the forward pass: the
gradient is constant along it, a broadcast), and a subscript repeated in one operand (a diagonal: the
gradient is zero off it, placed with ``take_adjoint``).
"""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError
from ..function import Function
from ..tensor import Tensor
from .operands import as_t
from .shape import reshape

__all__ = ["Einsum", "einsum", "einsum_array"]

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def einsum_array(equation: str, *arrays) -> np.ndarray:
    """NumPy's einsum, returning an array (never a NumPy scalar), contracting pairs with BLAS."""
    out = np.einsum(equation, *arrays, optimize=len(arrays) > 1)
    return out if type(out) is np.ndarray else np.asarray(out)


class Einsum(Function):
    """y = einsum(equation, x_1, x_2, ...) for an explicit equation (no '...', no broadcasting)."""

    formula = "y = einsum(equation, x_1, ..., x_n)"
    derivative = "dy/dx_k = einsum of dy with the other operands, giving x_k's subscripts"

    def __init__(self, terms, out):
        self.terms = terms
        self.out = out

    def forward(self, *xs):
        needs = self.needs_input_grad
        # operand k is read for the gradient of every other operand
        read = [any(n for j, n in enumerate(needs) if j != k) for k in range(len(xs))]
        self.save_for_backward(*[x if r else None for x, r in zip(xs, read)])
        self.sizes = {c: s for x, t in zip(xs, self.terms) for c, s in zip(t, x.shape)}
        self.shapes = [x.shape for x in xs]
        out = einsum_array(",".join(self.terms) + "->" + self.out, *xs)
        if out.base is not None and any(np.may_share_memory(out, x) for x in xs):
            out = out.copy()  # NumPy returns a view for a transpose or a diagonal: the output owns its values
        return out

    def vjp(self, xp, g):
        xs = self.saved(xp)
        return tuple(self._grad(xp, g, xs, k) if n else None for k, n in enumerate(self.needs_input_grad))

    def _grad(self, xp, g, xs, k):
        term, sizes = self.terms[k], self.sizes
        uniq = list(dict.fromkeys(term))
        others = set(self.out).union(*[t for j, t in enumerate(self.terms) if j != k])
        kept = [c for c in uniq if c in others]
        ops = [xs[j] for j in range(len(xs)) if j != k]
        eq = ",".join([self.out] + [t for j, t in enumerate(self.terms) if j != k]) + "->" + "".join(kept)
        t = xp.einsum(eq, g, *ops)
        if len(kept) < len(uniq):  # subscripts only x_k has were summed: the gradient is constant along them
            t = xp.reshape(t, tuple(sizes[c] if c in others else 1 for c in uniq))
            t = xp.broadcast_to(t, tuple(sizes[c] for c in uniq))
        if len(uniq) == len(term):
            return t
        # a repeated subscript (a diagonal): the gradient sits on the diagonal, zero elsewhere
        grid = np.ix_(*[np.arange(sizes[c]) for c in uniq])
        at = tuple(grid[uniq.index(c)] for c in term)
        return xp.take_adjoint(t, at, self.shapes[k], False)


# --------------------------------------------------------------------------- parsing
def _split(equation: str, n: int):
    if not isinstance(equation, str):
        raise ArgumentTypeError(f"einsum: the equation must be a string, got {type(equation).__name__}")
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != n:
        raise ArgumentError(f"einsum: the equation {equation!r} has {len(terms)} operand(s) but {n} were given")
    for part in terms + ([rhs] if arrow else []):
        rest = part.replace("...", "")
        if "." in rest or any(c not in _LETTERS for c in rest) or part.count("...") > 1:
            raise ArgumentError(
                f"einsum: invalid subscripts {part!r} in {equation!r}: use letters a-z, A-Z and at most one '...'"
            )
    return terms, (rhs if arrow else None)


def _expand(equation: str, shapes):
    """Explicit subscripts per operand and for the output: '...' becomes letters the equation does not use
    (aligned from the right, as broadcasting aligns), and the implicit output is made explicit."""
    terms, rhs = _split(equation, len(shapes))
    n_ell = 0
    for t, shape in zip(terms, shapes):
        letters = len(t.replace("...", ""))
        if ("..." in t and letters > len(shape)) or ("..." not in t and letters != len(shape)):
            raise ShapeError(f"einsum: subscripts {t!r} do not fit an operand of shape {tuple(shape)}")
        if "..." in t:
            n_ell = max(n_ell, len(shape) - letters)
    free = [c for c in _LETTERS if c not in equation]
    if len(free) < n_ell:
        raise ArgumentError(f"einsum: too many dimensions for {equation!r} (at most 52 subscripts in all)")
    ell = "".join(free[:n_ell])
    out_terms = []
    for t, shape in zip(terms, shapes):
        k = len(shape) - len(t.replace("...", ""))
        out_terms.append(t.replace("...", ell[n_ell - k :]) if "..." in t else t)
    if rhs is None:
        counts = {}
        for t in terms:
            for c in t.replace("...", ""):
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1))
    else:
        out = rhs.replace("...", ell)
        for c in out:
            if out.count(c) > 1:
                raise ArgumentError(f"einsum: output subscript {c!r} appears more than once in {equation!r}")
            if not any(c in t for t in out_terms):
                raise ArgumentError(f"einsum: output subscript {c!r} does not appear in the operands of {equation!r}")
    return out_terms, out


def _unbroadcast_operands(terms, xs):
    """Dimensions of size 1 that meet a larger size of the same subscript elsewhere are squeezed out of
    their operand (the broadcasting PyTorch allows), so NumPy's einsum sees equal sizes."""
    sizes = {}
    for t, x in zip(terms, xs):
        for c, s in zip(t, x.data.shape):
            if s != 1:
                if sizes.get(c, s) != s:
                    raise ShapeError(
                        f"einsum: subscript {c!r} has sizes {sizes[c]} and {s} in different places "
                        f"(operand shapes {[tuple(x.data.shape) for x in xs]})"
                    )
                sizes[c] = s
    new_terms, new_xs = [], []
    for t, x in zip(terms, xs):
        keep = [i for i, c in enumerate(t) if not (x.data.shape[i] == 1 and sizes.get(c, 1) > 1 and t.count(c) == 1)]
        if len(keep) < len(t):
            x = reshape(x, tuple(x.data.shape[i] for i in keep))
            t = "".join(t[i] for i in keep)
        new_terms.append(t)
        new_xs.append(x)
    return new_terms, new_xs


def _common_dtype(xs):
    """The operands, which must share one dtype, as in PyTorch (nothing is promoted silently, as in matmul)."""
    dts = [x.data.dtype for x in xs]
    if any(d != dts[0] for d in dts):
        listed = ", ".join(str(d) for d in dts)
        raise DTypeError(
            f"einsum: the operands have dtypes {listed}; they must have one dtype, as in PyTorch (nothing is "
            f"promoted silently): convert them first, e.g. with .to({str(np.result_type(*dts))!r})"
        )
    return xs


def einsum(equation: str, *operands):
    """PyTorch's ``einsum``: ``cr.einsum('ij,jk->ik', a, b)``, ``cr.einsum('bij,bjk', a, b)`` (implicit output:
    the subscripts that appear once, in alphabetical order, after the '...' dimensions), ``'...ij->...ji'``;
    the operands may also be given as one list. Subscripts of size 1 broadcast against the same subscript's
    size elsewhere."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ArgumentError("einsum: give at least one operand")
    xs = [as_t(x) if isinstance(x, Tensor) else as_t(np.asarray(x)) for x in operands]
    terms, out = _expand(equation, [x.data.shape for x in xs])
    for t, x in zip(terms, xs):
        for c in set(t):
            sizes = {x.data.shape[i] for i, ch in enumerate(t) if ch == c}
            if len(sizes) > 1:
                raise ShapeError(
                    f"einsum: subscript {c!r} is repeated in an operand of shape {x.data.shape} with different "
                    f"sizes {sorted(sizes)} (a diagonal needs equal sizes)"
                )
    terms, xs = _unbroadcast_operands(terms, xs)
    return Einsum(tuple(terms), out)(*_common_dtype(xs))
