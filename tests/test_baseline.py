"""The landmark-asymmetry baseline through train, predict, cv and compare, like any backbone."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from facepalsy.app.cli import main
from facepalsy.data.synth import make_synthetic_dataset
from facepalsy.face.detect import mediapipe_available
from facepalsy.models.baseline import AsymmetryClassifier


def test_classifier_numbers_reproduce_scikit_learn():
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    y = (x[:, 0] + 0.5 * x[:, 4] > 0).astype(int)
    x[3, 2] = np.nan
    classifier = AsymmetryClassifier.fit(x, y)
    reference = make_pipeline(SimpleImputer(keep_empty_features=True), StandardScaler(), LogisticRegression(max_iter=1000, random_state=0)).fit(x, y)
    filled = np.where(np.isnan(x), classifier.params["fill"], x)
    z = ((filled - classifier.params["mean"]) / classifier.params["scale"]) @ classifier.params["coef"] + classifier.params["intercept"]
    assert np.allclose(1 / (1 + np.exp(-z)), reference.predict_proba(x)[:, 1])


@pytest.mark.skipif(not mediapipe_available(), reason="the baseline measures face-mesh landmarks (face extra)")
def test_asymmetry_backbone_trains_predicts_and_is_a_table_row(tmp_path, capsys):
    data = make_synthetic_dataset(tmp_path / "data", subjects=12, images_per_subject=3, seed=4, size=128, progress=False)
    run = tmp_path / "asym"
    flags = ["--backbone", "asymmetry", "--image-size", "128", "--split", "subject", "--test-fraction", "0.25", "--val-fraction", "0.25"]
    assert main(["train", str(data), "--out", str(run), *flags]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n"] > 0 and 0 <= metrics["accuracy"] <= 1 and metrics["heatmaps"].startswith("not drawn")
    assert "baseline" in torch.load(run / "model.pt", weights_only=True)
    capsys.readouterr()
    image = next((data / "palsy").rglob("*.jpg"))
    assert main(["predict", str(run), str(image), "--json"]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["prob_palsy"] <= 1
    assert main(["explain", str(run), str(image), "--out", str(tmp_path / "x")]) == 2
    assert "Grad-CAM needs a CNN backbone" in capsys.readouterr().err
    cv = tmp_path / "cv"
    assert main(["cv", str(data), "--out", str(cv), "--protocol", "subject-kfold", "--folds", "3", *flags[:4]]) == 0
    capsys.readouterr()
    assert main(["compare", str(run), str(cv)]) == 0
    table = capsys.readouterr().out
    assert "| ASYMMETRY | subject split |" in table and "| ASYMMETRY | subject-kfold (3 folds) |" in table


@pytest.mark.skipif(not mediapipe_available(), reason="the baseline measures face-mesh landmarks (face extra)")
def test_feature_cache_is_bounded(monkeypatch):
    from facepalsy.models import baseline

    monkeypatch.setattr(baseline, "CACHE_LIMIT", 2)
    monkeypatch.setattr(baseline, "_features_cache", baseline.OrderedDict())
    for value in (10, 20, 30):
        features = baseline.image_features(np.full((3, 64, 64), value, np.uint8))  # blank: no face
        assert np.isnan(features).all()
    assert len(baseline._features_cache) == 2
