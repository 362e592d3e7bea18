"""The landmark model: facial asymmetry from MediaPipe's face mesh, classified by logistic regression.

``facepalsy train DATA --backbone asymmetry`` goes through the same splits, leakage guard,
metrics, cross-validation and comparison table as the CNNs, so it is one more row of Table 1.
It needs no ImageNet weights. It sees the aligned crop of the largest, fairly frontal face (its
spec is face-crop with a yaw limit): no usable face, no verdict.

Features per face (format 2), all measured on the 3-D mesh rotated to frontal (``face/pose.py``),
in the eye-aligned frame (scale and rotation removed), as the median over slightly rotated and
rescaled views:

- region measures after Emotrics: the absolute left−right difference of brow height (mean, inner,
  outer end), eye opening, palpebral fissure width and ratio, a second lid distance, mouth-corner
  height and excursion, nose ala to mouth corner; smile angle, lip and chin deviation; the mean
  distance from each mirrored landmark to its nearest landmark; |cheek-width imbalance|. Each is
  divided by the 95th percentile of healthy training faces *making the same expression*
  (``face/expression.py``; all healthy faces for an expression with fewer than MIN_GROUP), so a
  healthy lopsided smile counts as much as a healthy resting face, not more;
- per region (brow, eye, mid-face, mouth) the largest of its scaled measures, and the largest of
  the upper and of the lower face: a bad mouth under a symmetric forehead scores as a bad mouth,
  not diluted by the healthy brow (central palsy);
- the whole mesh mirrored: for each of 468 landmarks, the offset between its mirror image and its
  symmetric partner (pairs found once, on the mean healthy face of the training data), standardised
  by healthy faces of the same expression and reduced by PCA.

Classifier of format 3, chosen by 5-fold cross-validation and leave-one-source-out on the real-photo
development set (README): on the standardised features above with 60 principal components of the mesh
offsets, the mean of two log-odds: logistic regression (C = 0.05) and an RBF support-vector machine
(C = 1, gamma = 1 / features) with Platt's sigmoid fitted on its 5-fold out-of-fold scores (scikit-learn's
``CalibratedClassifierCV``). The kernel reads combinations the linear model cannot (a mouth measure that
matters only when the mesh offsets agree) and lifted the dev AUC from 0.940 to 0.947 and the unseen-source
AUCs by 0.02; random forests and gradient boosting overfit a few hundred faces. All the numbers, support
vectors included, are stored plainly in model.pt (loads with ``weights_only``). The expression itself is
not a feature: palsy photos on the web smile more often than healthy portraits, and a model that
learned "smiling means palsy" would flag healthy smiles.

New runs (format 4, ``side_differences.py``) measure the same features but read only nine vertical left−right
differences, weigh every source of a class alike, and abstain on a face they cannot read reliably: trained on
several sources and tested on a source held out whole, formats 2 and 3 read a source, not health (see there).

Runs trained before keep their features and still predict as they did: format 3 (above), format 2 (logistic
regression alone) and format 1 (the same measures on the mesh without frontalising, unscaled, 20 components, C = 0.1).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

from facepalsy.errors import BadImageError, DataError
from facepalsy.face.asymmetry import (
    JITTER,
    MEASURES,
    SHAPE_MEASURES,
    SIDE_MEASURES,
    Asymmetry,
    image_asymmetry,
    measure,
)
from facepalsy.face.expression import EXPRESSIONS
from facepalsy.face.norms import REGIONS
from facepalsy.face.visibility import eyeglasses, lid_edges, orbit_brightness
from facepalsy.log import progress_bar
from facepalsy.models import side_differences

UNMEASURED_REASON = "the face mesh could not be measured on the face found"
NAME = "landmarks"  # --model landmarks
ALIASES = ("asymmetry",)  # its name before 2026-11-28: old run folders and --backbone asymmetry keep working


def canonical_name(name: str) -> str:
    """The one name of a model: the landmark model's old name becomes ``landmarks``; any other name is kept."""
    return NAME if name in ALIASES else name


FORMAT = 4  # new runs: side_differences.py; 3: with an SVM on mesh offsets; 2: logistic regression; 1: before 3-D pose
SHAPE_FEATURES = (*SIDE_MEASURES, *SHAPE_MEASURES)
FEATURES = (*(f"abs_{m}" for m in MEASURES), "score", *(f"abs_{m}" for m in SHAPE_FEATURES))
MESH_POINTS = 468
SETTINGS = {1: (20, 0.1), 2: (60, 0.05), 3: (60, 0.05)}  # formats 1-3: mesh components, logistic-regression C
SVM_C = 1.0  # format 3's support-vector machine; its kernel width is 1 / (number of features)
PLATT_FOLDS = 5
MIN_GROUP = 15  # healthy training faces an expression needs for its own scaling
CROSS_FIT_FOLDS = 5  # the out-of-fold probabilities a landmark run's threshold and temperature are chosen on
# Per region, the columns of FEATURES it takes its largest scaled measure from.
REGION_COLUMNS = {region: [FEATURES.index(f"abs_{m}") for m in measures] for region, measures in REGIONS.items()}
CACHE_LIMIT = 20_000  # entries of about 3.8 kB (float32): enough for YFP-sized cv, bounded for a long-running `serve`
READINGS_LIMIT = 256  # the last faces' measures, for the palsy pattern of the predictions just made
_features_cache: OrderedDict[tuple[str, int], np.ndarray] = (
    OrderedDict()
)  # (image hash, format) → features, so cv folds measure once
_measured: OrderedDict[str, Asymmetry | None] = OrderedDict()  # image hash → its measures (None: no usable face)
# image hash → visibility.orbit_brightness and lid_edges (NaN: no usable face)
_orbits: OrderedDict[str, tuple[float, float]] = OrderedDict()


def _remember(cache: OrderedDict, key, value, limit: int) -> None:
    if len(cache) >= limit:
        cache.popitem(last=False)  # least recently used
    cache[key] = value


def measured(image: np.ndarray) -> Asymmetry | None:
    """The measures of one CHW uint8 face crop (None without a usable face), kept for the last READINGS_LIMIT images.

    Always the median of JITTER's views: every landmark run was trained on that measure, and a run must read a face
    as it read its training faces. The photo path's cheaper two passes (``image_asymmetry`` without views) changed a
    format-4 run's verdict on 3% of the real-photo faces and moved its held-out figures (docs/face.md)."""
    key = hashlib.sha1(image.tobytes()).hexdigest()
    if key in _measured:
        _measured.move_to_end(key)
        return _measured[key]
    try:
        result = image_asymmetry(np.ascontiguousarray(image.transpose(1, 2, 0)), views=JITTER)[0]
    except BadImageError:
        result = None
    _remember(_measured, key, result, READINGS_LIMIT)
    return result


def _remember_orbits(key: str, image: np.ndarray, result: Asymmetry | None) -> None:
    value = (np.nan, np.nan, np.nan)
    if result is not None and result.face is not None and result.face.landmarks is not None:
        rgb, landmarks = image.transpose(1, 2, 0), result.face.landmarks
        value = (orbit_brightness(rgb, landmarks), lid_edges(rgb, landmarks), eyeglasses(rgb, landmarks))
    _remember(_orbits, key, value, CACHE_LIMIT)


def orbit_readings(images: np.ndarray) -> np.ndarray:
    """Per CHW uint8 face crop (N×3): its brighter eye orbit against its skin, its weaker eye's lid edges against
    the other's, and the edges eyeglasses' frames draw (``face/visibility.py``): what tells the landmark model that
    dark or tinted glasses hide the eyes, or that something covers one. Kept with the features, so a
    cross-validation measures once."""
    values = []
    for image in images:
        key = hashlib.sha1(image.tobytes()).hexdigest()
        if key not in _orbits:
            _remember_orbits(key, image, measured(image))
        values.append(_orbits[key])
    return np.array(values, dtype=np.float64).reshape(len(values), 3)


def row_length(version: int = FORMAT) -> int:
    return len(FEATURES) + (1 if version >= 2 else 0) + 2 * MESH_POINTS


def image_features(image: np.ndarray, version: int = FORMAT) -> np.ndarray:
    """One CHW uint8 image's feature row of the given format; NaN when no usable face is found."""
    key = (hashlib.sha1(image.tobytes()).hexdigest(), version)
    if key in _features_cache:
        _features_cache.move_to_end(key)
        return _features_cache[key]
    result = measured(image)
    if version >= 4:  # only format 4 reads the eyes' visibility (orbit_readings)
        _remember_orbits(key[0], image, result)
    if result is None:
        row = np.full(row_length(version), np.nan, np.float32)
    else:
        if version == 1:
            mesh, result = result.legacy_mesh[:MESH_POINTS], measure(result.legacy_mesh)
            extra = []
        else:
            mesh, extra = result.mesh, [EXPRESSIONS.index(result.expression)]
        scalars = [
            *(abs(result.difference[m]) for m in MEASURES),
            result.score,
            *(abs(result.shape[m]) for m in SHAPE_FEATURES),
        ]
        row = np.concatenate([scalars, extra, mesh.ravel()]).astype(np.float32)
    _remember(_features_cache, key, row, CACHE_LIMIT)
    return row


def features(images: np.ndarray, progress: bool = False, version: int = FORMAT) -> np.ndarray:
    rows = []
    with progress_bar(disable=not progress) as bar:
        task = bar.add_task(f"measuring asymmetry of {len(images)} faces", total=len(images))
        for image in images:
            rows.append(image_features(image, version))
            bar.advance(task)
    return np.array(rows, dtype=np.float64).reshape(len(images), row_length(version))


def mirror_pairs(mesh: np.ndarray) -> np.ndarray:
    """For each landmark of a (mean) frontal mesh in the eye frame, the index of its symmetric partner."""
    mirrored = mesh * _flip_x(mesh.shape[-1])
    return np.sqrt(((mirrored[:, None, :] - mesh[None, :, :]) ** 2).sum(axis=2)).argmin(axis=1)


def mesh_offsets(meshes: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Each landmark's mirror image minus its partner, flattened: zero for a perfectly symmetric face."""
    return (meshes * _flip_x(meshes.shape[-1]) - meshes[:, pairs]).reshape(len(meshes), -1)


def _flip_x(dimensions: int) -> np.ndarray:
    """Multiplier that mirrors points across the midline (x = 0) in 2-D or 3-D."""
    return np.array([-1.0] + [1.0] * (dimensions - 1))


def _split(x: np.ndarray, version: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature rows → scalars, expression indices (0, rest, for format 1), meshes."""
    n = len(FEATURES)
    if version == 1:
        return x[:, :n], np.zeros(len(x), int), x[:, n:].reshape(len(x), MESH_POINTS, 2)
    return x[:, :n], np.nan_to_num(x[:, n]).astype(int), x[:, n + 1 :].reshape(len(x), MESH_POINTS, 2)


class AsymmetryClassifier:
    """Expression-scaled region measures and PCA of mirrored mesh offsets → logistic regression and (format 3) an RBF
    support-vector machine, stored as plain numbers."""

    name = NAME

    def __init__(self, params: dict):
        self.params = {k: np.asarray(v, dtype=np.int64 if k == "pairs" else np.float64) for k, v in params.items()}
        self.version = int(self.params["version"]) if "version" in self.params else 1

    @classmethod
    def fit(
        cls, x: np.ndarray, y: np.ndarray, seed: int = 0, version: int = FORMAT, sources: np.ndarray | None = None
    ) -> "AsymmetryClassifier":
        """Fit on features from :func:`features` (rows of NaN, faces the model could not measure, are left out).
        ``sources``: each row's source, so that format 4 weighs every source of a class alike."""
        from sklearn.decomposition import PCA  # fitting only: predicting uses the stored numbers
        from sklearn.linear_model import LogisticRegression

        known = ~np.isnan(x).any(axis=1)
        x, y = x[known], y[known]
        if len(np.unique(y)) < 2:
            raise DataError("the landmark model needs measured faces of both classes in its training data")
        scalars, groups, meshes = _split(x, version)
        if version >= 4:
            columns = [FEATURES.index(name) for name in side_differences.VERTICAL]
            kept = None if sources is None else np.asarray(sources)[known]
            return cls(side_differences.fit_params(scalars, groups, meshes, y, columns, kept, seed))
        healthy = y == 0
        pairs = mirror_pairs(meshes[healthy].mean(axis=0))
        offsets = mesh_offsets(meshes, pairs)
        components, c = SETTINGS[version]
        params: dict = {"pairs": pairs}
        if version == 1:
            params.update(mesh_mean=offsets.mean(axis=0), mesh_scale=offsets.std(axis=0) + 1e-9)
            standard = (offsets - params["mesh_mean"]) / params["mesh_scale"]
        else:
            params.update(version=version, **_expression_scales(scalars[healthy], groups[healthy], offsets[healthy]))
            standard = (offsets - params["mesh_mean"][groups]) / params["mesh_scale"][groups]
        pca = PCA(min(components, len(x) - 1, offsets.shape[1]), random_state=seed).fit(standard)
        params.update(components=pca.components_, pca_mean=pca.mean_)
        design = cls(params)._design(scalars, groups, meshes, standardise=False)
        params.update({"mean": design.mean(axis=0), "scale": design.std(axis=0) + 1e-9})
        design = (design - params["mean"]) / params["scale"]
        logistic = LogisticRegression(C=c, max_iter=3000, random_state=seed).fit(design, y)
        params.update(coef=logistic.coef_[0], intercept=logistic.intercept_)
        if version >= 3:
            params.update(_kernel_machine(design, y, seed))
        return cls(params)

    def _design(
        self, scalars: np.ndarray, groups: np.ndarray, meshes: np.ndarray, standardise: bool = True
    ) -> np.ndarray:
        p = self.params
        offsets = mesh_offsets(meshes, p["pairs"])
        if self.version == 1:
            standard = (offsets - p["mesh_mean"]) / p["mesh_scale"]
        else:
            standard = (offsets - p["mesh_mean"][groups]) / p["mesh_scale"][groups]
            scalars = scalars / p["scalar_scale"][groups]
            regions = np.column_stack([scalars[:, columns].max(axis=1) for columns in REGION_COLUMNS.values()])
            scalars = np.hstack(
                [scalars, regions, regions[:, :2].max(axis=1, keepdims=True), regions[:, 2:].max(axis=1, keepdims=True)]
            )
        design = np.hstack([scalars, (standard - p["pca_mean"]) @ p["components"].T])
        return (design - p["mean"]) / p["scale"] if standardise else design

    def predict_proba(self, images: np.ndarray, progress: bool = False) -> np.ndarray:
        """Palsy probability per CHW uint8 face crop; NaN for the rare crop the mesh cannot be re-found on (no face,
        no verdict)."""
        x = features(images, progress, self.version)
        return self.proba_from_features(x, orbit_readings(images) if self.version >= 4 else None)

    def proba_from_features(self, x: np.ndarray, orbits: np.ndarray | None = None) -> np.ndarray:
        """Palsy probability per row of :func:`features`; NaN for a row with anything unmeasured, or (format 4) a face
        the model cannot read reliably (:meth:`reasons` says why). ``orbits``: the faces' :func:`orbit_readings`, where
        the images are at hand."""
        p = self.params
        missing = np.isnan(x).any(axis=1)
        if self.version >= 4:
            scalars, groups, meshes = _split(np.nan_to_num(x), self.version)
            prob = side_differences.probabilities(p, scalars, groups)
            reasons = side_differences.abstention_reasons(p, scalars, groups, meshes, orbits)
            abstained = np.array([bool(r) for r in reasons])
            return np.where(missing | abstained, np.nan, prob)
        design = self._design(*_split(np.nan_to_num(x), self.version))
        design[missing] = 0.0  # standardised: the training mean
        z = design @ p["coef"] + p["intercept"]
        if self.version >= 3:
            distances = ((design[:, None, :] - p["support_vectors"][None]) ** 2).sum(axis=2)
            score = np.exp(-p["gamma"][0] * distances) @ p["dual_coef"] + p["svm_intercept"][0]
            z = (z + -(p["platt"][0] * score + p["platt"][1])) / 2  # the mean of the two log-odds
        from scipy.special import expit  # here: every command imports this module

        return np.where(missing, np.nan, expit(z))

    @classmethod
    def out_of_fold(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        subjects: np.ndarray,
        sources: np.ndarray | None = None,
        seed: int = 0,
        orbits: np.ndarray | None = None,
    ) -> np.ndarray | None:
        """p(palsy) of every row from a model fitted without its subject (stratified group k-fold, up to
        CROSS_FIT_FOLDS; NaN where it abstains), or None with too few subjects per class to cross-fit. Where a
        threshold is chosen on these, every training face serves, not a tenth of them: on the real photos a
        10% validation part moved one held-out source's false-positive rate between 11% and 31% with its seed.
        ``orbits`` (the rows' :func:`orbit_readings`): a face the eye rules refuse a verdict plays no part in
        choosing the threshold either, as it will get none when predicting."""
        from sklearn.model_selection import StratifiedGroupKFold

        per_class = [len(set(subjects[y == label])) for label in (0, 1)]
        folds = min(CROSS_FIT_FOLDS, *per_class)
        if folds < 2:
            return None
        probs = np.full(len(x), np.nan)
        splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
        for train, held in splitter.split(x, y, subjects):
            part = None if sources is None else sources[train]
            eyes = None if orbits is None else orbits[held]
            probs[held] = cls.fit(x[train], y[train], seed, sources=part).proba_from_features(x[held], eyes)
        return probs

    def reasons(self, x: np.ndarray, orbits: np.ndarray | None = None) -> list[str]:
        """Per row of :func:`features`, why it has no probability: a sentence ("" for a row that has one). ``orbits``:
        as for :meth:`proba_from_features`."""
        missing = np.isnan(x).any(axis=1)
        keys = [""] * len(x)
        if self.version >= 4:
            keys = side_differences.abstention_reasons(self.params, *_split(np.nan_to_num(x), self.version), orbits)
        return [
            UNMEASURED_REASON if gone else side_differences.REASONS[key] if key else ""
            for gone, key in zip(missing, keys)
        ]

    def image_reasons(self, images: np.ndarray) -> list[str]:
        """:meth:`reasons` of CHW uint8 face crops (measured once: the features are cached)."""
        orbits = orbit_readings(images) if self.version >= 4 else None
        return self.reasons(features(images, version=self.version), orbits)

    def to_dict(self) -> dict:
        return {k: v.tolist() for k, v in self.params.items()}


def _kernel_machine(design: np.ndarray, y: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """The RBF support-vector machine on the standardised design and Platt's sigmoid on its out-of-fold scores."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    folds = min(PLATT_FOLDS, int(np.bincount(y).min()))
    if folds < 2:
        raise DataError("the landmark model needs at least 2 measured faces of each class in its training data")
    gamma = 1.0 / design.shape[1]
    svm = SVC(C=SVM_C, gamma=gamma, random_state=seed)
    calibrated = CalibratedClassifierCV(svm, method="sigmoid", cv=folds, ensemble=False).fit(design, y)
    fitted = calibrated.calibrated_classifiers_[0]
    machine, sigmoid = fitted.estimator, fitted.calibrators[0]
    return {
        "support_vectors": machine.support_vectors_,
        "dual_coef": machine.dual_coef_[0],
        "svm_intercept": machine.intercept_,
        "gamma": np.array([gamma]),
        "platt": np.array([sigmoid.a_, sigmoid.b_]),
    }


def _expression_scales(scalars: np.ndarray, groups: np.ndarray, offsets: np.ndarray) -> dict[str, np.ndarray]:
    """Per expression (rows in EXPRESSIONS order): the healthy 95th percentile of each scalar measure and the
    healthy mean and spread of each mesh offset; all healthy faces stand in for an expression with fewer than
    MIN_GROUP."""
    pooled = (np.percentile(scalars, 95, axis=0) + 1e-9, offsets.mean(axis=0), offsets.std(axis=0) + 1e-9)
    tables = [np.tile(value, (len(EXPRESSIONS), 1)) for value in pooled]
    for index in range(len(EXPRESSIONS)):
        own = groups == index
        if own.sum() >= MIN_GROUP:
            tables[0][index] = np.percentile(scalars[own], 95, axis=0) + 1e-9
            tables[1][index], tables[2][index] = offsets[own].mean(axis=0), offsets[own].std(axis=0) + 1e-9
    return {"scalar_scale": tables[0], "mesh_mean": tables[1], "mesh_scale": tables[2]}
