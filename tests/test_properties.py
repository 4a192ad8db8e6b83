"""Numerical properties of every mixture family, checked by hypothesis on small random problems.

Each family (Gaussian with its four covariance types, variational Gaussian,
Student-t, Bernoulli, Poisson, categorical) is fitted to data sets drawn by
hypothesis (real-valued clusters, 0/1 rows, counts, integer codes), and these
properties are checked:

- responsibilities are probabilities that sum to 1 in every row;
- the lower bound never decreases (beyond rounding; reg_covar=0);
- permuting the rows gives the same fit (to rounding);
- an invertible map of the data maps the fit: for the real-valued families
  ``x -> A x + b`` maps means by ``A m + b``, covariances by ``A S A^T`` and
  shifts ``score_samples`` by ``-log|det A|`` (A is any invertible matrix for
  full and tied covariances, a signed permutation times a diagonal for diag, a
  scaled rotation for spherical, so the covariance family is closed under the
  map); for Bernoulli, permuting columns and flipping bits; for Poisson,
  permuting columns; for categorical, permuting columns and relabelling each
  column's categories;
- float32 and float64 agree to float32 precision;
- 1 and 2 threads give bitwise identical fits (needs OpenMP);
- integer sample weights equal repeated rows;
- a fixed random_state reproduces the fit bitwise.

Fits that compare two runs start from the same initial parameters: a model
fitted for one iteration, warm-started (``warm_start=True``) by both runs,
or, where the start must be mapped, its parameters passed as ``*_init``.

The default profile keeps the module at about a minute on 2 cores (it runs
in CI). For a longer local run::

    FASTGMM_HYPOTHESIS_PROFILE=long python -m pytest tests/test_properties.py

(``long``: 1000 fresh examples per test, about 4 minutes; ``ci``, the
default: the same 50 on every run. The profiles are in conftest.py.)
"""

import copy
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from scipy.stats import ortho_group

from fastgmm import (BayesianGaussianMixture, BernoulliMixture, CategoricalMixture, GaussianMixture,
                     PoissonMixture, StudentTMixture)

from conftest import HYPOTHESIS_PROFILE, needs_openmp

# derandomize and the database come from the profile loaded in conftest.py
_COMMON = dict(deadline=None, print_blob=True,
               # every_thread monkeypatches a module attribute to the same value each example
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
EXAMPLES = {"ci": 50, "long": 1000}
PROPERTY = settings(max_examples=EXAMPLES[HYPOTHESIS_PROFILE], **_COMMON)


# ----------------------------------------------------------------------
# families: how to draw their data and build them
# ----------------------------------------------------------------------
class Family:
    """One mixture family: its estimator, its data, and the dtype-appropriate tolerances."""

    real = False
    cov_types = (None,)
    bound_ulps = 50      # rounding of the lower bound, in ulps of the dtype the fit ran in

    def __init__(self, name, cls):
        self.name, self.cls = name, cls

    def make(self, k, cov_type, **params):
        if cov_type is not None:
            params["covariance_type"] = cov_type
        return self.cls(n_components=k, **params)

    def __repr__(self):
        return self.name


class RealFamily(Family):
    real = True
    cov_types = ("full", "tied", "diag", "spherical")

    def data(self, rng, n, d, k):
        # Separated clusters of different spreads: with reg_covar=0 every
        # component keeps enough rows to have a non-singular covariance.
        centres = rng.normal(scale=6.0, size=(k, d))
        y = np.arange(n) % k
        spread = rng.uniform(0.5, 1.5, size=(k, 1))
        return centres[y] + spread[y] * rng.normal(size=(n, d))


class VariationalFamily(RealFamily):
    # The variational bound is a sum of terms larger than the bound itself
    # (the Wishart and Dirichlet normalisers, log-determinants, the entropy),
    # each rounded at its own size: in a small converged K=1 diag fit that
    # hypothesis found, the bound moved by 128 ulps of its own value.
    bound_ulps = 500


class StudentTFamily(RealFamily):
    cov_types = ("full", "diag", "spherical")


class BernoulliFamily(Family):
    def data(self, rng, n, d, k):
        p = rng.choice([0.15, 0.5, 0.85], size=(k, d))
        return (rng.random((n, d)) < p[np.arange(n) % k]).astype(np.float64)


class PoissonFamily(Family):
    def data(self, rng, n, d, k):
        return rng.poisson(rng.uniform(0.5, 8.0, size=(k, d))[np.arange(n) % k]).astype(np.float64)


class CategoricalFamily(Family):
    def data(self, rng, n, d, k):
        n_cats = rng.integers(2, 5, size=d)
        y = np.arange(n) % k
        cols = []
        for c in n_cats:
            tables = rng.dirichlet(np.full(c, 0.7), size=k)
            u = rng.random(n)[:, None]
            cols.append((u > np.cumsum(tables[y], axis=1)).sum(axis=1).clip(0, c - 1))
        return np.column_stack(cols).astype(np.float64)


GAUSSIAN = RealFamily("GaussianMixture", GaussianMixture)
BAYESIAN = VariationalFamily("BayesianGaussianMixture", BayesianGaussianMixture)
STUDENT_T = StudentTFamily("StudentTMixture", StudentTMixture)
BERNOULLI = BernoulliFamily("BernoulliMixture", BernoulliMixture)
POISSON = PoissonFamily("PoissonMixture", PoissonMixture)
CATEGORICAL = CategoricalFamily("CategoricalMixture", CategoricalMixture)
FAMILIES = [GAUSSIAN, BAYESIAN, STUDENT_T, BERNOULLI, POISSON, CATEGORICAL]
every_family = pytest.mark.parametrize("family", FAMILIES, ids=repr)


@st.composite
def problems(draw, family, min_rows=None, max_rows=None):
    """(X, n_components, covariance_type, seed): a small data set of ``family`` and how to fit it."""
    k = draw(st.integers(1, 3), label="n_components")
    d = draw(st.integers(1, 3), label="n_features")
    per_component = 12 * (d + 1)
    lo = max(per_component * k, min_rows or 0)
    n = draw(st.integers(lo, max(lo, max_rows or 3 * lo)), label="n_samples")
    cov_type = draw(st.sampled_from(family.cov_types), label="covariance_type")
    seed = draw(st.integers(0, 2**31 - 1), label="seed")
    X = family.data(np.random.default_rng(seed), n, d, k)
    return X, k, cov_type, seed


def quietly(fit, *args, **kwargs):
    """Run a fit that may stop before convergence on purpose (a fixed, small max_iter)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(*args, **kwargs)


def start_of(family, X, k, cov_type, seed, **params):
    """A model one EM iteration into a fit of X: the common start of two runs to compare."""
    est = family.make(k, cov_type, max_iter=1, random_state=seed, **params)
    return quietly(est.fit, X)


def fit_from(start, X, max_iter=8, sample_weight=None, **params):
    """Continue ``start`` (a copy of it) on X for exactly ``max_iter`` iterations."""
    est = copy.deepcopy(start).set_params(warm_start=True, max_iter=max_iter, tol=0.0, **params)
    return quietly(est.fit, X, sample_weight=sample_weight)


def fitted_state(est):
    """Every public fitted array (lists of per-column arrays flattened), by name."""
    state = {}
    for name, value in vars(est).items():
        if not name.endswith("_") or name.startswith("_"):
            continue
        if isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
            for i, v in enumerate(value):
                state[f"{name}[{i}]"] = v
        elif isinstance(value, (np.ndarray, np.floating)) or name == "lower_bounds_":
            state[name] = np.asarray(value)
    return state


def assert_states_close(a, b, rtol, atol):
    sa, sb = fitted_state(a), fitted_state(b)
    assert sorted(sa) == sorted(sb)
    for name in sa:
        np.testing.assert_allclose(sa[name], sb[name], rtol=rtol, atol=atol, err_msg=name)


def assert_states_identical(a, b):
    sa, sb = fitted_state(a), fitted_state(b)
    assert sorted(sa) == sorted(sb)
    for name in sa:
        np.testing.assert_array_equal(sa[name], sb[name], err_msg=name)


# ----------------------------------------------------------------------
# responsibilities, lower bound, reproducibility
# ----------------------------------------------------------------------
@every_family
@PROPERTY
@given(data=st.data(), dtype=st.sampled_from([np.float64, np.float32]))
def test_responsibilities_sum_to_one(family, data, dtype):
    X, k, cov_type, seed = data.draw(problems(family))
    est = quietly(family.make(k, cov_type, max_iter=10, random_state=seed).fit, X.astype(dtype))
    R = est.predict_proba(X.astype(dtype))
    np.testing.assert_allclose(R.sum(axis=1), 1.0, rtol=0, atol=10 * k * np.finfo(dtype).eps)


@every_family
@PROPERTY
@given(data=st.data())
def test_responsibilities_are_probabilities(family, data):
    X, k, cov_type, seed = data.draw(problems(family))
    est = quietly(family.make(k, cov_type, max_iter=10, random_state=seed).fit, X)
    R = est.predict_proba(X)
    assert np.all((R >= 0) & (R <= 1))


@every_family
@PROPERTY
@given(data=st.data(), dtype=st.sampled_from([np.float64, np.float32]))
def test_lower_bound_never_decreases(family, data, dtype):
    X, k, cov_type, seed = data.draw(problems(family))
    # The discrete families' EM maximises the log-likelihood plus alpha's
    # log-prior, so the log-likelihood alone may fall by O(alpha) per
    # iteration (1e-10 relative with alpha=1e-6): with the smallest alpha
    # that is below rounding, as reg_covar=0 is for the real families.
    params = dict(reg_covar=0.0) if family.real else dict(alpha=1e-13)
    est = quietly(family.make(k, cov_type, max_iter=25, tol=0.0, random_state=seed, **params).fit,
                  X.astype(dtype))
    lb = np.asarray(est.lower_bounds_, dtype=np.float64)
    # Rounding of the bound itself, in ulps of the dtype the fit ran in.
    slack = family.bound_ulps * np.finfo(dtype).eps * (1 + np.abs(lb[:-1]))
    assert np.all(np.diff(lb) >= -slack), np.diff(lb)


@every_family
@PROPERTY
@given(data=st.data())
def test_fixed_random_state_reproduces_the_fit(family, data):
    X, k, cov_type, seed = data.draw(problems(family))
    a = quietly(family.make(k, cov_type, n_init=2, max_iter=10, random_state=seed).fit, X)
    b = quietly(family.make(k, cov_type, n_init=2, max_iter=10, random_state=seed).fit, X)
    assert_states_identical(a, b)


# ----------------------------------------------------------------------
# invariances of the data set: row order, weights, dtype, threads
# ----------------------------------------------------------------------
@every_family
@PROPERTY
@given(data=st.data())
def test_permuting_rows_gives_the_same_fit(family, data):
    X, k, cov_type, seed = data.draw(problems(family))
    perm = np.random.default_rng(seed).permutation(len(X))
    start = start_of(family, X, k, cov_type, seed)
    assert_states_close(fit_from(start, X), fit_from(start, X[perm]), rtol=1e-8, atol=1e-10)


@every_family
@PROPERTY
@given(data=st.data())
def test_integer_weights_equal_repeated_rows(family, data):
    X, k, cov_type, seed = data.draw(problems(family))
    w = np.random.default_rng(seed).integers(0, 4, size=len(X))
    w[: 2 * k * X.shape[1] + 2] = 1        # keep every cluster's first rows (rows cycle through clusters)
    start = start_of(family, X, k, cov_type, seed)
    weighted = fit_from(start, X, sample_weight=w.astype(np.float64))
    repeated = fit_from(start, np.repeat(X, w, axis=0))
    assert_states_close(weighted, repeated, rtol=1e-8, atol=1e-10)


def fits_in_both_dtypes(family, data):
    """(X, float64 fit, float32 fit): a few iterations from the same start."""
    X, k, cov_type, seed = data.draw(problems(family))
    start = start_of(family, X, k, cov_type, seed)
    return X, fit_from(start, X, max_iter=4), fit_from(start, X.astype(np.float32), max_iter=4)


@every_family
@PROPERTY
@given(data=st.data())
def test_float32_responsibilities_agree_with_float64(family, data):
    X, f64, f32 = fits_in_both_dtypes(family, data)
    np.testing.assert_allclose(f32.predict_proba(X.astype(np.float32)), f64.predict_proba(X), rtol=0, atol=2e-3)


@every_family
@PROPERTY
@given(data=st.data())
def test_float32_means_agree_with_float64(family, data):
    X, f64, f32 = fits_in_both_dtypes(family, data)
    # An (almost) empty component's parameters are set by rows of weight
    # ~1e-16 in float64 and ~1e-8 in float32: they are not determined to any
    # precision, and predict nothing. Only the used components are compared.
    used = f64.weights_ > 1e-3
    m64, m32 = means_matrix(f64)[used], means_matrix(f32)[used]
    np.testing.assert_allclose(m32, m64, rtol=0, atol=1e-3 * (1 + np.abs(m64).max()))


def means_matrix(est):
    """means_ as one (K, P) array (the categorical family's per-column tables side by side)."""
    return np.hstack(est.means_) if isinstance(est.means_, list) else est.means_


@needs_openmp
@every_family
@PROPERTY
@given(data=st.data(), dtype=st.sampled_from([np.float64, np.float32]))
def test_one_and_two_threads_are_bitwise_identical(family, data, dtype, every_thread):
    # Rows beyond a chunk (<= 384 rows) so two threads really split the work.
    X, k, cov_type, seed = data.draw(problems(family, min_rows=800, max_rows=1200))
    X = X.astype(dtype)
    start = start_of(family, X, k, cov_type, seed, n_threads=1)
    assert_states_identical(fit_from(start, X, n_threads=1), fit_from(start, X, n_threads=2))


# ----------------------------------------------------------------------
# invertible maps of the data
# ----------------------------------------------------------------------
def draw_affine(rng, d, cov_type):
    """(A, b): an invertible, well-conditioned map the covariance type is closed under."""
    b = rng.normal(scale=3.0, size=d)
    if cov_type == "spherical":
        return rng.uniform(0.5, 2.0) * (ortho_group.rvs(d, random_state=rng) if d > 1 else np.eye(1)), b
    s = rng.uniform(0.5, 2.0, size=d) * rng.choice([-1.0, 1.0], size=d)
    if cov_type == "diag":
        return np.eye(d)[rng.permutation(d)] * s, b
    if d == 1:
        return np.diag(s), b
    return ortho_group.rvs(d, random_state=rng) @ np.diag(s) @ ortho_group.rvs(d, random_state=rng), b


def map_covariances(cov, A, cov_type):
    """Covariances of the mapped data: A S A^T in the shape of ``cov_type``."""
    if cov_type == "full":
        return np.einsum("ij,kjl,ml->kim", A, cov, A)
    if cov_type == "tied":
        return A @ cov @ A.T
    if cov_type == "diag":
        return cov @ (A**2).T          # A is a signed permutation times a diagonal
    return cov * abs(np.linalg.det(A)) ** (2 / A.shape[0])     # A = c Q: every variance times c^2


def map_precisions(prec, A, cov_type):
    """Precisions of the mapped data: A^-T P A^-1 in the shape of ``cov_type``."""
    if cov_type in ("diag", "spherical"):
        return 1 / map_covariances(1 / prec, A, cov_type)
    return map_covariances(prec, np.linalg.inv(A).T, cov_type)


def assert_fit_is_mapped(fx, fy, X, A, b, cov_type):
    """fy (fitted to A x + b) is fx (fitted to X) mapped: means, covariances, log-densities."""
    Y = X @ A.T + b
    scale = 1 + np.abs(Y).max()
    np.testing.assert_allclose(fy.means_, fx.means_ @ A.T + b, rtol=1e-8, atol=1e-8 * scale)
    np.testing.assert_allclose(fy.covariances_, map_covariances(fx.covariances_, A, cov_type),
                               rtol=1e-8, atol=1e-8 * scale**2)
    np.testing.assert_allclose(fy.score_samples(Y), fx.score_samples(X) - np.log(abs(np.linalg.det(A))),
                               rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("family", [GAUSSIAN, STUDENT_T], ids=repr)
@PROPERTY
@given(data=st.data())
def test_affine_map_maps_the_fit(family, data):
    X, k, cov_type, seed = data.draw(problems(family))
    A, b = draw_affine(np.random.default_rng(seed), X.shape[1], cov_type)
    Y = X @ A.T + b
    start = start_of(family, X, k, cov_type, seed, reg_covar=0.0)
    init = dict(weights_init=start.weights_, means_init=start.means_, precisions_init=start.precisions_)
    mapped = dict(weights_init=start.weights_, means_init=start.means_ @ A.T + b,
                  precisions_init=map_precisions(start.precisions_, A, cov_type))
    fx = quietly(family.make(k, cov_type, reg_covar=0.0, tol=0.0, max_iter=8, **init).fit, X)
    fy = quietly(family.make(k, cov_type, reg_covar=0.0, tol=0.0, max_iter=8, **mapped).fit, Y)
    assert_fit_is_mapped(fx, fy, X, A, b, cov_type)


@PROPERTY
@given(data=st.data())
def test_affine_map_maps_the_variational_fit(data):
    # Random initial responsibilities depend on random_state only, and the
    # default priors (mean and covariance of X) map with the data, so both
    # fits start from mapped parameters without *_init arrays.
    X, k, cov_type, seed = data.draw(problems(BAYESIAN))
    A, b = draw_affine(np.random.default_rng(seed), X.shape[1], cov_type)
    Y = X @ A.T + b
    fits = [quietly(BAYESIAN.make(k, cov_type, init_params="random", reg_covar=0.0, tol=0.0, max_iter=8,
                                  random_state=seed).fit, Z) for Z in (X, Y)]
    fx, fy = fits
    assert_fit_is_mapped(fx, fy, X, A, b, cov_type)


@pytest.mark.parametrize("family", [BERNOULLI, POISSON], ids=repr)
@PROPERTY
@given(data=st.data())
def test_permuting_columns_permutes_means(family, data):
    X, k, _, seed = data.draw(problems(family))
    rng = np.random.default_rng(seed)
    perm = rng.permutation(X.shape[1])
    start = start_of(family, X, k, None, seed)
    fx = quietly(family.make(k, None, tol=0.0, max_iter=8, weights_init=start.weights_,
                             means_init=start.means_).fit, X)
    fy = quietly(family.make(k, None, tol=0.0, max_iter=8, weights_init=start.weights_,
                             means_init=start.means_[:, perm]).fit, X[:, perm])
    np.testing.assert_allclose(fy.means_, fx.means_[:, perm], rtol=1e-10, atol=1e-12)


@PROPERTY
@given(data=st.data())
def test_flipping_bits_flips_bernoulli_means(data):
    X, k, _, seed = data.draw(problems(BERNOULLI))
    flip = np.random.default_rng(seed).integers(0, 2, size=X.shape[1]).astype(np.float64)
    start = start_of(BERNOULLI, X, k, None, seed)
    fx = quietly(BERNOULLI.make(k, None, tol=0.0, max_iter=8, weights_init=start.weights_,
                                means_init=start.means_).fit, X)
    fy = quietly(BERNOULLI.make(k, None, tol=0.0, max_iter=8, weights_init=start.weights_,
                                means_init=np.abs(start.means_ - flip)).fit, np.abs(X - flip))
    np.testing.assert_allclose(fy.means_, np.abs(fx.means_ - flip), rtol=1e-10, atol=1e-12)


def relabel_categories(X, categories, rng):
    """Permute X's columns and give each column's categories new, shuffled integer codes.

    Returns the new X and, for each new column, the index into the old
    column's categories of each of its (sorted) new categories.
    """
    perm = rng.permutation(X.shape[1])
    Y, index = np.empty_like(X), []
    for j, src in enumerate(perm):
        old = categories[src]
        new = rng.permutation(len(old)) * 3 - 5          # distinct, any sign, any order
        Y[:, j] = new[np.searchsorted(old, X[:, src])]
        index.append((src, np.argsort(new)))
    return Y, index


@PROPERTY
@given(data=st.data())
def test_relabelling_categories_permutes_the_tables(data):
    X, k, _, seed = data.draw(problems(CATEGORICAL))
    start = start_of(CATEGORICAL, X, k, None, seed)
    Y, index = relabel_categories(X, start.categories_, np.random.default_rng(seed))

    def tables(means):
        return [means[src][:, order] for src, order in index]

    fx = quietly(CATEGORICAL.make(k, None, tol=0.0, max_iter=8, weights_init=start.weights_,
                                  means_init=start.means_).fit, X)
    fy = quietly(CATEGORICAL.make(k, None, tol=0.0, max_iter=8, weights_init=start.weights_,
                                  means_init=tables(start.means_)).fit, Y)
    np.testing.assert_allclose(np.hstack(fy.means_), np.hstack(tables(fx.means_)), rtol=1e-10, atol=1e-12)
