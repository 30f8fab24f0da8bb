"""The error function and its inverse on NumPy arrays, to full double precision, with NumPy alone.

``erf_array(x)``
    |x| < 0.5: the Maclaurin series erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)), 13 terms
    (the first term left out is below 1e-17 of the sum). Its coefficients are computed from that formula.

    0.25 <= |x| < 6.25: erf(x) = 1 - exp(-x^2) * erfcx(x), where erfcx(x) = exp(x^2) erfc(x) is smooth and
    slowly varying. erfcx is evaluated by its Taylor polynomial about the nearest of 24 centres spaced 0.25
    apart (|x - centre| <= 0.125). The Taylor coefficients come from the differential equation
    erfcx' = 2x erfcx - 2/sqrt(pi), which gives erfcx^(n+1) = 2x erfcx^(n) + 2n erfcx^(n-1); the value at
    each centre is computed from the Maclaurin series of erf in 70-digit decimal arithmetic. The tables
    are built on first use (a few milliseconds) and kept.

    |x| >= 6.25 (indeed from 5.93): erf(x) = +-1 exactly in double precision.

``erfinv_array(y)``
    A starting value from Winitzki's closed-form approximation (relative error below 2e-3; for |y| < 0.1
    the first terms of the series of erfinv), then Halley steps, which converge cubically: two reach
    double precision in the centre. For |y| < 0.5 the steps solve erf(x) = |y|; above, they solve erfc(x) = 1 - |y|
    (exact in floating point there) written with erfcx, so the tails (|y| near 1, where erf cannot
    tell neighbouring x apart) keep their relative precision; there a third step is taken.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np

__all__ = ["erf_array", "erfc_array", "erfinv_array"]

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SMALL = 0.5  # below: the Maclaurin series
_LO, _STEP, _N_CENTRES, _N_TERMS = 0.25, 0.25, 24, 16  # the erfcx table covers [0.25, 6.25]
_HI = _LO + _STEP * _N_CENTRES
_PI_50 = Decimal("3.14159265358979323846264338327950288419716939937510582097494459")


def _maclaurin() -> np.ndarray:
    """erf(x) / x as a polynomial in x^2, highest power first (for np.polyval-style Horner)."""
    return np.array([_TWO_OVER_SQRT_PI * (-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(13)][::-1])


_MACLAURIN = _maclaurin()


def _erfcx_taylor(c: Decimal, n_terms: int) -> list[float]:
    """Taylor coefficients of erfcx about ``c``, lowest order first, from 70-digit decimal arithmetic."""
    with localcontext() as ctx:
        ctx.prec = 70
        c2 = c * c
        two_over_sqrt_pi = 2 / _PI_50.sqrt()
        series, power, n = Decimal(0), c, 0  # power = c^(2n+1) / n!
        tiny = Decimal(10) ** -68
        while True:
            term = power / (2 * n + 1)
            series += -term if n % 2 else term
            if term < tiny:
                break
            n += 1
            power = power * c2 / n
        d = [(1 - two_over_sqrt_pi * series) * c2.exp()]  # erfcx(c) = exp(c^2) (1 - erf(c))
        d.append(2 * c * d[0] - two_over_sqrt_pi)
        for k in range(1, n_terms - 1):
            d.append(2 * c * d[k] + 2 * k * d[k - 1])
        coef, fact = [], Decimal(1)
        for k in range(n_terms):
            fact *= max(k, 1)
            coef.append(float(d[k] / fact))
        return coef


_TABLE: list = []  # [array (n_centres, n_terms)], built on first use


def _table() -> np.ndarray:
    if not _TABLE:
        centres = [Decimal(_LO) + Decimal(_STEP) * (k + Decimal("0.5")) for k in range(_N_CENTRES)]
        rows = [_erfcx_taylor(c, _N_TERMS) for c in centres]
        _TABLE.append(np.array(rows).T.copy())  # (terms, centres): one row per power
    return _TABLE[0]


def erfcx_array(a: np.ndarray) -> np.ndarray:
    """exp(a^2) erfc(a) for float64 ``a`` in [0.25, 6.25] (clipped to it)."""
    table = _table()
    a = np.clip(a, _LO, _HI)
    k = np.minimum(((a - _LO) * (1 / _STEP)).astype(np.intp), _N_CENTRES - 1)
    h = a - (_LO + _STEP * (k + 0.5))
    p = table[-1][k]
    for row in table[-2::-1]:
        p *= h
        p += row[k]
    return p


def _erf_pos(a: np.ndarray) -> np.ndarray:
    """erf(a) for float64 a >= 0 (nan stays nan)."""
    out = np.ones_like(a)
    small = a < _SMALL
    if small.any():
        s = a[small]
        out[small] = s * np.polyval(_MACLAURIN, s * s)
    mid = (a >= _SMALL) & (a < _HI)
    if mid.any():
        m = a[mid]
        out[mid] = 1.0 - np.exp(-m * m) * erfcx_array(m)
    out[np.isnan(a)] = np.nan
    return out


def erf_array(x) -> np.ndarray:
    """erf of an array (float32 stays float32: computed in float64 and rounded)."""
    x = np.asarray(x)
    dt = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    x64 = x.astype(np.float64, copy=False)
    with np.errstate(invalid="ignore", over="ignore"):
        y = np.copysign(_erf_pos(np.abs(x64)), x64)
    return y.astype(dt, copy=False)


def erfc_array(x) -> np.ndarray:
    """erfc = 1 - erf of an array, with relative precision for positive arguments up to 6.25 (where it is
    above 4e-19); below it underflows to 0 (used by erfinv's tails)."""
    x = np.asarray(x, dtype=np.float64)
    out = 1.0 - erf_array(x)
    mid = (x >= _SMALL) & (x < _HI)
    if mid.any():
        m = x[mid]
        out[mid] = np.exp(-m * m) * erfcx_array(m)
    out[x >= _HI] = 0.0
    return out


_WINITZKI = 0.147  # S. Winitzki (2008), "A handy approximation for the error function and its inverse"


def _erfinv_start(a: np.ndarray) -> np.ndarray:
    """A starting value for erfinv(a), 0 <= a < 1, within 2e-3 (relative)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log = np.log((1.0 - a) * (1.0 + a))  # ln(1 - a^2), with 1 - a exact near 1
        b = 2.0 / (math.pi * _WINITZKI) + 0.5 * log
        x = np.sqrt(np.sqrt(b * b - log / _WINITZKI) - b)
    small = a < 0.1  # the closed form cancels for small a: the series sqrt(pi)/2 (a + pi/12 a^3 + 7 pi^2/480 a^5)
    s = a[small]
    s2 = s * s
    x[small] = (math.sqrt(math.pi) / 2) * s * (1 + s2 * (math.pi / 12 + s2 * (7 * math.pi**2 / 480)))
    return x


def _halley(x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One Halley step for erf(x) = target, given u = (erf(x) - target) / erf'(x): erf''/erf' = -2x."""
    return x - u / (1.0 + x * u)


def erfinv_array(y) -> np.ndarray:
    """The inverse of erf on [-1, 1] (+-inf at +-1, nan outside); float32 stays float32."""
    y = np.asarray(y)
    dt = y.dtype if y.dtype.kind == "f" else np.dtype(np.float64)
    y64 = y.astype(np.float64, copy=False)
    a = np.abs(y64)
    x = np.full_like(a, np.nan)
    x[a == 1] = np.inf
    body = a < 1
    central = body & (a < _SMALL)
    tail = body & (a >= _SMALL)
    if central.any():
        t = a[central]
        r = _erfinv_start(t)
        for _ in range(2):
            r = _halley(r, (_erf_pos(r) - t) * np.exp(r * r) * (1 / _TWO_OVER_SQRT_PI))
        tiny = t < 1e-150  # erfinv(t) = sqrt(pi)/2 t (1 + pi t^2/12 + ...): one rounding, also for subnormal t
        r[tiny] = t[tiny] * (math.sqrt(math.pi) / 2)
        x[central] = r
    if tail.any():
        q = 1.0 - a[tail]  # exact for a >= 0.5
        r = np.clip(_erfinv_start(a[tail]), _LO, _HI)
        for _ in range(3):  # near |y| = 1 the start is further off (about 1.6e-3): a third step
            # (erf(r) - a) / erf'(r) = (q - erfc(r)) / erf'(r) = (q exp(r^2) - erfcx(r)) sqrt(pi)/2
            r = np.clip(_halley(r, (q * np.exp(r * r) - erfcx_array(r)) * (1 / _TWO_OVER_SQRT_PI)), _LO, _HI)
        x[tail] = r
    return np.copysign(x, y64).astype(dt, copy=False)
