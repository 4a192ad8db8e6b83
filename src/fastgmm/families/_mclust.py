# TEMPORARY (lead's local stand-in until helper mclustm's module lands; never committed)
import numpy as np
MODELS = ("EII","VII","EEI","VEI","EVI","VVI","EEE","VEE","EVE","VVE","EEV","VEV","EVV","VVV")
SKLEARN_EQUIVALENT = {"VII": "spherical", "VVI": "diag", "EEE": "tied", "VVV": "full"}
_L = {"EII": "spherical", "VII": "spherical", "EEI": "diag", "VEI": "diag", "EVI": "diag", "VVI": "diag", "EEE": "tied"}
def layout(model):
    if model in ("full", "tied", "diag", "spherical"):
        return model
    return _L.get(model, "full")
def n_covariance_parameters(model, K, D):
    sk = {"full": "VVV", "tied": "EEE", "diag": "VVI", "spherical": "VII"}
    m = sk.get(model, model)
    o = D * (D - 1) // 2
    return {"EII": 1, "VII": K, "EEI": D, "VEI": K + D - 1, "EVI": 1 + K * (D - 1), "VVI": K * D,
            "EEE": D * (D + 1) // 2, "VEE": K + D - 1 + o, "EVE": 1 + K * (D - 1) + o, "VVE": K * D + o,
            "EEV": D + K * o, "VEV": K + D - 1 + K * o, "EVV": 1 + K * (D - 1) + K * o, "VVV": K * D * (D + 1) // 2}[m]
def constrained_covariances(model, nk, scatter, *, tol=None, max_iter=None, start=None, D_=3):
    nk = np.asarray(nk, float)
    n = nk.sum()
    if model == "EII":
        D = None
        return np.full(nk.shape, scatter.sum() / n) / D_
    if model == "EEI":
        return np.tile(scatter.sum(0) / n, (len(nk), 1))
    if model == "EVV":
        dets = np.array([np.linalg.det(w) for w in scatter]); D = scatter.shape[1]
        lam = np.sum(dets ** (1 / D)) / n
        return np.stack([lam * w / d ** (1 / D) for w, d in zip(scatter, dets)])
    if model == "EEV":
        D = scatter.shape[1]
        ev = [np.linalg.eigh(w) for w in scatter]
        om = sum(e[0] for e in ev)
        A = om / np.prod(om) ** (1 / D); lam = np.prod(om) ** (1 / D) / n
        return np.stack([lam * (v * A) @ v.T for (_, v) in ev])
    if model in SKLEARN_EQUIVALENT:
        return scatter / (nk if scatter.ndim == 1 else nk[:, None] if scatter.ndim == 2 and model != "EEE" else
                          (n if model == "EEE" else nk[:, None, None]))
    raise NotImplementedError(model)
