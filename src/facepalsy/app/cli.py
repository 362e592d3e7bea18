"""Command-line interface: ``facepalsy COMMAND ...`` (also ``python -m facepalsy``).

Every command is a thin wrapper over the library functions of the other modules.
User errors print one line (``error: ...``) and exit 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import warnings
from pathlib import Path

from rich.console import Console
from rich.table import Table

from facepalsy.errors import FacepalsyError, Interrupted, display_path
from facepalsy.log import console
from facepalsy.training.config import Config, load_config

EXIT_USER_ERROR = 2
SINGLE_PROCESS_COMMANDS = {
    "predict",
    "evaluate",
    "explain",
    "asymmetry",
    "check",
    "prepare",
    "serve",
    "export",
    "exam",
    "norms",
}  # start no worker processes


def _config_flags(parser: argparse.ArgumentParser) -> None:
    """Flags that set Config fields; their default None means "keep the YAML or built-in value"."""
    parser.add_argument("--config", metavar="YAML", help="read settings from a YAML file; flags given here win")
    parser.add_argument("--backbone", help="vgg16 (default), vgg19, vgg11_bn, vgg16_bn, … (see `facepalsy models`)")
    parser.add_argument("--weights", help="imagenet (default), none, or a path to a .pth state dict")
    parser.add_argument("--image-size", type=int, help="input size in pixels (default 224, as the paper)")
    parser.add_argument(
        "--split",
        choices=["frame", "subject"],
        help="subject: no subject on both sides (default); frame: by image, as the paper (leaky)",
    )
    parser.add_argument(
        "--test-fraction", type=float, help="share of images (frame) or subjects (subject) for testing (default 0.19)"
    )
    parser.add_argument(
        "--val-fraction", type=float, help="share held out from training for validation curves (default 0.1)"
    )
    parser.add_argument("--epochs", type=int, help="default 30")
    parser.add_argument("--batch-size", type=int, help="default 32")
    parser.add_argument("--lr", type=float, help="Adam learning rate (default 1e-4)")
    parser.add_argument(
        "--finetune",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="train the backbone too (default: frozen, as the paper)",
    )
    parser.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="rotation, flip, shift and scale (default on)",
    )
    parser.add_argument(
        "--face-crop",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="detect the largest face, level the eyes and crop it (recorded, so predict repeats it)",
    )
    parser.add_argument(
        "--require-face",
        dest="face_required",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="no usable face, no verdict, and no training image (default on; "
        "--no-require-face only for face images the detector cannot see, e.g. drawn ones)",
    )
    parser.add_argument(
        "--harmonise",
        type=int,
        nargs="?",
        const=96,
        metavar="PX",
        help="the same face crop, level of detail (the face PX pixels "
        "across, default 96) and JPEG re-encoding for every image, "
        "so that how photos were taken cannot carry the label (recorded, so predict repeats it)",
    )
    parser.add_argument(
        "--feature-cache",
        type=int,
        metavar="K",
        help="frozen backbone: cache features of K augmented views once; epochs then train only the head",
    )
    parser.add_argument(
        "--operating-point",
        metavar="RULE",
        help="how the run's threshold is chosen on validation data: youden "
        "(default), sensitivity=0.90, specificity=0.90 or fixed=0.5",
    )
    parser.add_argument("--seed", type=int, help="default 42")
    parser.add_argument(
        "--logger",
        choices=["csv", "tensorboard", "mlflow"],
        help="experiment log: csv (RUN/logs/metrics.csv, always written) "
        "and, if named and installed, tensorboard or mlflow as well",
    )
    parser.add_argument(
        "--subgroup",
        metavar="COLUMN[,COLUMN]",
        help="manifest column(s): the model card gives performance per value (the data source column, if any, always)",
    )
    parser.add_argument(
        "--skip-bad",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="skip unreadable images and list them in RUN/bad_images.txt",
    )
    parser.add_argument(
        "--precision",
        choices=["auto", "bf16", "fp32"],
        help="auto: bf16 mixed precision where the CPU/GPU has native bf16 (default); fp32: exact",
    )
    parser.add_argument("--accelerator", help="auto (default), cpu, gpu, …")
    parser.add_argument(
        "--devices",
        type=int,
        help="devices (default 1); train: processes of one DDP run; cv: folds run in parallel, one per device",
    )
    parser.add_argument(
        "--num-nodes", type=int, help="train: machines in one DDP run (launched by torchrun or SLURM; default 1)"
    )
    parser.add_argument("--strategy", help="Lightning strategy for train: auto (default), ddp, …")


def _inference_flags(parser: argparse.ArgumentParser) -> None:
    """How a trained run labels: its threshold (overridable) and the arithmetic precision."""
    parser.add_argument(
        "--threshold",
        type=float,
        help="palsy if p(palsy) >= this (default: the run's operating threshold, chosen on validation data)",
    )
    parser.add_argument(
        "--precision",
        choices=["auto", "bf16", "fp32"],
        default="auto",
        help="auto: bf16 where the CPU/GPU has it (default); fp32: exact",
    )
    parser.add_argument(
        "--uncalibrated",
        action="store_true",
        help="the network's own probabilities, without the temperature "
        "scaling fitted on validation data (labels stay the same)",
    )
    parser.add_argument(
        "--engine",
        choices=["torch", "onnx", "onnx-int8"],
        default="torch",
        help="torch (default); onnx / onnx-int8: RUN/model.onnx / "
        "RUN/model-int8.onnx with onnxruntime (see facepalsy export)",
    )


def resolve_config(args: argparse.Namespace, data: str | None) -> Config:
    base = load_config(args.config) if args.config else Config()
    flags = {name: getattr(args, name, None) for name in Config.__dataclass_fields__ if name != "data"}
    return base.replace(data=str(Path(data).resolve()) if data else None, **flags)


def cmd_synth(args: argparse.Namespace) -> int:
    from facepalsy.data.synth import make_synthetic_dataset

    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise FacepalsyError(f"{out}: folder exists and is not empty; pass --overwrite to write into it")
    make_synthetic_dataset(out, args.subjects, args.images_per_subject, args.seed, args.size)
    console.print(
        f"wrote {args.subjects * args.images_per_subject} images of {args.subjects} subjects to [bold]{out}[/]"
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from facepalsy.training.train import resume, train

    if args.resume:
        metrics = resume(args.out, epochs=args.epochs)
    elif not args.data:
        raise FacepalsyError("train needs a DATA folder (or --resume with --out RUN)")
    else:
        metrics = train(resolve_config(args, args.data), args.out, overwrite=args.overwrite)
    if not metrics:  # a DDP process other than rank 0: it trained, rank 0 reports
        return 0
    from facepalsy.runfolder import RunFolder

    _print_result(args, metrics, RunFolder(args.out).report)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from facepalsy.evaluation.evaluate import evaluate_run
    from facepalsy.runfolder import ResultFiles

    metrics, out = evaluate_run(
        args.run,
        data=args.data,
        out=args.out,
        skip_bad=args.skip_bad,
        precision=args.precision,
        threshold=args.threshold,
        engine=args.engine,
        calibrated=not args.uncalibrated,
    )
    _print_result(args, metrics, ResultFiles(out).report)
    return 0


def _print_result(args: argparse.Namespace, metrics: dict, report: Path) -> None:
    """Results on stdout: the metrics table, or with --json one JSON document (metrics and the report's path)."""
    if args.json:
        print(json.dumps({**metrics, "report": str(report)}, default=str))
        return
    _print_metrics(metrics)
    console.print(f"report: [bold]{report}[/]")


def cmd_predict(args: argparse.Namespace) -> int:
    from facepalsy.data.images import expand_inputs
    from facepalsy.data.prepare import VIDEO_EXTENSIONS
    from facepalsy.inference.predictor import load

    predictor = load(
        args.run,
        engine=args.engine,
        precision=args.precision,
        threshold=args.threshold,
        calibrated=not args.uncalibrated,
    )
    videos = [Path(p) for p in args.images if Path(p).suffix.lower() in VIDEO_EXTENSIONS]
    images = [p for p in args.images if Path(p).suffix.lower() not in VIDEO_EXTENSIONS]
    verdicts = [predictor.predict_video(video, Path(args.out) / video.stem, fps=args.fps) for video in videos]
    for v in verdicts:
        if args.json:
            print(json.dumps(v.to_dict()))
        elif not v.error:
            print(
                f"{v.path}\tvideo\t{v.label}\t{v.prob_palsy:.4f}\tthreshold "
                f"{v.threshold:.3f}\tface in {v.frames_with_face}/{v.frames} frames\t{v.timeline}"
            )
        else:
            print(f"error: {v.path}: {v.error}", file=sys.stderr)
    if not images:
        return EXIT_USER_ERROR if any(v.error for v in verdicts) else 0
    paths = expand_inputs(images)
    if not paths:
        raise FacepalsyError("no images given (folders are searched for .bmp, .jpeg, .jpg, .png, .webp)")
    results = predictor.predict(paths, cam_dir=Path(args.cam) if args.cam else None, patterns=args.pattern)
    if args.json:
        for r in results:
            print(json.dumps(r.to_dict()))
    elif sys.stdout.isatty():
        console.print(f"labels at the {predictor.threshold_text()}")
        table = Table("image", "label", "p(palsy)", "note")
        for r in results:
            table.add_row(
                r.source,
                r.label or f"[red]{r.status.replace('_', ' ')}[/]",
                "" if r.prob_palsy is None else f"{r.prob_palsy:.3f}",
                "; ".join([*r.warnings, *_pattern_note(r)]),
            )
        Console().print(table)
    else:  # piped: one tab-separated line per image, never truncated
        for r in results:
            prob = "" if r.prob_palsy is None else f"{r.prob_palsy:.4f}"
            print(
                f"{r.source}\t{r.label or r.status}\t{prob}\t{r.threshold:.4f}"
                + "".join(f"\t{w}" for w in [*r.warnings, *_pattern_note(r)])
            )
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"error: {r.source}: {r.error}", file=sys.stderr)
    return EXIT_USER_ERROR if failed or any(v.error for v in verdicts) else 0


def _pattern_note(prediction) -> list[str]:
    """The palsy pattern as a note beside a prediction (the JSON carries it whole)."""
    pattern = prediction.palsy_pattern
    if not pattern:
        return []
    side = f", patient's {pattern['side']}" if pattern.get("side") and pattern["pattern"] != "undetermined" else ""
    urgent = "; stroke not excluded: urgent clinical assessment" if pattern["pattern"] == "central" else ""
    return [f"pattern: {pattern['pattern']}{side}{urgent}"]


def cmd_explain(args: argparse.Namespace) -> int:
    from facepalsy.data.images import expand_inputs
    from facepalsy.evaluation.report import write_explain_report
    from facepalsy.inference.predictor import load

    predictor = load(
        args.run,
        engine=args.engine,
        threshold=args.threshold,
        precision=args.precision,
        calibrated=not args.uncalibrated,
    )
    if not predictor.is_cnn:
        raise FacepalsyError("Grad-CAM needs a CNN backbone; this run is the landmark-asymmetry baseline")
    results = predictor.predict(expand_inputs(args.images), cam_dir=Path(args.out))
    report = write_explain_report(Path(args.out), predictor, results)
    for r in results:
        if r.ok:
            print(f"{r.source}\t{r.label}\t{r.prob_palsy:.4f}\t{r.cam}")
        else:
            print(f"error: {r.source}: {r.error}", file=sys.stderr)
    console.print(f"report: [bold]{report}[/]")
    return EXIT_USER_ERROR if any(not r.ok for r in results) else 0


def cmd_asymmetry(args: argparse.Namespace) -> int:
    import numpy as np
    from rich.markdown import Markdown

    from facepalsy.data.images import expand_inputs, load_image
    from facepalsy.errors import BadImageError
    from facepalsy.face.asymmetry import MEASURES, draw, image_asymmetry
    from facepalsy.face.norms import load_norms
    from facepalsy.face.pattern import pattern_text

    norms = load_norms(args.norms)
    failed, paths = 0, expand_inputs(args.images)
    for path in paths:
        try:
            rgb = np.asarray(load_image(path))
            result, crop, landmarks = image_asymmetry(rgb, path)
            result.compare(norms)
        except BadImageError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
            continue
        if args.draw:
            draw(crop, landmarks, result, Path(args.draw) / f"{path.stem}_asymmetry.png")
        if args.json:
            print(json.dumps({"path": str(path), **result.to_dict()}))
            continue
        title = (
            f"{path} ({result.expression}{'' if result.expression_named else ', recognised'}; "
            f"head yaw {result.pose.get('yaw', 0):+.0f}°)"
        )
        table = Table(
            "measure (inter-ocular distances)", "patient's right", "patient's left", "left − right", title=title
        )
        for name in MEASURES:
            table.add_row(
                name.replace("_", " "),
                f"{result.right[name]:.3f}",
                f"{result.left[name]:.3f}",
                f"{result.difference[name]:+.3f}",
            )
        Console().print(table)
        Console().print(reference_table(result.reference))
        Console().print(
            reference_sentence(result.reference)
            + f"; asymmetry score {result.score:.3f}"
            + (f"; {result.faces_found} faces found, the largest measured" if result.faces_found > 1 else ""),
            highlight=False,
        )
        if result.palsy_pattern:
            Console().print(Markdown(pattern_text(result.palsy_pattern)))
    if failed and len(paths) > 1:
        print(
            f"{len(paths) - failed} of {len(paths)} images measured; {failed} could not be (listed above)",
            file=sys.stderr,
        )
    return EXIT_USER_ERROR if failed and (args.strict or failed == len(paths)) else 0


def cmd_exam(args: argparse.Namespace) -> int:
    from facepalsy.face.norms import load_norms
    from facepalsy.inference.predictor import load
    from facepalsy.workflows.exam import read_name_map, run_exam

    predictor = load(args.run, precision=args.precision) if args.run else None
    out = Path(args.out or f"exam_{Path(args.path).stem}")
    document = run_exam(
        args.path, out, load_norms(args.norms), read_name_map(args.names) if args.names else None, args.fps, predictor
    )
    if args.json:
        print(json.dumps(document))
        return 0
    table = Table(
        "region",
        "resting score (percentile)",
        "expression",
        "movement R",
        "movement L",
        "symmetry %",
        "outside healthy range",
        "weaker side",
        title=f"exam: {args.path}",
    )
    for region, r in document["regions"].items():
        moved = r["movement"] or {}
        table.add_row(
            region.replace("_", " "),
            f"{r['rest']['score']:.2f} ({r['rest']['healthy_percentile']:.0f})" if r.get("rest") else "—",
            r["expression"] or "—",
            str(moved.get("right", "—")),
            str(moved.get("left", "—")),
            "—" if r["symmetry_percent"] is None else str(r["symmetry_percent"]),
            "[bold red]yes[/]" if r["outside_healthy_range"] else "no",
            r["weaker_side"] or "—",
        )
    console.print(table)
    if document.get("missing"):
        console.print(f"missing expressions: {', '.join(document['missing'])}")
    outside = document["outside_healthy_range"]
    console.print(
        f"more affected side: patient's {document['more_affected_side']}"
        if outside
        else "within the healthy range (no affected side named)"
    )
    if document.get("palsy_pattern"):
        from rich.markdown import Markdown

        from facepalsy.face.pattern import pattern_text

        console.print(Markdown(pattern_text(document["palsy_pattern"])))
    console.print(f"report: [bold]{out / 'exam.md'}[/]")
    return 0


def cmd_norms_build(args: argparse.Namespace) -> int:
    from facepalsy.files import atomic_write_json
    from facepalsy.workflows.norms import measure_healthy_folder

    norms, failures, turned = measure_healthy_folder(args.folder, args.source or str(args.folder))
    atomic_write_json(Path(args.out), norms)
    for failure in failures[:20]:
        print(f"skipped: {failure}", file=sys.stderr)
    console.print(
        f"wrote {args.out}: reference ranges from {norms['count']} "
        f"healthy faces ({len(failures)} without a usable face, "
        f"{turned} turned too far, left out)"
    )
    return 0


def reference_table(reference: dict) -> Table:
    table = Table(
        "region",
        "score",
        "healthy percentile",
        "outside healthy range",
        "weaker side",
        title=f"against healthy reference ranges ({reference.get('reference', {}).get('count', '?')} healthy faces)",
    )
    for region, r in reference["regions"].items():
        table.add_row(
            region.replace("_", " "),
            f"{r['score']:.2f}",
            f"{r['healthy_percentile']:.1f}",
            "[bold red]yes[/]" if r["outside_healthy_range"] else "no",
            r["weaker_side"] or "—",
        )
    return table


def reference_sentence(reference: dict) -> str:
    """The reading in one line: within range (no side named), or which regions are outside and which side is weaker."""
    if reference.get("turned"):
        return "head turned too far to compare the sides: no reading against the healthy range"
    outside = [r.replace("_", " ") for r, v in reference["regions"].items() if v["outside_healthy_range"]]
    if not outside:
        return "within the healthy range in every region (no affected side named)"
    return (
        f"outside the healthy range: {', '.join(outside)}; more "
        f"affected side: patient's {reference['more_affected_side']}"
    )


def cmd_compare(args: argparse.Namespace) -> int:
    from facepalsy.evaluation.report import comparison_markdown, comparison_rows, write_comparison

    rows = comparison_rows(args.runs)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        md, csv_path = write_comparison(rows, Path(args.out))
        console.print(f"wrote {md} and {csv_path}")
    print(json.dumps({"rows": rows}, default=str) if args.json else comparison_markdown(rows))
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from facepalsy.data.prepare import prepare_videos

    if args.images:
        return _harmonise_images(args)
    if args.harmonise or not args.label:
        raise FacepalsyError("--videos needs --label; --harmonise works on a data folder given with --images")
    report = prepare_videos(
        args.videos, args.out, args.label, fps=args.fps, subject_map=args.subjects, face_crop=args.face_crop
    )
    for name, frames in report.videos.items():
        skipped = report.without_face.get(name, 0)
        console.print(
            f"{name}: {frames} frames" + (f", {skipped} without a usable face (not written)" if skipped else ""),
            markup=False,
            highlight=False,
        )
    for name in report.unknown_in_map:
        print(f"warning: {args.subjects}: names video {name!r}, which is not in {args.videos}", file=sys.stderr)
    for reason in report.failed.values():
        print(f"error: {reason}", file=sys.stderr)
    console.print(
        f"wrote {report.written} new frames ({report.already_present} already present) to [bold]{args.out}[/]"
    )
    return EXIT_USER_ERROR if report.failed else 0


def cmd_check(args: argparse.Namespace) -> int:
    from facepalsy.evaluation.check import NEAR_DUPLICATE_BITS, check_dataset

    report = check_dataset(args.data)
    audit = report["audit"]
    if args.json:
        print(json.dumps(report, indent=2))
        if audit.get("warning"):
            print(f"warning: {audit['warning']}", file=sys.stderr)
        return 0
    out = Console()
    table = Table("", *report["images"], title=f"data set {report['data']}")
    table.add_row("images", *map(str, report["images"].values()))
    table.add_row("subjects", *map(str, report["subjects"].values()))
    out.print(table)
    per = report["images_per_subject"]
    out.print(f"images per subject: min {per['min']}, median {per['median']:g}, max {per['max']}")
    near = report["near_duplicates"]
    findings = [
        ("unreadable files", [f"{u['path']}: {u['reason']}" for u in report["unreadable"]]),
        (
            "exact duplicates (same bytes)",
            [
                " = ".join(d["paths"]) + ("  [ACROSS CLASSES]" if d["across_classes"] else "")
                for d in report["exact_duplicates"]
            ],
        ),
        (
            f"near-duplicates of different subjects (pHash within {NEAR_DUPLICATE_BITS} bits)",
            [
                " ~ ".join(d["paths"]) + f"  ({d['bits']} bits)" + ("  [ACROSS CLASSES]" if d["across_classes"] else "")
                for d in near
                if not d["same_subject"]
            ],
        ),
        ("subjects with both labels", report["subjects_with_both_labels"]),
        ("image files the manifest does not list (not used)", report["not_in_manifest"]),
    ]
    for title, items in findings:
        style = "green" if not items else "yellow"
        out.print(f"[{style}]{title}: {len(items)}[/]")
        for item in items[:20]:
            out.print(f"  {item}", markup=False, highlight=False)
        if len(items) > 20:
            out.print(f"  … {len(items) - 20} more (see --json)")
    same = sum(d["same_subject"] for d in near)
    out.print(f"near-duplicates within one subject (expected for video frames): {same}")
    _print_audit(out, audit)
    return 0


def _harmonise_images(args: argparse.Namespace) -> int:
    from facepalsy.data.harmonise import Harmonisation
    from facepalsy.workflows.harmonise import LEFT_OUT, harmonise_folder

    if not args.harmonise:
        raise FacepalsyError("--images DATA is harmonised into --out: give --harmonise [PX]")
    report = harmonise_folder(args.images, args.out, args.size, Harmonisation(args.harmonise))
    out = Console()
    _print_audit(out, report.audit)
    if report.audit.get("warning"):
        print(f"warning: after harmonising, {report.audit['warning']}", file=sys.stderr)
    listed = f" (listed in {Path(args.out) / LEFT_OUT})" if report.left_out else ""
    console.print(
        f"wrote {report.written} harmonised images to [bold]{args.out}[/]; {len(report.left_out)} left out{listed}"
    )
    return 0


def _print_audit(out: Console, audit: dict) -> None:
    """The shortcut audit as a table, and its warning where nobody can miss it."""
    classes = list(audit["measures"][0]["per_class"])
    table = Table(
        "measure", *classes, "separability AUC", title="shortcut audit: the photos' acquisition, without any face"
    )
    for m in audit["measures"]:
        auc = (
            "n/a"
            if m["auc"] is None
            else (f"[bold red]{m['auc']:.3f}[/]" if m["auc"] > audit["warn_auc"] else f"{m['auc']:.3f}")
        )
        table.add_row(m["name"], *(m["per_class"][c] for c in classes), auc)
    out.print(table)
    combined = audit.get("combined")
    if combined and combined.get("auc") is not None:
        ci = combined["ci95"]
        out.print(
            f"all measures together (cross-validated, {combined['folds']} folds): AUC {combined['auc']:.3f}"
            + (f" (95% CI {ci[0]:.3f}–{ci[1]:.3f})" if ci else "")
        )
    if audit.get("note"):
        out.print(f"[yellow]warning: {audit['note']}[/]")
    if audit.get("warning"):
        out.print(f"[bold red]WARNING:[/] {audit['warning']}", markup=True, highlight=False)


def cmd_cv(args: argparse.Namespace) -> int:
    from facepalsy.evaluation.report import metrics_table
    from facepalsy.runfolder import CvFolder
    from facepalsy.training.cv import resume_cv, run_cv

    if args.resume:
        result = resume_cv(args.out)
    elif not args.data:
        raise FacepalsyError("cv needs a DATA folder (or --resume with --out DIR)")
    else:
        result = run_cv(resolve_config(args, args.data), args.out, args.protocol, args.folds, overwrite=args.overwrite)
    if args.json:
        print(json.dumps({**result, "report": str(CvFolder(args.out).report)}, default=str))
        return 0
    print(
        "\n".join(
            [
                "pooled (per image):",
                *metrics_table(result["pooled"]),
                "",
                "per subject:",
                *metrics_table(result["per_subject"]),
            ]
        )
    )
    chance = result["pooled"].get("chance")
    if chance and not chance["better_than_chance"]:
        console.print(f"[bold red]WARNING:[/] the model is {chance['statement']}", highlight=False)
    console.print(f"report: [bold]{CvFolder(args.out).report}[/]")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from facepalsy.evaluation.report import PUBLISHED, comparison_markdown, comparison_rows, write_comparison
    from facepalsy.training.cv import PROTOCOLS, run_cv
    from facepalsy.training.train import train

    out = Path(args.out)
    config = resolve_config(args, args.data)
    protocols = reproduce_protocols(args.protocols, args.split, PROTOCOLS)
    runs = []
    for protocol in protocols:
        for backbone in args.backbones.split(","):
            console.rule(f"{backbone}, {protocol}")
            run = out / protocol / backbone if len(protocols) > 1 else out / backbone
            if protocol in ("frame", "subject"):
                train(config.replace(backbone=backbone, split=protocol), run, overwrite=args.overwrite)
            else:
                run_cv(config.replace(backbone=backbone), run, protocol, args.folds, overwrite=args.overwrite)
            runs.append(run)
    rows = comparison_rows(runs) + (PUBLISHED if args.with_published else [])
    print(comparison_markdown(rows))
    md, _ = write_comparison(rows, out)
    console.print(f"table: [bold]{md}[/]")
    return 0


def reproduce_protocols(given: str | None, split: str | None, cv_protocols: tuple[str, ...]) -> list[str]:
    """The protocols reproduce runs: ``--protocols``, else the one ``--split`` names, else the paper's frame
    split; a ``--split`` that contradicts ``--protocols`` is refused, never ignored."""
    if given is None:
        return [split or "frame"]
    protocols = [p.strip() for p in given.split(",") if p.strip()]
    unknown = [p for p in protocols if p not in ("frame", "subject", *cv_protocols)]
    if unknown or not protocols:
        raise FacepalsyError(
            f"unknown protocol(s) {', '.join(unknown) or '(none given)'}; "
            "choose from frame, subject, subject-kfold, lopo"
        )
    if split is not None:
        contradicting = [p for p in protocols if (p == "frame") != (split == "frame")]
        if contradicting:
            raise FacepalsyError(
                f"--split {split} contradicts --protocols {','.join(contradicting)}; give one of them "
                f"(--protocols alone, or --split alone)"
            )
    return protocols


def cmd_serve(args: argparse.Namespace) -> int:
    from facepalsy.app.serve import serve

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: serving on {args.host}: anyone who can reach this machine can upload faces"
            + ("" if args.auth else " (no --auth given)"),
            file=sys.stderr,
        )
    console.print(f"facepalsy page on http://{args.host}:{args.port} (Ctrl+C to stop)")
    serve(
        args.run,
        host=args.host,
        port=args.port,
        auth=args.auth,
        keep_uploads=args.keep_uploads,
        precision=args.precision,
        threshold=args.threshold,
        engine=args.engine,
        calibrated=not args.uncalibrated,
        forget_after=args.forget_after,
    )
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from facepalsy.app.bench import run_bench

    result = run_bench(
        tuple(args.backbones.split(",")),
        args.size,
        args.batch,
        args.repeats,
        args.precision,
        run=Path(args.run) if args.run else None,
        extras=not args.no_extras,
        photos=Path(args.photos) if args.photos else None,
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    peaks = result["matmul_peak_gflops"]
    out = Console()
    out.print(
        f"matrix-product peak on {result['threads']} threads: fp32 "
        f"{peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s"
    )
    table = Table(
        "", *(r["backbone"] for r in result["backbones"]), title=f"facepalsy bench, {args.size} px, batch {args.batch}"
    )
    rows = [
        ("GFLOP per image", "gflop_per_image", "{:.1f}"),
        ("fast path uses bf16", "bf16", "{}"),
        ("inference, plain fp32 (ms/image)", "inference_fp32_plain_ms", "{:.0f}"),
        ("inference, fast path (ms/image)", "inference_fast_ms", "{:.0f}"),
        ("fast path images/s", "inference_fast_images_per_s", "{:.1f}"),
        ("fast path GFLOP/s", "inference_fast_gflops", "{:.0f}"),
        ("fast path, fraction of matmul peak", "inference_fraction_of_peak", "{:.0%}"),
        ("speed-up vs plain fp32", "speedup_vs_plain", "{:.2f}×"),
        ("onnxruntime int8 images/s", "inference_int8_images_per_s", "{:.1f}"),
        ("int8 speed-up vs fast path", "int8_speedup_vs_fast_path", "{:.2f}×"),
        ("network alone, one image (ms)", "network_one_image_ms", "{:.0f}"),
        ("predict latency from JPEG (ms, median)", "predict_latency_ms", "{:.0f}"),
        ("latency / network's one-image time", "latency_over_network_time", "{:.2f}"),
        ("predict latency, fraction of matmul peak", "predict_latency_fraction_of_peak", "{:.0%}"),
        ("training images/s, frozen backbone", "train_frozen_images_per_s", "{:.1f}"),
        ("  fraction of matmul peak (forward FLOPs)", "train_frozen_fraction_of_peak", "{:.0%}"),
        ("training images/s, frozen, plain per-image fp32", "train_frozen_plain_images_per_s", "{:.1f}"),
        ("  fraction of fp32 matmul peak", "train_frozen_plain_fraction_of_fp32_peak", "{:.0%}"),
        ("training speed-up vs plain", "train_frozen_speedup_vs_plain", "{:.2f}×"),
        ("--feature-cache epoch / normal epoch", "feature_cache_epoch_fraction", "{:.1%}"),
        ("training images/s, fine-tuned", "train_finetune_images_per_s", "{:.1f}"),
        ("  fraction of matmul peak (3× forward FLOPs)", "train_finetune_fraction_of_peak", "{:.0%}"),
        ("peak memory (MB, process)", "peak_memory_mb", "{:.0f}"),
    ]
    for label, key, fmt in rows:
        table.add_row(label, *(fmt.format(r[key]) if key in r else "—" for r in result["backbones"]))
    out.print(table)
    for line in bench_lines(result):
        out.print(line, highlight=False)
    return 0


def bench_lines(result: dict) -> list[str]:
    """The figures measured once (int8 agreement, shared features, landmarks, video), one line each."""
    lines = []
    if "int8_agreement" in result:
        a = result["int8_agreement"]
        lines.append(
            f"int8 vs fp32 on {a['check_images']} validation images of "
            f"{a['run']}: labels agree on {100 * a['label_agreement']:.1f}%, "
            f"|Δp| ≤ {a['delta_p_95th_percentile']:.4f} on 95% "
            f"({'kept' if a['kept'] else 'refused by the export check'})"
        )
    if "shared_features" in result:
        f = result["shared_features"]
        lines.append(
            f"leave-one-subject-out, {f['subjects']} folds ({f['backbone']}, {f['size']} "
            f"px, {f['images']} images, {f['views']} views, {f['epochs']} epochs): "
            f"{f['lopo_seconds']:.0f} s vs {f['one_fold_alone_seconds']:.0f} "
            f"s for one fold alone = {f['lopo_over_one_run']:.2f}×; "
            f"backbone passes {f['backbone_passes_lopo']} vs "
            f"{f['backbone_passes_one_run']} = {f['backbone_passes_ratio']:.2f}×"
        )
    if "landmarks" in result and "speedup_vs_previous" in result["landmarks"]:
        m = result["landmarks"]
        lines.append(
            f"landmarks ({m['photos']} photos, {m['source']}): {m['ms_per_photo']:.0f} "
            f"ms per photo vs {m['previous_ms_per_photo']:.0f} ms "
            f"before = {m['speedup_vs_previous']:.1f}× faster"
        )
    for engine, v in result.get("video", {}).items():
        if isinstance(v, dict):
            lines.append(
                f"video ({engine}): 60 s of 1280×720 at 30 fps, "
                f"{v['frames_analysed']} frames analysed (face, landmarks, CNN) in "
                f"{v['analysis_seconds']:.1f} s = {v['real_time_factor']:.2f}× real time"
            )
    return lines


def cmd_export(args: argparse.Namespace) -> int:
    from facepalsy.inference.export import export_onnx, export_run_int8
    from facepalsy.inference.predictor import load

    predictor = load(args.run)
    if args.format == "onnx-int8":
        path, figures = export_run_int8(predictor, args.calibration_images)
        console.print(
            f"wrote [bold]{path}[/] (int8, calibrated on "
            f"{figures['calibration_images']} training images); against PyTorch fp32 on "
            f"{figures['check_images']} validation images: labels agree on {100 * figures['label_agreement']:.1f}%, "
            f"|Δp| ≤ {figures['delta_p_95th_percentile']:.4f} on 95% (max {figures['delta_p_max']:.4f})"
        )
        return 0
    path, difference = export_onnx(predictor, Path(args.out) if args.out else None)
    console.print(
        f"wrote [bold]{path}[/] (input: N×3×H×W float pixels 0–255; output: "
        "class probabilities, palsy second; the run's spec in its metadata); "
        f"largest difference from PyTorch fp32 on 8 probe images: {difference:.1e}"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from facepalsy.app.demo import run_demo

    run_demo(Path(args.out), overwrite=args.overwrite)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from facepalsy.models.vgg import backbone_spec, imagenet_weights_cached, list_models

    table = Table("backbone", "ImageNet file", "in torch's cache")
    for name in list_models():
        table.add_row(name, backbone_spec(name).imagenet.filename, "yes" if imagenet_weights_cached(name) else "no")
    Console().print(table)
    return 0


def _print_metrics(metrics: dict) -> None:
    from facepalsy.evaluation.report import percent

    table = Table(
        "accuracy %", "recall %", "precision %", "F1 %", "ROC AUC %", "n", title="test metrics (positive class: palsy)"
    )
    table.add_row(
        *(percent(metrics[k]) for k in ("accuracy", "recall", "precision", "f1", "roc_auc")), str(metrics["n"])
    )
    ci = metrics.get("ci95") or {}
    table.add_row(
        *(
            f"{percent(ci[k][0])}–{percent(ci[k][1])}" if ci.get(k) else "n/a"
            for k in ("accuracy", "recall", "precision", "f1", "roc_auc")
        ),
        "95% CI",
    )
    console.print(table)
    calibration = metrics.get("calibration")
    if calibration:
        kind = calibration["kinds"][
            calibration["applied"] if calibration["applied"] in calibration["kinds"] else "as given"
        ]
        temperature = f"temperature {calibration['temperature']:.3f}, " if calibration.get("temperature") else ""
        console.print(
            f"calibration ({calibration['applied']}; {temperature}see "
            f"report): Brier {kind['brier']:.3f}, ECE {kind['ece']:.3f}, "
            f"intercept {kind['calibration_intercept']:.2f}, slope {kind['calibration_slope']:.2f}",
            highlight=False,
        )
    chance = metrics.get("chance")
    if chance and not chance["better_than_chance"]:
        console.print(f"[bold red]WARNING:[/] the model is {chance['statement']}", highlight=False)


def _common_flags(parser: argparse.ArgumentParser, default) -> None:
    """Flags every command takes, before or after its name (after it, a flag not given leaves the value set before
    it)."""
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default if default is argparse.SUPPRESS else False,
        help="show tracebacks for errors",
    )
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default if default is argparse.SUPPRESS else False,
        help="errors only: no progress bars or notes (results still go to stdout)",
    )
    loudness.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default if default is argparse.SUPPRESS else False,
        help="also the training library's own log lines",
    )


def build_parser() -> argparse.ArgumentParser:
    from facepalsy.version import __version__

    parser = argparse.ArgumentParser(
        prog="facepalsy",
        description="Facial palsy detection: VGG transfer learning with honest evaluation.",
        epilog="Progress and notes go to stderr, results to stdout. Shell completion: see the README.",
    )
    parser.add_argument("--version", action="version", version=f"facepalsy {__version__}")
    _common_flags(parser, default=False)
    common = argparse.ArgumentParser(add_help=False)
    _common_flags(common, default=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kwargs)

    p = command("synth", help="draw a synthetic data set of palsy and normal faces")
    p.add_argument("--out", required=True, help="data folder to write")
    p.add_argument("--subjects", type=int, default=40)
    p.add_argument("--images-per-subject", type=int, default=20)
    p.add_argument("--size", type=int, default=224, help="image size in pixels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_synth)

    p = command("train", help="train a classifier and write a run folder")
    p.add_argument("data", nargs="?", metavar="DATA", help="data folder (palsy/, normal/, optional manifest.csv)")
    p.add_argument("--out", required=True, metavar="RUN", help="run folder to write")
    _config_flags(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last completed epoch (with --epochs: train it longer)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the results as one JSON document on stdout (progress stays on stderr)",
    )
    p.set_defaults(func=cmd_train)

    p = command("evaluate", help="metrics of a run on its test split or on another data folder")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--data", help="evaluate on every image of this data folder instead")
    p.add_argument("--out", help="where to write (default: RUN, or RUN/eval-NAME with --data)")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable images and list them in OUT/bad_images.txt")
    _inference_flags(p)
    p.add_argument(
        "--json",
        action="store_true",
        help="print the results as one JSON document on stdout (progress stays on stderr)",
    )
    p.set_defaults(func=cmd_evaluate)

    p = command("predict", help="label and palsy probability per image")
    p.add_argument("run", metavar="RUN")
    p.add_argument(
        "images", nargs="+", metavar="IMAGE", help="image files, folders, or videos (.mp4 .avi .mov .mkv .webm)"
    )
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    _inference_flags(p)
    p.add_argument("--cam", metavar="DIR", help="also write a Grad-CAM overlay per image into DIR")
    p.add_argument(
        "--out",
        default=".",
        metavar="DIR",
        help="videos: write DIR/VIDEO_NAME/timeline.png and frames.csv (default: here)",
    )
    p.add_argument("--fps", type=float, default=6.0, help="videos: frames per second to score (default 6)")
    p.add_argument(
        "--pattern",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="name the palsy pattern (central/peripheral) of faces labelled palsy (default on; face extra; "
        "a CNN run measures each such face's landmarks once, about 45 ms)",
    )
    p.set_defaults(func=cmd_predict)

    p = command("export", help="export a run's model for deployment (ONNX)")
    p.add_argument("run", metavar="RUN")
    p.add_argument(
        "--format",
        choices=["onnx", "onnx-int8"],
        default="onnx",
        help="onnx: fp32 graph (RUN/model.onnx); onnx-int8: static int8 "
        "quantisation calibrated on the run's training images, "
        "kept only if it agrees with fp32 on the validation images (RUN/model-int8.onnx)",
    )
    p.add_argument("--out", help="file to write (default RUN/model.onnx; onnx format only)")
    p.add_argument(
        "--calibration-images",
        type=int,
        default=200,
        metavar="N",
        help="onnx-int8: training images that set the activation ranges (default 200)",
    )
    p.set_defaults(func=cmd_export)

    p = command("explain", help="Grad-CAM heatmaps: where the network looked, per image")
    p.add_argument("run", metavar="RUN")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders")
    p.add_argument("--out", required=True, metavar="DIR")
    _inference_flags(p)
    p.set_defaults(func=cmd_explain)

    p = command("asymmetry", help="landmark asymmetry per region and the more affected side (face extra)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders")
    p.add_argument("--json", action="store_true", help="JSON lines instead of tables")
    p.add_argument("--draw", metavar="DIR", help="write the landmarks and measured lines over each face into DIR")
    p.add_argument(
        "--strict", action="store_true", help="exit 2 if any image could not be measured (default: only if none could)"
    )
    p.add_argument(
        "--norms",
        metavar="FILE",
        help="healthy reference ranges from `facepalsy norms build` (default: the shipped reference)",
    )
    p.set_defaults(func=cmd_asymmetry)

    p = command(
        "exam",
        help="clinical exam of one person: a folder of expression photos or a video, per region and side (face extra)",
    )
    p.add_argument(
        "path",
        metavar="PATH",
        help="folder of photos named rest, brow_raise, eye_closure_gentle, eye_closure_full, smile, snarl, pucker, "
        "lip_depression (any subset), or a video",
    )
    p.add_argument("--out", metavar="DIR", help="where the report, chart and drawings go (default: exam_<name>)")
    p.add_argument("--names", metavar="MAP.csv", help="file,expression rows for photos named otherwise")
    p.add_argument("--norms", metavar="FILE", help="healthy reference ranges (default: the shipped reference)")
    p.add_argument("--fps", type=float, default=6.0, help="video: frames per second measured (default 6)")
    p.add_argument("--run", metavar="RUN", help="video: also plot this trained run's p(palsy) per frame")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    p.set_defaults(func=cmd_exam)

    p = command("norms", help="healthy reference ranges for the landmark asymmetry (face extra)")
    norms_sub = p.add_subparsers(dest="norms_command", required=True, metavar="ACTION")
    b = norms_sub.add_parser("build", parents=[common], help="measure healthy faces in FOLDER into a reference JSON")
    b.add_argument("folder", metavar="FOLDER", help="photos of healthy people (searched recursively)")
    b.add_argument("--out", required=True, metavar="FILE.json")
    b.add_argument("--source", help="where the photos come from, recorded in the file (default: the folder's path)")
    b.set_defaults(func=cmd_norms_build)

    p = command("compare", help="the paper's Table 1 for any runs")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--out", help="also write comparison.md and comparison.csv here")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the results as one JSON document on stdout (progress stays on stderr)",
    )
    p.set_defaults(func=cmd_compare)

    p = command(
        "prepare",
        help="cut videos (or folders of frames) into the data contract "
        "at a fixed frame rate, or harmonise a data folder",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--videos", metavar="DIR", help="folder of .mp4/.avi/.mov/.mkv/.webm files or of per-video frame folders"
    )
    source.add_argument(
        "--images", metavar="DATA", help="a data folder to harmonise (with --harmonise) into --out, audited after"
    )
    p.add_argument(
        "--out", required=True, metavar="DATA", help="data folder to write into (appends to its manifest.csv)"
    )
    p.add_argument("--label", choices=["palsy", "normal"], help="the class of the videos")
    p.add_argument(
        "--harmonise",
        type=int,
        nargs="?",
        const=96,
        metavar="PX",
        help="with --images: every image becomes its aligned face, PX pixels "
        "across (default 96), resized to --size and JPEG-encoded alike",
    )
    p.add_argument(
        "--size",
        type=int,
        default=224,
        help="with --harmonise: output size in pixels (default 224; use the size you will train at)",
    )
    p.add_argument("--fps", type=float, default=6.0, help="frames per second to keep (default 6, as YFP)")
    p.add_argument(
        "--subjects",
        metavar="MAP.csv",
        help="video,subject rows (several videos may share a subject); default: the video's name",
    )
    p.add_argument(
        "--face-crop", type=int, metavar="SIZE", help="write the aligned face crop (SIZE px) instead of the whole frame"
    )
    p.set_defaults(func=cmd_prepare)

    p = command("check", help="counts, unreadable files, duplicates and near-duplicates, subjects with both labels")
    p.add_argument("data", metavar="DATA")
    p.add_argument("--json", action="store_true", help="the full report as JSON")
    p.set_defaults(func=cmd_check)

    p = command("cv", help="cross-validation: frame, subject-kfold or leave-one-subject-out")
    p.add_argument("data", nargs="?", metavar="DATA")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument(
        "--protocol",
        choices=["frame", "subject-kfold", "lopo"],
        default="subject-kfold",
        help="frame: by image (the paper's, leaks subjects); subject-kfold: by subject; lopo: leave one subject out",
    )
    p.add_argument("--folds", type=int, default=5, help="folds for frame and subject-kfold (lopo has one per subject)")
    _config_flags(p)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the cross-validation in --out: keep completed folds, run the rest",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the results as one JSON document on stdout (progress stays on stderr)",
    )
    p.set_defaults(func=cmd_cv)

    p = command("reproduce", help="train VGG16 and VGG19 under one or more protocols and write the comparison table")
    p.add_argument("data", metavar="DATA")
    p.add_argument("--out", required=True)
    p.add_argument("--backbones", default="vgg16,vgg19")
    p.add_argument(
        "--protocols",
        help="comma-separated: frame, subject (single splits), subject-kfold, lopo (cross-validation); "
        "default: the one --split names, else frame (the paper's table)",
    )
    p.add_argument("--folds", type=int, default=5, help="folds for subject-kfold")
    p.add_argument(
        "--with-published", action=argparse.BooleanOptionalAction, default=True, help="add the paper's published rows"
    )
    _config_flags(p)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_reproduce)

    p = command("serve", help="local web page: upload a photo or video, see verdict, heatmap and asymmetry")
    p.add_argument("run", metavar="RUN")
    p.add_argument(
        "--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only); 0.0.0.0 opens it to the network"
    )
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--auth", metavar="USER:PASSWORD", help="require a login")
    p.add_argument("--keep-uploads", metavar="DIR", help="keep a copy of each upload here (default: none is kept)")
    p.add_argument(
        "--forget-after",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="delete each upload and every file derived from it this "
        "long after the last response that used it (default 30)",
    )
    _inference_flags(p)
    p.set_defaults(func=cmd_serve)

    p = command("bench", help="speed and memory on this machine, against its own matrix-product peak")
    p.add_argument("--backbones", default="vgg16,vgg19")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3, help="timed repetitions per figure (median)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto")
    p.add_argument(
        "--run",
        metavar="RUN",
        help="a trained run: also measure its int8 file's agreement with fp32 on its validation images",
    )
    p.add_argument("--photos", metavar="DIR", help="real face photos for the landmark figure (default: drawn faces)")
    p.add_argument(
        "--no-extras",
        action="store_true",
        help="skip the cross-validation, landmark and video figures (several minutes)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)

    p = command("demo", help="synthetic data → train → evaluate → report, offline, no arguments")
    p.add_argument("--out", default="facepalsy-demo")
    p.add_argument("--overwrite", action="store_true", help="replace an existing demo folder")
    p.set_defaults(func=cmd_demo)

    p = command("models", help="list backbones and whether their ImageNet weights are cached")
    p.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:  # shell completion when argcomplete is installed (README); without it, nothing changes
        import argcomplete

        argcomplete.autocomplete(parser)
    except ImportError:
        pass
    args = parser.parse_args(argv)
    from facepalsy.face.detect import NATIVE_LOGS_ENV, route_native_logs_away
    from facepalsy.log import set_verbosity

    set_verbosity(-1 if args.quiet else 1 if args.verbose else 0)

    if args.debug:
        os.environ.setdefault(NATIVE_LOGS_ENV, "1")  # MediaPipe's and TFLite's own log lines
    one_process = getattr(args, "devices", None) in (None, 1) and getattr(args, "num_nodes", None) in (None, 1)
    if args.command in SINGLE_PROCESS_COMMANDS or (one_process and not getattr(args, "config", None)):
        route_native_logs_away()  # training on one device starts no process that would inherit the silenced descriptor
    if not args.debug:
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # SIGTERM stops like Ctrl+C: atomic writes finish or never land
    try:
        return args.func(args)
    except Interrupted as exc:
        print(f"interrupted: {exc}", file=sys.stderr)
        return exc.exit_code
    except FacepalsyError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:  # the disk or the file system, not facepalsy: say which file and what
        if args.debug:
            raise
        print(
            f"error: {display_path(exc.filename) + ': ' if exc.filename else ''}{exc.strerror or exc}", file=sys.stderr
        )
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
