"""fastgmm.hmm.select_n_states: one fit per number of states, the lowest criterion kept, the table of all."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastgmm import hmm

from conftest import three_regime_frames

LENGTHS = [150, 150]


@pytest.fixture(scope="module")
def three_regimes():
    """300 frames from a 3-state chain with well separated unit-variance means."""
    X = three_regime_frames(300)
    return X


def _template():
    return hmm.GaussianHMM(covariance_type="diag", n_iter=50, random_state=0)


def test_bic_chooses_the_number_of_regimes(three_regimes):
    best, results = hmm.select_n_states(_template(), three_regimes, LENGTHS, range(1, 6), n_init=3)
    assert best.n_components == 3
    assert results["n_components"] == [1, 2, 3, 4, 5]
    assert results["best"] == [False, False, True, False, False]


def test_the_table_holds_each_candidates_criteria(three_regimes):
    best, results = hmm.select_n_states(_template(), three_regimes, LENGTHS, [2, 3], criterion="aic")
    i = results["n_components"].index(best.n_components)
    assert results["aic"][i] == best.aic(three_regimes, LENGTHS)
    assert results["bic"][i] == best.bic(three_regimes, LENGTHS)
    assert results["log_likelihood"][i] == best.score(three_regimes, LENGTHS)
    assert results["n_parameters"][i] == best._n_parameters()
    assert results["n_iter"][i] == best.monitor_.iter
    assert results["aic"][i] == min(results["aic"])


def test_the_template_is_left_unfitted(three_regimes):
    template = _template()
    hmm.select_n_states(template, three_regimes, LENGTHS, [1, 2])
    assert not hasattr(template, "startprob_") and template.n_components == 1


def test_candidate_equals_a_plain_fit_with_the_same_parameters(three_regimes):
    best, _ = hmm.select_n_states(_template(), three_regimes, LENGTHS, [2])
    plain = hmm.GaussianHMM(2, covariance_type="diag", n_iter=50, random_state=0).fit(three_regimes, LENGTHS)
    assert_array_equal(best.means_, plain.means_)
    assert_array_equal(best.transmat_, plain.transmat_)


def test_a_candidate_that_fails_is_recorded_not_raised(three_regimes):
    # A start prior sized for 2 states cannot be used with 3.
    template = hmm.GaussianHMM(covariance_type="diag", n_iter=5, random_state=0, startprob_prior=np.ones(2))
    best, results = hmm.select_n_states(template, three_regimes, LENGTHS, [2, 3])
    assert best.n_components == 2
    assert results["failed"] == [False, True]
    assert results["error"][1] != "" and np.isnan(results["bic"][1])


def test_every_candidate_failing_is_an_error(three_regimes):
    template = hmm.GaussianHMM(n_iter=5, random_state=0, startprob_prior=np.ones(7))
    with pytest.raises(ValueError, match="every candidate number of states failed"):
        hmm.select_n_states(template, three_regimes, LENGTHS, [2, 3])


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_range=[]), "n_range is empty"),
    (dict(n_range=[0, 2]), "integers >= 1"),
    (dict(n_range=[2, 2]), "repeats"),
    (dict(criterion="icl"), "criterion must be one of"),
    (dict(n_init=0), "n_init must be an integer >= 1"),
])
def test_invalid_arguments_are_refused(three_regimes, kwargs, message):
    with pytest.raises(ValueError, match=message):
        hmm.select_n_states(_template(), three_regimes, LENGTHS, **kwargs)
