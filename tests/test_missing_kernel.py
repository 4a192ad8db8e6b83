"""The kernel's missing mode (``_missing.h``): exact marginals and completed sums, in every layout.

Each pass is compared with a row-by-row NumPy reference (``_reference_missing``):
per row and component the marginal log-density of the observed part, and the
completed statistics sum w r, sum w r x_hat and sum w r (x_hat x_hat^T + C)
about the kernel's shift. Layouts that stress the run logic: patterns' runs
cut by chunks, slots and kernel calls, K not a multiple of the vector width,
D = 1, rows with nothing observed, data far from the origin.
"""

import warnings

import numpy as np
import pytest

from fastgmm.families import _gaussian, _gaussian_missing as _missing
from fastgmm.kernels import _driver as _kernels
from fastgmm.kernels import _estep
from _reference_missing import _conditional, estimate_missing, full_covariances

from conftest import COV_TYPES, needs_openmp


def _problem(N, D, K, cov_type, seed, frac=0.3, offset=0.0, dtype=np.float64, empty_rows=0):
    """(Xm, weights, means, cov in the type's shape, prec_chol): random parameters, X drawn near them."""
    rng = np.random.default_rng(seed)
    means = offset + rng.normal(scale=3.0, size=(K, D))
    if cov_type in ("full", "tied"):
        A = rng.normal(size=(K, D, D)) * 0.4
        covs = np.eye(D) * rng.uniform(0.5, 1.5) + np.einsum("kij,klj->kil", A, A)
        cov = covs if cov_type == "full" else covs[0]
    elif cov_type == "diag":
        cov = rng.uniform(0.3, 2.0, size=(K, D))
    else:
        cov = rng.uniform(0.3, 2.0, size=K)
    weights = rng.dirichlet(np.full(K, 3.0))
    full = full_covariances(cov, cov_type, K, D)
    labels = rng.choice(K, size=N, p=weights)
    X = np.stack([rng.multivariate_normal(means[k], full[k]) for k in labels])
    nan = rng.random(X.shape) < frac
    nan[:empty_rows] = True
    Xm = X.copy()
    Xm[nan] = np.nan
    return Xm.astype(dtype), weights, means, cov, _gaussian.precision_cholesky(cov, cov_type)


def _reference_sums(Xm, weights, means, cov, cov_type, shift, sample_weight):
    """(nk, s1, s2 (K, D, D), loglik) of the completed data about ``shift``, row by row."""
    X = np.asarray(Xm, dtype=np.float64)
    N, D = X.shape
    K = len(weights)
    covs = full_covariances(cov, cov_type, K, D)
    resp, row_ll = estimate_missing(X, weights, means, covs)
    sw = np.ones(N) if sample_weight is None else sample_weight
    nk, s1, s2 = np.zeros(K), np.zeros((K, D)), np.zeros((K, D, D))
    for i in range(N):
        o = ~np.isnan(X[i])
        for k in range(K):
            r = sw[i] * resp[i, k]
            x_hat, C = _conditional(X[i], o, means[k], covs[k])
            z = x_hat - shift
            nk[k] += r
            s1[k] += r * z
            s2[k] += r * (np.outer(z, z) + C)
    return nk, s1, s2, float(sw @ row_ll)


def _as_full_second(st, cov_type):
    """The statistics' s2 as (K, D, D) (tied: summed over the components, as the kernel keeps it)."""
    if cov_type in ("full", "tied"):
        return st.s2
    if cov_type == "diag":
        return np.stack([np.diag(v) for v in st.s2])
    return st.s2


def _compare(st, ref, cov_type, rtol):
    nk, s1, s2, ll = ref
    scale = max(1.0, float(np.abs(s2).max()))
    np.testing.assert_allclose(st.nk, nk, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(st.s1, s1, rtol=rtol, atol=rtol * np.sqrt(scale))
    if cov_type == "full":
        expect = s2
    elif cov_type == "tied":
        expect = s2.sum(axis=0)
    elif cov_type == "diag":
        expect = np.stack([np.diag(v) for v in s2])
    else:
        expect = np.stack([np.trace(v) for v in s2])
    np.testing.assert_allclose(st.s2, expect, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(st.loglik, ll, rtol=rtol)


def _statistics(Xm, weights, means, cov, pc, cov_type, sw=None, threads=1, chunk_rows=None, slot_rows=None,
                range_slots=None):
    missing = _missing.group_patterns(Xm)
    K, D = means.shape
    shift = _gaussian.mixture_shift(weights, means)
    W, U, arrays = _missing._kernel_missing(missing, weights, means, pc, cov_type, shift, None)
    G, T, ll = _kernels.accumulate(Xm, _missing.QUAD[cov_type], K, shift, threads, W=W, U=U, missing=arrays,
                                   sample_weight=sw, chunk_rows=chunk_rows, slot_rows=slot_rows,
                                   range_slots=range_slots)
    weight = len(Xm) if sw is None else float(sw.sum())
    return _gaussian.statistics_from_sums(G, T, cov_type, shift, ll, weight, len(Xm)), shift


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("K", [1, 3, 9])
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_statistics_match_the_row_by_row_reference(cov_type, K, dtype):
    """Sums and log-likelihood, weighted, with runs cut by chunks (4 rows), slots (8) and calls (1 slot)."""
    Xm, w, m, cov, pc = _problem(70, 5, K, cov_type, seed=K, dtype=dtype, empty_rows=2)
    sw = np.random.default_rng(K).uniform(0.1, 3.0, size=len(Xm))
    for layout in (dict(), dict(chunk_rows=4, slot_rows=8, range_slots=1)):
        st, shift = _statistics(Xm, w, m, cov, pc, cov_type, sw, **layout)
        _compare(st, _reference_sums(Xm, w, m, cov, cov_type, shift, sw), cov_type, rtol=1e-9)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_one_feature(cov_type):
    """D = 1: a row is complete or empty (its marginal is 1, its completion the component's moments)."""
    Xm, w, m, cov, pc = _problem(40, 1, 3, cov_type, seed=5, frac=0.4)
    st, shift = _statistics(Xm, w, m, cov, pc, cov_type, chunk_rows=4, slot_rows=4)
    _compare(st, _reference_sums(Xm, w, m, cov, cov_type, shift, None), cov_type, rtol=1e-9)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_tight_components_far_from_the_origin(cov_type):
    """Data 1e4 from the origin with components 10 sigma apart: the corrections keep 1e-6."""
    Xm, w, m, cov, pc = _problem(60, 4, 3, cov_type, seed=11, offset=1e4)
    st, shift = _statistics(Xm, w, m, cov, pc, cov_type, chunk_rows=8, slot_rows=16)
    _compare(st, _reference_sums(Xm, w, m, cov, cov_type, shift, None), cov_type, rtol=1e-6)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_estimate_matches_the_reference(cov_type):
    Xm, w, m, cov, pc = _problem(50, 4, 9, cov_type, seed=3, empty_rows=1)
    missing = _missing.group_patterns(Xm)
    resp, row_ll = estimate_missing(Xm, w, m, full_covariances(cov, cov_type, 9, 4))
    ll, lab, r, total = _missing.missing_estimate(Xm, missing, w, m, cov, pc, cov_type, 1, row_ll=True,
                                                  labels=True, resp=True, total=True)
    np.testing.assert_allclose(ll, row_ll, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(r, resp, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(lab, np.argmax(resp, axis=1))
    np.testing.assert_allclose(total, row_ll.sum(), rtol=1e-10)


@needs_openmp
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_bitwise_the_same_for_any_thread_count(cov_type):
    Xm, w, m, cov, pc = _problem(600, 6, 9, cov_type, seed=2, frac=0.25)
    sw = np.random.default_rng(2).uniform(0.1, 3.0, size=len(Xm))
    one, _ = _statistics(Xm, w, m, cov, pc, cov_type, sw, threads=1, chunk_rows=8, slot_rows=32)
    two, _ = _statistics(Xm, w, m, cov, pc, cov_type, sw, threads=2, chunk_rows=8, slot_rows=32)
    split, _ = _statistics(Xm, w, m, cov, pc, cov_type, sw, threads=2, chunk_rows=8, slot_rows=32, range_slots=3)
    for other in (two, split):
        for name in ("nk", "s1", "s2", "loglik"):
            np.testing.assert_array_equal(getattr(other, name), getattr(one, name))


def _kernel_args(cov_type="full"):
    Xm, w, m, cov, pc = _problem(20, 3, 2, cov_type, seed=1)
    missing = _missing.group_patterns(Xm)
    shift = _gaussian.mixture_shift(w, m)
    W, U, arrays = _missing._kernel_missing(missing, w, m, pc, cov_type, shift, None)
    P = W.shape[0]
    out = dict(G_out=np.zeros((1, 2 * P)), T_out=None, ll_out=np.zeros(1))
    return Xm, shift, W, U, arrays, out


def _accumulate(Xm, shift, W, U, arrays, out, **change):
    args = dict(arrays)
    args.update(change)
    return _estep.accumulate_statistics(
        Xm, _estep.QFULL, 2, shift, change.pop("mode", _estep.RESP_ESTEP), W, U, None, None, None, 4, 8,
        out["G_out"], out["T_out"], out["ll_out"], 1, args["rows"], pat_start=args["pat_start"],
        miss_ptr=args["miss_ptr"], miss_idx=args["miss_idx"], prec=args["prec"], dev=args["dev"],
        pair=args["pair"])


@pytest.mark.parametrize("change, message", [
    (lambda a: dict(pat_start=a["pat_start"][:-1]), "n_patterns"),
    (lambda a: dict(pat_start=a["pat_start"] + 1), "cover rows"),
    (lambda a: dict(miss_idx=a["miss_idx"] + 3), "increasing column"),
    (lambda a: dict(miss_idx=a["miss_idx"][::-1].copy()), "increasing column"),
    (lambda a: dict(rows=a["rows"] + 100), "indices of rows"),
    (lambda a: dict(prec=a["prec"][:-1]), "prec must have"),
    (lambda a: dict(dev=a["dev"][:-1]), "dev must have"),
    (lambda a: dict(pair=None), "needs pair"),
])
def test_bad_arrays_are_refused(change, message):
    Xm, shift, W, U, arrays, out = _kernel_args()
    with pytest.raises(ValueError, match=message):
        _accumulate(Xm, shift, W, U, arrays, out, **change(arrays))


def test_only_the_estep_mode():
    Xm, shift, W, U, arrays, out = _kernel_args()
    with pytest.raises(ValueError, match="RESP_ESTEP"):
        _estep.accumulate_statistics(
            Xm, _estep.QFULL, 2, shift, _estep.RESP_HARD, W, U, None, None, None, 4, 8, out["G_out"], None,
            out["ll_out"], 1, arrays["rows"], pat_start=arrays["pat_start"], miss_ptr=arrays["miss_ptr"],
            miss_idx=arrays["miss_idx"], prec=arrays["prec"], dev=arrays["dev"], pair=arrays["pair"])


@pytest.mark.parametrize("cov_type", ["full", "tied"])
def test_a_singular_missing_block_says_what_to_do(cov_type):
    """A precision not positive definite on a pattern's missing block is an error naming reg_covar."""
    Xm, shift, W, U, arrays, out = _kernel_args(cov_type)
    prec = arrays["prec"].copy()
    prec[:] = 0.0                      # every Lambda_MM singular
    if cov_type == "tied":
        out["T_out"] = np.zeros((1, 9))
        quad = _estep.QTIED
    else:
        quad = _estep.QFULL
    with pytest.raises(ValueError, match="reg_covar"):
        _estep.accumulate_statistics(
            Xm, quad, 2, shift, _estep.RESP_ESTEP, W, U, None, None, None, 4, 8, out["G_out"], out["T_out"],
            out["ll_out"], 1, arrays["rows"], pat_start=arrays["pat_start"], miss_ptr=arrays["miss_ptr"],
            miss_idx=arrays["miss_idx"], prec=prec, dev=arrays["dev"], pair=arrays["pair"])


@pytest.mark.parametrize("source", ["memmap", "dask"])
@pytest.mark.parametrize("family", ["GaussianMixture", "StudentTMixture", "BayesianGaussianMixture"])
def test_streamed_sources_fit_as_in_memory(family, source, tmp_path):
    """nan_policy='marginalize' on a memmap or a Dask array, block by block: the in-memory fit."""
    import fastgmm
    if source == "dask":
        da = pytest.importorskip("dask.array")
    Xm, w, m, cov, pc = _problem(3000, 4, 3, "full", seed=21, frac=0.15)
    Xm = np.ascontiguousarray(Xm)

    def init(X, n_components, random_state):     # the same start for the same rows, from any source
        return np.argmin(((np.asarray(X, dtype=np.float64)[:, None, :] - m[None]) ** 2).sum(axis=2), axis=1)

    kw = dict(nan_policy="marginalize", max_iter=6, tol=0, covariance_type="full")
    if family == "BayesianGaussianMixture":
        kw["weight_concentration_prior"] = 0.5
    model = getattr(fastgmm, family)
    if family == "GaussianMixture" or family == "StudentTMixture":
        kw.update(weights_init=w, means_init=m, precisions_init=np.linalg.inv(cov))
    else:
        kw.update(init_params=init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # not converged at tol=0
        whole = model(n_components=3, **kw).fit(Xm)
    if source == "memmap":
        np.save(tmp_path / "x.npy", Xm)
        Xs = np.load(tmp_path / "x.npy", mmap_mode="r")
        streamed = model(n_components=3, block_rows=700, **kw)
    else:
        Xs = da.from_array(Xm, chunks=(700, 4))
        streamed = model(n_components=3, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        streamed.fit(Xs)
    np.testing.assert_allclose(streamed.means_, whole.means_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(streamed.lower_bound_, whole.lower_bound_, rtol=1e-10)
