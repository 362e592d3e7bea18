"""The landmark-asymmetry baseline: logistic regression on asymmetry measures, no ImageNet weights.

``facepalsy train DATA --backbone asymmetry`` goes through the same splits, leakage guard,
metrics, cross-validation and comparison table as the CNNs, so it is one more row of Table 1.
Features per image: the absolute left−right difference of each region measure and the overall
score (the side is irrelevant to "palsy or not"). An image without a usable face gets the
training means (imputed), and the report says how many there were.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
from rich.progress import Progress
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from facepalsy.errors import BadImageError
from facepalsy.face.asymmetry import MEASURES, image_asymmetry

NAME = "asymmetry"
FEATURES = (*(f"abs_{m}" for m in MEASURES), "score")
CACHE_LIMIT = 50_000  # entries (about 2 MB): enough for YFP-sized cv, bounded for a long-running `serve`
_features_cache: OrderedDict[str, np.ndarray] = OrderedDict()  # image content hash → features, so cv folds measure each image once


def image_features(image: np.ndarray) -> np.ndarray:
    """Features of one CHW uint8 image; NaN when no usable face is found."""
    key = hashlib.sha1(image.tobytes()).hexdigest()
    if key in _features_cache:
        _features_cache.move_to_end(key)
    else:
        if len(_features_cache) >= CACHE_LIMIT:
            _features_cache.popitem(last=False)  # least recently used
        try:
            result, _, _ = image_asymmetry(np.ascontiguousarray(image.transpose(1, 2, 0)))
            _features_cache[key] = np.array([*(abs(result.difference[m]) for m in MEASURES), result.score])
        except BadImageError:
            _features_cache[key] = np.full(len(FEATURES), np.nan)
    return _features_cache[key]


def features(images: np.ndarray, progress: bool = False) -> np.ndarray:
    rows = []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"measuring asymmetry of {len(images)} faces", total=len(images))
        for image in images:
            rows.append(image_features(image))
            bar.advance(task)
    return np.array(rows).reshape(len(images), len(FEATURES))


class AsymmetryClassifier:
    """Imputer → standard scaler → logistic regression, stored as plain numbers (loads with weights_only)."""

    name = NAME

    def __init__(self, params: dict):
        self.params = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, seed: int = 0) -> "AsymmetryClassifier":
        pipeline = make_pipeline(SimpleImputer(strategy="mean", keep_empty_features=True), StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
        pipeline.fit(x, y)
        imputer, scaler, logistic = pipeline.steps[0][1], pipeline.steps[1][1], pipeline.steps[2][1]
        return cls({"fill": imputer.statistics_, "mean": scaler.mean_, "scale": scaler.scale_, "coef": logistic.coef_[0], "intercept": logistic.intercept_})

    def predict_proba(self, images: np.ndarray, progress: bool = False) -> np.ndarray:
        """Palsy probability per CHW uint8 image."""
        x = features(images, progress)
        x = np.where(np.isnan(x), self.params["fill"], x)
        z = ((x - self.params["mean"]) / self.params["scale"]) @ self.params["coef"] + self.params["intercept"]
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict:
        return {k: v.tolist() for k, v in self.params.items()}
