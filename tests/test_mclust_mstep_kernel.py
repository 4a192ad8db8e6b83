"""The compiled iterative M-steps (fastgmm.kernels._mclust_mstep: VEI, VEV, VEE, EVE, VVE) against the NumPy
reference (tests/_reference_mclust_iterative.py): the same covariances to rounding and the same number of
iterations, from mclust's start and from given covariances, with empty and singular components, capped
iterations and scatters in large and small units."""

import json
import pathlib

import numpy as np
import pytest

import _reference_mclust_iterative as ref
from fastgmm.families import _mclust_iterative as mci
from fastgmm.kernels import _mclust_mstep as kernel

DATA = pathlib.Path(__file__).resolve().parent / "data" / "mclust"
TOL = float(np.sqrt(np.finfo(np.float64).eps))     # mclust's inner tolerance, as _mclust.DEFAULT_TOL
MAX_ITER = 100_000
# VVE both ways: the orientation step with the 1 / lambda_k weights, and mclust 6.0's without them.
CASES = ("VEI", "VEV", "VEE", "EVE", "VVE", "VVE-mclust")


def compiled(case, nk, W, active, tol=TOL, max_iter=MAX_ITER, start=None):
    """The kernel's covariances and number of iterations."""
    W = in_layout(case, W)
    start = None if start is None else in_layout(case, start)
    out = np.empty_like(W)
    act = active.astype(np.uint8)
    if case == "VEI":
        n_iter = kernel.vei(nk, W, act, tol, max_iter, start, out)
    else:
        model = {"VEV": kernel.VEV, "VEE": kernel.VEE, "EVE": kernel.EVE, "VVE": kernel.VVE,
                 "VVE-mclust": kernel.VVE_MCLUST}[case]
        n_iter = kernel.full(model, nk, W, act, tol, max_iter, start, out)
    return out, n_iter


def reference(case, nk, W, active, tol=TOL, max_iter=MAX_ITER, start=None):
    """The NumPy reference's covariances and number of iterations."""
    W = in_layout(case, W)
    start = None if start is None else in_layout(case, start)
    with np.errstate(all="ignore"):      # zero scatters give 0 / 0, as in the kernel
        if case == "VVE-mclust":
            return ref.vve(nk, W, active, tol, max_iter, start, as_mclust=True)
        return ref.ITERATIVE[case](nk, W, active, tol, max_iter, start)


def in_layout(case, M):
    """VEI works on the diagonals of the (K, D, D) matrices."""
    return np.ascontiguousarray(np.diagonal(M, axis1=1, axis2=2)) if case == "VEI" else M


def assert_same_step(case, nk, W, active, **kw):
    """The same number of iterations and the same covariances to 1e-12 of the largest entry (NaN where the
    reference has NaN: a shape of 0 / 0, which the caller replaces)."""
    got, got_iter = compiled(case, nk, W, active, **kw)
    want, want_iter = reference(case, nk, W, active, **kw)
    assert got_iter == want_iter
    scale = np.nanmax(np.abs(want)) if not np.all(np.isnan(want)) else 1.0
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * scale, equal_nan=True)


def random_problem(seed, K, D, scale=1.0):
    """Weights and scatters of K groups of points with their own spreads and orientations."""
    rng = np.random.default_rng(seed)
    nk = rng.uniform(15, 60, size=K)
    W = []
    for n in nk:
        A = rng.normal(size=(D, D)) * rng.uniform(0.5, 3, size=D)
        W.append(n * (A @ A.T / D + 0.3 * np.eye(D)))
    return nk, scale * np.array(W)


def near_start(seed, nk, W):
    """Covariances near the answer, as the previous EM iteration leaves them."""
    rng = np.random.default_rng(seed)
    D = W.shape[1]
    C = W / np.maximum(nk, 1.0)[:, None, None]
    return np.array([c + 0.2 * np.trace(c) / D * (np.eye(D) + 0.1 * (r + r.T))
                     for c, r in zip(C, rng.normal(size=W.shape))])


def mclust_case(name):
    """nk and W_k of mclust's partition of a data set (tests/data/mclust/make_mstep.R)."""
    d = json.loads((DATA / f"mstep_{name}.json").read_text())
    X, z = np.array(d["data"], dtype=float), np.array(d["z"], dtype=float)
    nk = z.sum(axis=0)
    mu = z.T @ X / nk[:, None]
    dev = X[:, None, :] - mu[None]
    return nk, np.einsum("nk,nki,nkj->kij", z, dev, dev)


def all_active(nk):
    return np.ones(len(nk), bool)


# --- agreement with the reference ---------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("K, D", [(2, 1), (3, 1), (2, 2), (3, 3), (5, 4), (4, 6)])
def test_random_scatters_match_the_reference(case, K, D):
    nk, W = random_problem(10 * K + D, K, D)
    assert_same_step(case, nk, W, all_active(nk))


# One component with EVE or VVE: test_one_component_orientation_models.
@pytest.mark.parametrize("case, K, D", [(case, K, D) for case in CASES
                                        for K, D in [(1, 1), (1, 3), (2, 1), (3, 3), (5, 4)]
                                        if K > 1 or case in ("VEI", "VEV", "VEE")])
def test_a_given_start_matches_the_reference(case, K, D):
    nk, W = random_problem(7 * K + D, K, D)
    assert_same_step(case, nk, W, all_active(nk), start=near_start(K, nk, W))


@pytest.mark.parametrize("case", ["VEI", "VEV", "VEE"])
def test_one_component_matches_the_reference(case):
    nk, W = random_problem(3, 1, 4)
    assert_same_step(case, nk, W, all_active(nk))


@pytest.mark.parametrize("case", ["EVE", "VVE", "VVE-mclust"])
@pytest.mark.parametrize("with_start", [False, True])
def test_one_component_orientation_models(case, with_start):
    # With one component the orientation is the scatter's eigenvectors and the step is W / n in closed form
    # (EVE and VVE). mclust's own VVE iteration (VVE-mclust, kept to reproduce its numbers) iterates: its
    # first majorise-minimise matrix, A^-1 O^T (W - omega I), is singular by construction, so the
    # orientation after it is fixed by rounding; it is compared with W / n at the reach of the stopping rule.
    nk, W = random_problem(5, 1, 4)
    start = near_start(1, nk, W) if with_start else None
    got, _ = compiled(case, nk, W, all_active(nk), start=start)
    exact = W[0] / nk[0]
    if case == "VVE-mclust":
        np.testing.assert_allclose(got[0], exact, rtol=0, atol=1e-3 * np.abs(exact).max())
    else:
        np.testing.assert_allclose(got[0], exact, rtol=0, atol=1e-13 * np.abs(exact).max())


@pytest.mark.parametrize("model", ["EVE", "VVE"])
def test_one_active_component_among_empty_ones_is_its_own_scatter(model):
    # The closed form applies to the one active component; EVE's volume is over the total weight.
    nk, W = random_problem(6, 3, 3)
    nk[[0, 2]] = 1e-20
    got, _ = compiled(model, nk, W, nk > 1e-10)
    total = nk.sum() if model == "EVE" else nk[1]
    np.testing.assert_allclose(got[1], W[1] / total, rtol=1e-12, atol=0)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", ["iris", "gen3"])
def test_mclust_partitions_match_the_reference(case, name):
    nk, W = mclust_case(name)
    assert_same_step(case, nk, W, all_active(nk))
    assert_same_step(case, nk, W, all_active(nk), start=near_start(0, nk, W))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("scale", [1e8, 1e-8])
def test_large_and_small_units_match_the_reference(case, scale):
    nk, W = random_problem(21, 4, 3, scale=scale)
    assert_same_step(case, nk, W, all_active(nk))
    assert_same_step(case, nk, W, all_active(nk), start=near_start(2, nk, W))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("max_iter", [1, 2, 3])
def test_capped_iterations_match_the_reference(case, max_iter):
    # tol this small is never reached: the cap stops it (VEI, like mclust, makes max_iter + 1 steps).
    nk, W = random_problem(4, 3, 3)
    got, n_iter = compiled(case, nk, W, all_active(nk), tol=1e-300, max_iter=max_iter)
    assert n_iter == max_iter + (case == "VEI")
    assert_same_step(case, nk, W, all_active(nk), tol=1e-300, max_iter=max_iter)


# --- empty and singular components --------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("with_start", [False, True])
def test_an_inactive_component_matches_the_reference(case, with_start):
    nk, W = random_problem(8, 4, 3)
    nk[1], W[1] = 0.0, 0.0
    start = near_start(3, nk, W) if with_start else None
    assert_same_step(case, nk, W, np.array([True, False, True, True]), start=start)


@pytest.mark.parametrize("case", CASES)
def test_an_inactive_component_is_left_out(case):
    # Its (nonzero) scatter must not enter the shared parts: the active components come out as without it.
    # (Its weight does enter EVE's common volume, the total scatter over the total weight: 0 here.)
    nk, W = random_problem(9, 4, 3)
    nk[2] = 0.0
    active = np.array([True, True, False, True])
    got, _ = compiled(case, nk, W, active)
    alone, _ = compiled(case, nk[active], W[active], all_active(nk[active]))
    np.testing.assert_array_equal(got[active], alone)


@pytest.mark.parametrize("case", CASES)
def test_a_rank_deficient_scatter_matches_the_reference(case):
    nk, W = random_problem(11, 3, 3)
    W[1, 2, :] = W[1, :, 2] = 0.0        # a feature constant in component 1
    assert_same_step(case, nk, W, all_active(nk))


@pytest.mark.parametrize("case", CASES)
def test_a_zero_scatter_matches_the_reference(case):
    # A single-point component: a zero volume (VEI, VEV, VEE) or NaN (EVE, VVE: the shape is 0 / 0), which
    # _mclust.constrained_covariances replaces by the component's own scatter.
    nk, W = random_problem(12, 3, 3)
    W[0] = 0.0
    assert_same_step(case, nk, W, all_active(nk))


# --- the polar step (Jacobi SVD, _polar.h) --------------------------------------------------------------------

def polar(G):
    out = np.empty_like(G)
    kernel.polar_minimiser(np.ascontiguousarray(G), out)
    return out


@pytest.mark.parametrize("D", [1, 2, 4, 7, 70])      # 70: more than _polar.h's 64 flags on the stack
def test_polar_step_of_a_nonsingular_matrix_is_the_svds(D):
    G = np.random.default_rng(D).normal(size=(D, D)) * np.logspace(-2, 2, D)      # columns of unlike sizes
    P, sigma, Qt = np.linalg.svd(G)
    # Either SVD is backward stable; the polar factor moves by about eps sigma_1 / (sigma_n-1 + sigma_n).
    bound = 50 * np.finfo(float).eps * sigma[0] / (sigma[-2:].sum() if D > 1 else sigma[0])
    np.testing.assert_allclose(polar(G), -(Qt.T @ P.T), rtol=0, atol=bound)


@pytest.mark.parametrize("zero_rows", [[1], [0, 3]])
def test_polar_step_of_a_singular_matrix_minimises_the_trace(zero_rows):
    # Zero rows (the second step's matrix when every component's smallest shape entry is on one axis):
    # O is not unique, but it is orthogonal and reaches the minimum, minus the sum of the singular values.
    G = np.random.default_rng(5).normal(size=(4, 4))
    G[zero_rows] = 0.0
    O = polar(G)
    np.testing.assert_allclose(O.T @ O, np.eye(4), rtol=0, atol=1e-14)
    np.testing.assert_allclose(np.trace(G @ O), -np.linalg.svd(G, compute_uv=False).sum(), rtol=1e-14)


def test_polar_step_of_zero_is_minus_the_identity():
    # As LAPACK's SVD of 0 (P = Q = I) gives it in the reference: the first iteration from mclust's start
    # meets it (unit shapes make the second step's matrix 0).
    np.testing.assert_array_equal(polar(np.zeros((3, 3))), -np.eye(3))


def test_polar_step_of_a_non_finite_matrix_is_nan():
    G = np.eye(3)
    G[1, 2] = np.inf
    assert np.all(np.isnan(polar(G)))


# --- the wiring and the inputs ------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
def test_the_module_functions_are_the_kernel(case):
    nk, W = random_problem(13, 3, 4)
    model = case[:3]
    kw = {"as_mclust": True} if case == "VVE-mclust" else {}
    got = mci.ITERATIVE[model](nk, in_layout(case, W), all_active(nk), TOL, MAX_ITER, None, **kw)
    np.testing.assert_array_equal(got, compiled(case, nk, W, all_active(nk))[0])


@pytest.mark.parametrize("case", ["VEI", "VEE", "VVE"])
def test_float32_and_strided_inputs_give_the_float64_step(case):
    nk, W = random_problem(14, 3, 3)
    nk, W = nk.astype(np.float32).astype(np.float64), W.astype(np.float32).astype(np.float64)
    L = in_layout(case, W)
    strided = np.repeat(L.astype(np.float32), 2, axis=0)[::2]
    got = mci.ITERATIVE[case](nk.astype(np.float32), strided, all_active(nk), TOL, MAX_ITER, None)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, mci.ITERATIVE[case](nk, L, all_active(nk), TOL, MAX_ITER, None))


@pytest.mark.parametrize("bad, message", [
    ({"W": np.zeros((2, 3, 3))}, "n_components"),
    ({"W": np.zeros((3, 3, 2))}, "square"),
    ({"active": np.ones(2, np.uint8)}, "active"),
    ({"start": np.zeros((3, 2, 2))}, "start"),
    ({"out": np.zeros((3, 3, 2))}, "out"),
    ({"tol": 0.0}, "tol"),
    ({"max_iter": 0}, "max_iter"),
    ({"max_iter": 2 ** 63 - 1}, "max_iter"),
    ({"model": 7}, "model"),
])
def test_bad_arguments_raise(bad, message):
    nk, W = random_problem(15, 3, 3)
    args = {"model": kernel.VEE, "nk": nk, "W": W, "active": np.ones(3, np.uint8), "tol": TOL, "max_iter": 10, "start": None,
            "out": np.empty_like(W)}
    args.update(bad)
    with pytest.raises(ValueError, match=message):
        kernel.full(args["model"], args["nk"], args["W"], args["active"], args["tol"], args["max_iter"],
                    args["start"], args["out"])


# --- EEV and EVV (closed forms in the same kernel) ------------------------------------------------------------

def closed(model, nk, W, active):
    out = np.empty_like(W)
    assert kernel.closed_full(kernel.EEV if model == "EEV" else kernel.EVV, nk, W, active.astype(np.uint8), out) == 0
    return out


@pytest.mark.parametrize("model", ["EEV", "EVV"])
@pytest.mark.parametrize("K, D", [(1, 1), (3, 1), (2, 2), (5, 4), (4, 6)])
@pytest.mark.parametrize("scale", [1.0, 1e8, 1e-8])
def test_closed_forms_match_the_reference(model, K, D, scale):
    nk, W = random_problem(30 + K + D, K, D, scale)
    got = closed(model, nk, W, all_active(nk))
    want = ref.closed_full(model, nk, W, all_active(nk))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.max(np.abs(want)))


def _singular_problem():
    nk, W = random_problem(41, 4, 3)
    W[1] = np.outer([1.0, 2.0, 0.5], [1.0, 2.0, 0.5]) * 10    # rank 1: singular
    return nk, W, np.array([True, True, False, True])


def test_evv_with_an_empty_and_a_singular_component():
    nk, W, active = _singular_problem()
    got = closed("EVV", nk, W, active)
    want = ref.closed_full("EVV", nk, W, active)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.max(np.abs(want)))


def test_eev_with_an_empty_and_a_singular_component():
    # A rank-1 scatter's null space has no preferred basis, so its covariance is checked by what defines it:
    # the shared eigenvalues, the leading eigenvector W_1's; the others as the reference.
    nk, W, active = _singular_problem()
    got = closed("EEV", nk, W, active)
    want = ref.closed_full("EEV", nk, W, active)
    others = [0, 2, 3]
    np.testing.assert_allclose(got[others], want[others], rtol=0, atol=1e-12 * np.max(np.abs(want)))
    np.testing.assert_allclose(np.linalg.eigvalsh(got[1]), np.linalg.eigvalsh(want[1]), rtol=1e-12)
    lead = np.linalg.eigh(got[1])[1][:, -1]
    u = np.array([1.0, 2.0, 0.5]) / np.linalg.norm([1.0, 2.0, 0.5])
    assert abs(abs(lead @ u) - 1.0) < 1e-12


@pytest.mark.parametrize("name", ["iris", "gen3"])
@pytest.mark.parametrize("model", ["EEV", "EVV"])
def test_closed_forms_on_mclust_partitions(model, name):
    nk, W = mclust_case(name)
    got = closed(model, nk, W, all_active(nk))
    want = ref.closed_full(model, nk, W, all_active(nk))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.max(np.abs(want)))


def test_closed_forms_reject_an_unknown_model():
    nk, W = random_problem(42, 2, 2)
    with pytest.raises(ValueError, match="model"):
        kernel.closed_full(kernel.VEE, nk, W, np.ones(2, np.uint8), np.empty_like(W))
