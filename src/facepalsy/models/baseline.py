"""The landmark model: facial asymmetry from MediaPipe's face mesh, classified by logistic regression.

``facepalsy train DATA --backbone asymmetry`` goes through the same splits, leakage guard,
metrics, cross-validation and comparison table as the CNNs, so it is one more row of Table 1.
It needs no ImageNet weights. It sees the aligned crop of the largest, fairly frontal face (its
spec is face-crop with a yaw limit): no usable face, no verdict.

Features per face, all measured in the eye-aligned frame (scale and in-plane rotation removed), as
the median over slightly rotated and rescaled views:

- region measures after Emotrics: the absolute left−right difference of brow height (mean, inner,
  outer end), eye opening, palpebral fissure width and ratio, a second lid distance, mouth-corner
  height and excursion, nose ala to mouth corner; smile angle, lip and chin deviation; the mean
  distance from each mirrored landmark to its nearest landmark; |yaw| (the side is irrelevant to
  "palsy or not");
- the whole mesh mirrored: for each of 468 landmarks, the offset between its mirror image and its
  symmetric partner (pairs found once, on the mean normal face of the training data), reduced by PCA.

Classifier, chosen by 5-fold cross-validation on the real-photo development set (README): logistic
regression (C = 0.1) on the standardised region measures and 20 principal components of the mesh
offsets. It beat random forests and gradient boosting there (they overfit a few hundred faces), and
its numbers are stored plainly in model.pt (loads with ``weights_only``).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

from facepalsy.errors import BadImageError, DataError
from facepalsy.face.asymmetry import MEASURES, SHAPE_MEASURES, SIDE_MEASURES, image_asymmetry
from facepalsy.log import progress_bar

NAME = "asymmetry"
SHAPE_FEATURES = (*SIDE_MEASURES, *SHAPE_MEASURES)
FEATURES = (*(f"abs_{m}" for m in MEASURES), "score", *(f"abs_{m}" for m in SHAPE_FEATURES))
MESH_POINTS = 468
MESH_COMPONENTS = 20
REGULARISATION_C = 0.1
CACHE_LIMIT = 20_000  # entries of about 3.8 kB (float32): enough for YFP-sized cv, bounded for a long-running `serve`
_features_cache: OrderedDict[str, np.ndarray] = OrderedDict()  # image content hash → features, so cv folds measure each image once


def image_features(image: np.ndarray) -> np.ndarray:
    """Region measures and eye-frame mesh (flattened) of one CHW uint8 image; NaN when no usable face is found."""
    key = hashlib.sha1(image.tobytes()).hexdigest()
    if key in _features_cache:
        _features_cache.move_to_end(key)
    else:
        if len(_features_cache) >= CACHE_LIMIT:
            _features_cache.popitem(last=False)  # least recently used
        try:
            result, _, _ = image_asymmetry(np.ascontiguousarray(image.transpose(1, 2, 0)))
            scalars = [*(abs(result.difference[m]) for m in MEASURES), result.score, *(abs(result.shape[m]) for m in SHAPE_FEATURES)]
            _features_cache[key] = np.concatenate([scalars, result.mesh.ravel()]).astype(np.float32)
        except BadImageError:
            _features_cache[key] = np.full(len(FEATURES) + 2 * MESH_POINTS, np.nan, np.float32)
    return _features_cache[key]


def features(images: np.ndarray, progress: bool = False) -> np.ndarray:
    rows = []
    with progress_bar(disable=not progress) as bar:
        task = bar.add_task(f"measuring asymmetry of {len(images)} faces", total=len(images))
        for image in images:
            rows.append(image_features(image))
            bar.advance(task)
    return np.array(rows, dtype=np.float64).reshape(len(images), len(FEATURES) + 2 * MESH_POINTS)


def mirror_pairs(mesh: np.ndarray) -> np.ndarray:
    """For each landmark of a (mean) frontal mesh in the eye frame, the index of its symmetric partner."""
    mirrored = mesh * np.array([-1.0, 1.0])
    return np.sqrt(((mirrored[:, None, :] - mesh[None, :, :]) ** 2).sum(axis=2)).argmin(axis=1)


def mesh_offsets(meshes: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Each landmark's mirror image minus its partner, flattened: zero for a perfectly symmetric face."""
    return (meshes * np.array([-1.0, 1.0]) - meshes[:, pairs]).reshape(len(meshes), -1)


class AsymmetryClassifier:
    """Region measures and PCA of mirrored mesh offsets → logistic regression, stored as plain numbers."""

    name = NAME

    def __init__(self, params: dict):
        self.params = {k: np.asarray(v, dtype=np.int64 if k == "pairs" else np.float64) for k, v in params.items()}

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, seed: int = 0) -> "AsymmetryClassifier":
        """Fit on features from :func:`features` (rows of NaN, faces the model could not measure, are left out)."""
        known = ~np.isnan(x).any(axis=1)
        x, y = x[known], y[known]
        if len(np.unique(y)) < 2:
            raise DataError("the landmark model needs measured faces of both classes in its training data")
        scalars, meshes = x[:, : len(FEATURES)], x[:, len(FEATURES) :].reshape(len(x), MESH_POINTS, 2)
        pairs = mirror_pairs(meshes[y == 0].mean(axis=0))
        offsets = mesh_offsets(meshes, pairs)
        mesh_mean, mesh_scale = offsets.mean(axis=0), offsets.std(axis=0) + 1e-9
        pca = PCA(min(MESH_COMPONENTS, len(x) - 1, offsets.shape[1]), random_state=seed).fit((offsets - mesh_mean) / mesh_scale)
        params = {"pairs": pairs, "mesh_mean": mesh_mean, "mesh_scale": mesh_scale, "components": pca.components_, "pca_mean": pca.mean_,
                  }
        design = cls(params)._design(scalars, meshes, standardise=False)
        params.update({"mean": design.mean(axis=0), "scale": design.std(axis=0) + 1e-9})
        logistic = LogisticRegression(C=REGULARISATION_C, max_iter=2000, random_state=seed).fit((design - params["mean"]) / params["scale"], y)
        return cls({**params, "coef": logistic.coef_[0], "intercept": logistic.intercept_})

    def _design(self, scalars: np.ndarray, meshes: np.ndarray, standardise: bool = True) -> np.ndarray:
        p = self.params
        scores = (((mesh_offsets(meshes, p["pairs"]) - p["mesh_mean"]) / p["mesh_scale"]) - p["pca_mean"]) @ p["components"].T
        design = np.hstack([scalars, scores])
        return (design - p["mean"]) / p["scale"] if standardise else design

    def predict_proba(self, images: np.ndarray, progress: bool = False) -> np.ndarray:
        """Palsy probability per CHW uint8 face crop (the rare crop the mesh cannot be re-found on gets the training means)."""
        return self.proba_from_features(features(images, progress))

    def proba_from_features(self, x: np.ndarray) -> np.ndarray:
        """Palsy probability per row of :func:`features`; a row with anything unmeasured is scored as the training mean."""
        p = self.params
        missing = np.isnan(x).any(axis=1)
        x = np.nan_to_num(x)
        design = self._design(x[:, : len(FEATURES)], x[:, len(FEATURES) :].reshape(len(x), MESH_POINTS, 2))
        design[missing] = 0.0  # standardised: the training mean
        z = design @ p["coef"] + p["intercept"]
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict:
        return {k: v.tolist() for k, v in self.params.items()}
