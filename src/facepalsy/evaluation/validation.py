"""What a run chooses on its validation images, with the evidence for each choice: whether a temperature earns its
place, and how firmly the operating threshold is pinned down. Pure functions on arrays.

- A temperature is kept only when it lowers the validation log-loss *under cross-validation* (fitted on some
  subjects, scored on the others) by more than two standard errors of that gain; otherwise the model's own
  probabilities were already as calibrated as validation data can tell, and they are kept. One temperature
  fitted on all validation images always lowers their log-loss, which is why it is not evidence.
- The threshold's 95% interval comes from choosing it again on subject-bootstrap resamples of the validation
  images; a threshold whose interval excludes 0.5 is explained in the report, and a probability inside the
  interval is called borderline.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from facepalsy.errors import FacepalsyError
from facepalsy.evaluation.metrics import best_threshold, fit_temperature
from facepalsy.models.operating_point import apply_temperature, logit

TEMPERATURE_FOLDS = 5
NOISE_MULTIPLE = 2.0  # the cross-validated gain must exceed this many standard errors
THRESHOLD_RESAMPLES = 200


@dataclass(frozen=True)
class TemperatureChoice:
    """The temperature fitted on all validation images, whether it was kept, and why."""

    fitted: float
    kept: bool
    gain: float | None  # mean cross-validated log-loss reduction per image (> 0: the temperature helps)
    noise: float | None  # the gain's standard error (subjects as clusters)
    folds: int

    @property
    def temperature(self) -> float | None:
        """What the model applies: the fitted temperature when kept, else None (its own probabilities)."""
        return self.fitted if self.kept else None

    def to_dict(self) -> dict:
        return asdict(self)

    def sentence(self) -> str:
        """The decision in one sentence, for the report and the model card."""
        if self.gain is None:
            return (
                f"Kept uncalibrated: too few validation subjects to cross-validate a temperature "
                f"(T = {self.fitted:.3f} was fitted but not tested)."
            )
        evidence = (
            f"a temperature fitted on some validation subjects and scored on the others changed the log-loss by "
            f"{-self.gain:+.4f} per image (standard error {self.noise:.4f}, {self.folds} folds)"
        )
        if self.kept:
            return f"Temperature scaling kept, T = {self.fitted:.3f}: {evidence}, a gain beyond its noise."
        return (
            "Kept uncalibrated: the model's probabilities were already calibrated on validation data as far as it "
            f"can tell ({evidence}, not more than {NOISE_MULTIPLE:g} standard errors; the temperature fitted on all "
            f"of them, T = {self.fitted:.3f}, was not kept)."
        )


def _log_loss(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Per-image negative log-likelihood of logits ``z``."""
    return np.logaddexp(0.0, z) - y * z


def choose_temperature(
    y_true: np.ndarray, prob_palsy: np.ndarray, subjects: list[str], folds: int = TEMPERATURE_FOLDS, seed: int = 0
) -> TemperatureChoice:
    """Fit a temperature on all validation images and keep it only if it earns its place under cross-validation."""
    from sklearn.model_selection import GroupKFold

    y, prob = np.asarray(y_true, dtype=float), np.asarray(prob_palsy, dtype=float)
    fitted = fit_temperature(y, prob)
    groups = np.asarray(subjects)
    k = min(folds, len(set(subjects)))
    if k < 2 or len(np.unique(y)) < 2:
        return TemperatureChoice(fitted, False, None, None, k)
    gains = np.zeros(len(y))
    splitter = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
    for train, held in splitter.split(prob, y, groups):
        t = fit_temperature(y[train], prob[train]) if len(np.unique(y[train])) == 2 else 1.0
        z = logit(prob[held])
        gains[held] = _log_loss(y[held], z) - _log_loss(y[held], logit(apply_temperature(prob[held], t)))
    _, cluster = np.unique(groups, return_inverse=True)
    sums, sizes = np.bincount(cluster, weights=gains), np.bincount(cluster)
    gain = float(gains.mean())
    clusters = len(sums)
    noise = float(np.sqrt(clusters / (clusters - 1) * np.sum((sums - sizes * gain) ** 2)) / len(y))
    return TemperatureChoice(fitted, gain > NOISE_MULTIPLE * noise, gain, noise, k)


def threshold_interval(
    y_true: np.ndarray,
    prob_palsy: np.ndarray,
    subjects: list[str],
    rule: str,
    resamples: int = THRESHOLD_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float] | None:
    """The 95% percentile interval of the threshold ``rule`` chooses, over subject-bootstrap resamples."""
    y, prob = np.asarray(y_true).astype(int), np.asarray(prob_palsy, dtype=float)
    order, ids = np.unique(np.asarray(subjects), return_inverse=True)
    if len(order) < 2 or len(np.unique(y)) < 2:
        return None
    rng = np.random.default_rng(seed)
    thresholds = []
    for _ in range(resamples):
        counts = np.bincount(rng.integers(0, len(order), len(order)), minlength=len(order))[ids]
        index = np.repeat(np.arange(len(y)), counts)
        if len(np.unique(y[index])) == 2:
            try:
                thresholds.append(best_threshold(y[index], prob[index], rule))
            except FacepalsyError:  # a sensitivity or specificity target out of reach in this resample
                continue
    if len(thresholds) < resamples // 2:
        return None
    low, high = np.percentile(thresholds, [2.5, 97.5])
    return float(low), float(high)
