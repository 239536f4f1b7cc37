"""Reference (NumPy) implementations of special functions: erf, erfc, erf_inv, lgamma, digamma.

Each public function takes an ndarray and returns an ndarray of the same shape and dtype (float16,
bfloat16, float32 or float64; integer and bool inputs give float64). Everything is computed in
float64 and cast back once, so narrow dtypes get the correctly rounded-ish f64 answer. A 0-d input
gives a 0-d ndarray, never a NumPy scalar.

Special values follow XLA/JAX, which is what the compiled backends produce:

* ``erf(+-inf) = +-1``, ``erfc(+inf) = 0``, ``erfc(-inf) = 2``.
* ``erf_inv(+-1) = +-inf``, ``erf_inv(|x| > 1) = nan``.
* ``lgamma`` is ``+inf`` at 0, -0, the negative integers and ``+-inf``.
* ``digamma`` is ``nan`` at 0, -0, the negative integers and ``-inf``; ``digamma(+inf) = +inf``.
* ``nan`` maps to ``nan`` everywhere.

Methods (all standard, published algorithms):

* erf / erfc: the C library's ``math.erf`` / ``math.erfc`` (correct to about 1 ulp, erfc keeps
  its relative accuracy deep into the tail).
* erf_inv: Winitzki's closed-form approximation as a start (relative error ~2e-3), then three
  Halley steps on ``erf(y) = x``. For ``x > 1/2`` the residual is formed as ``erfc(y) - (1 - x)``
  (``1 - x`` is exact there), so the answer keeps full relative accuracy right up to ``x -> 1``.
  Tiny ``x`` use the Maclaurin series.
* lgamma: on ``(0, 3.5)`` the Taylor series of ``log Gamma`` about 1 and about 2 (whose
  coefficients are ``zeta(k) / k`` and ``(zeta(k) - 1) / k``), which, unlike the Lanczos sum,
  keep relative accuracy at the zeros x = 1 and x = 2; ``math.lgamma`` for ``x >= 3.5``;
  ``lgamma(1 + x) - log|x|`` on ``(-1/2, 0)`` and the reflection formula for ``x <= -1/2``.
* digamma: Taylor series about the positive zero and the first negative zero (coefficients are
  Hurwitz zeta values there) and about 1 and 2 (coefficients +-zeta(k), +-(zeta(k) - 1)) on
  ``[1/2, 7/2)``; otherwise upward recurrence to ``x >= 10`` plus the asymptotic (Bernoulli)
  series; ``psi(1 + x) - 1/x`` on ``0 < |x| < 1/2`` and the reflection formula for
  ``x <= -1/2``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import ml_dtypes
import numpy as np

__all__ = ["erf", "erfc", "erf_inv", "lgamma", "digamma"]

_ML_FLOAT_DTYPES = frozenset(
    np.dtype(getattr(ml_dtypes, name))
    for name in (
        "bfloat16", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e4m3b11fnuz", "float8_e5m2",
        "float8_e5m2fnuz", "float8_e4m3", "float8_e3m4", "float8_e8m0fnu", "float6_e2m3fn",
        "float6_e3m2fn", "float4_e2m1fn",
    )
    if hasattr(ml_dtypes, name)
)


def _out_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.kind == "f" or dtype in _ML_FLOAT_DTYPES:
        return dtype
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    raise TypeError(f"special functions need a real floating-point array, got dtype {dtype}")


def _apply(x: np.ndarray, kernel: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Run a float64 kernel on the flattened input and cast back to the input's dtype/shape."""
    a = np.asarray(x)
    out_dtype = _out_dtype(a.dtype)
    flat = np.ascontiguousarray(a, dtype=np.float64).reshape(-1)
    with np.errstate(all="ignore"):
        r = np.asarray(kernel(flat), dtype=np.float64).reshape(a.shape)
        return np.asarray(r.astype(out_dtype))


def _pyfunc(fn: Callable[[float], float]) -> Callable[[np.ndarray], np.ndarray]:
    u = np.frompyfunc(fn, 1, 1)

    def run(v: np.ndarray) -> np.ndarray:
        if v.size == 0:
            return np.empty(v.shape, np.float64)
        return np.asarray(u(v), dtype=np.float64)

    return run


_erf64 = _pyfunc(math.erf)
_erfc64 = _pyfunc(math.erfc)


def _math_lgamma(v: float) -> float:
    try:
        return math.lgamma(v)
    except OverflowError:  # x beyond ~2.5e305
        return math.inf
    except ValueError:  # a pole; callers mask these anyway
        return math.inf


_lgamma_math64 = _pyfunc(_math_lgamma)


def _horner(coeffs: np.ndarray, z: np.ndarray) -> np.ndarray:
    """sum_k coeffs[k] * z**k (coeffs in increasing order of power)."""
    acc = np.full_like(z, coeffs[-1])
    for c in coeffs[-2::-1]:
        acc = acc * z + c
    return acc


# --------------------------------------------------------------------------------------------
# erf / erfc


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, elementwise."""
    return _apply(x, _erf64)


def erfc(x: np.ndarray) -> np.ndarray:
    """The complementary error function 1 - erf(x), accurate in the tail where erf(x) rounds to 1."""
    return _apply(x, _erfc64)


# --------------------------------------------------------------------------------------------
# erf_inv

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_PI_OVER_TWO = math.sqrt(math.pi) / 2.0
_WINITZKI_A = 0.147


def _erf_inv64(x: np.ndarray) -> np.ndarray:
    out = np.full_like(x, np.nan)
    ax = np.abs(x)
    sign = np.copysign(1.0, x)

    one = ax == 1.0
    out[one] = sign[one] * np.inf

    # Tiny |x|: erfinv(x) = sqrt(pi)/2 (x + pi/12 x^3 + 7 pi^2/480 x^5 + ...); the x^5 term is
    # below half an ulp once |x| < 2**-26. Covers +-0 (sign kept) and subnormals.
    tiny = ax < 2.0**-26
    xt = x[tiny]
    out[tiny] = _SQRT_PI_OVER_TWO * (xt + (math.pi / 12.0) * xt * xt * xt)

    body = (ax < 1.0) & ~tiny
    if np.any(body):
        a = ax[body]
        # Winitzki (2008): erfinv(a) ~ sqrt(sqrt(b^2 - t/A) - b), t = log(1 - a^2), b = 2/(pi A) + t/2.
        t = np.log1p(-a) + np.log1p(a)
        b = 2.0 / (math.pi * _WINITZKI_A) + 0.5 * t
        y = np.sqrt(np.sqrt(b * b - t / _WINITZKI_A) - b)
        upper = a > 0.5
        q = 1.0 - a  # exact for a in [0.5, 1] (Sterbenz)
        for _ in range(3):
            # residual r = a - erf(y), written as erfc(y) - (1 - a) where erf(y) is close to 1.
            r = np.where(upper, _erfc64(y) - q, a - _erf64(y))
            d = r / (_TWO_OVER_SQRT_PI * np.exp(-y * y))  # Newton step
            y = y + d / (1.0 - y * d)  # Halley: g''/g' = -2y for g = erf
        out[body] = sign[body] * y
    return out


def erf_inv(x: np.ndarray) -> np.ndarray:
    """The inverse error function on [-1, 1]: +-1 -> +-inf, |x| > 1 -> nan."""
    return _apply(x, _erf_inv64)


# --------------------------------------------------------------------------------------------
# lgamma

_EULER_GAMMA = 0.5772156649015329
_LOG_PI = 1.1447298858494002

# zeta(k) - 1 for k = 2, 3, ..., 60 (to double precision).
_ZETA_MINUS_ONE = np.array([
    0.6449340668482264, 0.2020569031595943, 0.08232323371113819, 0.03692775514336993,
    0.01734306198444914, 0.008349277381922827, 0.00407735619794434, 0.0020083928260822143,
    0.0009945751278180853, 0.0004941886041194645, 0.0002460865533080483,
    0.00012271334757848915, 6.124813505870483e-05, 3.058823630702049e-05,
    1.528225940865187e-05, 7.637197637899763e-06, 3.81729326499984e-06, 1.908212716553939e-06,
    9.539620338727962e-07, 4.769329867878064e-07, 2.38450502727733e-07, 1.1921992596531106e-07,
    5.960818905125948e-08, 2.980350351465228e-08, 1.4901554828365043e-08,
    7.45071178983543e-09, 3.725334024788457e-09, 1.862659723513049e-09,
    9.313274324196682e-10, 4.656629065033784e-10, 2.3283118336765053e-10,
    1.164155017270052e-10, 5.820772087902701e-11, 2.9103850444971e-11,
    1.4551921891041985e-11, 7.275959835057482e-12, 3.637979547378651e-12,
    1.818989650307066e-12, 9.094947840263888e-13, 4.547473783042154e-13,
    2.2737368458246524e-13, 1.136868407680228e-13, 5.684341987627585e-14,
    2.842170976889302e-14, 1.4210854828031608e-14, 7.105427395210853e-15,
    3.552713691337114e-15, 1.7763568435791204e-15, 8.881784210930816e-16,
    4.440892103143813e-16, 2.220446050798042e-16, 1.1102230251410661e-16,
    5.551115124845481e-17, 2.775557562136124e-17, 1.3877787809725232e-17,
    6.938893904544153e-18, 3.4694469521659225e-18, 1.7347234760475765e-18,
    8.673617380119933e-19,
])
_K = np.arange(2, 2 + _ZETA_MINUS_ONE.size, dtype=np.float64)
_ALT = np.where(_K % 2 == 0, 1.0, -1.0)
# log Gamma(1 + z) = -gamma z + sum_{k>=2} (-1)^k zeta(k)/k z^k,          |z| < 1.
_LG1_COEFFS = np.concatenate([[0.0, -_EULER_GAMMA], _ALT * (_ZETA_MINUS_ONE / _K + 1.0 / _K)])
# log Gamma(2 + z) = (1 - gamma) z + sum_{k>=2} (-1)^k (zeta(k) - 1)/k z^k, |z| < 2.
# Used for |z| <= 1/2, where 40 terms are far more than enough.
_LG2_COEFFS = np.concatenate([[0.0, 1.0 - _EULER_GAMMA], (_ALT * _ZETA_MINUS_ONE / _K)[:40]])


def _lgamma_pos(x: np.ndarray) -> np.ndarray:
    """log Gamma(x) for x > 0 (finite or +inf)."""
    out = np.empty_like(x)
    m = x < 0.5  # log Gamma(x) = log Gamma(1 + x) - log x
    out[m] = _horner(_LG1_COEFFS, x[m]) - np.log(x[m])
    m = (x >= 0.5) & (x < 1.5)  # x - 1 is exact here
    out[m] = _horner(_LG1_COEFFS, x[m] - 1.0)
    m = (x >= 1.5) & (x < 2.5)  # x - 2 is exact here
    out[m] = _horner(_LG2_COEFFS, x[m] - 2.0)
    m = (x >= 2.5) & (x < 3.5)  # log Gamma(x) = log Gamma(x - 1) + log(x - 1), both terms > 0
    out[m] = _horner(_LG2_COEFFS, x[m] - 3.0) + np.log(x[m] - 1.0)
    m = x >= 3.5
    out[m] = _lgamma_math64(x[m])
    return out


def _lgamma64(x: np.ndarray) -> np.ndarray:
    out = np.full_like(x, np.inf)  # poles and +-inf
    out[np.isnan(x)] = np.nan
    pos = (x > 0.0) & np.isfinite(x)
    out[pos] = _lgamma_pos(x[pos])
    # -1/2 < x < 0: log|Gamma(x)| = log Gamma(1 + x) - log|x| (1 + x is not formed: the series
    # is in x itself), which stays accurate down to subnormal x.
    small = (x < 0.0) & (x > -0.5)
    out[small] = _horner(_LG1_COEFFS, x[small]) - np.log(-x[small])
    neg = (x <= -0.5) & np.isfinite(x) & (x != np.floor(x))
    if np.any(neg):
        v = x[neg]
        # Gamma(x) Gamma(1 - x) = pi / sin(pi x) and Gamma(1 - x) = -x Gamma(-x), so
        # log|Gamma(x)| = log pi - log|sin(pi x)| - log|x| - log Gamma(-x); -x is exact, and
        # sin(pi x) is evaluated on the exactly reduced argument x - round(x) in [-1/2, 1/2].
        r = v - np.round(v)
        s = np.abs(np.sin(math.pi * r))
        out[neg] = _LOG_PI - np.log(s) - np.log(-v) - _lgamma_pos(-v)
    return out


def lgamma(x: np.ndarray) -> np.ndarray:
    """log|Gamma(x)|: +inf at the poles (0 and the negative integers) and at +-inf."""
    return _apply(x, _lgamma64)


# --------------------------------------------------------------------------------------------
# digamma

# Zeros of digamma as double-double (hi + lo).
_PSI_ROOT0 = (1.4616321449683622, 9.549995429965697e-17)
_PSI_ROOT1 = (-0.5040830082644554, -8.15428206243813e-18)
# Taylor coefficients psi^(k)(root)/k!, k = 1, 2, ... (so psi(root + h) = sum_k c_k h^k);
# psi^(k)(a)/k! = (-1)^(k+1) zeta(k + 1, a), a Hurwitz zeta value.
_PSI_TAYLOR0 = np.array([0.0,
    0.9676722454476212, -0.4427631689835921, 0.258499760955651, -0.16394270544240652,
    0.10782405069126237, -0.07219956125645471, 0.04880428816414311, -0.03316112647484736,
    0.022597648232218104, -0.01542476590494896, 0.010538791616612175, -0.007204534386356869,
    0.004926781395729853, -0.003369801655439328, 0.002305126326734928, -0.0015769367714301972,
    0.0010788252019162967, -0.0007380709389960052, 0.000504953265834602,
    -0.0003454680251063077, 0.00023635601564027053, -0.00016170622091974803,
    0.0001106337276874741, -7.569179582195066e-05, 5.178575795222081e-05,
    -3.5430070947659604e-05, 2.424006611860132e-05, -1.6584242271854135e-05,
    1.134638458466385e-05, -7.762817668462094e-06,
])
_PSI_TAYLOR1 = np.array([0.0,
    8.939798558792134, -0.8093454625306507, 32.258572064915505, -2.761011648790828,
    128.27342343090902, -14.70672173553036, 513.2704629562862, -75.37700066344631,
    2055.5357119463315, -368.5783503832191, 8234.667099203069, -1743.364608867363,
    32997.785655255044, -8051.818155363498, 132262.95480834588, -36529.94596948565,
    530280.3912420176, -163451.79342700253, 2126602.3725968753, -723318.8861804305,
    8530604.878543982, -3172131.3155744765, 34228316.69580112, -13807481.997263888,
    137373435.87411496, -59721085.411294304, 551481251.858545, -256915093.79875362,
    2214464568.013911, -1100067148.941634, 8894384049.698206, -4691108165.464208,
    35733149689.19971, -19932951831.31562, 143593265361.61188, -84427777205.99586,
    577169303800.4995, -356587583747.61346, 2320479554068.2524, -1502246808129.2256,
])
# Radii where the root series are used. Around root0 the series converges for |h| < 1.46
# (pole at 0): |h| <= 0.25 needs ~25 terms. Around root1 the poles at 0 and -1 are ~0.5 away:
# |h| <= 0.12 needs ~35 terms.
_PSI_RADIUS0 = 0.25
_PSI_RADIUS1 = 0.12
# Asymptotic series: psi(x) ~ log x - 1/(2x) - sum_k B_2k / (2k x^2k); in powers of w = 1/x^2.
_PSI_ASYMPTOTIC = np.array([
    0.0, -1.0 / 12.0, 1.0 / 120.0, -1.0 / 252.0, 1.0 / 240.0, -1.0 / 132.0, 691.0 / 32760.0,
    -1.0 / 12.0,
])
# psi(1 + z) = -gamma + sum_{k>=2} (-1)^k zeta(k) z^(k-1) and
# psi(2 + z) = 1 - gamma + sum_{k>=2} (-1)^k (zeta(k) - 1) z^(k-1): the derivatives of the
# log Gamma series above, used for |z| <= 1/2.
_PSI1_COEFFS = np.concatenate([[-_EULER_GAMMA], _ALT * (_ZETA_MINUS_ONE + 1.0)])
_PSI2_COEFFS = np.concatenate([[1.0 - _EULER_GAMMA], (_ALT * _ZETA_MINUS_ONE)[:40]])
_PSI_SHIFT = 10.0  # truncation error of the asymptotic series < 1e-17 for x >= 10


def _root_offset(x: np.ndarray, root: tuple[float, float]) -> np.ndarray:
    return (x - root[0]) - root[1]  # x - hi is exact near the root (Sterbenz)


def _digamma_pos(x: np.ndarray) -> np.ndarray:
    """psi(x) for x >= 1/2 (finite or +inf)."""
    out = np.empty_like(x)
    near = np.abs(x - _PSI_ROOT0[0]) <= _PSI_RADIUS0
    out[near] = _horner(_PSI_TAYLOR0, _root_offset(x[near], _PSI_ROOT0))
    # Derivatives of the log Gamma series about 1 and 2 (x - 1, x - 2, x - 3 are exact).
    m = ~near & (x < 1.5)
    out[m] = _horner(_PSI1_COEFFS, x[m] - 1.0)
    m = ~near & (x >= 1.5) & (x < 2.5)
    out[m] = _horner(_PSI2_COEFFS, x[m] - 2.0)
    m = ~near & (x >= 2.5) & (x < 3.5)  # psi(x) = psi(x - 1) + 1/(x - 1), both terms > 0
    out[m] = _horner(_PSI2_COEFFS, x[m] - 3.0) + 1.0 / (x[m] - 1.0)
    far = x >= 3.5
    v = x[far]
    acc = np.zeros_like(v)
    # Recurrence psi(x) = psi(x + 1) - 1/x until every argument is >= _PSI_SHIFT.
    while True:
        small = v < _PSI_SHIFT
        if not np.any(small):
            break
        acc[small] += 1.0 / v[small]
        v[small] += 1.0
    w = 1.0 / v
    out[far] = np.log(v) - 0.5 * w + _horner(_PSI_ASYMPTOTIC, w * w) - acc
    return out


def _digamma64(x: np.ndarray) -> np.ndarray:
    out = np.full_like(x, np.nan)  # nan, -inf and the poles 0, -1, -2, ...
    out[x == np.inf] = np.inf
    finite = np.isfinite(x)

    pos = finite & (x >= 0.5)
    out[pos] = _digamma_pos(x[pos])

    near = np.abs(x - _PSI_ROOT1[0]) <= _PSI_RADIUS1
    out[near] = _horner(_PSI_TAYLOR1, _root_offset(x[near], _PSI_ROOT1))

    # 0 < |x| < 1/2 (away from the root): psi(x) = psi(1 + x) - 1/x. The 1/x term dominates
    # (|psi(x)| > 0.9 here), so rounding 1 + x costs nothing; subnormal x stay accurate.
    low = finite & (x != 0.0) & (x > -0.5) & (x < 0.5) & ~near
    xl = x[low]
    out[low] = _digamma_pos(1.0 + xl) - 1.0 / xl

    refl = finite & (x <= -0.5) & (x != np.floor(x)) & ~near
    if np.any(refl):
        v = x[refl]
        # psi(x) = psi(1 - x) - pi / tan(pi x), with tan evaluated on the exactly reduced
        # argument x - round(x) (tan has period pi).
        r = v - np.round(v)
        out[refl] = _digamma_pos(1.0 - v) - math.pi / np.tan(math.pi * r)
    return out


def digamma(x: np.ndarray) -> np.ndarray:
    """The digamma function psi = Gamma'/Gamma; nan at the poles (0, -1, -2, ...) and at -inf."""
    return _apply(x, _digamma64)
