"""hmmlearn's own HMM tests, run against ``fastgmm.hmm``.

hmmlearn's ``tests`` package (installed with it) is run with only its import
of the models swapped (see ``tests/_hmmlearn_suite.py`` for how); below, what
is deselected and what is known to differ, each with its reason. hmmlearn's
``test_base.py``, ``test_utils.py``, ``test_kl_divergence.py`` and the
variational modules test hmmlearn's own base class, C++ routines, utilities
and variational models, not the models fastgmm provides, and are not run.
"""

from _hmmlearn_suite import suite_tests

MODULES = [
    "test_gaussian_hmm.py",
    "test_gmm_hmm.py",
    "test_gmm_hmm_new.py",
    "test_gmm_hmm_multisequence.py",
    "test_categorical_hmm.py",
    "test_poisson_hmm.py",
    "test_multinomial_hmm.py",
]

# By ``module.py::Class::function`` (every parametrisation), with the reason.
DESELECTED = {}

# Test ids known to fail against fastgmm.hmm, each with its reason. A failure
# not listed here, or a listed one that passes, fails this module.
EXPECTED_FAILURES = {}

globals().update(suite_tests(MODULES, DESELECTED, EXPECTED_FAILURES))
