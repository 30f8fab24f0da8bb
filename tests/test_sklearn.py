"""chainrule.sklearn: scikit-learn's estimator checks, and scikit-learn's own MLPs as the reference.

With ``dtype="float64"`` our estimators run scikit-learn's algorithm (same initial weights, shuffles,
early-stopping split, loss, penalty, optimizer rules and stopping rule), so their loss curves,
weights and predictions are compared with scikit-learn's to rounding; the default float32 training
is compared within float32 tolerances and on accuracy.
"""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import neural_network as sknn
from sklearn.base import clone
from sklearn.datasets import load_digits, make_classification, make_multilabel_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import (
    check_sample_weight_equivalence_on_dense_data,
    check_sample_weight_equivalence_on_sparse_data,
    parametrize_with_checks,
)
from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

import chainrule as cr
from chainrule.errors import ArgumentError, ArgumentTypeError
from chainrule.sklearn import MLPClassifier, MLPRegressor


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # small matrix products: threads only add overhead (and contend on a busy machine)
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def _quiet_fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


# ---------------------------------------------------------------------- scikit-learn's estimator checks
# Trained in float32 (the default), a fit with a sample repeated and one with its weight doubled agree
# to float32 rounding (about 1e-7 relative), while these two checks ask for rtol=1e-7 on float64 output;
# in float64 both checks pass (test below).
_FLOAT32_ROUNDING = {
    "check_sample_weight_equivalence_on_dense_data": "float32 training: equivalent to float32 rounding only",
    "check_sample_weight_equivalence_on_sparse_data": "float32 training: equivalent to float32 rounding only",
}


@parametrize_with_checks([MLPClassifier(), MLPRegressor()], expected_failed_checks=lambda est: _FLOAT32_ROUNDING)
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.mark.parametrize("est", [MLPClassifier(dtype="float64"), MLPRegressor(dtype="float64")], ids=repr)
@pytest.mark.parametrize(
    "check", [check_sample_weight_equivalence_on_dense_data, check_sample_weight_equivalence_on_sparse_data]
)
def test_sample_weight_equivalence_in_float64(est, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(type(est).__name__, est)


# ---------------------------------------------------------------------- the same algorithm as scikit-learn's
def _data(kind):
    if kind == "digits":
        X, y = load_digits(return_X_y=True)
        return X[:600] / 16.0, y[:600]
    if kind == "binary":
        X, y = load_digits(return_X_y=True)
        return X[:600] / 16.0, (y[:600] >= 5).astype(int)
    if kind == "multilabel":
        return make_multilabel_classification(200, 10, n_classes=3, random_state=0)
    if kind == "regression":
        X, y = make_regression(300, 10, n_targets=2, noise=0.1, random_state=0)
        return X, y / 100
    if kind == "poisson":
        X, y = make_regression(300, 10, random_state=0)
        return X / 10, np.abs(y) / 100
    raise AssertionError(kind)


SAME_AS_SKLEARN = [
    ("clf", "digits", dict(max_iter=6)),
    ("clf", "digits", dict(max_iter=6, solver="sgd", learning_rate="invscaling", learning_rate_init=0.5)),
    (
        "clf",
        "digits",
        dict(max_iter=25, solver="sgd", learning_rate="adaptive", n_iter_no_change=2, tol=0.05, learning_rate_init=0.1),
    ),
    ("clf", "digits", dict(max_iter=6, solver="sgd", nesterovs_momentum=False, momentum=0.5)),
    ("clf", "digits", dict(max_iter=30, early_stopping=True, n_iter_no_change=3, tol=0.01)),
    ("clf", "digits", dict(max_iter=6, shuffle=False, batch_size=64, beta_1=0.8, beta_2=0.99, epsilon=1e-6)),
    ("clf", "binary", dict(max_iter=6, activation="tanh", hidden_layer_sizes=(20, 10), batch_size=64)),
    ("clf", "multilabel", dict(max_iter=6, activation="logistic", alpha=0.1)),
    ("clf", "digits", dict(max_iter=6, activation="identity", hidden_layer_sizes=())),
    ("reg", "regression", dict(max_iter=6)),
    ("reg", "regression", dict(max_iter=20, early_stopping=True, hidden_layer_sizes=(30,))),
    ("reg", "poisson", dict(max_iter=6, loss="poisson", activation="identity", hidden_layer_sizes=(5,))),
    ("reg", "regression", dict(max_iter=40, tol=1e-2, learning_rate_init=0.01)),  # stops on the training loss
]


@pytest.mark.parametrize("kind,data,params", SAME_AS_SKLEARN, ids=lambda v: str(v) if isinstance(v, dict) else v)
@pytest.mark.parametrize("weighted", [False, True], ids=["", "sample_weight"])
def test_float64_fit_follows_scikit_learn(kind, data, params, weighted):
    X, y = _data(data)
    sw = np.random.default_rng(1).uniform(0.5, 2.0, len(X)) if weighted else None
    ref_cls, cls = (sknn.MLPClassifier, MLPClassifier) if kind == "clf" else (sknn.MLPRegressor, MLPRegressor)
    ref = _quiet_fit(ref_cls(random_state=0, **params), X, y, sample_weight=sw)
    est = _quiet_fit(cls(random_state=0, dtype="float64", **params), X, y, sample_weight=sw)
    assert est.n_iter_ == ref.n_iter_
    assert est.t_ == ref.t_
    assert est.out_activation_ == ref.out_activation_
    assert est.n_layers_ == ref.n_layers_ and est.n_outputs_ == ref.n_outputs_
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-10)
    assert len(est.coefs_) == len(ref.coefs_)
    for a, b in zip(est.coefs_ + est.intercepts_, ref.coefs_ + ref.intercepts_):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)
    if ref.validation_scores_ is None:
        assert est.validation_scores_ is None and est.best_validation_score_ is None
        np.testing.assert_allclose(est.best_loss_, ref.best_loss_, rtol=1e-10)
    else:
        assert est.best_loss_ is None
        np.testing.assert_allclose(est.validation_scores_, ref.validation_scores_, rtol=1e-10)
        np.testing.assert_allclose(est.best_validation_score_, ref.best_validation_score_, rtol=1e-10)
    if kind == "clf":
        np.testing.assert_array_equal(est.classes_, ref.classes_)
        np.testing.assert_array_equal(est.predict(X), ref.predict(X))
        np.testing.assert_allclose(est.predict_proba(X), ref.predict_proba(X), rtol=1e-7, atol=1e-10)
    else:
        np.testing.assert_allclose(est.predict(X), ref.predict(X), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(est.score(X, y), ref.score(X, y), rtol=1e-8)


def test_partial_fit_and_warm_start_follow_scikit_learn():
    X, y = _data("digits")
    classes = np.arange(10)
    ref, est = sknn.MLPClassifier(random_state=0), MLPClassifier(random_state=0, dtype="float64")
    for start in range(0, 600, 150):
        ref.partial_fit(X[start : start + 150], y[start : start + 150], classes=classes)
        est.partial_fit(X[start : start + 150], y[start : start + 150], classes=classes)
        assert est.n_iter_ == ref.n_iter_ == 1 and est.t_ == ref.t_
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(est.predict_proba(X), ref.predict_proba(X), rtol=1e-7, atol=1e-10)

    ref = _quiet_fit(sknn.MLPClassifier(random_state=0, max_iter=3, warm_start=True), X, y)
    est = _quiet_fit(MLPClassifier(random_state=0, max_iter=3, warm_start=True, dtype="float64"), X, y)
    _quiet_fit(ref, X, y)
    _quiet_fit(est, X, y)
    assert len(est.loss_curve_) == len(ref.loss_curve_) == 6
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-10)
    for a, b in zip(est.coefs_, ref.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


def test_regressor_partial_fit_follows_scikit_learn():
    X, y = _data("regression")
    ref, est = sknn.MLPRegressor(random_state=0), MLPRegressor(random_state=0, dtype="float64")
    for _ in range(3):
        ref.partial_fit(X, y)
        est.partial_fit(X, y)
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(est.predict(X), ref.predict(X), rtol=1e-7, atol=1e-10)


def test_sparse_input_gives_the_dense_fit():
    X, y = _data("digits")
    dense = _quiet_fit(MLPClassifier(random_state=0, max_iter=3, dtype="float64"), X, y)
    for fmt in (sp.csr_matrix, sp.csc_matrix):
        est = _quiet_fit(MLPClassifier(random_state=0, max_iter=3, dtype="float64"), fmt(X), y)
        np.testing.assert_allclose(est.loss_curve_, dense.loss_curve_, rtol=1e-12)
        np.testing.assert_allclose(est.predict_proba(fmt(X)), dense.predict_proba(X), rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------------- float32, the default
def test_float32_training_follows_scikit_learn_to_float32_rounding(digits):
    X, y = digits
    ref = _quiet_fit(sknn.MLPClassifier(random_state=0, max_iter=5), X, y)
    est = _quiet_fit(MLPClassifier(random_state=0, max_iter=5), X, y)
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-5)
    for a, b in zip(est.coefs_, ref.coefs_):
        assert a.dtype == np.float64  # returned in the data's dtype, as scikit-learn does
        np.testing.assert_allclose(a, b, atol=1e-5)
    # float32 data: float32 weights and outputs, as in scikit-learn
    est32 = _quiet_fit(MLPClassifier(random_state=0, max_iter=2), X.astype(np.float32), y)
    assert all(c.dtype == np.float32 for c in est32.coefs_ + est32.intercepts_)
    assert est32.predict_proba(X.astype(np.float32)).dtype == np.float32


def test_digits_accuracy_matches_scikit_learn(digits):
    X, y = digits
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    accs = {"sklearn": [], "chainrule": []}
    for seed in range(2):
        ref = _quiet_fit(sknn.MLPClassifier(random_state=seed, max_iter=60), X_train, y_train)
        est = _quiet_fit(MLPClassifier(random_state=seed, max_iter=60), X_train, y_train)
        accs["sklearn"].append(ref.score(X_test, y_test))
        accs["chainrule"].append(est.score(X_test, y_test))
    assert min(accs["chainrule"]) > 0.95
    assert np.mean(accs["chainrule"]) >= np.mean(accs["sklearn"]) - 0.01, accs


def test_lbfgs_solver(digits):
    X, y = digits
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    est = MLPClassifier(solver="lbfgs", hidden_layer_sizes=(30,), max_iter=150, random_state=0, dtype="float64")
    ref = sknn.MLPClassifier(solver="lbfgs", hidden_layer_sizes=(30,), max_iter=150, random_state=0)
    _quiet_fit(est, X_train, y_train)
    _quiet_fit(ref, X_train, y_train)
    assert not hasattr(est, "partial_fit") and not hasattr(est, "loss_curve_")
    assert 1 <= est.n_iter_ <= 150
    assert est.score(X_test, y_test) >= ref.score(X_test, y_test) - 0.03
    # the loss_ it reports is the loss of its final weights, by scikit-learn's definition
    assert est.loss_ < 0.05 and ref.loss_ < 0.05
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        MLPClassifier(solver="lbfgs", max_iter=3, random_state=0).fit(X_train, y_train)
    reg = MLPRegressor(solver="lbfgs", max_iter=200, random_state=0, dtype="float64")
    Xr, yr = _data("regression")
    assert _quiet_fit(reg, Xr, yr).score(Xr, yr) > 0.99


# ---------------------------------------------------------------------- behaviour and attributes
def test_attributes_and_layouts(digits):
    X, y = digits
    est = _quiet_fit(MLPClassifier(hidden_layer_sizes=(20, 7), max_iter=3, random_state=0), X, y)
    assert [c.shape for c in est.coefs_] == [(64, 20), (20, 7), (7, 10)]
    assert [b.shape for b in est.intercepts_] == [(20,), (7,), (10,)]
    assert est.n_features_in_ == 64 and est.n_layers_ == 4 and est.n_outputs_ == 10
    assert est.out_activation_ == "softmax" and len(est.loss_curve_) == est.n_iter_ == 3
    assert est.t_ == 3 * len(X)
    np.testing.assert_array_equal(est.classes_, np.arange(10))
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(est.classes_[proba.argmax(axis=1)], est.predict(X))
    np.testing.assert_allclose(est.predict_log_proba(X), np.log(proba))

    binary = _quiet_fit(MLPClassifier(max_iter=3, random_state=0), X, np.where(y >= 5, "big", "small"))
    assert binary.out_activation_ == "logistic" and binary.coefs_[-1].shape == (100, 1)
    assert binary.predict_proba(X).shape == (len(X), 2)
    assert set(binary.predict(X)) <= {"big", "small"}

    Xm, ym = _data("multilabel")
    multi = _quiet_fit(MLPClassifier(max_iter=50, random_state=0), Xm, ym)
    assert multi.out_activation_ == "logistic" and multi.predict(Xm).shape == ym.shape
    assert multi.predict_proba(Xm).shape == ym.shape

    Xr, yr = _data("regression")
    reg = _quiet_fit(MLPRegressor(max_iter=3, random_state=0), Xr, yr[:, 0])
    assert reg.out_activation_ == "identity" and reg.predict(Xr).shape == (len(Xr),)


def test_to_module_computes_the_same_network(digits):
    X, y = digits
    est = _quiet_fit(MLPClassifier(hidden_layer_sizes=(16, 8), activation="tanh", max_iter=3, random_state=0), X, y)
    module = est.to_module()
    assert isinstance(module, cr.nn.Sequential)
    with cr.no_grad():
        logits = module(cr.tensor(X.astype(np.float32))).numpy()
    np.testing.assert_allclose(cr.softmax(cr.tensor(logits), dim=1).numpy(), est.predict_proba(X), atol=1e-5)


def test_convergence_warning_only_when_max_iter_is_reached(digits):
    X, y = digits
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(2\) reached"):
        MLPClassifier(max_iter=2, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = MLPClassifier(max_iter=200, tol=0.5, n_iter_no_change=2, random_state=0).fit(X, y)
    assert est.n_iter_ < 200  # stopped: the training loss stopped improving by tol


def test_partial_fit_rules(digits):
    X, y = digits
    with pytest.raises(ArgumentError, match="classes must be passed on the first call"):
        MLPClassifier().partial_fit(X, y)
    est = MLPClassifier(random_state=0).partial_fit(X[:100], y[:100], classes=np.arange(10))
    with pytest.raises(ArgumentError, match="is not the same as on last call"):
        est.partial_fit(X, y, classes=np.arange(5))
    with pytest.raises(ArgumentError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=np.arange(10))
    assert not hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")


def test_parameter_errors_name_the_parameter():
    X, y = make_classification(50, 4, random_state=0)
    bad = [
        (dict(alpha=-1.0), ArgumentError, "alpha"),
        (dict(solver="newton"), ArgumentError, "solver"),
        (dict(activation="gelu"), ArgumentError, "activation"),
        (dict(hidden_layer_sizes=(10, 0)), ArgumentError, r"hidden_layer_sizes\[1\]"),
        (dict(batch_size="big"), ArgumentTypeError, "batch_size"),
        (dict(max_iter=0), ArgumentError, "max_iter"),
        (dict(learning_rate_init=0.0), ArgumentError, "learning_rate_init"),
        (dict(validation_fraction=1.0), ArgumentError, "validation_fraction"),
        (dict(momentum=1.5), ArgumentError, "momentum"),
        (dict(dtype="float16"), ArgumentError, "dtype"),
        (dict(n_iter_no_change=0), ArgumentError, "n_iter_no_change"),
    ]
    for params, error, name in bad:
        with pytest.raises(error, match=f"MLPClassifier: {name}"):
            MLPClassifier(**params).fit(X, y)
    with pytest.raises(ArgumentError, match="loss"):
        MLPRegressor(loss="huber").fit(X, y)
    with pytest.raises(ArgumentError, match="y >= 0"):
        MLPRegressor(loss="poisson").fit(X, y - 1.0)
    _quiet_fit(MLPClassifier(n_iter_no_change=np.inf, max_iter=2), X, y)  # as scikit-learn, inf is allowed


def test_verbose_prints_scikit_learns_lines(digits):
    X, y = digits
    out = io.StringIO()
    with redirect_stdout(out):
        _quiet_fit(MLPClassifier(max_iter=2, verbose=True, random_state=0), X, y)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Iteration 1, loss = ") and lines[1].startswith("Iteration 2, loss = ")


# ---------------------------------------------------------------------- scikit-learn's tools
def test_pipeline_grid_search_with_two_jobs_and_cross_val_score(digits):
    X, y = digits
    X, y = X[:500], y[:500]
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=30, random_state=0))
    grid = {"mlpclassifier__hidden_layer_sizes": [(16,), (32,)], "mlpclassifier__alpha": [1e-4, 1e-1]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        parallel = GridSearchCV(pipe, grid, cv=3, n_jobs=2).fit(X, y)
        serial = GridSearchCV(pipe, grid, cv=3, n_jobs=1).fit(X, y)
        # every fit is deterministic: the worker processes give exactly the serial scores
        np.testing.assert_array_equal(parallel.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"])
        assert parallel.best_params_ == serial.best_params_ and parallel.best_score_ > 0.5
        scores = cross_val_score(pipe, X, y, cv=KFold(3))
        by_hand = [clone(pipe).fit(X[train], y[train]).score(X[test], y[test]) for train, test in KFold(3).split(X)]
    np.testing.assert_array_equal(scores, by_hand)


def test_pickle_round_trip_keeps_predictions_and_training_state(digits):
    X, y = digits
    est = MLPClassifier(random_state=0, max_iter=3)
    _quiet_fit(est, X, y)
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.predict_proba(X), est.predict_proba(X))
    # the optimizer state travels too: one more epoch gives the same weights on both
    est.partial_fit(X, y)
    copy.partial_fit(X, y)
    for a, b in zip(est.coefs_, copy.coefs_):
        np.testing.assert_array_equal(a, b)
    # edits to coefs_ are what a later partial_fit starts from, as in scikit-learn
    edited = pickle.loads(pickle.dumps(est))
    edited.coefs_[0][:] = 0.0
    edited.partial_fit(X, y)
    assert not np.allclose(edited.coefs_[1], copy.coefs_[1])


def test_importing_chainrule_does_not_import_scikit_learn_and_a_missing_one_names_the_extra():
    code = (
        "import sys\n"
        "import chainrule\n"
        "assert 'sklearn' not in sys.modules, 'import chainrule imported scikit-learn'\n"
        "sys.modules['sklearn'] = None\n"  # as if scikit-learn were not installed
        "try:\n"
        "    import chainrule.sklearn\n"
        "except chainrule.errors.MissingDependencyError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install 'chainrule[sklearn]'" in out and "scikit-learn" in out
