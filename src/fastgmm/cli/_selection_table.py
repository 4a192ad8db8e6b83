"""The text table of a model selection's ``results_``, printed by ``fastgmm select``, ``info`` and ``demo``.

A module of its own so that the command line (``_cli``) and the demo
(``_demo``, which the command line runs) both import it and neither imports
the other.
"""


def format_results(results, criterion):
    """One line per candidate of ``GaussianMixtureSelection.results_``, under a header.

    Parameters
    ----------
    results : dict
        A fitted selection's ``results_``.
    criterion : {"bic", "aic", "icl"}
        Names the criterion column (its values are ``results["criterion"]``).

    Returns
    -------
    str
        The table, without a final newline.
    """
    lines = [f"{'covariance':<10} {'K':>3} {criterion.upper():>12} {'log-lik':>12} {'params':>6} "
             f"{'iter':>4} {'conv':>5} {'rank':>4}  note"]
    for i in range(len(results["n_components"])):
        note = ("failed: " + results["error"][i]) if results["failed"][i] else (
            ("degenerate: " + results["degenerate_reason"][i]) if results["degenerate"][i] else "")
        rank = int(results["rank"][i])
        lines.append(
            f"{results['covariance_type'][i]:<10} {int(results['n_components'][i]):>3} "
            f"{results['criterion'][i]:>12.6g} {results['log_likelihood'][i]:>12.6g} "
            f"{int(results['n_parameters'][i]):>6} {int(results['n_iter'][i]):>4} "
            f"{str(bool(results['converged'][i])):>5} {rank if rank else '-':>4}  {note}")
    return "\n".join(lines)
