"""Several data folders as one data set, each image's source, the leave-source-out protocol and its per-source
figures, and the landmark model of format 4 (source-balanced, abstaining with a reason)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facepalsy.config import Config, load_config
from facepalsy.data.dataset import CLASSES, scan_sources
from facepalsy.errors import DataError
from facepalsy.evaluation.results import CvSummary
from facepalsy.evaluation.sources import SourceFigures, source_figures, wilson_interval
from facepalsy.models import baseline, side_differences
from facepalsy.models.baseline import AsymmetryClassifier
from facepalsy.runfolder import RunFolder
from facepalsy.training.cv import fold_assignments


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (120, 90, 80)).save(path)


def _folders(tmp_path: Path) -> tuple[Path, Path]:
    """``clinic``: palsy and normal by folder (its source is its name); ``healthy``: normals only, a manifest naming
    two sources, and a subject name the clinic uses too."""
    clinic, healthy = tmp_path / "clinic", tmp_path / "healthy"
    for label in CLASSES:
        for i in range(3):
            _image(clinic / label / f"subject_{i}" / "a.png")
    rows = []
    for i in range(4):
        _image(healthy / "normal" / f"{i}.png")
        rows.append({"path": f"normal/{i}.png", "label": "normal", "subject": f"subject_{i}", "source": "AB"[i % 2]})
    with (healthy / "manifest.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, ["path", "label", "subject", "source"])
        writer.writeheader()
        writer.writerows(rows)
    return clinic, healthy


def test_several_folders_make_one_data_set_with_sources(tmp_path):
    clinic, healthy = _folders(tmp_path)
    root, samples = scan_sources([clinic, healthy])
    assert root == tmp_path.resolve()
    assert len(samples) == 10 and all((root / s.path).is_file() for s in samples)
    assert {s.source for s in samples} == {"clinic", "A", "B"}
    assert sum(s.label == CLASSES.index("palsy") for s in samples) == 3
    subjects = {s.subject for s in samples}
    assert "clinic/subject_0" in subjects and "healthy/subject_0" in subjects  # two people, not one
    one_root, one = scan_sources([clinic])
    assert one_root == clinic and {s.path for s in one} == {f"{c}/subject_{i}/a.png" for c in CLASSES for i in range(3)}
    with pytest.raises(DataError, match="given twice"):
        scan_sources([clinic, clinic])
    with pytest.raises(DataError, match="no images of class palsy"):
        scan_sources([healthy, _only_normals(tmp_path)])


def _only_normals(tmp_path: Path) -> Path:
    folder = tmp_path / "more"
    _image(folder / "normal" / "x.png")
    return folder


def test_a_config_from_before_several_folders_still_loads(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("data: /somewhere/data\nbackbone: landmarks\noperating_point: youden\n")
    config = load_config(path)
    assert config.data == ["/somewhere/data"] and config.root == Path("/somewhere/data")
    assert config.operating_rule == "youden"  # an old run's recorded rule is kept
    assert Config(backbone="landmarks").operating_rule == "specificity=0.95"  # the landmark recipe's default
    assert Config(backbone="vgg16").operating_rule == "youden"
    # as the command line builds it: the defaults first, the model after, and still the model's own rule
    assert Config().replace(backbone="landmarks").resolved().operating_point == "specificity=0.95"
    assert Config().replace(backbone="landmarks", operating_point="youden").resolved().operating_point == "youden"


def test_the_split_file_records_each_images_source_and_reads_old_ones(tmp_path):
    clinic, healthy = _folders(tmp_path)
    _, samples = scan_sources([clinic, healthy])
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    run.write_split(samples, ["train"] * len(samples))
    assert run.read_split()[0] == samples
    rows = list(csv.DictReader(run.split.open()))
    assert {r["source"] for r in rows} == {"clinic", "A", "B"}
    with run.split.open("w", newline="") as f:  # a split file from before sources
        f.write("path,label,subject,split\nnormal/a.png,normal,a,test\n")
    assert run.read_split()[0][0].source == ""


def test_leave_source_out_holds_each_source_out_whole(tmp_path):
    clinic, healthy = _folders(tmp_path)
    ward = tmp_path / "ward"  # a second palsy source: without it, holding out the clinic leaves no palsy to learn
    for i in range(3):
        _image(ward / "palsy" / f"{i}.png")
    _, samples = scan_sources([clinic, healthy, ward])
    assignments = fold_assignments(samples, "leave-source-out", 5, 0.0, 0)
    sources = np.array([s.source for s in samples])
    assert len(assignments) == 4
    held = [set(sources[np.array(a) == "test"]) for a in assignments]
    assert sorted(h.pop() for h in held) == ["A", "B", "clinic", "ward"]
    for a in assignments:
        test = np.array(a) == "test"
        assert not set(sources[test]) & set(sources[~test])
    _, without_ward = scan_sources([clinic, healthy])
    with pytest.raises(DataError, match="without source 'clinic' the training side has only one class"):
        fold_assignments(without_ward, "leave-source-out", 5, 0.0, 0)


def test_wilson_interval_is_scipys_and_the_source_figures_count_right():
    low, high = wilson_interval(0, 10)
    assert low == pytest.approx(0.0, abs=1e-9) and high == pytest.approx(0.2775, abs=1e-4)  # the textbook value
    assert wilson_interval(5, 0) is None
    labels = np.array([0, 0, 0, 0, 1, 1])
    probs = np.array([0.1, 0.2, 0.7, 0.3, 0.9, 0.4])
    figures = source_figures("S", {0: 6, 1: 2}, labels, probs, threshold=0.5)
    assert figures.false_positive_rate == pytest.approx(0.25) and figures.sensitivity == pytest.approx(0.5)
    assert figures.abstained == 2 and figures.abstention_rate == pytest.approx(0.25)
    assert figures.roc_auc == pytest.approx(7 / 8)
    healthy_only = source_figures("H", {0: 3}, np.array([0, 0, 0]), np.array([0.1, 0.6, 0.2]), 0.5)
    assert healthy_only.sensitivity is None and healthy_only.roc_auc is None
    assert healthy_only.false_positive_rate == pytest.approx(1 / 3)
    assert SourceFigures.from_dict(figures.to_dict()) == figures


def test_a_cv_summary_keeps_its_sources_through_json(tmp_path):
    figures = source_figures("S", {0: 4, 1: 2}, np.array([0, 0, 1]), np.array([0.1, 0.8, 0.9]), 0.5)
    from facepalsy.evaluation.results import Evaluation, Scores

    values = dict(accuracy=1.0, recall=1.0, precision=1.0, f1=1.0, specificity=1.0, roc_auc=1.0)
    scores = Scores(**values, confusion_matrix=[[1, 0], [0, 1]], threshold=0.5, n=2)
    pooled = Evaluation(**values, confusion_matrix=[[1, 0], [0, 1]], threshold=0.5, n=2)
    summary = CvSummary("leave-source-out", "text", "landmarks", [], [], pooled, scores, [])
    summary.sources = [figures]
    again = CvSummary.from_dict(summary.to_dict())
    assert again.sources == [figures]
    assert any("| S | 4 / 2 | 50.0%" in line for line in again.markdown())
    old = summary.to_dict()
    del old["sources"]  # cv.json from before sources
    assert CvSummary.from_dict(old).sources == []


def _rows(rng, n, palsy_lift, speech=False, typical=False):
    """Feature rows of format 3/4's layout: scalars, expression (rest), a symmetric mesh with closed lips.
    ``typical``: every measure at the healthy median, a face no one would call unusual."""
    scalars = np.abs(rng.normal(0, 0.02, (n, len(baseline.FEATURES))))
    if typical:
        scalars[:] = 0.0135  # the median of |N(0, 0.02)|
    columns = [baseline.FEATURES.index(name) for name in side_differences.VERTICAL]
    scalars[:, columns] += palsy_lift
    mesh = np.zeros((n, baseline.MESH_POINTS, 2))
    mesh[:, side_differences.LOWER_INNER_LIP, 1] = rng.uniform(0.0, 0.02, n) + (0.5 if speech else 0.0)
    return np.hstack([scalars, np.zeros((n, 1)), mesh.reshape(n, -1)])


def test_format_4_reads_vertical_differences_weighs_sources_and_abstains_with_reasons():
    rng = np.random.default_rng(0)
    healthy_a, healthy_b, palsy = _rows(rng, 200, 0.0), _rows(rng, 20, 0.0), _rows(rng, 60, 0.08)
    x = np.vstack([healthy_a, healthy_b, palsy])
    y = np.array([0] * 220 + [1] * 60)
    sources = np.array(["A"] * 200 + ["B"] * 20 + ["P"] * 60)
    weights = side_differences.source_weights(y, sources)
    assert weights[:200].sum() == pytest.approx(weights[200:220].sum())  # each healthy source alike
    assert weights[:220].sum() == pytest.approx(weights[220:].sum())  # each class half
    model = AsymmetryClassifier(AsymmetryClassifier.fit(x, y, sources=sources).to_dict())  # as model.pt returns it
    assert model.version == 4 == baseline.FORMAT
    prob = model.proba_from_features(x)
    measured = ~np.isnan(prob)
    assert measured.mean() > 0.9
    assert np.nanmean(prob[220:]) > 0.8 > 0.2 > np.nanmean(prob[:220])
    talking = _rows(rng, 5, 0.0, speech=True, typical=True)
    odd = _rows(rng, 1, 0.0)
    odd[0, : len(baseline.FEATURES)] = 50.0  # measures no training face came near
    reasons = model.reasons(np.vstack([talking, odd, np.full((1, x.shape[1]), np.nan)]))
    assert reasons[:5] == [side_differences.REASONS["speech"]] * 5
    assert reasons[5] == side_differences.REASONS["unusual"]
    assert reasons[6] == baseline.UNMEASURED_REASON
    assert np.isnan(model.proba_from_features(np.vstack([talking, odd]))).all()
    lifted_mouth = _rows(rng, 1, 0.0, typical=True)
    lifted_mouth[0, baseline.FEATURES.index("abs_mouth_corner_drop")] = 0.15
    sideways = lifted_mouth.copy()  # the same face with a turned head's horizontal differences on top
    sideways[0, baseline.FEATURES.index("abs_mouth_corner_from_midline")] = 0.04
    assert model.proba_from_features(sideways) == pytest.approx(model.proba_from_features(lifted_mouth))


def test_format_4_abstains_on_hidden_eyes_and_a_run_saved_before_the_rule_does_not():
    rng = np.random.default_rng(2)
    x = np.vstack([_rows(rng, 200, 0.0), _rows(rng, 60, 0.08)])
    y = np.array([0] * 200 + [1] * 60)
    params = AsymmetryClassifier.fit(x, y).to_dict()
    faces = np.vstack([_rows(rng, 3, 0.08, typical=True), _rows(rng, 1, 0.0, typical=True)])
    brightness = [0.1, side_differences.HIDDEN_EYES + 0.01, np.nan, 0.05]  # lenses, bare, unknown, lenses
    orbits = np.column_stack([brightness, np.ones(4)])  # every lid margin seen
    model = AsymmetryClassifier(params)
    assert model.reasons(faces, orbits) == [side_differences.REASONS["eyes"], "", "", side_differences.REASONS["eyes"]]
    prob = model.proba_from_features(faces, orbits)
    assert np.isnan(prob[[0, 3]]).all() and (prob[[1, 2]] > 0.5).all()
    assert model.proba_from_features(faces) == pytest.approx(model.proba_from_features(faces, np.ones((4, 2))))
    del params["hidden_eyes"]  # model.pt of a run trained before the rule
    before = AsymmetryClassifier(params)
    assert before.reasons(faces, orbits) == [""] * 4
    assert before.proba_from_features(faces, orbits) == pytest.approx(model.proba_from_features(faces))


def test_format_4_abstains_on_a_covered_eye_and_a_run_saved_before_the_rule_does_not():
    rng = np.random.default_rng(3)
    x = np.vstack([_rows(rng, 200, 0.0), _rows(rng, 60, 0.08)])
    y = np.array([0] * 200 + [1] * 60)
    params = AsymmetryClassifier.fit(x, y).to_dict()
    faces = _rows(rng, 4, 0.08, typical=True)
    cut = side_differences.COVERED_EYE
    # per face: orbit brightness, lid edges: covered, seen, unknown, covered behind dark lenses (the lenses say it)
    orbits = np.array([[0.6, cut / 3], [0.6, cut + 0.01], [0.6, np.nan], [0.1, cut / 3]])
    model = AsymmetryClassifier(params)
    reasons = side_differences.REASONS
    assert model.reasons(faces, orbits) == [reasons["covered"], "", "", reasons["eyes"]]
    prob = model.proba_from_features(faces, orbits)
    assert np.isnan(prob[[0, 3]]).all() and (prob[[1, 2]] > 0.5).all()
    del params["covered_eye"]  # model.pt of a run trained before this rule, after the dark-glasses one
    before = AsymmetryClassifier(params)
    assert before.reasons(faces, orbits) == ["", "", "", reasons["eyes"]]


def test_format_4_abstains_behind_tinted_glasses_and_a_run_saved_before_the_rule_does_not():
    """Issue 52: a news photo in tinted sunglasses (orbit at 0.3 of the skin) was read; a bare eye in a cap's shadow
    reads as dark, but has no frames around it."""
    rng = np.random.default_rng(4)
    x = np.vstack([_rows(rng, 200, 0.0), _rows(rng, 60, 0.08)])
    y = np.array([0] * 200 + [1] * 60)
    params = AsymmetryClassifier.fit(x, y).to_dict()
    faces = _rows(rng, 4, 0.08, typical=True)
    dark, bright = side_differences.TINTED_GLASSES[0] - 0.1, side_differences.TINTED_GLASSES[0] + 0.1
    frames = side_differences.TINTED_GLASSES[1]
    # per face: orbit brightness, lid edges, eyeglasses: tinted lenses, a shaded bare eye, clear glasses, no reading
    orbits = np.array([[dark, 1.0, frames + 0.2], [dark, 1.0, 0.1], [bright, 1.0, frames + 0.2], [dark, 1.0, np.nan]])
    model = AsymmetryClassifier(params)
    assert model.reasons(faces, orbits) == [side_differences.REASONS["eyes"], "", "", ""]
    assert model.reasons(faces, orbits[:, :2]) == [""] * 4  # readings of a cache made before the third column
    del params["tinted_glasses"]  # model.pt of a run trained before this rule
    assert AsymmetryClassifier(params).reasons(faces, orbits) == [""] * 4


def test_out_of_fold_probabilities_come_from_models_that_never_saw_the_subject():
    rng = np.random.default_rng(1)
    x = np.vstack([_rows(rng, 60, 0.0), _rows(rng, 30, 0.08)])
    y = np.array([0] * 60 + [1] * 30)
    subjects = np.array([f"s{i // 3}" for i in range(90)])  # three photos each
    probs = AsymmetryClassifier.out_of_fold(x, y, subjects, seed=0)
    assert probs.shape == (90,) and np.nanmean(probs[60:]) > 0.8 > 0.2 > np.nanmean(probs[:60])
    from sklearn.model_selection import StratifiedGroupKFold

    train, held = next(StratifiedGroupKFold(5, shuffle=True, random_state=0).split(x, y, subjects))
    alone = AsymmetryClassifier.fit(x[train], y[train]).proba_from_features(x[held])
    assert np.allclose(probs[held], alone, equal_nan=True)  # the first fold's model, fitted without those subjects
    assert AsymmetryClassifier.out_of_fold(x[:4], np.array([0, 0, 1, 1]), np.array(["a", "a", "b", "b"])) is None


def test_a_face_the_eye_rules_refuse_takes_no_part_in_choosing_the_threshold():
    rng = np.random.default_rng(2)
    x = np.vstack([_rows(rng, 60, 0.0), _rows(rng, 30, 0.08)])
    y = np.array([0] * 60 + [1] * 30)
    subjects = np.array([f"s{i // 3}" for i in range(90)])
    orbits = np.tile([0.6, 1.0], (90, 1))  # every eye seen
    orbits[[4, 70], 1] = side_differences.COVERED_EYE / 3  # one healthy and one palsy face with an eye covered
    seen = AsymmetryClassifier.out_of_fold(x, y, subjects, seed=0)
    judged = AsymmetryClassifier.out_of_fold(x, y, subjects, seed=0, orbits=orbits)
    assert np.isfinite(seen[[4, 70]]).all() and np.isnan(judged[[4, 70]]).all()
    others = np.setdiff1d(np.arange(90), [4, 70])
    assert np.allclose(seen[others], judged[others], equal_nan=True)
