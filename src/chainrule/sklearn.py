"""scikit-learn estimators trained by chainrule: ``MLPClassifier`` and ``MLPRegressor``.

They are drop-in replacements for :class:`sklearn.neural_network.MLPClassifier` and
:class:`~sklearn.neural_network.MLPRegressor`: the same parameters with the same names and
defaults, the same fitted attributes (``coefs_`` and ``intercepts_`` as lists of
``(n_in, n_out)`` and ``(n_out,)`` arrays, ``loss_curve_``, ``n_iter_``, ``t_``, ``best_loss_``,
``validation_scores_``, ``best_validation_score_``, ``out_activation_``, ``classes_``), the same
algorithm (Glorot-uniform initialisation drawn from ``random_state`` in scikit-learn's order, its
shuffles and early-stopping split, its loss and L2 penalty ``alpha / 2 * ||W||^2 / n_samples`` per
mini-batch, its Adam and SGD rules and learning-rate schedules, its stopping rule and
``ConvergenceWarning``), so with ``dtype="float64"`` a fit follows scikit-learn's to rounding.
They work in ``Pipeline``, ``GridSearchCV`` and ``cross_val_score``, pass scikit-learn's
estimator checks and pickle.

What differs is where the time goes: each mini-batch step runs the network, an ``nn.Sequential``
of ``nn.Linear`` layers and the activation's module, records its graph, and walks it backward
from the loss's gradient with respect to the logits (:func:`output_loss`, scikit-learn's
``delta``); the update is chainrule's in-place Adam or SGD kernel, run once per step over one flat
Parameter of which every weight and bias is a view. By default the network
is trained in float32 (``dtype="float32"``, a parameter scikit-learn's estimators do not have),
which halves the work of every matrix product; ``coefs_`` and ``intercepts_`` are then returned
in the dtype of the training data (float64 for float64 ``X``, as scikit-learn does), and
``predict`` computes in that dtype with NumPy. ``dtype="float64"`` trains in float64.

``solver="lbfgs"`` runs :class:`chainrule.optim.LBFGS` (PyTorch's algorithm, with the
strong-Wolfe line search and 10 correction pairs, as SciPy's L-BFGS-B keeps) on the full batch,
with ``max_iter`` iterations, ``max_fun`` evaluations and ``tol`` on the largest gradient
entry; scikit-learn runs SciPy's L-BFGS-B, so the iterates differ while the optimum is the same.

``to_module()`` gives the fitted network as a chainrule ``nn.Sequential`` (the logits: the
output activation left out), for :mod:`chainrule`'s own tools.

Importing this module imports scikit-learn; without it, the import fails with a
:class:`~chainrule.errors.MissingDependencyError` naming the extra ``sklearn``.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from . import checks, nn
from .errors import ArgumentError, ArgumentTypeError, missing
from .function import Function
from .modes import no_grad
from .optim import LBFGS, SGD, Adam
from .tensor import from_numpy

try:
    import scipy.sparse as sp
    from scipy.special import expit, xlogy
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state, column_or_1d
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import type_of_target, unique_labels
    from sklearn.utils.validation import check_is_fitted
except ImportError as exc:  # pragma: no cover - exercised by a test that hides scikit-learn
    raise missing("scikit-learn", "sklearn", "chainrule.sklearn (MLPClassifier, MLPRegressor)") from exc

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data
except ImportError:  # pragma: no cover - older scikit-learn: the estimator's own method

    def validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)


__all__ = ["MLPClassifier", "MLPRegressor"]

_STOCHASTIC = ("sgd", "adam")
_HIDDEN = {"identity": nn.Identity, "logistic": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
_DTYPES = {"float32": np.float32, "float64": np.float64}


# ---------------------------------------------------------------------- the NumPy forward pass (predict)
def _softmax_rows(z: np.ndarray, out=None, floor=None) -> np.ndarray:
    """The softmax of each row of ``z`` (into ``out``, which may be ``z``); ``floor`` bounds the shifted logits
    from below before exp. Reductions along short rows are slow in NumPy: the maxima come from z.T, the sums
    from a product with ones."""
    p = np.subtract(z, np.ascontiguousarray(z.T).max(axis=0)[:, None], out=out)
    if floor is not None:
        np.maximum(p, floor, out=p)
    np.exp(p, out=p)
    p /= (p @ np.ones(p.shape[1], p.dtype))[:, None]
    return p


def _activate(name: str, a: np.ndarray) -> np.ndarray:
    """Apply an activation in place, as scikit-learn's ``ACTIVATIONS`` do."""
    if name == "relu":
        np.maximum(a, 0, out=a)
    elif name == "tanh":
        np.tanh(a, out=a)
    elif name == "logistic":
        expit(a, out=a)
    elif name == "softmax":
        _softmax_rows(a, out=a)
    elif name == "exp":
        np.exp(a, out=a)
    return a


def _forward_pass(X, coefs, intercepts, activation: str, out_activation: str) -> np.ndarray:
    """The network's output for ``X`` (an array or a sparse matrix), from weights in scikit-learn's layout."""
    a = X
    last = len(coefs) - 1
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        a = a @ W
        a = np.asarray(a)
        a += b
        _activate(activation if i != last else out_activation, a)
    return a


def _batches(n: int, size: int):
    """``slice(start, start + size)`` over ``range(n)``, the last one shorter: scikit-learn's ``gen_batches``
    without its argument validation, which costs more than a small network's whole epoch."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


# ---------------------------------------------------------------------- the output layer and the loss
def output_loss(kind: str, z: np.ndarray, y: np.ndarray, sample_weight, weight_sum: float):
    """scikit-learn's output activation and loss on the last layer's pre-activations ``z``.

    ``kind`` (``out_activation_``) is ``"softmax"`` (log loss), ``"logistic"`` (binary log loss per
    output), ``"identity"`` (half squared error) or ``"exp"`` (half Poisson deviance): each the
    canonical link of its loss, so the gradient with respect to z is
    ``delta = (activation(z) - y) * w / sum(w)``, the delta scikit-learn backpropagates. Returns
    ``(value, reported, delta)``: the loss that gradient belongs to, the loss scikit-learn reports
    (log losses with probabilities clipped to [eps, 1 - eps], the squared error averaged over the
    outputs as well, the deviance with its constant terms), and delta.
    """
    if kind == "softmax":
        return _softmax_log_loss(z, y, sample_weight, weight_sum)
    p = np.array(z, copy=True)
    if p.dtype == np.float32 and kind != "identity":
        # as for softmax: the logistic's and exp's outputs kept away from float32's subnormal numbers
        np.clip(p, -70.0, 70.0, out=p)
        _activate(kind, p)
    else:
        _activate(kind, p)
    delta = p - y
    if sample_weight is not None:
        delta *= sample_weight[:, None]
    delta *= np.asarray(1.0 / weight_sum, z.dtype)

    def mean(per):  # the sum over outputs of the (weighted) mean over samples, in float64
        if sample_weight is None:
            return float(per.sum(dtype=np.float64)) / per.shape[0]
        return float((per * sample_weight[:, None]).sum(dtype=np.float64)) / weight_sum

    if kind == "logistic":  # y is 0 or 1: xlogy(y, p) + xlogy(1 - y, 1 - p) is log p or log(1 - p)
        eps = np.finfo(p.dtype).eps
        q = np.clip(p, eps, 1 - eps)
        value = reported = -mean(np.log(np.where(y > 0.5, q, 1 - q)))
    elif kind == "identity":
        r = p - y
        value = 0.5 * mean(r * r)
        reported = value / y.shape[1]  # scikit-learn's figure is also averaged over the outputs
    else:  # exp: half Poisson deviance; the gradient's loss leaves out terms constant in z
        reported = mean(xlogy(y, y / p) - y + p)
        value = mean(p - y * z)
    return value, reported, delta


_EPS = {np.dtype(np.float32): np.finfo(np.float32).eps, np.dtype(np.float64): np.finfo(np.float64).eps}


def _softmax_log_loss(z: np.ndarray, y: np.ndarray, sample_weight, weight_sum: float):
    """:func:`output_loss` for ``"softmax"``: the same arithmetic in fewer NumPy calls (each costs about a
    microsecond, as much as the arithmetic on a mini-batch of 200 rows of 10 classes)."""
    # In float32 the probabilities are kept above the smallest normal number: arithmetic on subnormal numbers is
    # many times slower on x86 CPUs, and a trained softmax makes many of them. (The change, below
    # exp(-70) = 4e-31, is invisible in the loss and its gradient.)
    p = _softmax_rows(z, floor=-70.0 if z.dtype == np.float32 else None)
    delta = np.subtract(p, y)
    if sample_weight is not None:
        delta *= sample_weight[:, None]
    delta *= np.asarray(1.0 / weight_sum, z.dtype)
    # y is one-hot: the sum of xlogy(y, p) over a row is log p of the true class, clipped as scikit-learn does
    eps = _EPS[p.dtype]
    true = np.einsum("ij,ij->i", p, y)
    np.maximum(true, eps, out=true)
    np.minimum(true, 1 - eps, out=true)
    np.log(true, out=true)
    if sample_weight is None:
        value = -float(np.add.reduce(true, dtype=np.float64)) / true.shape[0]
    else:
        value = -float(np.add.reduce(true * sample_weight, dtype=np.float64)) / weight_sum
    return value, value, delta


class OutputLoss(Function):
    """:func:`output_loss` as one graph node: its value is the loss, its backward ``delta * dout``;
    scikit-learn's figure of the loss is kept on the node as ``reported`` (read it before backward,
    which frees the node)."""

    formula = "L = loss(y, out_activation(z)) (scikit-learn's MLP loss)"
    derivative = "dL/dz = (out_activation(z) - y) * sample_weight / sum(sample_weight)"

    def __init__(self, out_activation: str, y: np.ndarray, sample_weight, weight_sum: float):
        self.out_activation = out_activation
        self.y = y
        self.sample_weight = sample_weight
        self.weight_sum = weight_sum
        self.reported = math.nan
        self.delta = None

    def forward(self, z):
        value, self.reported, self.delta = output_loss(
            self.out_activation, z, self.y, self.sample_weight, self.weight_sum
        )
        return np.asarray(value, dtype=z.dtype)

    def backward(self, dout):
        return self.delta * dout


# ---------------------------------------------------------------------- checks of the parameters
def _check_params(est) -> list:
    """Check every hyper-parameter as fit starts; return the hidden layer sizes as a list."""
    owner = type(est).__name__
    sizes = est.hidden_layer_sizes
    sizes = [sizes] if isinstance(sizes, numbers.Integral) or not hasattr(sizes, "__iter__") else list(sizes)
    for k, s in enumerate(sizes):
        _integer(owner, f"hidden_layer_sizes[{k}]", s, 1)
    _choice(owner, "activation", est.activation, tuple(_HIDDEN))
    _choice(owner, "solver", est.solver, ("lbfgs", "sgd", "adam"))
    _choice(owner, "learning_rate", est.learning_rate, ("constant", "invscaling", "adaptive"))
    checks.real(owner, "alpha", est.alpha, 0)
    if not (isinstance(est.batch_size, str) and est.batch_size == "auto"):
        _integer(owner, "batch_size", est.batch_size, 1, "or 'auto'")
    checks.real(owner, "learning_rate_init", est.learning_rate_init, 0, low_open=True)
    checks.real(owner, "power_t", est.power_t, 0)
    _integer(owner, "max_iter", est.max_iter, 1)
    _integer(owner, "max_fun", est.max_fun, 1)
    checks.real(owner, "tol", est.tol, 0)
    checks.real(owner, "momentum", est.momentum, 0, 1)
    checks.real(owner, "validation_fraction", est.validation_fraction, 0, 1, high_open=True)
    checks.real(owner, "beta_1", est.beta_1, 0, 1, high_open=True)
    checks.real(owner, "beta_2", est.beta_2, 0, 1, high_open=True)
    checks.real(owner, "epsilon", est.epsilon, 0, low_open=True)
    if not (isinstance(est.n_iter_no_change, numbers.Real) and est.n_iter_no_change == math.inf):
        _integer(owner, "n_iter_no_change", est.n_iter_no_change, 1, "or numpy.inf")
    for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
        if not isinstance(getattr(est, name), (bool, np.bool_)):
            raise ArgumentTypeError(f"{owner}: {name} must be True or False, got {getattr(est, name)!r}")
    if not isinstance(est.verbose, (bool, np.bool_, numbers.Integral)):
        raise ArgumentTypeError(f"{owner}: verbose must be a bool or an int, got {est.verbose!r}")
    if isinstance(est.dtype, str):
        _choice(owner, "dtype", est.dtype, tuple(_DTYPES))
    elif est.dtype not in (np.float32, np.float64):
        raise ArgumentError(f"{owner}: dtype must be 'float32' or 'float64', got {est.dtype!r}")
    return sizes


def _compute_dtype(est):
    return np.dtype(_DTYPES.get(est.dtype, est.dtype) if isinstance(est.dtype, str) else est.dtype)


def _choice(owner, name, value, options):
    if not isinstance(value, str) or value not in options:
        raise ArgumentError(f"{owner}: {name} must be one of {', '.join(map(repr, options))}; got {value!r}")


def _integer(owner, name, value, low, alternative=""):
    what = f"an integer >= {low}" + (f" {alternative}" if alternative else "")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{owner}: {name} must be {what}, got {value!r}")
    if value < low:
        raise ArgumentError(f"{owner}: {name} must be {what}, got {value!r}")


def _sample_weight(sample_weight, n_samples: int):
    """The sample weights as a float64 vector of n_samples (a scalar applies to every sample)."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0:
        return np.full(n_samples, float(w))
    if w.shape != (n_samples,):
        raise ArgumentError(f"sample_weight must have shape ({n_samples},), one weight per sample; got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ArgumentError("sample_weight must be finite")
    if np.any(w < 0):
        raise ArgumentError("sample_weight must not be negative")
    if not np.any(w):
        raise ArgumentError("sample_weight must contain at least one non-zero weight; all are zero")
    return w


# ---------------------------------------------------------------------- the shared estimator
class _BaseMLP(BaseEstimator):
    """What MLPClassifier and MLPRegressor share: the training loop, on chainrule's graph and optimizers."""

    # ------------------------------------------------------------------ the network
    def _init_coef(self, fan_in, fan_out):
        # Glorot et al.'s uniform initialisation, drawn from random_state exactly as scikit-learn draws it
        factor = 2.0 if self.activation == "logistic" else 6.0
        bound = np.sqrt(factor / (fan_in + fan_out))
        coef = self._random_state.uniform(-bound, bound, (fan_in, fan_out))
        intercept = self._random_state.uniform(-bound, bound, fan_out)
        return coef, intercept

    def _build_module(self, layer_units, dtype):
        layers = []
        gen = np.random.default_rng(0)  # the initial values are overwritten: chainrule's own generator is left alone
        for i in range(len(layer_units) - 1):
            if i:
                layers.append(_HIDDEN[self.activation]())
            layers.append(nn.Linear(layer_units[i], layer_units[i + 1], dtype=dtype, generator=gen))
        return nn.Sequential(*layers)

    def _linears(self):
        return [m for m in self._module if isinstance(m, nn.Linear)]

    def _load_module(self):
        """Copy coefs_ and intercepts_ (which the user may have changed) into the training network."""
        for lin, W, b in zip(self._linears(), self.coefs_, self.intercepts_):
            lin.weight.data[...] = W.T
            lin.bias.data[...] = b

    def _store_module(self, dtype):
        """coefs_ and intercepts_ from the training network, in scikit-learn's layout and the data's dtype."""
        lins = self._linears()
        self.coefs_ = [np.ascontiguousarray(lin.weight.data.T, dtype=dtype) for lin in lins]
        self.intercepts_ = [np.array(lin.bias.data, dtype=dtype) for lin in lins]

    def to_module(self):
        """The fitted network as a chainrule ``nn.Sequential`` of ``Linear`` and activation layers.

        Its output is the last layer's pre-activation (the logits): apply ``out_activation_``
        (softmax, logistic, identity or exp) to get ``predict_proba``'s or ``predict``'s values.
        Its dtype is the training dtype (``dtype``).
        """
        check_is_fitted(self)
        units = [self.coefs_[0].shape[0]] + [W.shape[1] for W in self.coefs_]
        module = self._build_module(units, _compute_dtype(self))
        for lin, W, b in zip([m for m in module if isinstance(m, nn.Linear)], self.coefs_, self.intercepts_):
            lin.weight.data[...] = W.T
            lin.bias.data[...] = b
        return module

    # ------------------------------------------------------------------ fit
    def _initialize(self, y, layer_units):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._out_activation()
        self.coefs_, self.intercepts_ = [], []
        for i in range(self.n_layers_ - 1):
            coef, intercept = self._init_coef(layer_units[i], layer_units[i + 1])
            self.coefs_.append(coef)
            self.intercepts_.append(intercept)
        self._module = None
        self._optimizer = None
        self._flat = None
        self._best_params = None  # early stopping's best weights; None: the initial ones
        if self.solver in _STOCHASTIC:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _fit(self, X, y, sample_weight=None, incremental=False):
        hidden = _check_params(self)
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        n_samples, n_features = X.shape
        sample_weight = _sample_weight(sample_weight, n_samples)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        self.n_outputs_ = y.shape[1]
        layer_units = [n_features] + hidden + [self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units)
        cdt = _compute_dtype(self)
        module = getattr(self, "_module", None)
        shapes = [(W.shape[1], W.shape[0]) for W in self.coefs_]
        if module is None or _module_dtype(module) != cdt or [tuple(m.weight.shape) for m in self._linears()] != shapes:
            self._module = self._build_module(layer_units, cdt)
            self._optimizer = None
        self._load_module()
        Xc = X.astype(cdt, copy=False) if not sp.issparse(X) else sp.csr_matrix(X, dtype=cdt)
        yc = np.asarray(y, dtype=cdt)
        if self.solver in _STOCHASTIC:
            self._fit_stochastic(Xc, yc, sample_weight, incremental)
        else:
            self._fit_lbfgs(Xc, yc, sample_weight)
        self._store_module(X.dtype)
        if not all(np.isfinite(w).all() for w in self.coefs_ + self.intercepts_):
            raise ArgumentError(
                f"{type(self).__name__}.fit: the solver produced non-finite weights (NaN or inf). The input data may "
                "contain large values: scale them (e.g. StandardScaler), or lower learning_rate_init"
            )
        return self

    def _make_optimizer(self, params):
        """The optimizer, over one flat Parameter that holds every weight and bias (see ``_bind_flat``)."""
        n = sum(p.data.size for p in params)
        self._flat = nn.Parameter(np.zeros(n, params[0].data.dtype))
        self._flat.grad = from_numpy(np.zeros(n, params[0].data.dtype))
        if self.solver == "sgd":
            return SGD(
                [self._flat],
                lr=self.learning_rate_init,
                momentum=self.momentum,
                nesterov=bool(self.nesterovs_momentum and self.momentum > 0),
            )
        return Adam([self._flat], lr=self.learning_rate_init, betas=(self.beta_1, self.beta_2), eps=self.epsilon)

    def _bind_flat(self, params) -> list:
        """Make every parameter's array a view of the flat Parameter the optimizer updates (one update of
        one array per step instead of one per weight and bias: the per-array overhead counts on small
        networks); return the matching views of the flat gradient. After unpickling (which copies views)
        the values are copied back into the flat array."""
        flat, grad = self._flat.data, self._flat.grad.data
        grads, offset = [], 0
        for p in params:
            n = p.data.size
            seg = flat[offset : offset + n].reshape(p.data.shape)
            if p.data.base is not flat or not np.shares_memory(p.data, seg):
                seg[...] = p.data
                p.data = seg
            grads.append(grad[offset : offset + n].reshape(p.data.shape))
            offset += n
        return grads

    def _set_lr(self, lr: float) -> None:
        """Change SGD's learning rate as scikit-learn does: its velocity already holds lr * gradient,
        chainrule's (PyTorch's) momentum buffer holds gradients, so the buffers are rescaled."""
        opt = self._optimizer
        old = opt.param_groups[0]["lr"]
        if old and lr != old:
            for group in opt.param_groups:
                for p in group["params"]:
                    buf = opt.state.get(p, {}).get("momentum_buffer")
                    if buf is not None:
                        buf *= old / lr
        for group in opt.param_groups:
            group["lr"] = lr

    def _split(self, X, y, sample_weight):
        if self.early_stopping and self._incremental:
            raise ArgumentError(f"{type(self).__name__}.partial_fit does not support early_stopping=True")
        if not self.early_stopping:
            return X, y, sample_weight, None, None, None
        stratify = y if (self._is_classifier() and self.n_outputs_ == 1) else None
        arrays = (X, y) if sample_weight is None else (X, y, sample_weight)
        parts = train_test_split(
            *arrays, random_state=self._random_state, test_size=self.validation_fraction, stratify=stratify
        )
        X_train, X_val, y_train, y_val = parts[:4]
        sw_train, sw_val = (parts[4], parts[5]) if sample_weight is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ArgumentError(
                f"{type(self).__name__}.fit: the validation set is too small ({X_val.shape[0]} sample). Increase "
                "validation_fraction or the size of your data set"
            )
        return X_train, y_train, sw_train, X_val, self._validation_targets(y_val), sw_val

    def _fit_stochastic(self, X, y, sample_weight, incremental):
        lins = self._linears()
        weights, biases = [lin.weight for lin in lins], [lin.bias for lin in lins]
        params = weights + biases
        if not incremental or self._optimizer is None:
            self._optimizer = self._make_optimizer(params)
            self._n_steps = 0
        opt = self._optimizer
        grads = self._bind_flat(params)
        n_w = sum(w.data.size for w in weights)  # the weights come first in the flat arrays, then the biases
        flat_w, flat_gw = self._flat.data[:n_w], self._flat.grad.data[:n_w]
        self._incremental = incremental
        X_train, y_train, sw_train, X_val, y_val, sw_val = self._split(X, y, sample_weight)
        if self.early_stopping and self._best_params is None:
            self._best_params = [p.data.copy() for p in weights + biases]
        n_samples = X_train.shape[0]
        sample_idx = np.arange(n_samples, dtype=int)
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn(
                    f"{type(self).__name__}: batch_size={self.batch_size} is larger than the number of samples "
                    f"({n_samples}); it is clipped to {n_samples}",
                    UserWarning,
                    stacklevel=4,
                )
            batch_size = int(np.clip(self.batch_size, 1, n_samples))
        adam = self.solver == "adam"
        sparse = sp.issparse(X_train)
        alpha = float(self.alpha)
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                if self.shuffle:  # the permutation sklearn.utils.shuffle draws, without its checks' overhead
                    order = np.arange(n_samples)
                    self._random_state.shuffle(order)
                    sample_idx = sample_idx[order]
                accumulated = 0.0
                for batch in _batches(n_samples, batch_size):
                    # (each batch gathered on its own: one gather of the whole epoch writes fresh memory the size
                    # of the data set, slower for large ones than many small gathers into cached memory)
                    idx = sample_idx[batch] if self.shuffle else batch
                    Xb = X_train[idx]
                    Xb = Xb.toarray() if sparse else np.ascontiguousarray(Xb)
                    yb = y_train[idx]
                    swb = None if sw_train is None else sw_train[idx]
                    wsum = (batch.stop - batch.start) if swb is None else float(swb.sum())
                    if not wsum:  # every weight of the batch is zero: nothing to learn from it
                        continue
                    if adam:  # scikit-learn's Adam adds epsilon to sqrt(v), not to sqrt(v / (1 - beta_2^t))
                        self._n_steps += 1
                        opt.param_groups[0]["eps"] = self.epsilon / math.sqrt(1.0 - self.beta_2**self._n_steps)
                    out = self._module(from_numpy(Xb))
                    _, reported, delta = output_loss(self.out_activation_, out.data, yb, swb, wsum)
                    # scikit-learn's L2 penalty, alpha / 2 * ||W||^2 / n, and its gradient alpha * W / n (weights only)
                    penalty = 0.5 * alpha * float(np.dot(flat_w, flat_w)) / wsum if alpha else 0.0
                    out.backward(from_numpy(delta))  # the loss's gradient with respect to the logits
                    if alpha:
                        np.multiply(flat_w, alpha / wsum, out=flat_gw)
                        for p, g in zip(weights, grads):
                            g += p.grad.data
                            p.grad = None
                    else:
                        for p, g in zip(weights, grads):
                            np.copyto(g, p.grad.data)
                            p.grad = None
                    for p, g in zip(biases, grads[len(weights) :]):
                        np.copyto(g, p.grad.data)
                        p.grad = None
                    opt.step()
                    accumulated += (reported + penalty) * (batch.stop - batch.start)
                self.n_iter_ += 1
                self.loss_ = accumulated / n_samples
                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
                self._update_no_improvement_count(X_val, y_val, sw_val, weights, biases)
                if not adam and self.learning_rate == "invscaling":
                    self._set_lr(float(self.learning_rate_init) / (self.t_ + 1) ** self.power_t)
                if self._no_improvement_count > self.n_iter_no_change:
                    what = "Validation score" if self.early_stopping else "Training loss"
                    msg = (
                        f"{what} did not improve more than tol={self.tol:f} for {self.n_iter_no_change} "
                        "consecutive epochs."
                    )
                    if self._trigger_stopping(msg):
                        break
                    self._no_improvement_count = 0
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the optimization "
                        "hasn't converged yet.",
                        ConvergenceWarning,
                        stacklevel=4,
                    )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=4)
        if self.early_stopping:  # the best weights seen on the validation set
            for p, best in zip(weights + biases, self._best_params):
                p.data[...] = best

    def _trigger_stopping(self, msg: str) -> bool:
        if self.solver == "adam" or self.learning_rate != "adaptive":
            if self.verbose:
                print(msg + " Stopping.")
            return True
        lr = self._optimizer.param_groups[0]["lr"]
        if lr <= 1e-6:
            if self.verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self._set_lr(lr / 5.0)
        if self.verbose:
            print(msg + f" Setting learning rate to {lr / 5.0:f}")
        return False

    def _update_no_improvement_count(self, X_val, y_val, sw_val, weights, biases):
        if self.early_stopping:
            coefs = [w.data.T for w in weights]
            intercepts = [b.data for b in biases]
            score = self._score_arrays(X_val, y_val, sw_val, coefs, intercepts)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = [p.data.copy() for p in weights + biases]
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _fit_lbfgs(self, X, y, sample_weight):
        lins = self._linears()
        weights = [lin.weight for lin in lins]
        params = weights + [lin.bias for lin in lins]
        Xt = from_numpy(np.ascontiguousarray(X.toarray() if sp.issparse(X) else X))
        wsum = X.shape[0] if sample_weight is None else float(sample_weight.sum())
        alpha = float(self.alpha)
        opt = LBFGS(
            params,
            lr=1,
            max_iter=self.max_iter,
            max_eval=self.max_fun,
            tolerance_grad=self.tol,
            tolerance_change=float(np.finfo(np.float64).eps * 1e7),  # SciPy's default ftol (factr 1e7)
            history_size=10,
            line_search_fn="strong_wolfe",
        )

        def closure():
            opt.zero_grad()
            node = OutputLoss(self.out_activation_, y, sample_weight, wsum)
            loss = node(self._module(Xt))
            if alpha:
                loss = loss + sum((w * w).sum() for w in weights) * (0.5 * alpha / wsum)
            loss.backward()
            return loss

        opt.step(closure)
        state = opt.state[params[0]]
        self.n_iter_ = int(state["n_iter"])
        with no_grad():
            closure_value = OutputLoss(self.out_activation_, y, sample_weight, wsum)
            closure_value(self._module(Xt))
        penalty = 0.5 * alpha / wsum * sum(float(np.dot(w.data.ravel(), w.data.ravel())) for w in weights)
        self.loss_ = closure_value.reported + penalty
        if self.n_iter_ >= self.max_iter or state["func_evals"] >= self.max_fun:
            limit = f"max_iter={self.max_iter}" if self.n_iter_ >= self.max_iter else f"max_fun={self.max_fun}"
            warnings.warn(
                f"lbfgs failed to converge after {self.n_iter_} iteration(s): the limit {limit} was reached. "
                "Increase max_iter (or max_fun), or scale the data (e.g. StandardScaler).",
                ConvergenceWarning,
                stacklevel=4,
            )
        if self.verbose:
            print(f"L-BFGS: {self.n_iter_} iterations, {state['func_evals']} evaluations, loss = {self.loss_:.8f}")

    # ------------------------------------------------------------------ the public methods
    def fit(self, X, y, sample_weight=None):
        """Fit the model to the data matrix X and the targets y.

        ``sample_weight`` (one weight per sample) weighs each sample's loss, as in scikit-learn.
        Returns the fitted estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _stochastic(self):
        if self.solver not in _STOCHASTIC:
            raise AttributeError(
                f"partial_fit is only available for stochastic optimizers; {self.solver!r} is not stochastic"
            )
        return True

    def _forward(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False, dtype=(np.float64, np.float32))
        return _forward_pass(X, self.coefs_, self.intercepts_, self.activation, self.out_activation_)

    def _score_arrays(self, X, y, sample_weight, coefs, intercepts):
        y_pred = self._decode(_forward_pass(X, coefs, intercepts, self.activation, self.out_activation_))
        if np.issubdtype(np.asarray(y_pred).dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return self._metric(y, y_pred, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _module_dtype(module) -> np.dtype:
    """The dtype of a module's first parameter."""
    return next(iter(module.parameters())).data.dtype


# ---------------------------------------------------------------------- the classifier
class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier, as :class:`sklearn.neural_network.MLPClassifier`, trained by chainrule.

    The parameters are scikit-learn's, with its defaults (see its documentation), plus
    ``dtype`` ('float32', the default, or 'float64'): the dtype the network is trained in.
    Binary targets get one logistic output unit, several classes a softmax, a label indicator
    matrix (multilabel) one logistic unit per label, as in scikit-learn. ``partial_fit`` needs
    ``classes`` on its first call.
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dtype="float32",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype

    def _is_classifier(self):
        return True

    def _out_activation(self):
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax"
        return "logistic"  # binary (one unit) and multilabel (one unit per label)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True, dtype=(np.float64, np.float32), reset=reset
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ArgumentError(
                        "warm_start can only be used where `y` has the same classes as in the previous call to fit. "
                        f"Previously got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ArgumentError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        y = self._label_binarizer.transform(y).astype(bool)
        return X, y

    def _validation_targets(self, y_val):
        return self._label_binarizer.inverse_transform(y_val)

    def _decode(self, y_pred):
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def _metric(self, y, y_pred, sample_weight=None):
        return accuracy_score(y, y_pred, sample_weight=sample_weight)

    def predict(self, X):
        """The predicted classes of the samples in X (a label indicator matrix for multilabel targets)."""
        return self._decode(self._forward(X))

    @available_if(lambda est: est._stochastic())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y), continuing from the current weights and optimizer state.

        ``classes`` (every class that can appear) is needed on the first call, as in scikit-learn.
        """
        if self._first_partial_fit_call(classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _first_partial_fit_call(self, classes) -> bool:
        known = getattr(self, "classes_", None)
        if known is None and classes is None:
            raise ArgumentError(
                f"{type(self).__name__}.partial_fit: classes must be passed on the first call to partial_fit "
                "(every class that can appear, e.g. classes=np.unique(y_all))"
            )
        if classes is None:
            return False
        if known is not None:
            if not np.array_equal(known, unique_labels(classes)):
                raise ArgumentError(
                    f"`classes={classes!r}` is not the same as on last call to partial_fit, was: {known!r}"
                )
            return False
        self.classes_ = unique_labels(classes)
        return True

    def predict_proba(self, X):
        """Probability estimates, one column per class in ``classes_`` order."""
        y_pred = self._forward(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def predict_log_proba(self, X):
        """The logarithm of ``predict_proba``."""
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multilabel": True}


# ---------------------------------------------------------------------- the regressor
class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor, as :class:`sklearn.neural_network.MLPRegressor`, trained by chainrule.

    The parameters are scikit-learn's, with its defaults (``loss`` 'squared_error' or 'poisson'),
    plus ``dtype`` ('float32', the default, or 'float64'): the dtype the network is trained in.
    """

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dtype="float32",
    ):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype

    def _is_classifier(self):
        return False

    def _out_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _validate_input(self, X, y, incremental, reset):
        _choice(type(self).__name__, "loss", self.loss, ("squared_error", "poisson"))
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ArgumentError(f"{type(self).__name__}: loss='poisson' needs targets y >= 0; got min(y) = {y.min()}")
        return X, y

    def _validation_targets(self, y_val):
        return y_val

    def _decode(self, y_pred):
        return y_pred.ravel() if y_pred.shape[1] == 1 else y_pred

    def _metric(self, y, y_pred, sample_weight=None):
        return r2_score(y, y_pred, sample_weight=sample_weight)

    def predict(self, X):
        """The predicted targets of the samples in X."""
        return self._decode(self._forward(X))

    @available_if(lambda est: est._stochastic())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights and optimizer state."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)
