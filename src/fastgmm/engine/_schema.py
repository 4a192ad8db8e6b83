"""What a fitted fastgmm estimator is made of, declared once per class: the schema that save and load follow.

Each estimator class has a ``_schema`` (a :class:`Schema`) naming its fitted
attributes and how a model file holds each of them (``fastgmm.io._persistence``
reads and writes every class by this declaration alone):

:class:`Array`
    a fitted attribute held as archive member(s): its name, the member's name,
    its form (:data:`ARRAY`; :data:`LIST`, a list of arrays of different
    shapes, one member each, e.g. a categorical mixture's per-column tables;
    :data:`SCALAR`, a NumPy scalar held 0-d; :data:`VALUES`, a list of NumPy
    scalars held 1-d) and its dtype rule: :data:`X` (the dtype of the data the
    model was fitted on: the model's dtype, one for every such array),
    :data:`FLOAT64` whatever X's dtype, or :data:`FLOAT` (float32 or float64,
    as the fit made it: a prior given by the user is float64 whatever X's dtype).
:class:`Scalar`
    a fitted attribute held as a JSON value in the file's header, with its
    kind (how it is checked and converted when read) and whether a model may
    lack it (then it is written as null).
:class:`Nested`
    a fitted estimator held as a model of its own, its members under a prefix
    (a selection's ``best_estimator_``).
:class:`Table`
    a dict of equal-length columns (a selection's ``results_``): the column
    names and text columns in the header, each numeric column a member.

The schema says what is stored and in which form; whether the stored values
make a valid model is the class's ``_validate_loaded()``, which load calls once
every attribute is set, and which also sets the schema's ``derived``
attributes (those computed from the stored ones, e.g. ``n_reinit_`` from
``degenerate_events_``).

A family's named parameters (its ``_Params``) are the EM engine's view of
the same attributes: field ``f`` is the fitted attribute ``f_``, and the
attributes ``_set_parameters`` sets are all in the schema (the tests check both).
"""

from dataclasses import dataclass
from typing import NamedTuple

# Forms of an Array.
ARRAY = "array"
LIST = "list"
SCALAR = "scalar"
VALUES = "values"

# Dtype rules of an Array.
X = "X"
FLOAT64 = "float64"
FLOAT = "float"

# Kinds of a Scalar: how the header's JSON value is checked and converted.
INT = "int"            # an int (not a bool) >= low
BOOL = "bool"
NUMBER = "number"      # an int or a float (not a bool), kept as it is; the class checks its range
POSITIVE = "positive"  # a finite number > 0, read as a float
NAMES = "names"        # n_features_in_ strings (feature_names_in_), read as an object array
JSON = "json"          # any JSON value, checked by the class's _validate_loaded


@dataclass(frozen=True)
class Array:
    """A fitted attribute held as archive member(s) (see the module docstring).

    ``member`` defaults to the attribute's name. ``at_most`` (form
    :data:`VALUES` only) names an int :class:`Scalar` that bounds the number of
    values (``lower_bounds_``: at most ``n_iter_``).
    """

    attribute: str
    member: str = None
    form: str = ARRAY
    dtype: str = X
    at_most: str = None

    def __post_init__(self):
        if self.member is None:
            object.__setattr__(self, "member", self.attribute)
        if self.form not in (ARRAY, LIST, SCALAR, VALUES) or self.dtype not in (X, FLOAT64, FLOAT):
            raise ValueError(f"Array {self.attribute!r}: unknown form {self.form!r} or dtype rule {self.dtype!r}.")


class Scalar(NamedTuple):
    """A fitted attribute held as a JSON value of the header's ``fitted`` object.

    ``optional``: a model may lack the attribute (written as null; a null is
    read as no attribute). ``low``: the smallest value of an :data:`INT`.
    """

    attribute: str
    kind: str
    low: int = None
    optional: bool = False


class Nested(NamedTuple):
    """A fitted estimator attribute held as a model of its own: its header under ``member``, its
    members named ``member/<name>``."""

    attribute: str
    member: str


class Table(NamedTuple):
    """A dict of equal-length columns: ``<member>_columns`` (names, in order) and ``<member>_text``
    (the ``text_columns``' values as strings) in the header, every other column a 1-d member
    ``<member>/<column>``."""

    attribute: str
    member: str
    text_columns: tuple


class Schema(NamedTuple):
    """An estimator class's fitted attributes as a model file holds them (see the module docstring).

    ``check_params`` names the method that validates the constructor
    parameters read from a file (before any fitted attribute is set).
    ``derived``: fitted attributes not stored, set by ``_validate_loaded``.
    """

    arrays: tuple = ()
    scalars: tuple = ()
    nested: tuple = ()
    tables: tuple = ()
    derived: tuple = ()
    check_params: str = "_validate_base_params"

    def attributes(self, form=None):
        """The stored fitted attributes' names (with ``form``: the arrays of that form only)."""
        if form is not None:
            return tuple(a.attribute for a in self.arrays if a.form == form)
        return tuple(f.attribute for part in (self.arrays, self.scalars, self.nested, self.tables) for f in part)


# What the EM loop (fastgmm.engine._base) fits for every mixture family, whatever its parameters.
_MIXTURE_ARRAYS = (
    Array("lower_bound_", form=SCALAR),
    # One per iteration of fit (fewer after an interrupted fit), the last batch's after partial_fit.
    Array("lower_bounds_", form=VALUES, at_most="n_iter_"),
)
_MIXTURE_SCALARS = (
    Scalar("n_features_in_", INT, low=1),     # first: NAMES and the families' checks read it
    Scalar("converged_", BOOL),
    Scalar("n_iter_", INT, low=0),
    Scalar("n_omitted_", INT, low=0),
    Scalar("n_steps_", INT, low=1, optional=True),            # partial_fit batches; none after fit
    Scalar("n_samples_seen_", POSITIVE, optional=True),
    Scalar("feature_names_in_", NAMES, optional=True),
)

#: The Gaussian parameters, as GaussianMixture, StudentTMixture and BayesianGaussianMixture hold them.
GAUSSIAN_ARRAYS = tuple(Array(name) for name in (
    "weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"))
#: on_degenerate's log; optional: a model whose fit was interrupted before its end has none.
DEGENERATE_EVENTS = (Scalar("degenerate_events_", JSON, optional=True),)
#: A Gaussian mixture's noise component (fastgmm.families._noise), when it has one.
NOISE_SCALARS = (Scalar("noise_weight_", NUMBER, optional=True), Scalar("noise_volume_", POSITIVE, optional=True),
                 Scalar("noise_bounds_", JSON, optional=True))
#: The counts of reseeds and drops in DEGENERATE_EVENTS, which _validate_loaded recounts.
DEGENERATE_COUNTS = ("n_reinit_", "n_dropped_")


def mixture_schema(*arrays, scalars=(), derived=()):
    """The schema of a mixture family: its own fitted ``arrays`` and ``scalars`` (the model's dtype
    is that of its first :data:`X` array) and what the EM loop fits for every family."""
    return Schema(arrays=tuple(arrays) + _MIXTURE_ARRAYS, scalars=_MIXTURE_SCALARS + tuple(scalars),
                  derived=tuple(derived))


def check_loaded_events(model, n_fitted):
    """A loaded model's ``degenerate_events_`` (or its absence) checked against ``n_fitted`` components,
    and ``n_reinit_`` and ``n_dropped_`` counted from it.

    Raises
    ------
    ValueError
        An invalid record, or fitted components that the log does not account for.
    """

    events = getattr(model, "degenerate_events_", None)
    if events is None:
        # No log (a fit interrupted before its end): components may have been dropped, never added.
        if n_fitted > model.n_components:
            raise ValueError(f"the model has {n_fitted} components, more than n_components={model.n_components}.")
        return
    check_events(events, int(model.n_iter_), model.n_components, n_fitted)
    set_fitted_events(model, events)


def set_fitted_events(model, events):
    """The fitted attributes ``degenerate_events_``, ``n_reinit_``, ``n_dropped_`` from one run's log."""
    model.degenerate_events_ = [tuple(e) for e in events]
    model.n_reinit_ = sum(1 for e in events if e[3] == "reinit")
    model.n_dropped_ = sum(1 for e in events if e[3] == "drop")


def check_events(events, n_iter, n_components, n_fitted):
    """Loaded ``degenerate_events_`` must be (iteration, component, reason, action) records; ValueError if not."""
    if not isinstance(events, (list, tuple)):
        raise ValueError("degenerate_events_ must be a list of (iteration, component, reason, action).")
    reasons = ("empty", "singular", "non-finite")
    n_drop = 0
    for e in events:
        ok = (isinstance(e, (list, tuple)) and len(e) == 4 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                  for v in e[:2])
              and 0 <= e[0] <= n_iter and 0 <= e[1] < n_components and e[2] in reasons
              and e[3] in ("reinit", "drop"))
        if not ok:
            raise ValueError(f"degenerate_events_ has an invalid record {e!r}: expected (iteration >= 0, "
                             "component, one of 'empty'/'singular'/'non-finite', 'reinit' or 'drop').")
        n_drop += e[3] == "drop"
    if n_fitted != n_components - n_drop:
        raise ValueError(f"the model has {n_fitted} components, but n_components={n_components} less the "
                         f"{n_drop} dropped by degenerate_events_ is {n_components - n_drop}.")
