"""The scikit-learn estimator protocol for fastgmm's estimators, without importing scikit-learn.

:class:`EstimatorProtocol` gives a class whose ``__init__`` only stores its
keyword parameters everything scikit-learn's tools expect of an estimator:
``get_params``/``set_params`` (so ``sklearn.base.clone``, ``Pipeline`` and
``GridSearchCV`` work), a repr of the non-default parameters, tags, the
fitted check, and metadata routing (``get_metadata_routing`` and
``set_{method}_request``) so that ``sample_weight`` can be routed with
``sklearn.set_config(enable_metadata_routing=True)``.

scikit-learn is imported only by the methods that only scikit-learn calls
(tags, routing); importing fastgmm never imports it.
"""

import inspect

import numpy as np

from ._validation import InvalidParameterError, NotFittedError, sklearn_compatible

# scikit-learn's methods that can request metadata (its SIMPLE_METHODS), and
# the parameters that are data, never metadata (as in scikit-learn).
_ROUTABLE_METHODS = (
    "fit", "partial_fit", "predict", "predict_proba", "predict_log_proba", "decision_function", "score",
    "split", "transform", "inverse_transform",
)
_DATA_PARAMS = {"X", "y", "Y", "Xt", "yt"}


def _metadata_params(function):
    """Names of ``function``'s metadata parameters: all but self, the data and */**."""
    params = list(inspect.signature(function).parameters.values())[1:]
    return [p.name for p in params
            if p.name not in _DATA_PARAMS and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _metadata_routing_module():
    try:
        from sklearn.utils import _metadata_requests
    except ImportError:
        raise ImportError(
            "Metadata routing is scikit-learn's machinery: install scikit-learn (>= 1.4) to use "
            "get_metadata_routing() or set_{method}_request()."
        ) from None
    return _metadata_requests


def _make_set_request(method, keys):
    """``set_{method}_request(**kw)``, as scikit-learn's RequestMethod makes it."""

    def set_request(self, **kw):
        mr = _metadata_routing_module()
        if not mr._routing_enabled():
            raise RuntimeError(
                "This method is only available when metadata routing is enabled. You can enable it "
                "using sklearn.set_config(enable_metadata_routing=True)."
            )
        unexpected = set(kw) - set(keys)
        if unexpected:
            raise TypeError(f"Unexpected args: {unexpected} in {method}. Accepted arguments are: {set(keys)}")
        requests = self._get_metadata_request()
        method_request = getattr(requests, method)
        for param, alias in kw.items():
            if alias is not mr.UNCHANGED:
                method_request.add_request(param=param, alias=alias)
        self._metadata_request = requests
        return self

    set_request.__name__ = set_request.__qualname__ = f"set_{method}_request"
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params += [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default="$UNCHANGED$") for k in keys]
    set_request.__signature__ = inspect.Signature(params)
    set_request.__doc__ = (
        f"Request metadata passed to ``{method}`` (scikit-learn's metadata routing).\n\n"
        "Only available with ``sklearn.set_config(enable_metadata_routing=True)``. Each of\n"
        f"{', '.join(repr(k) for k in keys)} can be set to True (requested), False (not\n"
        "requested), None (error if passed) or a str (an alias).\n\n"
        "Returns\n-------\nself\n"
    )
    set_request._fastgmm_generated = True
    return set_request


class EstimatorProtocol:
    """Mixin: scikit-learn's estimator protocol, scikit-learn imported only when it calls.

    A subclass's ``__init__`` must take its parameters by name and store each
    unchanged as an attribute of the same name (as scikit-learn requires).

    Class attributes a subclass sets:

    ``_tags_estimator_type`` : str, default "density_estimator"
        scikit-learn's ``Tags.estimator_type``.
    ``_allow_nan`` : bool, default False
        ``Tags.input_tags.allow_nan``.
    ``_fitted_attribute`` : str, default "n_features_in_"
        The attribute whose presence means "fitted" (``__sklearn_is_fitted__``).

    ``set_{method}_request`` is made for every routable method (``fit``,
    ``score``, ...) whose signature has metadata parameters (e.g.
    ``sample_weight``), when the subclass is defined.
    """

    _tags_estimator_type = "density_estimator"
    _allow_nan = False
    _fitted_attribute = "n_features_in_"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for method in _ROUTABLE_METHODS:
            name = f"set_{method}_request"
            function = getattr(cls, method, None)
            existing = getattr(cls, name, None)
            if existing is not None and not getattr(existing, "_fastgmm_generated", False):
                continue   # written by hand
            keys = _metadata_params(function) if inspect.isfunction(function) else []
            if keys or existing is not None:   # (a parent's, now taking what this signature has)
                setattr(cls, name, _make_set_request(method, sorted(keys)))

    # ------------------------------------------------------------------
    # parameters
    # ------------------------------------------------------------------
    @classmethod
    def _get_param_names(cls):
        """The constructor's parameter names, sorted (scikit-learn's rule: no ``*args``)."""
        init = cls.__init__
        if init is object.__init__:
            return []
        params = [p for p in inspect.signature(init).parameters.values()
                  if p.name != "self" and p.kind != p.VAR_KEYWORD]
        for p in params:
            if p.kind == p.VAR_POSITIONAL:
                raise RuntimeError(
                    f"{cls.__name__}'s __init__ takes *{p.name}: scikit-learn estimators must name every "
                    "parameter in the signature of their __init__."
                )
        return sorted(p.name for p in params)

    def get_params(self, deep=True):
        """Parameters of this estimator by name (scikit-learn protocol).

        Parameters
        ----------
        deep : bool, default=True
            Also return the parameters of parameters that are estimators, as
            ``name__subname``.

        Returns
        -------
        dict
        """
        out = {}
        for key in self._get_param_names():
            value = getattr(self, key)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{key}__{k}", v) for k, v in value.get_params().items())
            out[key] = value
        return out

    def set_params(self, **params):
        """Set parameters by name, ``name__subname`` for nested ones (scikit-learn protocol).

        Raises
        ------
        InvalidParameterError
            (a ValueError) for a name that is not a parameter, with
            scikit-learn's message.

        Returns
        -------
        self
        """
        if not params:
            return self
        valid = self.get_params(deep=True)
        nested = {}
        for key, value in params.items():
            key, delim, sub_key = key.partition("__")
            if key not in valid:
                raise sklearn_compatible(InvalidParameterError)(
                    f"Invalid parameter {key!r} for estimator {self}. "
                    f"Valid parameters are: {self._get_param_names()!r}."
                )
            if delim:
                nested.setdefault(key, {})[sub_key] = value
            else:
                setattr(self, key, value)
                valid[key] = value
        for key, sub_params in nested.items():
            valid[key].set_params(**sub_params)
        return self

    def __repr__(self):
        """``Name(p=v, ...)`` with only the parameters that differ from their defaults."""
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()
                    if p.name != "self"}
        changed = []
        for name in self._get_param_names():
            value = getattr(self, name)
            default = defaults.get(name, inspect.Parameter.empty)
            same = value is default or (
                not isinstance(value, np.ndarray) and not isinstance(default, np.ndarray)
                and type(value) is type(default) and _equal(value, default)
            )
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    # ------------------------------------------------------------------
    # what scikit-learn asks (it is imported by then)
    # ------------------------------------------------------------------
    def __sklearn_tags__(self):
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(
            estimator_type=self._tags_estimator_type,
            target_tags=TargetTags(required=False),
            transformer_tags=None,
            regressor_tags=None,
            classifier_tags=None,
            input_tags=InputTags(allow_nan=self._allow_nan),
        )

    def __sklearn_is_fitted__(self):
        return hasattr(self, self._fitted_attribute)

    def _check_is_fitted(self):
        """NotFittedError (scikit-learn's class too, when it is loaded) unless fitted."""
        if not self.__sklearn_is_fitted__():
            raise sklearn_compatible(NotFittedError)(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with appropriate "
                "arguments before using this estimator."
            )

    def _check_n_features(self, X):
        """X (validated) must have the number of features seen in fit."""
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting {self.n_features_in_} "
                "features as input."
            )
        return X

    def _get_metadata_request(self):
        """This instance's requests: those set by ``set_*_request``, else those of the signatures."""
        mr = _metadata_routing_module()
        if hasattr(self, "_metadata_request"):
            return mr.get_routing_for_object(self._metadata_request)
        requests = mr.MetadataRequest(owner=type(self).__name__)
        for method in _ROUTABLE_METHODS:
            function = getattr(type(self), method, None)
            if not inspect.isfunction(function):
                continue
            method_request = getattr(requests, method, None)
            if method_request is None:   # a method this scikit-learn does not route
                continue
            for param in _metadata_params(function):
                method_request.add_request(param=param, alias=None)
        return requests

    def get_metadata_routing(self):
        """scikit-learn's metadata routing of this estimator (a ``MetadataRequest``).

        Needs scikit-learn; raises ImportError saying so without it.
        """
        return self._get_metadata_request()


def _equal(a, b):
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False
