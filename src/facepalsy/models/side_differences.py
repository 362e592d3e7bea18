"""The landmark model's format 4: vertical left–right differences against healthy faces of the same expression,
weighed so that no one source of photos can stand in for health, and a reason instead of a verdict on a face it
cannot read.

Why these features. Trained on one source of healthy portraits, formats 2 and 3 learned "that source looks
healthy": 39% of healthy news photos (LFW) were called palsy. Measured per feature on the real-photo folders
(docs, Figures), the measures that move with a turned head or a talking mouth (mouth corner's distance from the
midline, lip and chin deviation, palpebral width, the mirrored mesh, residual yaw) were outside the healthy 95th
percentile for 19–40% of the news photos, as often as for palsy photos. The *vertical* differences (brow
height, eye and lid opening, mouth-corner height, nose ala to mouth corner, smile angle) were outside for 8–17% of
the news photos and 28–74% of the palsy photos. So format 4 keeps those nine, each divided by the healthy
training faces' 95th percentile for the face's recognised expression (a smile against healthy smiles), and their
largest. The mesh offsets and the kernel machine of format 3 raised the in-source AUC and lowered the held-out
source figures: both are left out.

Why the weights. Each class weighs half, and within a class each source weighs alike, so that 1,500 news photos
do not outvote 450 portraits, and a new source of healthy faces starts from "health", not from "the sources I
saw". Logistic regression (C = 0.05) on the standardised features; every number is stored plainly in model.pt.

When it abstains (NaN probability, with a reason from :func:`abstention_reasons`):

- the face's measures lie far outside everything trained on: a Mahalanobis distance of its log-measures against
  the training faces beyond their own 99th percentile (for example a landmark fit that failed); only with at least
  MIN_UNUSUAL training faces;
- the face is at rest with the lips apart further than 97% of healthy resting faces: a mouth mid-speech, whose
  corners are where the word put them, not where the muscles hold them; only with at least MIN_GROUP healthy
  resting faces in training;
- the eyes cannot be seen: the brighter eye orbit lies under HIDDEN_EYES of the skin's brightness
  (``face/visibility.py``), as behind dark glasses or in deep shadow, where the mesh places eyes it cannot see.
  Measured on the real-photo folders (2026-12-03): 5 of 1,219 LFW faces (all in sunglasses; 3 of them read as
  palsy) and one `dev` portrait with its orbits in shadow lie under it; no KDEF, Taiwanese or palsy face does
  (their 1st percentiles 0.43, 0.75 and 0.52);
- (runs trained since the rule) one eye is covered: its lid margins' edges under COVERED_EYE of the other eye's
  (``visibility.lid_edges``), as under hair, a hand or a patch, where the mesh guesses the lids and the eye measures
  read as palsy. Measured on the three real-photo folders (2026-12-03): 3 of 4,317 faces lie under it (hair over
  one eye, a face half in shadow, one small palsy photo); of 1,439 of them with one orbit covered by a patch of
  their own cheek, 92%, or of the crop's top (hair, background), 79%; of the same with one eye shut by a lid warp
  (a wink, or a palsy's healthy eye closing), 1.
"""

from __future__ import annotations

import numpy as np

from facepalsy.errors import DataError

# Measures (FEATURES names) of format 4: vertical left−right differences, which a turned head moves little.
VERTICAL = (
    "abs_brow_height",
    "abs_eye_opening",
    "abs_mouth_corner_drop",
    "abs_brow_inner_height",
    "abs_brow_outer_height",
    "abs_palpebral_ratio",
    "abs_inner_lid_distance",
    "abs_nasolabial_length",
    "abs_smile_angle",
)
C = 0.05  # logistic regression's inverse regularisation
TWINS_SOURCE = "twins"  # the source the palsied twins of healthy training faces train under
# a twin source weighs this share of one real source of palsy photos: at a whole share the twins cost 3-4 points of
# real palsy photos found, held out, for the drawn droops they teach; at a half, 0-2 points (docs/face.md)
TWINS_SHARE = 0.5
HEALTHY_PERCENTILE = 95  # each measure is divided by this percentile of healthy faces making the same expression
MIN_GROUP = 15  # healthy training faces an expression needs for its own percentile; else all healthy faces
UNUSUAL_PERCENTILE = 99  # training faces' Mahalanobis distance beyond which a face is "unlike any trained on"
MIN_UNUSUAL = 200  # fewer training faces: their 99th percentile says nothing, and no face is called unusual
HIDDEN_EYES = 0.2  # the brighter orbit's share of the skin's brightness under which the eyes are taken as hidden
COVERED_EYE = 0.2  # the weaker eye's lid edges as a share of the other's under which that eye is taken as covered
# Tinted lenses (runs trained from 2026-12-06): orbits darker than this share of the skin behind eyeglasses' frames
# (visibility.eyeglasses at least the second number). Sunglasses with some light through them read 0.27–0.46, where
# bare eyes under a cap's peak read too; the frames tell the two apart (docs/face.md).
TINTED_GLASSES = (0.45, 0.5)
SPEECH_PERCENTILE = 97  # healthy resting faces' lip gap beyond which a resting face is taken as mid-speech
UPPER_INNER_LIP, LOWER_INNER_LIP = 13, 14  # face-mesh points of the inner lips at the midline
REST = 0  # EXPRESSIONS.index("rest")
REASONS = {
    "unusual": "the face's measures lie outside everything the model was trained on",
    "speech": "the mouth is open mid-speech: its corners show the word, not the muscles",
    "eyes": "the eyes cannot be seen (dark or tinted glasses, or deep shadow): the mesh would guess them",
    "covered": "one eye is covered (hair, a hand, a patch or deep shadow): the mesh would guess its lids",
}


def source_weights(labels: np.ndarray, sources: np.ndarray | None) -> np.ndarray:
    """Sample weights: each class half, and within a class each source alike (mean weight 1), but for the palsied
    twins (``data/twins.py``, source TWINS_SOURCE), which weigh TWINS_SHARE of one source."""
    weights = np.ones(len(labels))
    for label in np.unique(labels):
        own = labels == label
        kinds = np.unique(sources[own]) if sources is not None else np.array([None])
        shares = {source: TWINS_SHARE if source == TWINS_SOURCE else 1.0 for source in kinds}
        for source in kinds:
            member = own if source is None else own & (sources == source)
            weights[member] = shares[source] / member.sum() / sum(shares.values())
    return weights * len(labels) / weights.sum()


def fit_params(
    scalars: np.ndarray,
    groups: np.ndarray,
    meshes: np.ndarray,
    labels: np.ndarray,
    columns: list[int],
    sources: np.ndarray | None,
    seed: int,
) -> dict[str, np.ndarray]:
    """Every number format 4 predicts with, fitted on measured training faces."""
    from sklearn.covariance import LedoitWolf  # shrunk: 22 correlated log-measures of as few as 200 faces
    from sklearn.linear_model import LogisticRegression

    healthy = labels == 0
    if healthy.sum() < 2 or (~healthy).sum() < 2:
        raise DataError("the landmark model needs at least 2 measured faces of each class in its training data")
    pooled = np.percentile(scalars[healthy][:, columns], HEALTHY_PERCENTILE, axis=0)
    scale = np.tile(pooled, (int(groups.max(initial=0)) + 1, 1))
    for group in np.unique(groups):
        own = healthy & (groups == group)
        if own.sum() >= MIN_GROUP:
            scale[group] = np.percentile(scalars[own][:, columns], HEALTHY_PERCENTILE, axis=0)
    params = {"version": np.array([4.0]), "columns": np.array(columns, float), "scalar_scale": scale + 1e-9}
    design = _raw_design(params, scalars, groups)
    params.update(mean=design.mean(axis=0), scale=design.std(axis=0) + 1e-9)
    weights = source_weights(labels, sources)
    model = LogisticRegression(C=C, max_iter=3000, random_state=seed)
    model.fit((design - params["mean"]) / params["scale"], labels, sample_weight=weights)
    params.update(coef=model.coef_[0], intercept=model.intercept_)
    logs = _log_measures(scalars)
    spread = LedoitWolf().fit(logs)
    params.update(unusual_mean=spread.location_, unusual_precision=spread.precision_)
    cut = np.percentile(_distance(params, logs), UNUSUAL_PERCENTILE) if len(logs) >= MIN_UNUSUAL else np.inf
    gap, resting = lip_gap(meshes), healthy & (groups == REST)
    speech = np.percentile(gap[resting], SPEECH_PERCENTILE) if resting.sum() >= MIN_GROUP else np.inf
    params.update(
        unusual_cut=np.array([cut]),
        speech_cut=np.array([speech]),
        hidden_eyes=np.array([HIDDEN_EYES]),
        covered_eye=np.array([COVERED_EYE]),
        tinted_glasses=np.array(TINTED_GLASSES),
    )
    return params


def probabilities(params: dict[str, np.ndarray], scalars: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """p(palsy) per face, before abstention."""
    design = (_raw_design(params, scalars, groups) - params["mean"]) / params["scale"]
    from scipy.special import expit  # here: every command imports this module

    return expit(design @ params["coef"] + params["intercept"][0])


def abstention_reasons(
    params: dict[str, np.ndarray],
    scalars: np.ndarray,
    groups: np.ndarray,
    meshes: np.ndarray,
    orbits: np.ndarray | None = None,
) -> list[str]:
    """Per face, why the model cannot read it reliably ("" when it can): a key of REASONS. ``orbits``: per face, where
    the image is at hand (a feature row does not carry them), ``visibility.orbit_brightness`` and
    ``visibility.lid_edges`` and ``visibility.eyeglasses`` (N×3, ``baseline.orbit_readings``; N×2 in caches made
    before the third); runs saved before a rule (without ``hidden_eyes``, ``covered_eye`` or ``tinted_glasses``) read
    every face as they did."""
    unusual = _distance(params, _log_measures(scalars)) > params["unusual_cut"][0]
    speech = (groups == REST) & (lip_gap(meshes) > params["speech_cut"][0])
    hidden, covered = np.zeros(len(scalars), bool), np.zeros(len(scalars), bool)
    if orbits is not None:
        readings = np.nan_to_num(np.asarray(orbits, float), nan=1.0)
        if "hidden_eyes" in params:
            hidden = readings[:, 0] < params["hidden_eyes"][0]
        if "tinted_glasses" in params and readings.shape[1] > 2:
            frames = np.nan_to_num(np.asarray(orbits, float)[:, 2], nan=0.0)  # no reading: no frames seen
            hidden |= (readings[:, 0] < params["tinted_glasses"][0]) & (frames >= params["tinted_glasses"][1])
        if "covered_eye" in params:
            covered = readings[:, 1] < params["covered_eye"][0]
    return [
        "eyes" if h else "covered" if c else "unusual" if u else "speech" if s else ""
        for h, c, u, s in zip(hidden, covered, unusual, speech)
    ]


def lip_gap(meshes: np.ndarray) -> np.ndarray:
    """How far apart the inner lips are at the midline, in inter-ocular distances (meshes N×468×2, eye frame)."""
    return meshes[:, LOWER_INNER_LIP, 1] - meshes[:, UPPER_INNER_LIP, 1]


def _raw_design(params: dict[str, np.ndarray], scalars: np.ndarray, groups: np.ndarray) -> np.ndarray:
    columns = params["columns"].astype(int)
    table = params["scalar_scale"]
    scaled = scalars[:, columns] / table[np.minimum(groups, len(table) - 1)]
    return np.hstack([scaled, scaled.max(axis=1, keepdims=True)])


def _log_measures(scalars: np.ndarray) -> np.ndarray:
    """Every scalar measure on a log scale: differences are skewed, their logs near normal."""
    return np.log(np.abs(scalars) + 1e-4)


def _distance(params: dict[str, np.ndarray], logs: np.ndarray) -> np.ndarray:
    centred = logs - params["unusual_mean"]
    return np.einsum("ij,jk,ik->i", centred, params["unusual_precision"], centred)
