"""compare: rows that say which run they are, scores with intervals, and a warning when the test sets differ."""

from __future__ import annotations

import csv
import json

from conftest import TINY_TRAIN_FLAGS

from facepalsy.app.cli import main
from facepalsy.data.harmonise import Harmonisation
from facepalsy.data.model_input import FacePolicy
from facepalsy.evaluation.compare import compare


def test_runs_on_different_test_sets_are_named_warned_and_compared_on_shared_images(
    tiny_run, synth_data, tmp_path, capsys
):
    other = tmp_path / "seed1"
    assert (
        main(
            [
                "-q",
                "train",
                str(synth_data),
                "--out",
                str(other),
                "--split",
                "subject",
                *TINY_TRAIN_FLAGS,
                "--seed",
                "1",
            ]
        )
        == 0
    )
    comparison = compare([tiny_run, other])
    first, second = comparison.rows
    assert (first["run"], second["run"]) == (tiny_run.name, "seed1") and first["n"] != 0
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    low, high = metrics["ci95"]["roc_auc"]
    assert first["roc_auc"] == f"{metrics['roc_auc']:.3f} ({low:.3f}–{high:.3f})"
    assert first["n"] == metrics["n"] and first["input"] == "whole image"

    with (tiny_run / "predictions.csv").open() as f, (other / "predictions.csv").open() as g:
        a, b = {r["path"] for r in csv.DictReader(f)}, {r["path"] for r in csv.DictReader(g)}
    assert a != b  # another seed, another subject split
    assert not comparison.same_images and comparison.shared == len(a & b)
    assert comparison.counts == {tiny_run.name: len(a), "seed1": len(b)}
    markdown = comparison.markdown()
    assert "**The test sets differ**" in markdown and f"{tiny_run.name} {len(a)}" in markdown
    if a & b:
        assert [row["n"] for row in comparison.shared_rows] == [len(a & b)] * 2
        assert f"{len(a & b)} images are in every test set" in markdown
    else:
        assert "No image is in every test set" in markdown

    capsys.readouterr()
    assert main(["compare", str(tiny_run), str(other), "--out", str(tmp_path / "table"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["same_images"] is False and len(printed["rows"]) == 2
    assert "The test sets differ" in (tmp_path / "table" / "comparison.md").read_text()


def test_the_model_input_is_named_in_a_few_words():
    assert FacePolicy().label() == "whole image"
    assert FacePolicy(required=True).label() == "whole image, face required"
    assert FacePolicy(crop=True).label() == "face crop"
    assert FacePolicy(crop=True, harmonise=Harmonisation(96, 90)).label() == "harmonised (96 px, JPEG 90)"
