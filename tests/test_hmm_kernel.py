"""The compiled HMM recursions (fastgmm.kernels._hmm) against the NumPy references (tests/_reference_hmm.py),
brute-force path enumeration and hmmlearn 0.3.3's own C++ (_hmmc)."""

import math

import numpy as np
import pytest

from fastgmm.kernels import _hmm

import _reference_hmm as ref
from conftest import needs_openmp

hmmc = pytest.importorskip("hmmlearn._hmmc")

TOL = 1e-10


def _starts(lengths):
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def _libm_log(p):
    """log as C's log (hmmlearn's std::log), 0 -> -inf."""
    p = np.ascontiguousarray(p, dtype=float)
    out = np.empty(p.size)
    _hmm.log_libm(p.ravel(), out)
    return out.reshape(p.shape)


def _model(rng, K, zeros=False):
    sp = rng.dirichlet(np.ones(K))
    A = rng.dirichlet(np.ones(K), size=K)
    if zeros:   # left-right: stay or move one state on
        A = np.triu(A) - np.triu(A, 2)
        A /= A.sum(axis=1, keepdims=True)
        sp = np.eye(K)[0]
    return sp, A


def _run(logp, starts, lsp, lA, weight=None, log_space=False, n_threads=1, stats=True):
    K = logp.shape[1]
    x = np.array(logp, dtype=float, order="C")
    ll = np.full(len(starts) - 1, np.nan)
    xi = np.full((K, K), np.nan) if stats else None
    st = np.full(K, np.nan) if stats else None
    _hmm.forward_backward(x, starts, lsp, lA, weight, ll, xi, st, n_threads, log_space)
    return x, ll, xi, st


def _assert_matches(got, want, rtol=TOL):
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol)


# K <= 16 runs the vector code (K = 5, 9: padded lanes), K = 17 and 20 the plain loops.
@pytest.mark.parametrize("log_space", [False, True])
@pytest.mark.parametrize("K", [1, 2, 4, 5, 9, 16, 17, 20])
def test_forward_backward_matches_reference(K, log_space):
    rng = np.random.default_rng(K)
    lengths = [7, 0, 1, 50, 0, 13, 1]
    starts = _starts(lengths)
    logp = 4.0 * rng.normal(size=(starts[-1], K))
    sp, A = _model(rng, K)
    w = rng.uniform(0.2, 3.0, len(lengths))
    got = _run(logp, starts, np.log(sp), np.log(A), w, log_space)
    _assert_matches(got, ref.forward_backward(logp, starts, np.log(sp), np.log(A), w))


def test_posteriors_and_ll_only_when_no_statistics_are_asked_for():
    rng = np.random.default_rng(1)
    starts = _starts([20, 5])
    logp = rng.normal(size=(25, 3))
    sp, A = _model(rng, 3)
    x, ll, _, _ = _run(logp, starts, np.log(sp), np.log(A), stats=False)
    g, want_ll, _, _ = ref.forward_backward(logp, starts, np.log(sp), np.log(A))
    _assert_matches((x, ll), (g, want_ll))


@pytest.mark.parametrize("K", [2, 3])
def test_tiny_sequences_match_brute_force_enumeration(K):
    rng = np.random.default_rng(10 + K)
    for T in range(1, 6):
        logp = 2.0 * rng.normal(size=(T, K))
        sp, A = _model(rng, K)
        ll, gamma, xi, path, score = ref.enumerate_paths(logp, np.log(sp), np.log(A))
        for log_space in (False, True):
            got = _run(logp, _starts([T]), np.log(sp), np.log(A), log_space=log_space)
            _assert_matches(got[:3], (gamma, [ll], xi))
        vpath, vscore = np.empty(T, np.int64), np.empty(1)
        _hmm.viterbi(logp, _starts([T]), np.log(sp), np.log(A), vpath, vscore, 1)
        np.testing.assert_array_equal(vpath, path)
        np.testing.assert_allclose(vscore[0], score, rtol=1e-13)


@pytest.mark.parametrize("log_space", [False, True])
def test_left_right_structural_zeros_get_exactly_zero_transitions(log_space):
    rng = np.random.default_rng(3)
    K = 5
    sp, A = _model(rng, K, zeros=True)
    with np.errstate(divide="ignore"):
        lsp, lA = np.log(sp), np.log(A)
    starts = _starts([40, 12, 25])
    logp = 3.0 * rng.normal(size=(starts[-1], K))
    got = _run(logp, starts, lsp, lA, log_space=log_space)
    assert np.all(got[2][A == 0] == 0.0)
    _assert_matches(got, ref.forward_backward(logp, starts, lsp, lA))


def test_state_the_future_demands_but_whose_forward_probability_underflowed():
    # Two states that never switch; the first half of the data favours state 0 by 20 nats a frame, the second
    # half state 1: alpha(1) underflows to 0 in the first half while every frame's scale stays large, and the
    # true posteriors are 1/2 each (both paths score the same). Only the past/future agreement test sees it.
    logp = np.zeros((80, 2))
    logp[:40, 1] = -20.0
    logp[40:, 0] = -20.0
    lsp = np.log([0.5, 0.5])
    lA = np.array([[0.0, -np.inf], [-np.inf, 0.0]])
    status, _ = _hmm._scaled_status(logp.copy(), lsp, lA)
    assert status == _hmm.STATUS_LOG
    got = _run(logp, _starts([80]), lsp, lA)
    want = ref.forward_backward(logp, _starts([80]), lsp, lA)
    np.testing.assert_allclose(want[0], 0.5)
    _assert_matches(got, want)


def test_reachable_states_1e4_nats_below_the_best_fall_back_to_log_space():
    # The only state the transitions allow at frame 1 emits 1e4 nats below the frame before's best: the scaled
    # recursion's scale is exactly 0 there, the log-space one gives the finite answer.
    K = 3
    with np.errstate(divide="ignore"):
        lA = np.log([[0.9, 0.1, 0.0], [0.0, 0.9, 0.1], [0.0, 0.0, 1.0]])
    lsp = np.log(np.full(K, 1.0 / K))
    logp = np.array([[0.0, -1e4, -2e4], [-np.inf, -np.inf, 0.0], [-5.0, -3.0, -1.0]])
    status, _ = _hmm._scaled_status(logp.copy(), lsp, lA)
    assert status == _hmm.STATUS_LOG
    got = _run(logp, _starts([3]), lsp, lA)
    want = ref.forward_backward(logp, _starts([3]), lsp, lA)
    assert np.isfinite(want[1][0]) and want[1][0] < -1e4
    _assert_matches(got, want, rtol=1e-13)


def test_scaled_and_log_space_agree_on_well_behaved_data():
    rng = np.random.default_rng(4)
    K = 6
    starts = _starts([300, 200])
    logp = 10.0 * rng.normal(size=(500, K))
    sp, A = _model(rng, K)
    status, _ = _hmm._scaled_status(logp[:300].copy(), np.log(sp), np.log(A))
    assert status == _hmm.STATUS_OK
    a = _run(logp, starts, np.log(sp), np.log(A))
    b = _run(logp, starts, np.log(sp), np.log(A), log_space=True)
    _assert_matches(a, b, rtol=1e-12)


@pytest.mark.parametrize("log_space", [False, True])
def test_impossible_sequence_gets_minus_inf_zero_rows_and_adds_nothing(log_space):
    rng = np.random.default_rng(5)
    K = 3
    sp = np.array([1.0, 0.0, 0.0])
    A = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]])
    with np.errstate(divide="ignore"):
        lsp, lA = np.log(sp), np.log(A)
    starts = _starts([6, 4, 5, 3])
    logp = rng.normal(size=(18, K))
    logp[6, 0] = -np.inf                 # sequence 1 starts where only state 0 may be: impossible
    logp[12] = -np.inf                   # sequence 2 has a frame no state emits
    x, ll, xi, st = _run(logp, starts, lsp, lA, log_space=log_space)
    assert ll[1] == -np.inf and ll[2] == -np.inf
    assert np.all(x[6:15] == 0.0)
    keep = np.r_[0:6, 15:18]
    want = ref.forward_backward(logp[keep], _starts([6, 3]), lsp, lA)
    _assert_matches((x[keep], ll[[0, 3]], xi, st), want)


def test_statistics_identities():
    # sum_j xi_sum(i, j) = sum over non-final frames of gamma_t(i); gamma rows sum to 1; start_sum = gamma_0
    rng = np.random.default_rng(6)
    K = 4
    starts = _starts([30, 1, 17])
    logp = 5.0 * rng.normal(size=(48, K))
    sp, A = _model(rng, K)
    x, _, xi, st = _run(logp, starts, np.log(sp), np.log(A))
    np.testing.assert_allclose(x.sum(axis=1), 1.0, rtol=1e-14)
    not_last = np.setdiff1d(np.arange(48), starts[1:] - 1)
    np.testing.assert_allclose(xi.sum(axis=1), x[not_last].sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(st, x[starts[:-1]].sum(axis=0), rtol=1e-14)


@pytest.mark.parametrize("K", [2, 5])
def test_matches_hmmlearn_log_forward_backward_and_xi(K):
    rng = np.random.default_rng(20 + K)
    T = 60
    logp = 3.0 * rng.normal(size=(T, K))
    sp, A = _model(rng, K)
    log_prob, fwd = hmmc.forward_log(sp, A, logp)
    bwd = hmmc.backward_log(sp, A, logp)
    log_xi = hmmc.compute_log_xi_sum(fwd, A, bwd, logp)
    gamma = np.exp(fwd + bwd - log_prob)
    for log_space in (False, True):
        got = _run(logp, _starts([T]), _libm_log(sp), _libm_log(A), log_space=log_space)
        _assert_matches(got[:3], (gamma, [log_prob], np.exp(log_xi)))


def _hostile_viterbi_case(rng, K_range):
    K = int(rng.integers(*K_range))
    T = int(rng.integers(1, 15))
    kind = rng.integers(3)
    if kind == 0:       # exact ties everywhere: equal emissions, uniform transitions
        logp = np.zeros((T, K))
        sp, A = np.full(K, 1.0 / K), np.full((K, K), 1.0 / K)
    elif kind == 1:     # ties from a few distinct values, with zeros (-inf) in the model and -inf rows
        logp = rng.choice([0.0, -1.0, -np.inf], size=(T, K), p=[0.45, 0.35, 0.2])
        sp = rng.choice([0.0, 0.5, 0.25], size=K)
        A = rng.choice([0.0, 0.5, 0.25], size=(K, K))
    else:               # continuous values, occasional impossible frames
        logp = rng.normal(size=(T, K))
        logp[rng.random(T) < 0.1] = -np.inf
        sp, A = _model(rng, K)
    return np.ascontiguousarray(logp), sp, A


@pytest.mark.parametrize("K_range", [(1, 6), (6, 17), (17, 21)])
def test_viterbi_paths_identical_to_hmmlearn_including_ties_and_impossible_frames(K_range):
    rng = np.random.default_rng(K_range[0])
    for _ in range(300):
        logp, sp, A = _hostile_viterbi_case(rng, K_range)
        want_lp, want_path = hmmc.viterbi(sp, A, logp)
        path, lp = np.empty(len(logp), np.int64), np.empty(1)
        _hmm.viterbi(logp, _starts([len(logp)]), _libm_log(sp), _libm_log(A), path, lp, 1)
        np.testing.assert_array_equal(path, want_path)
        assert lp[0] == want_lp or (np.isnan(want_lp) and np.isnan(lp[0]))


def test_viterbi_of_several_sequences_is_each_sequence_alone():
    rng = np.random.default_rng(8)
    K = 4
    lengths = [9, 0, 1, 25, 3]
    starts = _starts(lengths)
    logp = rng.normal(size=(starts[-1], K))
    sp, A = _model(rng, K)
    path, lp = np.empty(starts[-1], np.int64), np.empty(len(lengths))
    _hmm.viterbi(logp, starts, _libm_log(sp), _libm_log(A), path, lp, 2)
    assert lp[1] == 0.0
    for s in (0, 2, 3, 4):
        want_lp, want_path = hmmc.viterbi(sp, A, logp[starts[s]:starts[s + 1]])
        np.testing.assert_array_equal(path[starts[s]:starts[s + 1]], want_path)
        assert lp[s] == want_lp


def _mixed_workload(seed, K=5, n_short=1500, long=(20000, 17000)):
    """Short sequences of mixed lengths (incl. 0 and 1), two long ones, the second needing the log-space redo."""
    rng = np.random.default_rng(seed)
    lengths = np.concatenate([rng.integers(0, 120, n_short), [long[0], 0, 1, long[1]], rng.integers(0, 40, 300)])
    starts = _starts(lengths)
    logp = 3.0 * rng.normal(size=(starts[-1], K))
    s = n_short + 3
    logp[starts[s]:starts[s] + 40, 1] -= 20.0          # one sequence that falls back to log space
    logp[starts[s] + 40:starts[s] + 80, 0] -= 20.0
    sp, A = _model(rng, K)
    A[0, 1] = A[1, 0] = 0.0
    A /= A.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        return logp, starts, np.log(sp), np.log(A), rng.uniform(0, 2, len(lengths))


@needs_openmp
@pytest.mark.parametrize("K, log_space", [(5, False), (5, True), (17, False)])
def test_results_bitwise_identical_for_any_thread_count(K, log_space):
    logp, starts, lsp, lA, w = _mixed_workload(9, K=K)
    assert len(starts) - 1 > 1500 and starts[-1] > 5 * _hmm.GROUP_FRAMES
    one = _run(logp, starts, lsp, lA, w, log_space=log_space, n_threads=1)
    vone = np.empty(starts[-1], np.int64), np.empty(len(starts) - 1)
    _hmm.viterbi(logp, starts, lsp, lA, *vone, 1)
    for n in (2, 3):
        for a, b in zip(one, _run(logp, starts, lsp, lA, w, log_space=log_space, n_threads=n)):
            assert np.array_equal(a, b)
        v = np.empty(starts[-1], np.int64), np.empty(len(starts) - 1)
        _hmm.viterbi(logp, starts, lsp, lA, *v, n)
        assert np.array_equal(v[0], vone[0]) and np.array_equal(v[1], vone[1])


def test_mixed_workload_matches_reference_and_both_recursions_agree():
    logp, starts, lsp, lA, w = _mixed_workload(9, K=3, n_short=200, long=(2500, 2000))
    assert starts[-1] > _hmm.GROUP_FRAMES
    got = _run(logp, starts, lsp, lA, w, n_threads=2)
    _assert_matches(got, ref.forward_backward(logp, starts, lsp, lA, w))
    # Long sequences: the reference's log alpha grows like t and loses eps |log alpha| a step (~1e-9 in the
    # posteriors after 20,000 frames); the kernel's shifted log-space recursion does not.
    logp, starts, lsp, lA, w = _mixed_workload(9, K=3)
    got = _run(logp, starts, lsp, lA, w, n_threads=2)
    _assert_matches(got, _run(logp, starts, lsp, lA, w, log_space=True, n_threads=2), rtol=1e-12)


def test_no_frames_at_all():
    lsp, lA = np.log([0.5, 0.5]), np.log(np.full((2, 2), 0.5))
    x, ll, xi, st = _run(np.empty((0, 2)), _starts([0, 0]), lsp, lA)
    assert np.array_equal(ll, [0.0, 0.0]) and np.all(xi == 0) and np.all(st == 0)


def _call(**over):
    K, N = 3, 10
    args = dict(logp=np.zeros((N, K)), starts=_starts([4, 6]), log_startprob=np.log(np.full(K, 1 / K)),
                log_transmat=np.log(np.full((K, K), 1 / K)), seq_weight=None, seq_ll=np.empty(2),
                xi_sum=np.empty((K, K)), start_sum=np.empty(K), n_threads=1)
    args.update(over)
    _hmm.forward_backward(**args)


@pytest.mark.parametrize("over, match", [
    (dict(starts=np.array([0, 4, 9], np.int64)), "sum to N"),
    (dict(starts=np.array([0, 4, 12], np.int64)), "sum to N"),
    (dict(starts=np.array([1, 4, 10], np.int64)), "starts\\[0\\]"),
    (dict(starts=np.array([0, 6, 4, 10], np.int64), seq_ll=np.empty(3)), "non-decreasing"),
    (dict(starts=np.array([0, -2, 10], np.int64)), "non-decreasing"),
    (dict(starts=np.array([], np.int64)), "S \\+ 1"),
    (dict(log_startprob=np.zeros(4)), "log_startprob"),
    (dict(log_transmat=np.zeros((3, 4))), "log_transmat"),
    (dict(log_transmat=np.full((3, 3), np.nan)), "NaN"),
    (dict(logp=np.zeros((10, 0))), "at least one column"),
    (dict(seq_ll=np.empty(3)), "seq_ll"),
    (dict(xi_sum=np.empty((3, 2))), "xi_sum"),
    (dict(start_sum=np.empty(2)), "start_sum"),
    (dict(seq_weight=np.ones(3)), "seq_weight"),
    (dict(seq_weight=np.array([1.0, -1.0])), "non-negative"),
    (dict(seq_weight=np.array([1.0, np.nan])), "non-negative"),
    (dict(n_threads=0), "n_threads"),
])
def test_inconsistent_arguments_raise_value_error(over, match):
    with pytest.raises(ValueError, match=match):
        _call(**over)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("log_space", [False, True])
def test_nan_or_plus_inf_in_logp_raises_and_names_the_row(bad, log_space):
    logp = np.zeros((10, 3))
    logp[7, 1] = bad
    with pytest.raises(ValueError, match="row 7"):
        _call(logp=logp, log_space=log_space)
    path, lp = np.empty(10, np.int64), np.empty(2)
    with pytest.raises(ValueError, match="row 7"):
        _hmm.viterbi(logp, _starts([4, 6]), np.zeros(3), np.zeros((3, 3)), path, lp, 1)


def test_viterbi_rejects_wrong_output_shapes():
    logp = np.zeros((10, 3))
    with pytest.raises(ValueError, match="path"):
        _hmm.viterbi(logp, _starts([10]), np.zeros(3), np.zeros((3, 3)), np.empty(9, np.int64), np.empty(1), 1)
    with pytest.raises(ValueError, match="log_transmat"):
        _hmm.viterbi(logp, _starts([10]), np.zeros(3), np.zeros((2, 2)), np.empty(10, np.int64), np.empty(1), 1)


def _mixture_case(seed, N=700, K=4, M=3):
    rng = np.random.default_rng(seed)
    sub = 5.0 * rng.normal(size=(N, K * M))
    sub[3, 0:M] = -np.inf                 # a state whose sub-components are all impossible
    sub[5, M + 1] = -np.inf
    gamma = rng.dirichlet(np.ones(K), size=N)
    gamma[3, 0] = 0.0
    return sub, gamma, M


def test_collapse_mixture_is_the_per_state_logsumexp():
    sub, _, M = _mixture_case(11)
    out = np.empty((sub.shape[0], sub.shape[1] // M))
    _hmm.collapse_mixture(sub, M, out, 2)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(out, ref.collapse_mixture(sub, M), rtol=1e-13, atol=1e-14)
    assert out[3, 0] == -np.inf


def test_expand_posteriors_splits_each_state_among_its_sub_components():
    sub, gamma, M = _mixture_case(12)
    got = sub.copy()
    _hmm.expand_posteriors(gamma, got, M, 2)
    np.testing.assert_allclose(got, ref.expand_posteriors(gamma, sub, M), rtol=1e-14, atol=1e-300)
    assert np.all(got[3, 0:M] == 0.0)


@needs_openmp
def test_mixture_helpers_bitwise_identical_for_any_thread_count():
    sub, gamma, M = _mixture_case(13, N=3000)
    outs, subs = [], []
    for n in (1, 2, 3):
        out = np.empty((sub.shape[0], sub.shape[1] // M))
        _hmm.collapse_mixture(sub, M, out, n)
        s = sub.copy()
        _hmm.expand_posteriors(gamma, s, M, n)
        outs.append(out)
        subs.append(s)
    assert all(np.array_equal(outs[0], o) for o in outs[1:])
    assert all(np.array_equal(subs[0], s) for s in subs[1:])


def test_mixture_helpers_reject_inconsistent_shapes():
    with pytest.raises(ValueError, match="K \\* M"):
        _hmm.collapse_mixture(np.zeros((5, 6)), 4, np.empty((5, 2)), 1)
    with pytest.raises(ValueError, match="M must be"):
        _hmm.expand_posteriors(np.zeros((5, 2)), np.zeros((5, 6)), 0, 1)
    with pytest.raises(ValueError, match="K \\* M"):
        _hmm.expand_posteriors(np.zeros((4, 2)), np.zeros((5, 6)), 3, 1)


def test_log_libm_is_c_log():
    p = np.array([0.0, 1e-300, 0.3, 1.0])
    out = np.empty(4)
    _hmm.log_libm(p, out)
    assert out[0] == -np.inf and all(out[i] == math.log(p[i]) for i in (1, 2, 3))


# --- categorical emissions: gather and scatter-add -------------------------------------------------------

def _categorical_case(seed, N=5000, K=5, S=7, zeros=True):
    rng = np.random.default_rng(seed)
    E = rng.dirichlet(np.ones(S), size=K)
    if zeros:
        E[0, 3] = 0.0       # a symbol state 0 never emits
        E /= E.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        table = np.ascontiguousarray(np.log(E).T)
    symbols = rng.integers(0, S, N).astype(np.int32)
    gamma = rng.dirichlet(np.ones(K), size=N)
    weight = rng.uniform(0.5, 2.0, N)
    mask = rng.random(N) < 0.1
    return table, symbols, gamma, weight, mask


def _counts_reference(symbols, gamma, weight, mask, S):
    """Plain NumPy: obs[k, s] = sum of w_t gamma_t(k) over the unmasked frames with symbol s."""
    w = np.ones(len(symbols)) if weight is None else weight
    keep = np.ones(len(symbols), bool) if mask is None else ~mask
    obs = np.zeros((S, gamma.shape[1]))
    np.add.at(obs, symbols[keep], w[keep, None] * gamma[keep])
    return obs.T


def test_categorical_lattice_is_the_table_row_of_each_symbol():
    table, symbols, _, _, mask = _categorical_case(0)
    out = np.empty((len(symbols), table.shape[1]))
    _hmm.categorical_lattice(symbols, table, mask, out, 1)
    expected = np.where(mask[:, None], 0.0, table[symbols])
    assert np.array_equal(out, expected)    # -inf for the zero probability kept exactly


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_categorical_counts_match_numpy(weighted, masked):
    table, symbols, gamma, weight, mask = _categorical_case(1)
    weight = weight if weighted else None
    mask = mask if masked else None
    obs = np.full((gamma.shape[1], table.shape[0]), np.nan)
    _hmm.categorical_counts(symbols, gamma, weight, mask, obs, 1)
    np.testing.assert_allclose(obs, _counts_reference(symbols, gamma, weight, mask, table.shape[0]),
                               rtol=1e-12, atol=0)


@needs_openmp
def test_categorical_kernels_bitwise_identical_for_any_thread_count():
    table, symbols, gamma, weight, mask = _categorical_case(2, N=150_000)    # several row blocks
    lats, obss = [], []
    for n in (1, 2, 3):
        out = np.empty((len(symbols), table.shape[1]))
        _hmm.categorical_lattice(symbols, table, mask, out, n)
        obs = np.empty((gamma.shape[1], table.shape[0]))
        _hmm.categorical_counts(symbols, gamma, weight, mask, obs, n)
        lats.append(out)
        obss.append(obs)
    assert all(np.array_equal(lats[0], x) for x in lats[1:])
    assert all(np.array_equal(obss[0], x) for x in obss[1:])


def test_categorical_kernels_reject_a_symbol_out_of_range():
    table, symbols, gamma, _, _ = _categorical_case(3, N=100)
    symbols[37] = table.shape[0]
    with pytest.raises(ValueError, match=r"symbols\[37\]"):
        _hmm.categorical_lattice(symbols, table, None, np.empty((100, table.shape[1])), 1)
    with pytest.raises(ValueError, match=r"symbols\[37\]"):
        _hmm.categorical_counts(symbols, gamma, None, None, np.empty((gamma.shape[1], table.shape[0])), 1)


def test_categorical_kernels_ignore_the_symbol_of_a_masked_frame():
    table, symbols, gamma, _, _ = _categorical_case(4, N=100)
    mask = np.zeros(100, bool)
    mask[5] = True
    symbols[5] = -1     # not a symbol, but the frame has no observation
    out = np.empty((100, table.shape[1]))
    _hmm.categorical_lattice(symbols, table, mask, out, 1)
    assert np.all(out[5] == 0.0)
    obs = np.empty((gamma.shape[1], table.shape[0]))
    _hmm.categorical_counts(symbols, gamma, None, mask, obs, 1)
    np.testing.assert_allclose(obs, _counts_reference(symbols, gamma, None, mask, table.shape[0]), rtol=1e-12)


# --- the forward-backward's workspace ---------------------------------------------------------------------

def _fb_outputs(logp, starts, sp, A, n_threads, workspace):
    K = logp.shape[1]
    x = logp.copy()
    ll, xi, st = np.empty(len(starts) - 1), np.empty((K, K)), np.empty(K)
    _hmm.forward_backward(x, starts, np.log(sp), np.log(A), None, ll, xi, st, n_threads, workspace=workspace)
    return x, ll, xi, st


def test_workspace_gives_the_same_results_as_fresh_scratch():
    # one Workspace through calls that need more of it each time (longer sequences, more threads, other K)
    rng = np.random.default_rng(5)
    ws = _hmm.Workspace()
    for K, lengths, n_threads in [(4, [50, 80], 1), (4, [300, 20, 7], 2), (4, [10], 1), (11, [200, 90], 2),
                                  (3, [40] * 30, 2)]:
        sp, A = _model(rng, K)
        starts = _starts(lengths)
        logp = 3.0 * rng.normal(size=(starts[-1], K))
        fresh = _fb_outputs(logp, starts, sp, A, n_threads, None)
        kept = _fb_outputs(logp, starts, sp, A, n_threads, ws)
        assert all(np.array_equal(a, b) for a, b in zip(fresh, kept))
