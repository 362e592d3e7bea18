"""The commands that examine one person: ``exam`` (regions, sides, the pattern) and ``grade`` (the eFACE-style
(automatic) grade and its mm measures). Each takes argparse's namespace, calls the workflow and renders."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.table import Table

from facepalsy.app.commands_records import check_record_flags, exam_record_flags, record_after_exam
from facepalsy.app.flags import json_flag
from facepalsy.app.render import exam_table
from facepalsy.errors import FacepalsyError
from facepalsy.face.grade import COLUMNS as GRADE_COLUMNS
from facepalsy.face.millimetres import IRIS_MM
from facepalsy.log import console, result_console
from facepalsy.models.spec import PRECISIONS

EXAM_PATH_HELP = (
    "folder of photos named rest, brow_raise, eye_closure_gentle, eye_closure_full, smile, snarl, pucker, "
    "lip_depression (any subset), or a video"
)


def add_exam_commands(command) -> None:
    """Register ``exam`` and ``grade`` with the CLI's ``command`` factory."""
    p = command(
        "exam",
        help="clinical exam of one person: a folder of expression photos or a video, per region and side (face extra)",
    )
    _exam_input(p)
    p.add_argument("--out", metavar="DIR", help="where the report, chart and drawings go (default: exam_<name>)")
    p.add_argument("--run", metavar="RUN", help="video: also plot this trained run's p(palsy) per frame")
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help=argparse.SUPPRESS)
    p.add_argument("--grade", action="store_true", help="also print the eFACE-style (automatic) grade's table")
    json_flag(p)
    exam_record_flags(p)
    p.set_defaults(func=cmd_exam)

    p = command(
        "grade",
        help="eFACE-style (automatic) grade of one person's exam, with its measures in mm (face extra)",
        description="Nine of eFACE's fifteen items from the exam's photos or video: static (brow, palpebral fissure, "
        "oral commissure at rest), dynamic (brow elevation, gentle and full eye closure, commissure with smile, lower "
        "lip) and ocular synkinesis. A missing expression leaves its items missing. The docs' Grade page defines each.",
    )
    _exam_input(p)
    p.add_argument(
        "--out", metavar="FILE", help="also write the mm measures per photo and the items: grade.csv or grade.xlsx"
    )
    json_flag(p)
    p.set_defaults(func=cmd_grade)


def _exam_input(p: argparse.ArgumentParser) -> None:
    """What ``exam`` and ``grade`` both read."""
    p.add_argument("path", metavar="PATH", help=EXAM_PATH_HELP)
    p.add_argument("--names", metavar="MAP.csv", help="file,expression rows for photos named otherwise")
    p.add_argument("--norms", metavar="FILE", help="healthy reference ranges (default: the shipped reference)")
    p.add_argument("--fps", type=float, default=6.0, help="video: frames per second measured (default 6)")
    p.add_argument(
        "--iris-mm",
        type=float,
        default=IRIS_MM,
        metavar="MM",
        help=f"the iris diameter that sets the mm scale (default {IRIS_MM}, the adult mean)",
    )


def cmd_exam(args: argparse.Namespace) -> int:
    from facepalsy.data.exam_names import read_name_map
    from facepalsy.face.norms import load_norms
    from facepalsy.inference.predictor import load
    from facepalsy.inference.settings import InferenceSettings
    from facepalsy.workflows.exam import run_exam

    check_record_flags(args)
    _check_iris(args.iris_mm)
    predictor = load(args.run, InferenceSettings(precision=args.precision)) if args.run else None
    out = Path(args.out or f"exam_{Path(args.path).stem}")
    names = read_name_map(args.names) if args.names else None
    options = {"names": names, "fps": args.fps, "iris_mm": args.iris_mm}
    exam = run_exam(args.path, out, load_norms(args.norms), predictor, **options)
    if args.patient or args.pseudonyms:
        record_after_exam(args, exam, names)
    for sentence in exam.left_out():  # on stderr beside the progress, so that a photo left out is never silent
        console.print(sentence, highlight=False)
    if args.json:
        print(json.dumps(exam.to_dict()))
        return 0
    results = result_console()  # the exam's tables and verdict on stdout, so `exam X > file` keeps them
    results.print(exam_table(exam, title=f"exam: {args.path}"))
    if exam.video_sentence():
        results.print(exam.video_sentence(), highlight=False)
    if exam.missing:
        results.print(f"missing expressions: {', '.join(exam.missing)}")
    results.print(exam.verdict(), highlight=False)
    if exam.palsy_pattern:
        from rich.markdown import Markdown  # rich.markdown takes a tenth of a second to import

        results.print(Markdown(exam.palsy_pattern.markdown()))
    if args.grade:
        _print_grade(exam.grade, f"grade: {args.path}")
    console.print(f"report: [bold]{out / 'exam.md'}[/]")
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    from facepalsy.data.exam_names import read_name_map
    from facepalsy.face.norms import load_norms
    from facepalsy.workflows.exam import measure_exam
    from facepalsy.workflows.grade_export import SUFFIXES, ExamFacts, write_grade

    _check_iris(args.iris_mm)
    if args.out and Path(args.out).suffix.lower() not in SUFFIXES:
        raise FacepalsyError(f"--out {args.out}: the grade is written as {' or '.join(SUFFIXES)}")
    names = read_name_map(args.names) if args.names else None
    exam, _, _ = measure_exam(args.path, load_norms(args.norms), names, args.fps, iris_mm=args.iris_mm)
    if args.out:
        sources = {e: Path(s).name if exam.kind == "photos" else s for e, s in exam.expressions.items()}
        facts = ExamFacts(Path(args.path).name, _taken(exam))
        console.print(f"written: [bold]{write_grade(exam.grade, args.out, sources, facts)}[/]")
    if args.json:
        print(json.dumps(exam.grade.to_dict()))
        return 0
    _print_grade(exam.grade, f"grade: {args.path}")
    return 0


def _taken(exam) -> str:
    """When an exam's photos were taken, as recording dates a visit (its rest photo, else its first): for the
    export's header block."""
    from facepalsy.records.recording import TODAY, exam_date

    if exam.kind != "photos":
        return "not known (a video)"
    day, source = exam_date({name: Path(path) for name, path in exam.expressions.items()}, None)
    return "not in the photos" if source == TODAY else f"{day.isoformat()} ({source})"


def _print_grade(grade, title: str) -> None:
    table = Table(*GRADE_COLUMNS, title=title)  # face.grade.COLUMNS: the report's table too
    for row in grade.rows():
        table.add_row(*row)
    results = result_console()  # on stdout, so `grade X > file` keeps the table
    results.print(table)
    results.print(grade.summary(), highlight=False)


def _check_iris(iris_mm: float) -> None:
    if not 8.0 <= iris_mm <= 15.0:
        raise FacepalsyError(f"--iris-mm {iris_mm:g}: a human iris is 8–15 mm across (the adult mean is {IRIS_MM})")
