"""A dict whose keys are also attributes, as scikit-learn's loaders return."""


class Bunch(dict):
    """Container of a loaded data set: ``bunch.data`` and ``bunch["data"]`` are the same.

    Like ``sklearn.utils.Bunch`` (defined here so that scikit-learn is not needed).
    """

    def __init__(self, **kwargs):
        super().__init__(kwargs)

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key, value):
        self[key] = value

    def __dir__(self):
        return list(self.keys()) + list(super().__dir__())
