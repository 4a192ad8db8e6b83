"""Choosing the number of states of a hidden Markov model by an information criterion: one fit per candidate.

Plain Python over fits: each candidate number of states is a fresh model with
the template's constructor parameters, fitted by EM on the same data, scored
by BIC (or AIC) on that data, and the lowest wins. The loop it runs is the
one a user would write::

    from fastgmm import hmm

    fits = {}
    for k in range(1, 7):
        m = hmm.GaussianHMM(k, covariance_type="diag", n_iter=100, random_state=0).fit(X, lengths)
        fits[k] = (m.bic(X, lengths), m)
    best_k = min(fits, key=lambda k: fits[k][0])

:func:`select_n_states` adds the table of every candidate, failures recorded
instead of raised, and the parameter counts behind the criterion.
"""

import copy
import math

import numpy as np

CRITERIA = ("bic", "aic")


def _fresh(template, n_components, init):
    """A new unfitted model with the template's constructor parameters and ``n_components`` states; start
    number ``init`` (from 0) of an int ``random_state`` r uses seed r + init."""
    params = copy.deepcopy(template.get_params(deep=False))
    params["n_components"] = n_components
    rs = template.random_state
    if isinstance(rs, (int, np.integer)) and not isinstance(rs, bool):
        params["random_state"] = int(rs) + init
    elif rs is not None:
        params["random_state"] = rs        # a RandomState: shared, so each start draws anew
    return type(template)(**params)


def _fit_best(template, k, X, lengths, n_init):
    """(the fit of k states with the highest log-likelihood on X over n_init starts, its log-likelihood)."""
    best, best_ll = None, -math.inf
    for init in range(n_init):
        model = _fresh(template, k, init).fit(X, lengths)
        ll = model.score(X, lengths)
        if best is None or ll > best_ll:
            best, best_ll = model, ll
    return best, best_ll


def _converged(model):
    """Whether EM stopped on its tolerance (not on ``n_iter``): the last gain below ``tol``."""
    h = list(model.monitor_.history)
    return len(h) >= 2 and h[-1] - h[-2] < model.tol


def select_n_states(model_template, X, lengths=None, n_range=range(1, 7), criterion="bic", n_init=1):
    """Fit a hidden Markov model for each number of states and keep the one with the lowest criterion.

    Parameters
    ----------
    model_template : fastgmm.hmm model
        Its constructor parameters (covariance type, priors, ``n_iter``,
        ``random_state``, ...) are used for every candidate, with
        ``n_components`` replaced; the template itself is not fitted or
        changed. A prior given per state (an array sized for one number of
        states) fails for the others: those candidates are recorded as failed.
    X : array-like of shape (n_samples, n_features)
    lengths : array-like of int, optional
        The lengths of the sequences in X (default: one sequence).
    n_range : iterable of int, default range(1, 7)
        The numbers of states tried (each >= 1, without repeats).
    criterion : {"bic", "aic"}, default "bic"
        Lower is better: ``-2 log L + n_parameters * log(n_samples)`` (BIC)
        or ``-2 log L + 2 n_parameters`` (AIC), log L the model's score on X.
    n_init : int, default 1
        EM runs per number of states, from different starts (an int
        ``random_state`` r gives seeds r, r + 1, ...); the run with the
        highest log-likelihood on X is kept. EM finds a local maximum, and a
        poor start for one number of states can make it look worse than
        fewer states: more starts make the comparison fairer.

    Returns
    -------
    best : fitted model
        The candidate with the lowest criterion (the fewest states among ties).
    results : dict of lists, one entry per candidate in ``n_range``'s order
        ``n_components``, ``bic``, ``aic``, ``log_likelihood``,
        ``n_parameters``, ``n_iter`` (EM iterations run), ``converged`` (the
        last gain below ``tol``), ``failed`` and ``error`` (the message of a
        candidate whose fit raised ValueError; its numbers are NaN and its
        n_iter 0), and ``best`` (True for the chosen row). ``bic`` and ``aic``
        are the fitted model's ``bic(X, lengths)`` and ``aic(X, lengths)``.

    Raises
    ------
    ValueError
        An invalid ``n_range`` or ``criterion``, or every candidate failed
        (the first failure's message is given).
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}.")
    ks = list(n_range)
    if not ks:
        raise ValueError("n_range is empty: give at least one number of states.")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"n_range must hold integers >= 1 (numbers of states), got {k!r}.")
    if len(set(ks)) != len(ks):
        raise ValueError(f"n_range repeats a number of states: {ks}.")
    if isinstance(n_init, bool) or not isinstance(n_init, (int, np.integer)) or n_init < 1:
        raise ValueError(f"n_init must be an integer >= 1, got {n_init!r}.")
    results = {c: [] for c in ("n_components", "bic", "aic", "log_likelihood", "n_parameters", "n_iter",
                                "converged", "failed", "error", "best")}
    models = []
    for k in ks:
        try:
            model, log_l = _fit_best(model_template, int(k), X, lengths, int(n_init))
        except ValueError as e:
            model, row = None, dict(bic=math.nan, aic=math.nan, log_likelihood=math.nan, n_parameters=math.nan,
                                    n_iter=0, converged=False, failed=True, error=str(e))
        else:
            p = model._n_parameters()
            row = dict(bic=float(-2 * log_l + p * np.log(np.shape(X)[0])), aic=float(-2 * log_l + 2 * p),
                       log_likelihood=float(log_l),
                       n_parameters=p, n_iter=model.monitor_.iter, converged=_converged(model), failed=False,
                       error="")
        models.append(model)
        results["n_components"].append(int(k))
        for c, v in row.items():
            results[c].append(v)
    values = [math.inf if f else v for f, v in zip(results["failed"], results[criterion])]
    if all(results["failed"]):
        raise ValueError(f"every candidate number of states failed to fit; the first ({ks[0]} states): "
                         f"{results['error'][0]}")
    order = sorted(range(len(ks)), key=lambda i: (values[i], ks[i]))
    chosen = order[0]
    results["best"] = [i == chosen for i in range(len(ks))]
    return models[chosen], results
