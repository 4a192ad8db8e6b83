"""The command line's models: the registry of every family it fits (its class, its own options, its covariance
types) and how ``fit`` and ``info`` describe a fitted model of each. A new family is one entry of ``MODELS``."""

from dataclasses import dataclass, field

import numpy as np

from ._args import COV_TYPES, MODEL_NAMES, NAN_POLICIES, UserError, _finite_float, _non_negative_float, _positive_float


# ----------------------------------------------------------------------
# the models of 'fastgmm fit'
# ----------------------------------------------------------------------
@dataclass(frozen=True)
class _Option:
    """An option of 'fastgmm fit' that sets one estimator parameter of the models that take it."""

    flag: str
    param: str              # the estimator parameter, also the argparse dest
    kwargs: dict = field(default_factory=dict)


# The options of the Gaussian-type models, offered to a model when its get_params() has the parameter
# (so --nan-policy reaches a model as soon as the model takes nan_policy).
SHARED_OPTIONS = {o.param: o for o in (
    _Option("--covariance-type", "covariance_type", dict(
        choices=MODEL_NAMES, metavar="TYPE", help="covariance of each component: full, tied, diag, spherical, or "
        "(gaussian only) one of mclust's models EII, VII, EEI, VEI, EVI, VVI, EEE, VEE, EVE, VVE, EEV, VEV, EVV, "
        "VVV; student-t: full, diag or spherical (default: full)")),
    _Option("--reg-covar", "reg_covar", dict(
        type=_non_negative_float, metavar="R", help="added to every covariance's diagonal (default: 1e-6)")),
    _Option("--nan-policy", "nan_policy", dict(
        choices=NAN_POLICIES, help="missing values: raise an error, omit the rows, or marginalize (exact EM; "
                                   "gaussian, bayesian and student-t) (default: raise)")),
    _Option("--noise", "noise", dict(
        choices=("auto",), help="add mclust's noise component (a uniform density over the data's box) with an "
                                "automatic initial guess; noise rows are labelled -1 (gaussian only)")),
    _Option("--noise-volume", "noise_volume", dict(
        type=_positive_float, metavar="V", help="with --noise: the volume of the noise's region (default: "
                                                "mclust's hypvol of the data)")),
)}

# Options of one model or a few, offered to the models whose MODELS entry lists them.
OWN_OPTIONS = {o.param: o for o in (
    _Option("--weight-concentration-prior-type", "weight_concentration_prior_type", dict(
        choices=("dirichlet_process", "dirichlet_distribution"),
        help="prior on the weights: stick-breaking, which leaves surplus components empty, or a Dirichlet "
             "distribution (default: dirichlet_process)")),
    _Option("--weight-concentration-prior", "weight_concentration_prior", dict(
        type=_positive_float, metavar="GAMMA",
        help="concentration of the weight prior; smaller leaves more components unused (default: 1/K)")),
    _Option("--dof-init", "dof_init", dict(
        type=_positive_float, metavar="NU",
        help="initial degrees of freedom of every component; small is heavy-tailed (default: 10)")),
    _Option("--fix-dof", "fix_dof", dict(
        action="store_true", help="keep the degrees of freedom at --dof-init instead of estimating them")),
    _Option("--alpha", "alpha", dict(
        type=_positive_float, help="smoothing: pseudo-rows of every value per component, keeping "
                                   "probabilities and rates off 0 (default: 1e-10)")),
    _Option("--binarize", "binarize", dict(
        type=_finite_float, metavar="T", help="read the data as 'value > T' (default: the data must hold only "
                                              "0 and 1)")),
)}


@dataclass(frozen=True)
class _Model:
    """A model of 'fastgmm fit --model NAME'."""

    estimator: str                  # the class's name in the fastgmm namespace
    summary: str                    # for --help
    options: tuple = ()             # its own options: parameters of OWN_OPTIONS
    covariance_types: tuple = ()    # the values of --covariance-type it takes
    means: str = "means"            # what its means_ hold, for 'info' (None: printed by the model's own lines)

    @property
    def cls(self):
        import fastgmm

        return getattr(fastgmm, self.estimator)


# One entry per family: a new family is one more line here.
MODELS = {
    "gaussian": _Model("GaussianMixture", "Gaussian mixture", covariance_types=MODEL_NAMES),
    "bayesian": _Model("BayesianGaussianMixture", "variational Bayesian Gaussian mixture (K is an upper bound)",
                       ("weight_concentration_prior_type", "weight_concentration_prior"), COV_TYPES),
    "student-t": _Model("StudentTMixture", "Student-t mixture, robust to outliers", ("dof_init", "fix_dof"),
                        ("full", "diag", "spherical")),
    "bernoulli": _Model("BernoulliMixture", "binary data, 0 and 1", ("alpha", "binarize"),
                        means="probability of a 1"),
    "poisson": _Model("PoissonMixture", "counts", ("alpha",), means="rates (mean counts)"),
    "categorical": _Model("CategoricalMixture", "integer category codes, a categorical variable per column",
                          ("alpha",), means=None),
}


def _accepted(name):
    """The estimator parameters of MODELS[name] (its get_params() keys)."""
    return set(MODELS[name].cls().get_params())


def _takes(name, param):
    own = param in MODELS[name].options
    return (own or param in SHARED_OPTIONS) and param in _accepted(name)


def _models_taking(param):
    names = [n for n in MODELS if _takes(n, param)]
    if not names:       # an estimator renamed the parameter: the option must not break the parser
        return "no --model"
    return "--model " + (names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1])


def _model_name(model):
    """The MODELS name of a fitted model's class (None for a class the command line does not fit)."""
    return next((n for n, m in MODELS.items() if m.estimator == type(model).__name__), None)


def _estimator_params(args):
    """The keyword arguments of MODELS[args.model]: the options it takes; any other option given is an error."""
    name = args.model
    accepted = _accepted(name)
    params = {k: v for k, v in dict(tol=args.tol, max_iter=args.max_iter, n_init=args.n_init,
                                    random_state=args.random_state, n_threads=args.threads).items()
              if k in accepted}
    for param, option in {**SHARED_OPTIONS, **OWN_OPTIONS}.items():
        value = getattr(args, param)
        if value is None:       # not given: the model's own default
            continue
        if not _takes(name, param):
            raise UserError(f"{option.flag} applies to {_models_taking(param)} only")
        params[param] = value
    types = MODELS[name].covariance_types
    if "covariance_type" in params and params["covariance_type"] not in types:
        raise UserError(f"--covariance-type {params['covariance_type']}: --model {name} takes "
                        f"{', '.join(types[:-1])} or {types[-1]}")
    return params


# ----------------------------------------------------------------------
# describing a model
# ----------------------------------------------------------------------
def _is_variational(model):
    from ..families._bayesian_mixture import BayesianGaussianMixture

    return isinstance(model, BayesianGaussianMixture)


def _parameters_text(model):
    """'K=.., covariance_type=.., <its own options>, dtype=..' of a fitted model."""
    params = model.get_params()
    parts = [f"K={np.shape(model.weights_)[0]}"]
    if "covariance_type" in params:
        parts.append(f"covariance_type={params['covariance_type']}")
    name = _model_name(model)
    for param in MODELS[name].options if name else ():
        value = params[param]
        parts.append(f"{param}={value:g}" if isinstance(value, float) else f"{param}={value}")
    parts.append(f"dtype={np.asarray(model.weights_).dtype}")
    return ", ".join(parts)


def _bound_text(model):
    """The model's lower_bound_, saying what it is."""
    if _is_variational(model):
        return f"lower bound {float(model.lower_bound_):.6g} (variational, summed over the rows)"
    return f"lower bound {float(model.lower_bound_):.6g} (mean log-likelihood per row)"


def _own_lines(model):
    """What only this kind of model has: degrees of freedom, categories."""
    lines = []
    if hasattr(model, "degrees_of_freedom_") and not _is_variational(model):
        dof = np.atleast_1d(np.asarray(model.degrees_of_freedom_, dtype=np.float64))
        lines.append(f"degrees of freedom: {', '.join(f'{v:.4g}' for v in dof)}")
    if hasattr(model, "categories_"):
        lines.append(f"categories per feature: {', '.join(str(len(c)) for c in model.categories_)}")
    return lines


def _feature_labels(model):
    names = getattr(model, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else [f"feature {d}" for d in range(model.n_features_in_)]


def _parameter_lines(model):
    """weights_ and means_ (or per-feature tables) of a fitted model, for 'info'."""
    lines = [f"weights: {np.asarray(model.weights_)}"]
    if hasattr(model, "noise_weight_"):
        lines.append(f"noise: weight {model.noise_weight_:.4g}, uniform over volume {model.noise_volume_:.6g} "
                     "(its rows are labelled -1)")
    name = _model_name(model)
    means = getattr(model, "means_", None)
    if isinstance(means, list):     # a categorical mixture: one (K, n_categories) table per feature
        cats = getattr(model, "categories_", [None] * len(means))
        for label, c, table in zip(_feature_labels(model), cats, means):
            what = "" if c is None else f" (categories {' '.join(_code(v) for v in c)})"
            lines.append(f"{label}{what}: probability of each category per component:\n{np.asarray(table)}")
    elif means is not None:
        lines.append(f"{MODELS[name].means if name and MODELS[name].means else 'means'}:\n{np.asarray(means)}")
    return lines


def _code(v):
    v = float(v)
    return str(int(v)) if v.is_integer() else f"{v:g}"
