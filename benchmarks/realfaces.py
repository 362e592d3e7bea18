"""The landmark model on a folder of real photos: faces found, the shortcut audit, cross-validated AUC and more.

    .venv/bin/python benchmarks/realfaces.py DATA [--out DIR] [--folds 5] [--image-size 224] [--json FILE]
                                                  [--pose-faces 120]
    .venv/bin/python benchmarks/realfaces.py DATA DATA… [--out DIR] [--folds 5] [--json FILE]

With several folders (e.g. ``../shared/realfaces/dev ../shared/realfaces/expressions ../shared/realfaces/wild``),
the cross-source figures instead (``cross_source``): each source held out whole, and a subject k-fold within
the sources beside it, labelled as such.

DATA follows the data contract (palsy/, normal/, optional manifest.csv), for example the real-photo
development set beside the project (../shared/realfaces/dev). Everything runs through facepalsy's
own code: ``check_dataset`` for the audit, ``run_cv`` with ``--model landmarks`` under the
subject-kfold protocol for the landmark model (pooled out-of-fold AUC, subject-bootstrap 95% CI).
Then, on the same measured faces:

- leave one source out: the palsy photos of each source in the manifest's ``source_repo`` column
  are tested against half of the healthy photos by a model trained on the other sources' palsy photos
  and the other half (healthy photos come from one source on the dev set, so they are split);
- false positives per recognised expression: healthy photos labelled palsy out of fold;
- the palsy pattern of the palsy photos per source (counts only: the dev set has no central or
  peripheral labels);
- pose robustness: frontal faces re-rendered turned (``face.pose.turn_face``, ±15° yaw, 10° pitch)
  and tilted 10° in the image plane, through each face's own out-of-fold run: how often the verdict
  holds, and how far the region measures move with and without rotating the mesh to frontal.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import json
import os
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from sklearn.metrics import roc_auc_score
from twins import droop_yardstick

from facepalsy.config import Config
from facepalsy.data.dataset import CLASSES, load_images, manifest_rows, scan_dataset
from facepalsy.data.images import load_image
from facepalsy.evaluation.check import check_dataset
from facepalsy.evaluation.cv_report import read_predictions
from facepalsy.evaluation.sources import source_figures
from facepalsy.face.asymmetry import JITTER, image_asymmetry, measure
from facepalsy.face.norms import WEAKER_SIGN, differences, load_norms
from facepalsy.face.pose import turn_face
from facepalsy.inference.predictor import load
from facepalsy.models import baseline
from facepalsy.models.baseline import AsymmetryClassifier, features, measured
from facepalsy.runfolder import CvFolder
from facepalsy.runfolder.provenance import cpu_kind
from facepalsy.training.cv import listed_per_source, run_cv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "data", type=Path, nargs="+", help="a data folder; several: the cross-source figures of all of them as one set"
    )
    parser.add_argument("--out", type=Path, help="cross-validation folder to write (default: a temporary one)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--json", type=Path, help="write every figure into this JSON file as well")
    parser.add_argument("--pose-faces", type=int, default=120, help="frontal faces re-rendered for the pose figure")
    args = parser.parse_args()
    start = time.perf_counter()
    baseline.READINGS_LIMIT = 10_000  # keep every face's measures: the figures below read them again
    if len(args.data) > 1:
        out = args.out or Path(tempfile.mkdtemp(prefix="facepalsy-sources-"))
        figures = cross_source(args.data, out, args.folds, args.image_size)
        figures["wall_time_s"] = round(time.perf_counter() - start)
        figures.update(provenance())
        print(f"wall time: {figures['wall_time_s']} s; cross-validations in {out}")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=1, default=float), encoding="utf-8")
        return
    args.data = args.data[0]

    report = check_dataset(args.data, progress=False)
    audit = report.audit
    combined = audit.combined
    print(
        f"data: {args.data} ({', '.join(f'{n} {c}' for c, n in report.images.items())} "
        f"listed; {len(report.unreadable)} unreadable or missing)"
    )
    flagged = ", ".join(f"{m.name} {m.auc:.3f}" for m in audit.measures if m.name in audit.flagged)
    print(
        f"shortcut audit: all measures together AUC {combined.auc:.3f} (95% CI "
        f"{combined.ci95[0]:.3f}–{combined.ci95[1]:.3f}); over 0.70: {flagged or 'none'}"
    )
    print(f"  [{time.perf_counter() - start:.0f} s]")

    out = args.out or Path(tempfile.mkdtemp(prefix="facepalsy-realfaces-")) / "cv"
    config = Config(
        data=str(args.data.resolve()), backbone="landmarks", image_size=args.image_size, val_fraction=0.2, skip_bad=True
    )
    result = run_cv(config, out, "subject-kfold", args.folds, overwrite=True, progress=False)
    no_face = no_face_per_class(args.data, out)
    unreadable = {
        c: sum(
            CLASSES[s.label] == c
            for s in scan_dataset(args.data)
            if s.path in {u["path"] for u in report["unreadable"]}
        )
        for c in CLASSES
    }
    readable = {c: report["images"][c] - unreadable[c] for c in CLASSES}
    print(
        "usable face for the landmark model: "
        + ", ".join(f"{c} {readable[c] - no_face.get(c, 0)} of {readable[c]} readable" for c in CLASSES)
    )
    pooled = result.pooled
    ci = pooled.ci95["roc_auc"]
    print(
        f"landmark model, {args.folds}-fold subject cross-validation, pooled out-of-fold: AUC {pooled.roc_auc:.3f} "
        f"(95% CI {ci[0]:.3f}–{ci[1]:.3f}, subject bootstrap); sensitivity "
        f"{pooled.recall:.3f}, specificity {pooled.specificity:.3f} "
        f"at each fold's operating threshold; n = {pooled.n}"
    )
    figures = {
        "data": str(args.data),
        "faces": {c: readable[c] - no_face.get(c, 0) for c in CLASSES},
        "cv_auc": pooled.roc_auc,
        "cv_auc_ci95": ci,
        "cv_n": pooled.n,
        "sensitivity": pooled.recall,
        "specificity": pooled.specificity,
    }
    samples, images = measured_faces(args.data, config)
    figures["leave_one_source_out"] = leave_one_source_out(args.data, samples, images)
    figures["false_positives_by_expression"] = false_positives_by_expression(out, samples, images)
    figures["pattern_by_source"] = patterns_by_source(args.data, samples, images)
    figures["pose"] = pose_robustness(args.data, out, args.pose_faces)
    figures["wall_time_s"] = round(time.perf_counter() - start)
    figures.update(provenance())
    print(f"wall time: {figures['wall_time_s']} s; folds in {out}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=float), encoding="utf-8")


def provenance() -> dict:
    """When, at which commit and on which CPU the figures were made (a figure without them cannot be compared)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "date": datetime.date.today().isoformat(),
        "commit": commit,
        "cpu": cpu_kind(),
        "cores": os.cpu_count(),
    }


def no_face_per_class(data: Path, out: Path) -> dict[str, int]:
    """Images per class the cross-validation left out for want of a usable face (its no-face list)."""
    path = CvFolder(out).no_face
    if not path.is_file():
        return {}
    label_of = {(data.resolve() / s.path).as_posix(): CLASSES[s.label] for s in scan_dataset(data)}
    counts: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        label = label_of.get(Path(line.split("\t")[0]).as_posix())
        counts[label] = counts.get(label, 0) + 1
    return counts


def measured_faces(data: Path, config: Config) -> tuple[list, np.ndarray]:
    """The samples with a usable face and their model inputs (the landmark model's face policy), as the cv saw them."""
    images, kept, _ = load_images(
        data, scan_dataset(data), config.image_size, skip_bad=True, progress=False, face=config.model_spec().face
    )
    return kept, images


def _source(rows: dict, sample) -> str:
    return rows.get(sample.path, {}).get("source_repo") or "(no source)"


def leave_one_source_out(data: Path, samples: list, images: np.ndarray) -> list[dict]:
    """Per palsy source: trained on the other sources' palsy photos and half the healthy ones, tested on this source and
    the other half."""
    rows, x = manifest_rows(data), features(images)
    labels = np.array([s.label for s in samples])
    sources = np.array([_source(rows, s) if s.label == 1 else "" for s in samples])
    half = np.array([int(hashlib.sha1(s.subject.encode()).hexdigest(), 16) % 2 for s in samples])
    results = []
    for source in sorted(set(sources[labels == 1])):
        train = ((labels == 0) & (half == 0)) | ((labels == 1) & (sources != source))
        test = ((labels == 0) & (half == 1)) | (sources == source)
        known = ~np.isnan(x).any(axis=1)
        model = AsymmetryClassifier.fit(x[train & known], labels[train & known])
        auc = roc_auc_score(labels[test & known], model.proba_from_features(x[test & known]))
        results.append(
            {
                "test_source": source,
                "palsy": int((test & known & (labels == 1)).sum()),
                "normal": int((test & known & (labels == 0)).sum()),
                "auc": round(float(auc), 3),
            }
        )
        print(
            f"leave one source out: test on {source} ({results[-1]['palsy']} "
            f"palsy, {results[-1]['normal']} healthy): AUC {auc:.3f}"
        )
    return results


def false_positives_by_expression(out: Path, samples: list, images: np.ndarray) -> dict:
    """Healthy photos labelled palsy by their own out-of-fold run, per recognised expression."""
    predicted = {}
    for fold in sorted(out.glob("fold_*")):
        with (fold / "predictions.csv").open(newline="", encoding="utf-8") as f:
            predicted.update({r["path"]: r["predicted"] for r in csv.DictReader(f)})
    counts: dict[str, list[int]] = {}
    for sample, image in zip(samples, images):
        result = measured(image)
        if sample.label == 0 and result is not None and sample.path in predicted:
            flagged, total = counts.setdefault(result.expression, [0, 0])
            counts[result.expression] = [flagged + (predicted[sample.path] == "palsy"), total + 1]
    print(
        "healthy photos labelled palsy, per recognised expression: "
        + ", ".join(f"{e} {f}/{t}" for e, (f, t) in sorted(counts.items()))
    )
    return {e: {"flagged": f, "healthy": t} for e, (f, t) in counts.items()}


def patterns_by_source(data: Path, samples: list, images: np.ndarray) -> dict:
    """The palsy pattern of every palsy photo, per source (counts: the set has no central/peripheral labels)."""
    rows, norms, counts = manifest_rows(data), load_norms(), {}
    for sample, image in zip(samples, images):
        result = measured(image)
        if sample.label == 1 and result is not None and not result.turned:
            counts.setdefault(_source(rows, sample), Counter())[
                result.compare(norms, palsy=True).palsy_pattern.pattern
            ] += 1
    for source, counter in counts.items():
        print(f"palsy pattern of {source} palsy photos: " + ", ".join(f"{k} {v}" for k, v in counter.most_common()))
    return {source: dict(counter) for source, counter in counts.items()}


POSES = {"yaw +15°": (15, 0, 0), "yaw −15°": (-15, 0, 0), "pitch 10°": (0, 10, 0), "tilt 10°": (0, 0, 10)}


def _posed(rgb: np.ndarray, face, yaw: float, pitch: float, tilt: float) -> np.ndarray:
    image = turn_face(rgb, face.landmarks, face.depth, yaw, pitch) if yaw or pitch else rgb
    if tilt:
        h, w = image.shape[:2]
        image = cv2.warpAffine(
            image, cv2.getRotationMatrix2D((w / 2, h / 2), tilt, 1.0), (w, h), borderMode=cv2.BORDER_REPLICATE
        )
    return image


def pose_robustness(data: Path, out: Path, count: int) -> dict:
    """Frontal faces (|yaw| ≤ 5°) re-rendered in each pose of POSES, through their own out-of-fold run."""
    from facepalsy.errors import BadImageError
    from facepalsy.face.detect import largest_face

    runs = {}
    for fold in sorted(out.glob("fold_*")):
        with (fold / "predictions.csv").open(newline="", encoding="utf-8") as f:
            runs.update({r["path"]: fold for r in csv.DictReader(f)})
    predictors, spread = {}, {}
    healthy_p95 = {m: v.p95_abs for m, v in load_norms().ranges.measures.items()}
    tally = {name: Counter() for name in POSES}
    moved = {name: {"frontal": [], "not_frontalised": []} for name in POSES}
    for path in sorted(runs)[:: max(1, len(runs) // (3 * count))]:
        if sum(tally["tilt 10°"].values()) >= count:
            break
        try:
            rgb = np.asarray(load_image(data / path))
            base, _, _ = image_asymmetry(rgb, views=JITTER)  # as the landmark model measures
            face = largest_face(rgb, backend="mediapipe")
        except BadImageError:
            continue
        if abs(base.pose["yaw"]) > 5:
            continue
        predictor = predictors.setdefault(runs[path], load(runs[path]))
        verdict = predictor.predict(rgb)
        if not verdict.ok:
            continue
        for name, pose in POSES.items():
            image = _posed(rgb, face, *pose)
            turned = predictor.predict(image)
            tally[name]["refused" if not turned.ok else "same" if turned.label == verdict.label else "changed"] += 1
            try:
                after, _, _ = image_asymmetry(image, views=JITTER)
            except BadImageError:
                continue
            legacy = (differences(measure(base.legacy_mesh)), differences(measure(after.legacy_mesh)))
            for kind, before_d, after_d in (
                ("frontal", differences(base), differences(after)),
                ("not_frontalised", *legacy),
            ):
                moved[name][kind].append(np.mean([abs(after_d[m] - before_d[m]) / healthy_p95[m] for m in WEAKER_SIGN]))
    for name in POSES:
        t = tally[name]
        spread[name] = {
            "faces": sum(t.values()),
            **t,
            "measure_change_frontal": round(float(np.median(moved[name]["frontal"])), 3),
            "measure_change_not_frontalised": round(float(np.median(moved[name]["not_frontalised"])), 3),
        }
        print(
            f"pose {name}: verdict held {t['same']}/{sum(t.values())}, changed {t['changed']}, refused {t['refused']}; "
            f"region measures moved "
            f"{spread[name]['measure_change_frontal']:.2f} of the healthy "
            "95th percentile (median; without rotating to frontal "
            f"{spread[name]['measure_change_not_frontalised']:.2f})"
        )
    return spread


NO_VISIBLE_PALSY = Path(__file__).parent / "no_visible_palsy.csv"


def no_visible_palsy() -> set[str]:
    """The dev/ palsy photos listed as showing no visible palsy (their manifest paths; docs/face.md has the rule)."""
    with NO_VISIBLE_PALSY.open(newline="", encoding="utf-8") as f:
        return {row["path"] for row in csv.DictReader(f)}


def _listed(row: dict, paths: set[str]) -> bool:
    """Whether a prediction's image is a listed photo (its path ends in the listed manifest path)."""
    return any(row["path"].endswith("/" + p) or row["path"] == p for p in paths)


def cross_source(folders: list[Path], out: Path, folds: int, image_size: int) -> dict:
    """The landmark model trained on every folder as one data set, measured two ways: each source held out whole
    (``cv --protocol leave-source-out``) and a subject k-fold within the sources (each source's rates from the
    pooled out-of-fold verdicts). Only the first says what happens on photos from somewhere new."""
    config = Config(
        data=[str(f.resolve()) for f in folders], backbone="landmarks", image_size=image_size, skip_bad=True
    )
    _, samples = config.scan()
    listed = listed_per_source(samples)
    source_of = {s.path: s.source for s in samples}
    held_out = run_cv(config, out / "leave-source-out", "leave-source-out", overwrite=True, progress=False)
    print(f"leave one source out ({len(held_out.sources)} sources, each held out whole):")
    for row in held_out.sources:
        print("  " + " | ".join(row.row()))
    listed_paths = no_visible_palsy()
    print(f"the same, without the {len(listed_paths)} palsy photos listed as showing no visible palsy:")
    without = []
    for k, row in enumerate(held_out.sources):
        rows = [r for r in read_predictions(CvFolder(out / "leave-source-out").fold(k)) if not _listed(r, listed_paths)]
        labels = np.array([CLASSES.index(r["label"]) for r in rows], int)
        probs = np.array([float(r["prob_palsy"]) for r in rows])
        kept = dict(listed[row.source])
        gone = sum(_listed({"path": path}, listed_paths) for path, where in source_of.items() if where == row.source)
        kept[1] = kept.get(1, 0) - gone
        without.append(source_figures(row.source, kept, labels, probs, held_out.folds[k].threshold))
        print("  " + " | ".join(without[-1].row()))
    kdef = next((k for k, row in enumerate(held_out.sources) if row.source == "KDEF"), None)
    expressions = next((f for f in folders if "KDEF" in {r.get("source") for r in manifest_rows(f).values()}), None)
    droops = None
    if kdef is not None and expressions is not None:
        print("the twins yardstick, on the fold that never saw KDEF (benchmarks/twins.py):")
        fold = CvFolder(out / "leave-source-out").fold(kdef).path
        droops = {expression: droop_yardstick(fold, expressions, expression) for expression in ("rest", "smile")}
    within = run_cv(config, out / "subject-kfold", "subject-kfold", folds, overwrite=True, progress=False)
    rows = [r for k in range(len(within.folds)) for r in read_predictions(CvFolder(out / "subject-kfold").fold(k))]
    in_source = []
    for source in sorted(listed):
        mine = [r for r in rows if source_of[r["path"]] == source]
        labels = np.array([CLASSES.index(r["label"]) for r in mine], int)
        probs = np.array([float(r["prob_palsy"]) for r in mine])
        thresholds = np.array([float(r["threshold"]) for r in mine])
        in_source.append(source_figures(source, listed[source], labels, probs, thresholds))
    ci = within.pooled.ci95["roc_auc"]
    print(
        f"within the sources ({folds}-fold subject cross-validation, pooled out-of-fold): AUC "
        f"{within.pooled.roc_auc:.3f} ({ci[0]:.3f}–{ci[1]:.3f}), n = {within.pooled.n}"
    )
    for row in in_source:
        print("  " + " | ".join(row.row()))
    return {
        "data": [str(f) for f in folders],  # as given: relative paths keep the machine's own out of the figures
        "leave_source_out": [row.to_dict() for row in held_out.sources],
        "leave_source_out_without_listed": [row.to_dict() for row in without],
        "listed_no_visible_palsy": len(listed_paths),
        "droop_yardstick": droops,
        "within_sources": {
            "folds": folds,
            "auc": within.pooled.roc_auc,
            "auc_ci95": ci,
            "n": within.pooled.n,
            "sources": [row.to_dict() for row in in_source],
        },
    }


if __name__ == "__main__":
    main()
