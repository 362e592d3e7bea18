"""The commands that read photos, videos and data folders: predict, explain, asymmetry, exam, norms build,
prepare and check. Each takes argparse's namespace, calls the library and renders."""

from __future__ import annotations

import argparse
import functools
import json
import shlex
import sys
from pathlib import Path

from rich.table import Table

from facepalsy.app.flags import inference_settings
from facepalsy.app.render import pattern_note, print_audit, reading_table
from facepalsy.errors import EXIT_USER_ERROR, FacepalsyError, Interrupted
from facepalsy.log import console, result_console


def cmd_predict(args: argparse.Namespace) -> int:
    from facepalsy.cluster import RayPlan
    from facepalsy.data.images import expand_inputs
    from facepalsy.data.prepare import VIDEO_EXTENSIONS
    from facepalsy.inference.predictor import load
    from facepalsy.workflows.archive import archive_inputs, is_archive_output, score_archive

    load_predictor = functools.partial(load, args.run, inference_settings(args))
    if is_archive_output(args.out):
        paths = archive_inputs(args.images)
        if not paths:
            raise FacepalsyError("no photos or videos found in the given files and folders")
        ray = None if args.ray is None else RayPlan(args.ray or None, args.task_cpus, args.task_gpus)
        try:
            summary = score_archive(load_predictor, paths, Path(args.out), notes=notes, fps=args.fps, ray=ray)
        except KeyboardInterrupt:  # Ctrl+C or SIGTERM: every row written so far is whole and kept
            again = " ".join(shlex.quote(a) for a in ["facepalsy", *sys.argv[1:]])
            raise Interrupted(
                f"{args.out} keeps every file scored so far; to continue, run the same command again "
                f"(files already scored are skipped): {again}"
            ) from None
        console.print(summary.sentence(), highlight=False)
        answered = summary.scored - summary.failed + summary.skipped
        return exit_code(answered, summary.failed, args.strict)
    if args.ray is not None:
        raise FacepalsyError("--ray spreads an archive over a cluster: give --out FILE.csv or FILE.parquet")
    predictor = load_predictor()
    videos = [Path(p) for p in args.images if Path(p).suffix.lower() in VIDEO_EXTENSIONS]
    images = [p for p in args.images if Path(p).suffix.lower() not in VIDEO_EXTENSIONS]
    piped = not args.json and not sys.stdout.isatty()
    if piped and videos:  # one tab-separated line per image or video, under a header, never truncated
        print(TSV_HEADER)
    verdicts = [predictor.predict_video(video, Path(args.out) / video.stem, fps=args.fps) for video in videos]
    for v in verdicts:
        if args.json:
            print(json.dumps(v.to_dict()))
        elif not v.error:
            print(
                f"{v.path}\t{v.label}\t{v.prob_palsy:.4f}\t{v.threshold:.4f}\t"
                f"video: face in {v.frames_with_face}/{v.frames} frames; timeline {v.timeline}"
            )
        else:
            print(f"error: {v.path}: {v.error}", file=sys.stderr)
    paths = expand_inputs(images) if images else []
    cams = Path(args.cam) if args.cam else None
    results = predictor.predict(paths, cam_dir=cams, patterns=args.pattern) if paths else []
    failed = [r for r in results if not r.ok]
    for r in failed if piped or args.json else []:  # the rows go to a file or a program: each is said on stderr too
        print(f"error: {r.source}: {r.error}", file=sys.stderr)
    if failed and len(results) > 1:
        verdicts_given = f"{len(results) - len(failed)} of {len(results)} images got a verdict"
        print(f"{verdicts_given}; each of the others has its row, with why", file=sys.stderr)
    if args.json:
        for r in results:
            print(json.dumps(r.to_dict()))
    elif not piped and results:
        console.print(f"labels at the {predictor.threshold_text()}")
        table = Table("image", "label", "p(palsy)", "note")
        for r in results:
            table.add_row(
                r.source,
                r.label or f"[red]{r.status.replace('_', ' ')}[/]",
                "" if r.prob_palsy is None else f"{r.prob_palsy:.3f}",
                shown_notes(r),
            )
        result_console().print(table)
    else:
        if results and piped and not videos:
            print(TSV_HEADER)
        for r in results:
            prob = "" if r.prob_palsy is None else f"{r.prob_palsy:.4f}"
            print(f"{r.source}\t{r.label or r.status}\t{prob}\t{r.threshold:.4f}\t" + shown_notes(r))
    answered = sum(r.ok for r in results) + sum(not v.error for v in verdicts)
    return exit_code(answered, len(failed) + sum(bool(v.error) for v in verdicts), args.strict)


TSV_HEADER = "source\tlabel\tp_palsy\tthreshold\tnotes"  # predict's output when piped


def notes(prediction) -> list[str]:
    return [*prediction.warnings, *pattern_note(prediction)]


def shown_notes(prediction) -> str:
    """The notes column of the table and of piped output: why there is no verdict (no usable face, a face the model
    cannot read), then the notes. A results file keeps the reason in its own ``error`` column."""
    reason = [prediction.error] if not prediction.ok and prediction.error else []
    return "; ".join([*reason, *notes(prediction)])


def exit_code(answered: int, failed: int, strict: bool) -> int:
    """The one rule of the many-image commands: 0 when at least one input got a result, 2 when none did or, with
    ``--strict``, when any failed (each failure is named on stderr either way)."""
    return EXIT_USER_ERROR if failed and (strict or not answered) else 0


def cmd_explain(args: argparse.Namespace) -> int:
    from facepalsy.data.images import expand_inputs
    from facepalsy.evaluation.report import write_explain_report
    from facepalsy.inference.predictor import load

    predictor = load(args.run, inference_settings(args))
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
    return exit_code(sum(r.ok for r in results), sum(not r.ok for r in results), args.strict)


def cmd_asymmetry(args: argparse.Namespace) -> int:
    from facepalsy.data.images import expand_inputs
    from facepalsy.data.prepare import decode_ahead
    from facepalsy.errors import BadImageError, display_path
    from facepalsy.face.asymmetry import draw
    from facepalsy.face.detect import MESH_SIDE
    from facepalsy.face.norms import load_norms
    from facepalsy.face.photo_reading import read_photo

    norms = load_norms(args.norms)
    predictor = None
    if args.run:
        from facepalsy.inference.predictor import load

        predictor = load(args.run, inference_settings(args))
    failed, paths = 0, expand_inputs(args.images)
    for path, rgb in decode_ahead(paths, MESH_SIDE):
        try:
            if isinstance(rgb, BadImageError):
                raise rgb
            prediction = predictor.predict(path, patterns=False) if predictor else None
            photo = read_photo(rgb, display_path(path), norms, prediction.label if prediction else None)
        except BadImageError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
            continue
        result = photo.asymmetry
        if args.draw:
            draw(photo.crop, photo.landmarks, result, Path(args.draw) / f"{path.stem}_asymmetry.png")
        if args.json:
            verdict = {"prediction": prediction.to_dict()} if prediction else {}
            print(json.dumps({"path": str(path), **photo.to_dict(), **verdict}))
            continue
        title = (
            f"{path} ({result.expression}{'' if result.expression_named else ', recognised'}; "
            f"head yaw {result.pose.get('yaw', 0):+.0f}°)"
        )
        table = Table(
            "measure (inter-ocular distances)", "patient's right", "patient's left", "left − right", title=title
        )
        for row in result.measure_rows():
            table.add_row(*row)
        result_console().print(table)
        result_console().print(reading_table(result.reference))
        if prediction is not None:
            result_console().print(f"model: {prediction_line(prediction)}", highlight=False)
        result_console().print(
            photo.sentence()
            + f"; asymmetry score {result.score:.3f}"
            + (f"; {result.faces_found} faces found, the largest measured" if result.faces_found > 1 else ""),
            highlight=False,
        )
        if photo.pattern:
            from rich.markdown import Markdown  # rich.markdown takes a tenth of a second to import

            result_console().print(Markdown(photo.pattern.markdown()))
    if failed and len(paths) > 1:
        print(
            f"{len(paths) - failed} of {len(paths)} images measured; {failed} could not be (listed above)",
            file=sys.stderr,
        )
    return exit_code(len(paths) - failed, failed, args.strict)


def prediction_line(prediction) -> str:
    """A prediction in one line: label and p(palsy), or why there is none, with its notes."""
    if not prediction.ok:
        return f"no verdict ({prediction.error})"
    note = shown_notes(prediction)
    return f"{prediction.label} (p(palsy) {prediction.prob_palsy:.3f})" + (f"; {note}" if note else "")


def cmd_norms_build(args: argparse.Namespace) -> int:
    from facepalsy.files import atomic_write_json
    from facepalsy.workflows.norms_from_photos import measure_healthy_folder

    norms, failures, turned = measure_healthy_folder(
        args.folder, args.source or str(args.folder), retest_photos=args.retest_photos
    )
    atomic_write_json(Path(args.out), norms.to_dict())
    for failure in failures[:20]:
        print(f"skipped: {failure}", file=sys.stderr)
    console.print(
        f"wrote {args.out}: reference ranges from {norms.count} "
        f"healthy faces ({len(failures)} without a usable face, "
        f"{turned} turned too far, left out)"
    )
    if norms.retest:
        console.print(
            f"minimal detectable change (MDC95) from {norms.retest.photos} re-measured resting faces: "
            + ", ".join(f"{region.replace('_', ' ')} {value:.2f}" for region, value in norms.retest.regions.items())
        )
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from facepalsy.data.prepare import prepare_videos

    if args.images:
        return harmonise_images(args)
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
    from facepalsy.evaluation.check import check_dataset

    report = check_dataset(args.data)
    audit = report.audit
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        if audit.warning:
            print(f"warning: {audit.warning}", file=sys.stderr)
        return 0
    out = result_console()
    table = Table("", *report.images, title=f"data set {report.data}")
    table.add_row("images", *map(str, report.images.values()))
    table.add_row("subjects", *map(str, report.subjects.values()))
    out.print(table)
    per = report.images_per_subject
    out.print(f"images per subject: min {per['min']}, median {per['median']:g}, max {per['max']}")
    for title, items in report.findings():
        style = "green" if not items else "yellow"
        out.print(f"[{style}]{title}: {len(items)}[/]")
        for item in items[:20]:
            out.print(f"  {item}", markup=False, highlight=False)
        if len(items) > 20:
            out.print(f"  … {len(items) - 20} more (see --json)")
    out.print(
        f"near-duplicates within one subject (expected for video frames): {report.near_duplicates_within_subjects}"
    )
    print_audit(out, audit)
    return 0


def harmonise_images(args: argparse.Namespace) -> int:
    from facepalsy.data.harmonise import Harmonisation
    from facepalsy.workflows.harmonise_folder import LEFT_OUT, harmonise_folder

    if not args.harmonise:
        raise FacepalsyError("--images DATA is harmonised into --out: give --harmonise [PX]")
    report = harmonise_folder(args.images, args.out, args.size, Harmonisation(args.harmonise))
    out = result_console()
    print_audit(out, report.audit)
    if report.audit.warning:
        print(f"warning: after harmonising, {report.audit.warning}", file=sys.stderr)
    listed = f" (listed in {Path(args.out) / LEFT_OUT})" if report.left_out else ""
    console.print(
        f"wrote {report.written} harmonised images to [bold]{args.out}[/]; {len(report.left_out)} left out{listed}"
    )
    return 0
