"""The landmark model on a folder of real photos: faces found, the shortcut audit, cross-validated AUC, wall time.

    .venv/bin/python benchmarks/realfaces.py DATA [--out DIR] [--folds 5] [--image-size 224]

DATA follows the data contract (palsy/, normal/, optional manifest.csv), for example the real-photo
development set beside the project (../shared/realfaces/dev). Everything runs through facepalsy's
own code: ``check_dataset`` for the audit, ``run_cv`` with ``--backbone asymmetry`` under the
subject-kfold protocol for the landmark model (pooled out-of-fold AUC, subject-bootstrap 95% CI).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from facepalsy.data.check import check_dataset
from facepalsy.data.dataset import CLASSES, scan_dataset
from facepalsy.runfolder import CvFolder
from facepalsy.training.config import Config
from facepalsy.training.cv import run_cv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--out", type=Path, help="cross-validation folder to write (default: a temporary one)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=224)
    args = parser.parse_args()
    start = time.perf_counter()

    report = check_dataset(args.data, progress=False)
    audit = report["audit"]
    combined = audit["combined"]
    print(f"data: {args.data} ({', '.join(f'{n} {c}' for c, n in report['images'].items())} listed; {len(report['unreadable'])} unreadable or missing)")
    flagged = ", ".join(f"{m['name']} {m['auc']:.3f}" for m in audit["measures"] if m["name"] in audit["flagged"])
    print(f"shortcut audit: all measures together AUC {combined['auc']:.3f} (95% CI {combined['ci95'][0]:.3f}–{combined['ci95'][1]:.3f}); over 0.70: {flagged or 'none'}")
    print(f"  [{time.perf_counter() - start:.0f} s]")

    out = args.out or Path(tempfile.mkdtemp(prefix="facepalsy-realfaces-")) / "cv"
    config = Config(data=str(args.data.resolve()), backbone="asymmetry", image_size=args.image_size, val_fraction=0.2, skip_bad=True)
    result = run_cv(config, out, "subject-kfold", args.folds, overwrite=True, progress=False)
    no_face = no_face_per_class(args.data, out)
    unreadable = {c: sum(CLASSES[s.label] == c for s in scan_dataset(args.data) if s.path in {u["path"] for u in report["unreadable"]}) for c in CLASSES}
    readable = {c: report["images"][c] - unreadable[c] for c in CLASSES}
    print("usable face for the landmark model: " + ", ".join(f"{c} {readable[c] - no_face.get(c, 0)} of {readable[c]} readable" for c in CLASSES))
    pooled = result["pooled"]
    ci = pooled["ci95"]["roc_auc"]
    print(f"landmark model, {args.folds}-fold subject cross-validation, pooled out-of-fold: AUC {pooled['roc_auc']:.3f} "
          f"(95% CI {ci[0]:.3f}–{ci[1]:.3f}, subject bootstrap); sensitivity {pooled['recall']:.3f}, specificity {pooled['specificity']:.3f} "
          f"at each fold's operating threshold; n = {pooled['n']}")
    print(f"wall time: {time.perf_counter() - start:.0f} s; folds in {out}")


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


if __name__ == "__main__":
    main()
