"""The landmark-asymmetry baseline through train, predict, cv and compare, like any backbone."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import facepalsy
from facepalsy.app.cli import main
from facepalsy.data.synth import make_synthetic_dataset
from facepalsy.face.detect import mediapipe_available
from facepalsy.models import baseline, side_differences
from facepalsy.models.baseline import AsymmetryClassifier


def _symmetric_mesh(rng: np.random.Generator) -> np.ndarray:
    """A random mesh of 468 points symmetric about x = 0 (234 mirrored pairs), shuffled."""
    half = rng.uniform([0.05, -1.0], [1.0, 1.5], size=(234, 2))
    mesh = np.vstack([half, half * [-1.0, 1.0]])
    return mesh[rng.permutation(468)]


def test_mirror_pairs_and_offsets_of_a_symmetric_face():
    from facepalsy.models.baseline import mesh_offsets, mirror_pairs

    mesh = _symmetric_mesh(np.random.default_rng(0))
    pairs = mirror_pairs(mesh)
    assert (pairs[pairs] == np.arange(468)).all() and (
        pairs != np.arange(468)
    ).all()  # an involution without fixed points
    assert np.abs(mesh_offsets(mesh[None], pairs)).max() < 1e-12
    drooped = mesh.copy()
    drooped[mesh[:, 0] > 0.5, 1] += 0.1  # one side's outer half sags
    assert np.abs(mesh_offsets(drooped[None], pairs)).max() == pytest.approx(0.1)


def _training_set(rng: np.random.Generator, expression_column: bool):
    from facepalsy.models import baseline

    base = _symmetric_mesh(rng)
    y = np.array([0, 1] * 30)
    meshes = base + rng.normal(0, 0.01, (60, 468, 2)) + y[:, None, None] * (base[:, 0:1] > 0.5) * [0.0, 0.05]
    scalars = np.abs(rng.normal(size=(60, len(baseline.FEATURES)))) + y[:, None]
    groups = np.array([0, 4] * 15 + [4, 0] * 15)  # rest and smile, 15 healthy faces each (MIN_GROUP)
    columns = [scalars, groups[:, None]] if expression_column else [scalars]
    return np.hstack([*columns, meshes.reshape(60, -1)]), y, scalars, groups, meshes


def test_format_1_classifier_numbers_reproduce_scikit_learn():
    """Runs trained before the 3-D pose: the stored numbers give scikit-learn's PCA + logistic regression."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression

    from facepalsy.models import baseline

    x, y, scalars, _, meshes = _training_set(np.random.default_rng(1), expression_column=False)
    classifier = AsymmetryClassifier.fit(x, y, version=1)
    loaded = AsymmetryClassifier(
        {k: v for k, v in classifier.to_dict().items()}
    )  # as model.pt gives it back: no version key
    assert loaded.version == 1 and "version" not in classifier.params
    pairs = baseline.mirror_pairs(meshes[y == 0].mean(axis=0))
    offsets = baseline.mesh_offsets(meshes, pairs)
    standard = (offsets - offsets.mean(0)) / (offsets.std(0) + 1e-9)
    design = np.hstack([scalars, PCA(20, random_state=0).fit_transform(standard)])
    design = (design - design.mean(0)) / (design.std(0) + 1e-9)
    reference = LogisticRegression(C=0.1, max_iter=3000, random_state=0).fit(design, y)
    assert np.allclose(loaded.proba_from_features(x), reference.predict_proba(design)[:, 1], atol=1e-6)
    assert np.isnan(loaded.proba_from_features(np.full((1, x.shape[1]), np.nan))[0])  # unmeasured: no verdict


def test_classifier_scales_by_expression_and_reproduces_scikit_learn():
    """Format 2: each measure over the healthy 95th percentile of faces making the same expression, region maxima,
    PCA of the mesh offsets standardised per expression, then logistic regression: computed here by hand."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression

    from facepalsy.models import baseline

    x, y, scalars, groups, meshes = _training_set(np.random.default_rng(2), expression_column=True)
    classifier = AsymmetryClassifier.fit(x, y, version=2)
    healthy = y == 0
    scale = {g: np.percentile(scalars[healthy & (groups == g)], 95, axis=0) + 1e-9 for g in (0, 4)}
    scaled = scalars / np.array([scale[g] for g in groups])
    regions = np.column_stack([scaled[:, c].max(axis=1) for c in baseline.REGION_COLUMNS.values()])
    offsets = baseline.mesh_offsets(meshes, baseline.mirror_pairs(meshes[healthy].mean(axis=0)))
    mean = {g: offsets[healthy & (groups == g)].mean(0) for g in (0, 4)}
    spread = {g: offsets[healthy & (groups == g)].std(0) + 1e-9 for g in (0, 4)}
    standard = np.array([(o - mean[g]) / spread[g] for o, g in zip(offsets, groups)])
    design = np.hstack(
        [
            scaled,
            regions,
            regions[:, :2].max(1, keepdims=True),
            regions[:, 2:].max(1, keepdims=True),
            PCA(59, random_state=0).fit_transform(standard),
        ]
    )  # 60 components, at most samples − 1
    design = (design - design.mean(0)) / (design.std(0) + 1e-9)
    reference = LogisticRegression(C=0.05, max_iter=3000, random_state=0).fit(design, y)
    assert np.allclose(classifier.proba_from_features(x), reference.predict_proba(design)[:, 1], atol=1e-6)
    smiling_twin = x.copy()
    smiling_twin[:, len(baseline.FEATURES)] = (
        4 - smiling_twin[:, len(baseline.FEATURES)]
    )  # the same faces read as the other expression
    assert not np.allclose(classifier.proba_from_features(smiling_twin), classifier.proba_from_features(x))


def test_format_3_adds_a_platt_scaled_kernel_machine_as_scikit_learn_computes_it():
    """Format 3: the mean of the logistic regression's log-odds and those of an RBF SVM with Platt's sigmoid fitted
    out of fold, both on format 2's standardised design; the stored support vectors give scikit-learn's numbers."""
    from scipy.special import expit, logit
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    from facepalsy.models import baseline

    x, y, *_ = _training_set(np.random.default_rng(3), expression_column=True)
    linear, combined = AsymmetryClassifier.fit(x, y, version=2), AsymmetryClassifier.fit(x, y, version=3)
    loaded = AsymmetryClassifier(combined.to_dict())  # as model.pt gives it back
    assert loaded.version == 3
    design = linear._design(*baseline._split(x, 2))
    svm = CalibratedClassifierCV(SVC(C=1.0, gamma=1 / design.shape[1]), method="sigmoid", cv=5, ensemble=False).fit(
        design, y
    )
    expected = expit((logit(linear.proba_from_features(x)) + logit(svm.predict_proba(design)[:, 1])) / 2)
    assert np.allclose(loaded.proba_from_features(x), expected, atol=1e-6)
    assert not np.allclose(loaded.proba_from_features(x), linear.proba_from_features(x), atol=1e-3)
    with pytest.raises(baseline.DataError, match="at least 2 measured faces of each class"):
        AsymmetryClassifier.fit(x[:3], np.array([0, 1, 0]), version=3)


@pytest.mark.skipif(not mediapipe_available(), reason="the baseline measures face-mesh landmarks (face extra)")
def test_asymmetry_backbone_trains_predicts_and_is_a_table_row(tmp_path, capsys):
    data = make_synthetic_dataset(
        tmp_path / "data", subjects=12, images_per_subject=3, seed=4, size=128, progress=False
    )
    run = tmp_path / "asym"
    flags = [
        "--backbone",
        "asymmetry",
        "--image-size",
        "128",
        "--split",
        "subject",
        "--test-fraction",
        "0.25",
        "--val-fraction",
        "0.25",
    ]
    # without twins: on drawn faces they separate the classes so well that p saturates, and --threshold 1 below
    # could not read a face as normal (tests/test_twins.py trains with them)
    assert main(["train", str(data), "--out", str(run), *flags, "--no-twins"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n"] > 0 and 0 <= metrics["accuracy"] <= 1 and metrics["heatmaps"] is None
    _speaks_of_landmarks(run, data, tmp_path, capsys)
    assert "baseline" in torch.load(run / "model.pt", weights_only=True)
    capsys.readouterr()
    image = next((data / "palsy").rglob("*.jpg"))
    assert main(["predict", str(run), str(image), "--json"]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["prob_palsy"] <= 1
    assert (
        main(["predict", str(run), str(image), "--json", "--threshold", "0"]) == 0
    )  # labelled palsy: its pattern is named
    pattern = json.loads(capsys.readouterr().out)["palsy_pattern"]
    assert pattern["pattern"] in ("peripheral", "central", "undetermined") and pattern["why"]
    assert main(["predict", str(run), str(image), "--json", "--threshold", "1"]) == 0  # the same face labelled normal
    normal = json.loads(capsys.readouterr().out)
    assert normal["label"] == "normal" and normal.get("palsy_pattern") is None  # no pattern (nor stroke warning)
    assert main(["predict", str(run), str(image), "--json", "--threshold", "0", "--no-pattern"]) == 0
    assert "palsy_pattern" not in json.loads(capsys.readouterr().out)
    assert main(["explain", str(run), str(image), "--out", str(tmp_path / "x")]) == 2
    assert "Grad-CAM needs a CNN backbone" in capsys.readouterr().err
    assert "backbone: landmarks" in (run / "config.yaml").read_text()  # trained as --backbone asymmetry, the old name
    cv = tmp_path / "cv"
    model_flags = ["--model", "landmarks", *flags[2:4]]
    assert main(["cv", str(data), "--out", str(cv), "--protocol", "subject-kfold", "--folds", "3", *model_flags]) == 0
    capsys.readouterr()
    _as_before_the_rename(run)
    assert main(["predict", str(run), str(image), "--json"]) == 0  # an old run folder still loads and predicts
    capsys.readouterr()
    assert main(["compare", str(run), str(cv)]) == 0
    table = capsys.readouterr().out
    assert f"| landmarks | {run.name} | face crop | subject split |" in table
    assert f"| landmarks | {cv.name} | face crop | subject-kfold (3 folds) |" in table
    _cannot_read(run, image, tmp_path, capsys)
    _unseen_eyes(run, image, tmp_path, capsys)


def _unseen_eyes(run, image, tmp_path, capsys) -> None:
    """The same face behind painted dark lenses, then with one eye under a patch of its own cheek (read as palsy, a
    healthy face would be called palsy for a lock of hair): no verdict, and the reason says which."""
    from drawn_faces import with_lenses, with_one_eye_covered

    from facepalsy.face.detect import largest_face

    rgb = np.asarray(Image.open(image).convert("RGB"))
    landmarks = largest_face(rgb, backend="mediapipe").landmarks
    for paint, reason in ((with_lenses, "eyes"), (with_one_eye_covered, "covered")):
        painted = tmp_path / f"{reason}.png"
        Image.fromarray(paint(rgb, landmarks)).save(painted)
        capsys.readouterr()
        assert main(["predict", str(run), str(painted), "--json"]) == 2
        said = json.loads(capsys.readouterr().out)
        assert said["status"] == "cannot_read"
        assert said["error"] == "cannot read reliably: " + side_differences.REASONS[reason]
        _page_gives_the_reason(run, painted, side_differences.REASONS[reason], tmp_path)


def _page_gives_the_reason(run, painted, reason: str, tmp_path) -> None:
    """The page renders an abstention's reason as predict does, not a bare error (issue 52, item 3)."""
    pytest.importorskip("gradio", reason="the web page is the web extra")
    from facepalsy.app.page_analysis import Analyzer

    analysis = Analyzer(facepalsy.load(run), tmp_path / "page").analyze(painted, painted.name)
    assert analysis.prob_palsy is None and "No verdict" in analysis.verdict and reason in analysis.verdict


def _cannot_read(run, image, tmp_path, capsys) -> None:
    """A face the model cannot read reliably gets no verdict but the reason, and evaluation counts it apart from
    faces without a usable face: here every face, its "unlike any trained on" limit set below every distance."""
    strict = tmp_path / "strict"
    shutil.copytree(run, strict)
    payload = torch.load(strict / "model.pt", weights_only=True)
    payload["baseline"]["unusual_cut"] = [-1.0]
    torch.save(payload, strict / "model.pt")
    capsys.readouterr()
    assert main(["predict", str(strict), str(image), "--json"]) == 2  # no input got a verdict
    said = json.loads(capsys.readouterr().out)
    assert said["status"] == "cannot_read" and "prob_palsy" not in said
    assert said["error"] == "cannot read reliably: " + side_differences.REASONS["unusual"]
    assert main(["predict", str(strict), str(image)]) == 2  # piped: the notes column says why (issue 52)
    row = capsys.readouterr().out.splitlines()[-1].split("\t")
    assert row[1] == "cannot_read" and row[-1] == "cannot read reliably: " + side_differences.REASONS["unusual"]
    assert main(["evaluate", str(strict)]) == 2
    counts = re.search(
        r"(\d+) without a measurable face and (\d+) that the model could not read", capsys.readouterr().err
    )
    tested = sum(line.endswith(",test") for line in (strict / "split.csv").read_text().splitlines())
    assert counts and int(counts[1]) == 0 and 0 < int(counts[2]) <= tested


def _as_before_the_rename(run) -> None:
    """Rewrite a landmark run's config and model spec as runs trained before 2026-11-28 named the model."""
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("backbone: landmarks", "backbone: asymmetry"))
    payload = torch.load(run / "model.pt", weights_only=True)
    payload["spec"]["backbone"] = "asymmetry"
    torch.save(payload, run / "model.pt")


@pytest.mark.skipif(not mediapipe_available(), reason="the baseline measures face-mesh landmarks (face extra)")
@pytest.mark.skipif(not mediapipe_available(), reason="the baseline measures face-mesh landmarks (face extra)")
def test_the_landmark_model_reads_a_face_as_it_read_its_training_faces_on_jitters_views():
    """Every landmark run was trained on the median of JITTER's views; a face is read on the same, not on the photo
    path's two passes (which changed 3% of a run's verdicts on real photos)."""
    from drawn_faces import drawn_face

    from facepalsy.face.asymmetry import JITTER, image_asymmetry

    rgb = drawn_face(3, palsy=True)
    result = baseline.measured(np.ascontiguousarray(rgb.transpose(2, 0, 1)))
    assert result.views == len(JITTER)
    jitter = image_asymmetry(rgb, views=JITTER)[0]
    assert result.difference == pytest.approx(jitter.difference)
    assert result.difference != pytest.approx(image_asymmetry(rgb)[0].difference)  # the two passes read otherwise


def test_feature_cache_is_bounded(monkeypatch):
    from facepalsy.models import baseline

    monkeypatch.setattr(baseline, "CACHE_LIMIT", 2)
    monkeypatch.setattr(baseline, "_features_cache", baseline.OrderedDict())
    for value in (10, 20, 30):
        features = baseline.image_features(np.full((3, 64, 64), value, np.uint8))  # blank: no face
        assert np.isnan(features).all()
    assert len(baseline._features_cache) == 2


CNN_WORDS = re.compile(r"\bnetwork\b|Grad-CAM|--face-crop")  # "networkx" (a package in provenance.json) is no claim


def _speaks_of_landmarks(run, data, tmp_path, capsys) -> None:
    """No output of a landmark run, of predict with it or of the page with it speaks of a network, Grad-CAM or
    --face-crop (issue 25)."""
    for path in run.rglob("*"):
        if path.suffix in (".md", ".json", ".yaml", ".txt", ".csv"):
            text = path.read_text(encoding="utf-8")
            assert not CNN_WORDS.search(text), (path.name, CNN_WORDS.findall(text))
    assert "`landmarks`: region measures" in (run / "model_card.md").read_text()
    report = (run / "report.md").read_text()
    shown = yaml.safe_load(report.split("## Configuration")[1].split("```yaml")[1].split("```")[0])
    assert shown["backbone"] == "landmarks" and not {"weights", "epochs", "lr", "augment", "schedule"} & set(shown)
    assert "lowest validation loss" not in report
    capsys.readouterr()
    image = next((data / "palsy").rglob("*.jpg"))
    assert main(["predict", str(run), str(image)]) == 0
    said = capsys.readouterr()
    assert not CNN_WORDS.search(said.out + said.err), said
    pytest.importorskip("gradio", reason="the web page is the web extra")
    from facepalsy.app.page_analysis import Analyzer

    analysis = Analyzer(facepalsy.load(run), tmp_path / "work").analyze(image, image.name)
    assert analysis.cam is None and analysis.landmarks is not None
    shown = analysis.verdict + (analysis.asymmetry or "") + Path(analysis.report).read_text()
    assert not CNN_WORDS.search(shown), CNN_WORDS.findall(shown)


@pytest.mark.skipif(not mediapipe_available(), reason="the landmark model measures faces: the face extra")
def test_every_count_of_faceless_images_agrees_and_survives_evaluate(tmp_path, capsys):
    from PIL import Image

    data = make_synthetic_dataset(tmp_path / "data", 12, 3, seed=4, size=128, progress=False)
    for path in sorted((data / "normal").rglob("*.jpg"))[::4]:  # a grey frame in place of every fourth normal face
        Image.new("RGB", (128, 128), (120, 120, 120)).save(path)
    run = tmp_path / "run"
    flags = ["--model", "landmarks", "--image-size", "128", "--test-fraction", "0.34", "--val-fraction", "0.25"]
    assert main(["train", str(data), "--out", str(run), *flags]) == 0
    excluded = json.loads((run / "excluded.json").read_text())
    listed = (run / "no_face.txt").read_text().splitlines()
    assert excluded["no_face"] == len(listed) >= 3 and 1 <= excluded["no_face_test"] <= excluded["no_face"]

    def counts() -> tuple[int, str, str]:
        metrics = json.loads((run / "metrics.json").read_text())
        return metrics["left_out"]["no_face"], (run / "model_card.md").read_text(), (run / "report.md").read_text()

    for command in (None, ["evaluate", str(run)]):  # as trained, and after evaluate rewrote the report
        if command:
            assert main(command) == 0
        test, card, report = counts()
        assert test >= excluded["no_face_test"]
        assert f"Test images without a usable face, no verdict: {test} (of {excluded['no_face']}" in card
        assert f"Not in these figures: {test} images without a usable face" in report
        assert f"{excluded['no_face']} in the whole data set, {excluded['no_face_test']} of them in the test" in report
