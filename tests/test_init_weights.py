"""Sample weights in the initialisation: a row of integer weight w against w copies of it.

Every weighted draw of the initialisation inverts the running sum of the
weights, so w adjacent copies of a row and the row with weight w are drawn
alike, and a seed carries one unit of weight as a copy does (see
``fastgmm.families._gaussian_init``). Here, for every ``init_params`` and every estimator that
has it, the initial parameters (a ``max_iter=0`` fit) of the weighted data
are those of the repeated data:

- "kmeans" and "k-means++": against the repeated rows without weights;
- "random_from_data": for the Gaussian families against the repeated rows
  with weight 1 (without weights it is scikit-learn's permutation draw,
  which no weighted draw reproduces); the discrete families draw by weight
  1 without weights, so there against the repeated rows without weights;
- "random": only a row of weight 0 is exactly a removed row (w independent
  random responsibilities of w copies are not one vector of the row).

The default init also does not depend on the order of the rows when the data
set is its k-means seeding sample, which is what scikit-learn's
``check_sample_weight_equivalence_on_dense_data`` needs (it shuffles the
weighted rows); that check runs in tests/test_sklearn_compat.py.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastgmm
from fastgmm.kernels import _kmeans_driver as kd
from fastgmm.kernels._kmeans_driver import draw_units

from conftest import COV_TYPES, mixture_data

GAUSSIAN_PARAMS = ("weights_", "means_", "covariances_")
STUDENT_T_COV_TYPES = ("full", "diag", "spherical")


def _quiet_fit(model, X, sample_weight=None):
    with warnings.catch_warnings():
        # max_iter=0 fits do not converge; tiny clusters may warn
        warnings.simplefilter("ignore")
        return model.fit(X, sample_weight=sample_weight)


def _counts(n, seed, low=0, high=4):
    """Integer weights 0..3 (rows of weight 0 included), as float64."""
    return np.random.default_rng(seed).integers(low, high, n).astype(np.float64)


def _assert_same_start(a, b, names, rtol=1e-10, atol=1e-12):
    for name in names:
        assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol, atol=atol, err_msg=name)


def _gaussian_estimators():
    out = [(fastgmm.GaussianMixture, ct) for ct in COV_TYPES]
    out += [(fastgmm.BayesianGaussianMixture, ct) for ct in COV_TYPES]
    out += [(fastgmm.StudentTMixture, ct) for ct in STUDENT_T_COV_TYPES]
    return out


GAUSSIAN = pytest.mark.parametrize("estimator, cov_type", _gaussian_estimators(),
                                   ids=[f"{e.__name__}-{ct}" for e, ct in _gaussian_estimators()])


# ---------------------------------------------------------------------------
# Gaussian families: initial parameters
# ---------------------------------------------------------------------------

@GAUSSIAN
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_weights_give_the_start_of_repeated_rows(estimator, cov_type, init_params):
    X, _ = mixture_data(300, 3, 3, 1)
    w = _counts(300, 2)
    kw = dict(n_components=3, covariance_type=cov_type, init_params=init_params, random_state=0, max_iter=0)
    weighted = _quiet_fit(estimator(**kw), X, w)
    repeated = _quiet_fit(estimator(**kw), np.repeat(X, w.astype(int), axis=0))
    _assert_same_start(weighted, repeated, GAUSSIAN_PARAMS)


@GAUSSIAN
def test_random_from_data_weights_give_the_start_of_rows_of_weight_one(estimator, cov_type):
    X, _ = mixture_data(300, 3, 3, 3)
    w = _counts(300, 4)
    Xr = np.repeat(X, w.astype(int), axis=0)
    kw = dict(n_components=3, covariance_type=cov_type, init_params="random_from_data", random_state=0,
              max_iter=0)
    weighted = _quiet_fit(estimator(**kw), X, w)
    repeated = _quiet_fit(estimator(**kw), Xr, np.ones(len(Xr)))
    _assert_same_start(weighted, repeated, GAUSSIAN_PARAMS)


@GAUSSIAN
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_rows_of_weight_zero_are_removed_rows(estimator, cov_type, init_params):
    X, _ = mixture_data(300, 3, 3, 5)
    w = _counts(300, 6, low=1)
    w[::4] = 0.0
    kw = dict(n_components=3, covariance_type=cov_type, init_params=init_params, random_state=0, max_iter=0)
    with_zeros = _quiet_fit(estimator(**kw), X, w)
    removed = _quiet_fit(estimator(**kw), X[w > 0], w[w > 0])
    _assert_same_start(with_zeros, removed, GAUSSIAN_PARAMS)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_kmeans_start_on_a_subsampled_data_set(cov_type):
    """More rows than the k-means seeding sample (both weighted and repeated are subsampled):
    the same draws land on the same rows, merged into the same sample."""
    X, _ = mixture_data(6000, 2, 4, 7)
    w = _counts(6000, 8, low=1)
    assert len(X) > kd._n_seed_draws(len(X), 2, 4)
    kw = dict(n_components=4, covariance_type=cov_type, random_state=0, max_iter=0)
    weighted = _quiet_fit(fastgmm.GaussianMixture(**kw), X, w)
    repeated = _quiet_fit(fastgmm.GaussianMixture(**kw), np.repeat(X, w.astype(int), axis=0))
    _assert_same_start(weighted, repeated, GAUSSIAN_PARAMS)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_kmeans_start_does_not_depend_on_the_row_order(cov_type):
    X, _ = mixture_data(400, 3, 3, 9)
    w = _counts(400, 10)
    perm = np.random.default_rng(11).permutation(400)
    kw = dict(n_components=3, covariance_type=cov_type, random_state=0, max_iter=0)
    a = _quiet_fit(fastgmm.GaussianMixture(**kw), X, w)
    b = _quiet_fit(fastgmm.GaussianMixture(**kw), X[perm], w[perm])
    _assert_same_start(a, b, GAUSSIAN_PARAMS)


def test_seeds_carry_one_unit_of_weight():
    """A seed row of weight 5 starts its component with weight 1, as one of 5 copies does;
    a seed row of weight 0.25 (less than a unit) with its own weight."""
    X = np.array([[0.0], [10.0]])
    # k-means++ seeds both rows (the second draw has potential only at the other row)
    kw = dict(n_components=2, init_params="k-means++", random_state=0, max_iter=0)
    gm = _quiet_fit(fastgmm.GaussianMixture(**kw), X, np.array([5.0, 0.25]))
    eps = 10 * np.finfo(np.float64).eps
    order = np.argsort(gm.means_[:, 0])
    assert_allclose(gm.weights_[order], np.array([1.0 + eps, 0.25 + eps]) / 5.25, rtol=1e-12)


# ---------------------------------------------------------------------------
# Discrete families: initial parameters
# ---------------------------------------------------------------------------

def _discrete_data(family, n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    if family == "BernoulliMixture":
        p = rng.uniform(0.1, 0.9, (3, 5))
        return (rng.random((n, 5)) < p[y]).astype(np.float64)
    if family == "PoissonMixture":
        return rng.poisson(rng.uniform(0.5, 9.0, (3, 4))[y]).astype(np.float64)
    table = rng.dirichlet(np.full(4, 0.5), size=(3, 3))          # 3 columns of 4 categories
    return np.column_stack([[rng.choice(4, p=table[k, d]) for k in y] for d in range(3)]).astype(np.float64)


def _flat(means):
    """Means of any family as one vector (CategoricalMixture's are one table per column)."""
    return np.concatenate([np.ravel(m) for m in means]) if isinstance(means, list) else np.ravel(means)


DISCRETE = pytest.mark.parametrize("family", ["BernoulliMixture", "PoissonMixture", "CategoricalMixture"])


@DISCRETE
@pytest.mark.parametrize("init_params", ["kmeans", "random_from_data"])
def test_discrete_weights_give_the_start_of_repeated_rows(family, init_params):
    X = _discrete_data(family, 300, 12)
    w = _counts(300, 13)
    kw = dict(n_components=3, init_params=init_params, random_state=0, max_iter=0)
    weighted = _quiet_fit(getattr(fastgmm, family)(**kw), X, w)
    repeated = _quiet_fit(getattr(fastgmm, family)(**kw), np.repeat(X, w.astype(int), axis=0))
    assert_allclose(weighted.weights_, repeated.weights_, rtol=1e-10)
    assert_allclose(_flat(weighted.means_), _flat(repeated.means_), rtol=1e-10, atol=1e-12)


@DISCRETE
@pytest.mark.parametrize("init_params", ["kmeans", "random", "random_from_data"])
def test_discrete_rows_of_weight_zero_are_removed_rows(family, init_params):
    X = _discrete_data(family, 300, 14)
    w = _counts(300, 15, low=1)
    w[1::3] = 0.0
    kw = dict(n_components=3, init_params=init_params, random_state=0, max_iter=0)
    with_zeros = _quiet_fit(getattr(fastgmm, family)(**kw), X, w)
    removed = _quiet_fit(getattr(fastgmm, family)(**kw), X[w > 0], w[w > 0])
    assert_allclose(with_zeros.weights_, removed.weights_, rtol=1e-10)
    assert_allclose(_flat(with_zeros.means_), _flat(removed.means_), rtol=1e-10, atol=1e-12)


def test_poisson_follows_the_sklearn_check_procedure_on_counts():
    """scikit-learn's weight-equivalence check feeds PoissonMixture floats, which are not counts;
    its procedure on counts: weighted rows shuffled against the repeated rows in order."""
    rng = np.random.default_rng(16)
    X = rng.poisson(3.0, (15, 30)).astype(np.float64)
    w = rng.integers(0, 5, 15)
    perm = rng.permutation(15)
    kw = dict(n_components=2, random_state=0)
    repeated = _quiet_fit(fastgmm.PoissonMixture(**kw), np.repeat(X, w, axis=0))
    weighted = _quiet_fit(fastgmm.PoissonMixture(**kw), X[perm], w[perm].astype(np.float64))
    assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-7)


# ---------------------------------------------------------------------------
# The draws
# ---------------------------------------------------------------------------

def test_draw_units_of_integer_weights_are_draws_of_repeated_rows():
    w = np.array([0.0, 3.0, 1.0, 0.0, 2.0, 4.0])
    copy_of = np.repeat(np.arange(6), w.astype(int))     # row of each copy
    for seed in range(20):
        rows, mass = draw_units(6, 7, np.random.RandomState(seed), w)
        copies, _ = draw_units(len(copy_of), 7, np.random.RandomState(seed), np.ones(len(copy_of)))
        assert_array_equal(rows, copy_of[copies])
        assert_array_equal(mass, np.ones(7))


def test_draw_units_without_weights_are_those_of_weight_one():
    for seed in range(20):
        rows, mass = draw_units(50, 10, np.random.RandomState(seed))
        ones, _ = draw_units(50, 10, np.random.RandomState(seed), np.ones(50))
        assert_array_equal(rows, ones)
        assert len(set(rows.tolist())) == 10
        assert_array_equal(mass, np.ones(10))


def test_draw_units_take_one_unit_at_most_and_never_a_used_up_row():
    w = np.array([0.3, 0.0, 2.5, 0.2])
    rows, mass = draw_units(4, 5, np.random.RandomState(0), w)
    taken = np.bincount(rows, weights=mass, minlength=4)
    assert_allclose(taken, w)            # 5 draws use up every unit: 0.3, 1 + 1 + 0.5, 0.2
    assert 1 not in rows
    with pytest.raises(ValueError, match="at least n_components rows a positive sample_weight"):
        draw_units(4, 6, np.random.RandomState(0), w)


def test_draw_units_follow_the_weights():
    w = np.array([0.0, 1.0, 0.0, 3.0, 2.0, 4.0])
    first = [draw_units(6, 1, np.random.RandomState(s), w)[0][0] for s in range(4000)]
    freq = np.bincount(first, minlength=6) / 4000
    assert np.all(freq[w == 0] == 0)
    assert_allclose(freq, w / w.sum(), atol=0.03)


def test_unit_draws_are_weighted_draws_of_weight_one():
    for seed in range(10):
        u = np.sort(np.random.RandomState(seed).uniform(size=500))
        assert_array_equal(kd._unit_draws(70000, u), kd._weighted_draws(np.ones(70000), 500,
                                                                        np.random.RandomState(seed)))
