"""BernoulliMixture, PoissonMixture and CategoricalMixture against the plain NumPy EM
(_reference_discrete), the kernels' discrete feature codes against dense
features, and the estimators' behaviour: weights, threads, monotone bound, hard
layouts, errors, reproducibility, real data."""

import warnings

import numpy as np
import pytest

from fastgmm import BernoulliMixture, CategoricalMixture, ConvergenceWarning, PoissonMixture
from fastgmm.kernels import _estep, _driver as _kernels
import _reference_discrete as ref
from fastgmm.utils._validation import InvalidParameterError

from conftest import needs_openmp

FAMILIES = ["bernoulli", "poisson", "categorical"]
CLASSES = {"bernoulli": BernoulliMixture, "poisson": PoissonMixture, "categorical": CategoricalMixture}


def make_data(family, N, D, K, seed):
    """Rows of a K-component mixture of the family, and their components."""
    rng = np.random.default_rng(seed)
    y = rng.integers(K, size=N)
    if family == "bernoulli":
        p = rng.uniform(0.05, 0.95, (K, D))
        X = (rng.random((N, D)) < p[y]).astype(np.float64)
    elif family == "poisson":
        lam = rng.uniform(0.5, 12.0, (K, D))
        X = rng.poisson(lam[y]).astype(np.float64)
    else:
        X = np.empty((N, D))
        for d in range(D):
            n_d = 2 + d % 3
            table = rng.dirichlet(np.full(n_d, 0.5), size=K)
            X[:, d] = [rng.choice(n_d, p=table[k]) for k in y]
        X = 10 * X - 3   # codes that are not 0..n_d-1
    return X, y


def random_start(family, X, K, seed):
    """(weights_init, means_init) drawn at random, valid for the family and X."""
    rng = np.random.default_rng(seed + 100)
    D = X.shape[1]
    weights = rng.dirichlet(np.full(K, 3.0))
    if family == "bernoulli":
        means = rng.uniform(0.1, 0.9, (K, D))
    elif family == "poisson":
        means = rng.uniform(0.5, 10.0, (K, D))
    else:
        means = [rng.dirichlet(np.ones(len(np.unique(X[:, d]))), size=K) for d in range(D)]
    return weights, means


def categories_of(X):
    return [np.unique(X[:, d]) for d in range(X.shape[1])]


def fit_from(family, X, K, seed, n_iter, dtype=np.float64, sample_weight=None, **kw):
    w0, m0 = random_start(family, X, K, seed)
    model = CLASSES[family](K, weights_init=w0, means_init=m0, max_iter=n_iter, tol=0.0, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X.astype(dtype), sample_weight=sample_weight)
    return model, (w0, m0)


def flat(means):
    return np.hstack(means) if isinstance(means, list) else np.asarray(means)


# ---------------------------------------------------------------------------
# against the NumPy reference
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("shape", [(600, 5, 3), (50, 1, 2), (40, 3, 1), (2000, 4, 4)],
                         ids=["N600", "D1", "K1", "N2000"])
def test_fit_matches_reference_float64(family, shape):
    N, D, K = shape
    X, _ = make_data(family, N, D, K, 0)
    model, (w0, m0) = fit_from(family, X, K, 0, 6)
    w, m, bounds = ref.fit_em(family, X, w0, m0, 6, model.alpha, categories=categories_of(X))
    np.testing.assert_allclose(flat(model.means_), flat(m), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(model.weights_, w, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(model.lower_bounds_, bounds, rtol=1e-10)


@pytest.mark.parametrize("family", FAMILIES)
def test_fit_matches_reference_float32(family):
    X, _ = make_data(family, 800, 4, 3, 1)
    model, (w0, m0) = fit_from(family, X, 3, 1, 4, dtype=np.float32)
    w, m, bounds = ref.fit_em(family, X, w0, m0, 4, model.alpha, dtype=np.float32, categories=categories_of(X))
    assert flat(model.means_).dtype == np.float32
    np.testing.assert_allclose(flat(model.means_), flat(m), rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(model.lower_bounds_, bounds, rtol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_predictions_match_reference(family):
    X, _ = make_data(family, 700, 4, 3, 2)
    model, _ = fit_from(family, X, 3, 2, 3)
    row_ll, resp = ref.e_step(family, X, model.weights_, model.means_, categories_of(X))
    np.testing.assert_allclose(model.score_samples(X), row_ll, rtol=1e-10)
    np.testing.assert_allclose(model.predict_proba(X), resp, atol=1e-10)
    np.testing.assert_array_equal(model.predict(X), np.argmax(resp, axis=1))
    assert model.score(X) == pytest.approx(row_ll.mean(), rel=1e-10)


@pytest.mark.parametrize("family", FAMILIES)
def test_sample_weight_matches_reference(family):
    X, _ = make_data(family, 500, 3, 2, 3)
    sw = np.random.default_rng(3).uniform(0, 3, len(X))
    model, (w0, m0) = fit_from(family, X, 2, 3, 5, sample_weight=sw)
    w, m, bounds = ref.fit_em(family, X, w0, m0, 5, model.alpha, sample_weight=sw, categories=categories_of(X))
    np.testing.assert_allclose(flat(model.means_), flat(m), rtol=1e-8, atol=1e-12)


# ---------------------------------------------------------------------------
# estimator behaviour
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_integer_weights_are_repeated_rows(family):
    X, _ = make_data(family, 300, 3, 2, 4)
    counts = np.random.default_rng(4).integers(0, 4, len(X))
    weighted, _ = fit_from(family, X, 2, 4, 5, sample_weight=counts.astype(float))
    repeated, _ = fit_from(family, np.repeat(X, counts, axis=0), 2, 4, 5)
    np.testing.assert_allclose(flat(weighted.means_), flat(repeated.means_), rtol=1e-10, atol=1e-14)


@needs_openmp
@pytest.mark.parametrize("family", FAMILIES)
def test_thread_count_does_not_change_the_fit(family, every_thread):
    X, _ = make_data(family, 6000, 5, 3, 5)
    one = CLASSES[family](3, random_state=0, n_threads=1, max_iter=5).fit(X)
    two = CLASSES[family](3, random_state=0, n_threads=2, max_iter=5).fit(X)
    np.testing.assert_array_equal(flat(one.means_), flat(two.means_))
    np.testing.assert_array_equal(one.lower_bounds_, two.lower_bounds_)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("init", ["kmeans", "random", "random_from_data"])
def test_lower_bound_never_decreases(family, init):
    X, _ = make_data(family, 1000, 6, 3, 6)
    model = CLASSES[family](3, init_params=init, random_state=0, tol=1e-10, max_iter=60).fit(X)
    steps = np.diff(np.asarray(model.lower_bounds_, dtype=np.float64))
    assert steps.min() >= -1e-10


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("init", ["kmeans", "random", "random_from_data"])
def test_fixed_random_state_is_reproducible(family, init):
    X, _ = make_data(family, 400, 4, 3, 7)
    a = CLASSES[family](3, init_params=init, random_state=3).fit(X)
    b = CLASSES[family](3, init_params=init, random_state=3).fit(X)
    np.testing.assert_array_equal(flat(a.means_), flat(b.means_))


@pytest.mark.parametrize("family", FAMILIES)
def test_fit_predict_equals_fit_then_predict(family):
    X, _ = make_data(family, 400, 4, 3, 8)
    labels = CLASSES[family](3, random_state=1).fit_predict(X)
    np.testing.assert_array_equal(labels, CLASSES[family](3, random_state=1).fit(X).predict(X))


@pytest.mark.parametrize("family", FAMILIES)
def test_warm_start_continues(family):
    X, _ = make_data(family, 400, 4, 3, 9)
    model = CLASSES[family](3, random_state=1, warm_start=True, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
        first = model.lower_bound_
        model.fit(X)
    assert model.lower_bounds_[0] >= first - 1e-12


@pytest.mark.parametrize("family", FAMILIES)
def test_bic_counts_the_free_parameters(family):
    X, _ = make_data(family, 300, 3, 2, 10)
    model = CLASSES[family](2, random_state=0).fit(X)
    n_cat = sum(len(c) - 1 for c in categories_of(X))
    expected = {"bernoulli": 2 * 3 + 1, "poisson": 2 * 3 + 1, "categorical": 1 + 2 * n_cat}[family]
    assert model.bic(X) == pytest.approx(-2 * model.score(X) * len(X) + expected * np.log(len(X)))


@pytest.mark.parametrize("family", FAMILIES)
def test_sample_comes_from_the_model(family):
    X, _ = make_data(family, 300, 3, 2, 11)
    model = CLASSES[family](2, random_state=0).fit(X)
    S, y = model.sample(2000)
    assert np.isfinite(model.score_samples(S)).all()


def test_sample_rates_match_poisson_means():
    model = PoissonMixture(1).fit(np.array([[3.0, 10.0], [5.0, 12.0]]))
    S, _ = model.sample(20000)
    np.testing.assert_allclose(S.mean(axis=0), model.means_[0], rtol=0.03)


def test_poisson_score_includes_log_factorials():
    X = np.array([[0.0, 3.0], [2.0, 5.0], [1.0, 1.0]])
    model = PoissonMixture(1).fit(X)
    lam = model.means_[0]
    expected = (X * np.log(lam) - lam - np.array([[np.log(np.prod(np.arange(1, v + 1))) for v in row]
                                                   for row in X.astype(int)])).sum(axis=1)
    np.testing.assert_allclose(model.score_samples(X), expected, rtol=1e-12)


def test_categorical_tables_are_per_column_categories():
    X = np.array([[5, 0], [7, 0], [5, 1], [9, 0]])
    model = CategoricalMixture(1, alpha=1e-12).fit(X)
    np.testing.assert_allclose(model.means_[0][0], [0.5, 0.25, 0.25])


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("family, value, match", [
    ("bernoulli", 2.0, r"binary X .*X\[1, 2\] = 2.0"),
    ("bernoulli", 0.5, r"binary X .*X\[1, 2\] = 0.5"),
    ("bernoulli", np.nan, r"NaN \(first at row 1, column 2\)"),
    ("poisson", -1.0, r"Negative values in data .*X\[1, 2\] = -1.0"),
    ("poisson", 1.5, r"non-negative integers.*X\[1, 2\] = 1.5"),
    ("poisson", np.nan, r"NaN \(first at row 1, column 2\)"),
    ("categorical", 1.5, r"integer category codes.*X\[1, 2\] = 1.5"),
    ("categorical", np.nan, r"NaN \(first at row 1, column 2\)"),
])
def test_bad_values_are_named(family, value, match):
    X = np.zeros((5, 3))
    X[::2] = 1
    X[1, 2] = value
    with pytest.raises(ValueError, match=match):
        CLASSES[family](2).fit(X)


@pytest.mark.parametrize("family", FAMILIES)
def test_bad_values_at_predict_time(family):
    X, _ = make_data(family, 100, 3, 2, 12)
    model = CLASSES[family](2, random_state=0).fit(X)
    bad = X[:4].copy()
    bad[2, 1] = 0.25
    with pytest.raises(ValueError, match=r"X\[2, 1\] = 0.25"):
        model.predict(bad)


def test_unseen_category_names_column_and_value():
    X = np.array([[0, 1], [1, 2], [0, 2], [1, 1]])
    model = CategoricalMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match=r"X\[1, 1\] = 7.0 is a category that column 1 did not have"):
        model.predict(np.array([[0, 1], [1, 7]]))


@pytest.mark.parametrize("family", FAMILIES)
def test_alpha_must_be_positive(family):
    X, _ = make_data(family, 50, 2, 2, 13)
    with pytest.raises(InvalidParameterError, match="'alpha' parameter"):
        CLASSES[family](2, alpha=0.0).fit(X)


@pytest.mark.parametrize("family, means, match", [
    ("bernoulli", [[0.0, 0.5], [0.5, 0.5]], "strictly between 0 and 1"),
    ("bernoulli", [[1.0, 0.5], [0.5, 0.5]], "strictly between 0 and 1"),
    ("bernoulli", [[0.5, 0.5]], "shape"),
    ("poisson", [[0.0, 1.0], [1.0, 1.0]], "rates > 0"),
    ("poisson", [[np.nan, 1.0], [1.0, 1.0]], "rates > 0"),
    ("categorical", [[[0.5, 0.5], [0.5, 0.5]]], "one table per column"),
    ("categorical", [[[0.5, 0.6], [0.5, 0.5]], [[0.5, 0.5], [0.5, 0.5]]], "sum to 1"),
    ("categorical", [[[1.0, 0.0], [0.5, 0.5]], [[0.5, 0.5], [0.5, 0.5]]], r"in \(0, 1\]"),
])
def test_bad_means_init_is_named(family, means, match):
    X = np.array([[0, 1], [1, 0], [1, 1], [0, 0]], dtype=float)
    with pytest.raises(ValueError, match=match):
        CLASSES[family](2, means_init=means).fit(X)


@pytest.mark.parametrize("family", FAMILIES)
def test_validate_loaded_rejects_bad_weights(family):
    X, _ = make_data(family, 100, 3, 2, 14)
    model = CLASSES[family](2, random_state=0).fit(X)
    model._validate_loaded()
    model.weights_ = np.array([0.7, 0.7])
    with pytest.raises(ValueError, match="sum to 1"):
        model._validate_loaded()


@pytest.mark.parametrize("family, bad", [("bernoulli", 1.0), ("poisson", -2.0), ("categorical", np.nan)])
def test_validate_loaded_rejects_bad_means(family, bad):
    X, _ = make_data(family, 100, 3, 2, 15)
    model = CLASSES[family](2, random_state=0).fit(X)
    if family == "categorical":
        model.means_[0][0, 0] = bad
    else:
        model.means_[0, 0] = bad
    with pytest.raises(ValueError, match="means_"):
        model._validate_loaded()


def test_validate_loaded_rejects_wrong_means_shape():
    model = BernoulliMixture(2, random_state=0).fit(make_data("bernoulli", 100, 3, 2, 16)[0])
    model.means_ = model.means_[:, :2]
    with pytest.raises(ValueError, match="shape"):
        model._validate_loaded()


# ---------------------------------------------------------------------------
# the kernels' discrete feature codes
# ---------------------------------------------------------------------------

def _onehot(codes, n_levels):
    return np.hstack([np.ones((len(codes), 1))] + [np.eye(n)[codes[:, d]] for d, n in enumerate(n_levels)])


@pytest.mark.parametrize("N", [7, 1000])
def test_onehot_statistics_are_dense_features_times_responsibilities(N):
    rng = np.random.default_rng(17)
    n_levels = [2, 4, 3]
    codes = np.ascontiguousarray(np.column_stack([rng.integers(n, size=N) for n in n_levels]), dtype=np.int32)
    offsets = np.array([0, 2, 6, 9], dtype=np.int64)
    F = _onehot(codes, n_levels)
    resp = rng.dirichlet(np.ones(3), size=N)
    G, _, _ = _kernels.accumulate(np.zeros((N, 3)), _estep.QONEHOT, 3, np.zeros(3), 2, mode=_kernels.RESP_GIVEN,
                                  resp=resp, codes=codes, offsets=offsets, chunk_rows=48, slot_rows=96)
    np.testing.assert_allclose(G, resp.T @ F, rtol=1e-12)


def test_linear_estimate_is_features_times_coefficients():
    rng = np.random.default_rng(18)
    X = rng.poisson(3.0, (300, 4)).astype(np.float32)
    W = rng.normal(size=(5, 2))
    row_ll, _, _, _ = _kernels.estimate(X, _estep.QLINEAR, np.zeros(4), W, None, 1, row_ll=True)
    lp = np.hstack([np.ones((300, 1)), X.astype(np.float64)]) @ W
    np.testing.assert_allclose(row_ll, np.logaddexp(lp[:, 0], lp[:, 1]), rtol=1e-12)


def test_onehot_code_out_of_range_is_an_error():
    codes = np.array([[0, 1], [2, 0]], dtype=np.int32)
    with pytest.raises(ValueError, match="code 2 at row 1, column 0 is outside its column's categories"):
        _kernels.estimate(np.zeros((2, 2)), _estep.QONEHOT, np.zeros(2), np.zeros((5, 2)), None, 1, row_ll=True,
                          codes=codes, offsets=np.array([0, 2, 4], dtype=np.int64))


def test_onehot_first_bad_code_is_reported_whatever_the_slot(every_thread):
    codes = np.zeros((1000, 2), dtype=np.int32)
    codes[900, 0] = 5
    codes[700, 1] = -1
    with pytest.raises(ValueError, match="code -1 at row 700, column 1"):
        _kernels.accumulate(np.zeros((1000, 2)), _estep.QONEHOT, 2, np.zeros(2), 2, W=np.zeros((5, 2)),
                            codes=codes, offsets=np.array([0, 2, 4], dtype=np.int64), chunk_rows=48, slot_rows=96)


def test_onehot_needs_codes():
    with pytest.raises(ValueError, match="needs codes and offsets"):
        _kernels.estimate(np.zeros((2, 2)), _estep.QONEHOT, np.zeros(2), np.zeros((5, 2)), None, 1, row_ll=True)


# ---------------------------------------------------------------------------
# real data
# ---------------------------------------------------------------------------

def test_binarised_digits_cluster_far_better_than_chance():
    datasets = pytest.importorskip("sklearn.datasets")
    from sklearn.metrics import adjusted_rand_score

    digits = datasets.load_digits()
    X = (digits.data > 7).astype(np.float64)
    labels = BernoulliMixture(10, random_state=0, n_init=2).fit_predict(X)
    chance = adjusted_rand_score(digits.target, np.random.default_rng(0).permutation(labels))
    assert adjusted_rand_score(digits.target, labels) > 0.4 > chance + 0.35


def test_discretised_iris_recovers_the_species():
    datasets = pytest.importorskip("sklearn.datasets")
    from sklearn.metrics import adjusted_rand_score

    iris = datasets.load_iris()
    # each measurement cut at its tertiles: 3 ordered levels per column
    X = np.column_stack([np.digitize(c, np.quantile(c, [1 / 3, 2 / 3])) for c in iris.data.T])
    labels = CategoricalMixture(3, random_state=0, n_init=3, alpha=1.0).fit_predict(X)
    assert adjusted_rand_score(iris.target, labels) > 0.6


def test_simulated_counts_recover_the_components():
    from sklearn.metrics import adjusted_rand_score

    N, D, K = 3000, 8, 4
    X, y = make_data("poisson", N, D, K, 19)
    rng = np.random.default_rng(19)            # make_data's draws again: the true rates
    rng.integers(K, size=N)
    lam = rng.uniform(0.5, 12.0, (K, D))
    oracle = np.argmax(X @ np.log(lam).T - lam.sum(axis=1), axis=1)   # the true model's best labels
    labels = PoissonMixture(K, random_state=0, n_init=2).fit_predict(X)
    assert adjusted_rand_score(y, labels) > 0.95 * adjusted_rand_score(y, oracle)


def test_binarize_reads_x_above_the_threshold():
    X = np.random.default_rng(20).normal(size=(200, 4))
    a = BernoulliMixture(2, binarize=0.3, random_state=0).fit(X)
    b = BernoulliMixture(2, random_state=0).fit((X > 0.3).astype(float))
    np.testing.assert_array_equal(a.means_, b.means_)


def test_poisson_log_factorials_are_summed_once_per_fit(monkeypatch):
    X, _ = make_data("poisson", 300, 3, 2, 21)
    calls = []
    original = PoissonMixture._row_constant
    monkeypatch.setattr(PoissonMixture, "_row_constant", lambda self, Xb: calls.append(len(Xb)) or original(self, Xb))
    model = PoissonMixture(2, random_state=0, tol=1e-12, max_iter=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    assert calls == [300]   # one block of 300 rows, for all of the fit's iterations


def test_digit_pixel_counts_cluster_far_better_than_chance():
    """Real counts: the digits' pixel values are integers 0..16 (counts of on-pixels in 4x4 blocks)."""
    datasets = pytest.importorskip("sklearn.datasets")
    from sklearn.metrics import adjusted_rand_score

    digits = datasets.load_digits()
    labels = PoissonMixture(10, random_state=0, n_init=2).fit_predict(digits.data)
    chance = adjusted_rand_score(digits.target, np.random.default_rng(0).permutation(labels))
    assert adjusted_rand_score(digits.target, labels) > 0.4 > chance + 0.35


def test_log_factorial_table_equals_gammaln():
    from scipy.special import gammaln

    X = np.array([[0, 1, 2, 255], [3, 17, 254, 100]], dtype=np.float64)
    np.testing.assert_array_equal(PoissonMixture()._row_constant(X), -gammaln(X + 1.0).sum(axis=1))
    big = np.array([[0.0, 300.0, 1e6]])
    np.testing.assert_array_equal(PoissonMixture()._row_constant(big), -gammaln(big + 1.0).sum(axis=1))


@pytest.mark.parametrize("values", [[0, 1, 2, 3], [2, 5, 9], [-3, 0, 4], [0.0, 70000.0, 3.0]],
                         ids=["contiguous", "gaps", "negative", "large"])
def test_category_fast_paths_equal_the_sorted_search(values):
    """The counting fast paths (small non-negative integers) give np.unique's categories and the
    binary search's codes; other values take the general path; unseen values are refused either way."""
    from fastgmm.families import _categorical as cat

    rng = np.random.default_rng(3)
    col = rng.choice(np.asarray(values, dtype=np.float64), 500)
    X = col[:, None]
    for got in cat._categories(np.column_stack([X, X])):
        np.testing.assert_array_equal(got, np.unique(col))
    model = CategoricalMixture(2, random_state=0).fit(np.column_stack([X, X]))
    codes = model._kernel_extra(np.column_stack([X, X]))["codes"]
    np.testing.assert_array_equal(codes[:, 0], np.searchsorted(np.unique(col), col))
    with pytest.raises(ValueError, match="did not have at fit"):
        model._kernel_extra(np.array([[max(values) + 1.0, values[0]]]))


def test_single_category_column_tables_are_exactly_one_and_refit():
    """A column with one category: its table is exactly 1 (not 1 + eps from differently rounded
    sums), so the fitted tables are valid starting tables for a refit."""
    rng = np.random.default_rng(8)
    X = np.column_stack([rng.integers(0, 3, 400), np.zeros(400), rng.integers(0, 2, 400)]).astype(float)
    model = CategoricalMixture(3, random_state=0).fit(X)
    assert all(float(np.max(t)) <= 1.0 for t in model.means_)
    np.testing.assert_array_equal(model.means_[1], 1.0)
    CategoricalMixture(3, weights_init=model.weights_, means_init=model.means_, random_state=0).fit(X)


@pytest.mark.parametrize("X", [
    [["a", "b"], ["c", "a"], ["a", "a"]],
    np.array([[b"a", b"b"], [b"c", b"a"], [b"a", b"a"]]),
    np.array([[1, "b"], [2, "a"], [1, "a"]], dtype=object),
], ids=["str", "bytes", "object"])
def test_categorical_text_says_how_to_encode_the_categories(X):
    with pytest.raises(ValueError, match=r"needs integer category codes in X, but X holds text: .*"
                                         r"pd\.factorize.*OrdinalEncoder") as caught:
        CategoricalMixture(2).fit(X)
    assert "astype(float)" not in str(caught.value)


def test_categorical_text_names_the_dataframe_column():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"size": [1, 2, 1], "colour": ["red", "blue", "red"]})
    with pytest.raises(ValueError, match=r"row 0, column 'colour' is 'red'"):
        CategoricalMixture(2).fit(df)
    codes = df.apply(lambda c: pd.factorize(c)[0])          # what the message says to do
    assert CategoricalMixture(2, random_state=0).fit(codes).n_features_in_ == 2


def test_text_advice_of_other_families_is_unchanged():
    with pytest.raises(ValueError, match=r"not text: .*X\.astype\(float\)"):
        PoissonMixture(2).fit([["a", "b"], ["c", "a"]])
