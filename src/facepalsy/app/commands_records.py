"""The record commands: ``exam --patient`` records, ``history`` shows a patient's visits and change, ``export
--patient`` writes the record out, ``forget`` deletes it. They parse, call ``facepalsy.records`` and render."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from rich.table import Table

from facepalsy.app.flags import json_flag
from facepalsy.errors import FacepalsyError
from facepalsy.log import console, result_console

DB_HELP = (
    "the record database: a SQLite file or a URL (postgresql+psycopg://user@host/db); default: $FACEPALSY_DB, "
    "else records.db in your user data folder"
)


def db_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="PATH|URL", help=DB_HELP)


def exam_record_flags(p: argparse.ArgumentParser) -> None:
    """``exam``'s flags for recording the exam in the patient's record."""
    group = p.add_argument_group("recording the exam (see `facepalsy history`)")
    group.add_argument("--patient", metavar="ID", help="record the exam under this pseudonymous patient id")
    group.add_argument(
        "--pseudonyms",
        metavar="MAP.csv",
        help="DICOM photos: take the id from the header's PatientID through this real_id,pseudonym map "
        "(the real id is never stored)",
    )
    group.add_argument("--date", metavar="YYYY-MM-DD", help="the exam's date (default: the photos' EXIF or DICOM date)")
    group.add_argument(
        "--visit-time",
        metavar="HH:MM",
        help="a second visit on a date the patient already has one: its time of day tells the two apart",
    )
    group.add_argument(
        "--replace",
        action="store_true",
        help="record this exam in place of the patient's exam of the same date (and --visit-time, if given)",
    )
    db_flag(group)
    group.add_argument(
        "--keep-photos", action="store_true", help="store the photos' bytes in the database too (default: hashes)"
    )


def add_record_commands(command) -> None:
    """Register ``history`` and ``forget`` with the CLI's ``command`` factory."""
    p = command("history", help="a patient's recorded exams: table, trend chart, change beyond measurement noise")
    p.add_argument("patient", metavar="ID", help="the pseudonymous patient id given to `exam --patient`")
    db_flag(p)
    p.add_argument(
        "--out",
        metavar="DIR",
        help="also write trend.png, history.html, history.json and history.xlsx into DIR (none by default: a "
        "patient's files are written only where asked)",
    )
    p.add_argument("--norms", metavar="FILE", help="healthy reference with its MDC95 (default: the shipped one)")
    json_flag(p)
    p.set_defaults(func=cmd_history)

    p = command("forget", help="delete every exam and photo of a patient (or one visit) from the record database")
    p.add_argument("patient", metavar="ID")
    p.add_argument(
        "--exam", type=int, metavar="N", help="delete only visit N, numbered as `history` lists them (1: the earliest)"
    )
    db_flag(p)
    p.add_argument("--yes", action="store_true", help="needed: forgetting cannot be undone")
    p.set_defaults(func=cmd_forget)


def record_after_exam(args: argparse.Namespace, exam, names: dict[str, str] | None) -> None:
    """With ``--patient`` or ``--pseudonyms``: store the exam and say where (stderr, so --json stays one document)."""
    from facepalsy.records.pseudonyms import read_pseudonym_map
    from facepalsy.records.recording import exam_sources, patient_from_dicom, pending_exam, record_exam
    from facepalsy.records.store import RecordStore, recorded_by_default

    sources = exam_sources(Path(args.path), names)
    patient = args.patient or patient_from_dicom(sources, read_pseudonym_map(args.pseudonyms))
    pending = pending_exam(exam, sources, args.date, args.keep_photos, args.run, args.visit_time)
    with RecordStore(args.db) as store:
        recorded = record_exam(store, patient, pending, recorded_by_default(), replace=args.replace)
    if recorded.warning:
        console.print(
            f"[yellow]warning:[/] patient id {recorded.patient!r}: {recorded.warning}; ids must be pseudonyms "
            f"(`facepalsy forget {shlex.quote(recorded.patient)} --yes` removes it)",
            highlight=False,
        )
    console.print(recorded.sentence(), highlight=False)


def check_record_flags(args: argparse.Namespace) -> None:
    """Refuse recording flags without a patient before the exam runs, so nothing is measured in vain."""
    if (args.date or args.keep_photos or args.db or args.visit_time or args.replace) and not (
        args.patient or args.pseudonyms
    ):
        raise FacepalsyError(
            "--date, --visit-time, --replace, --db and --keep-photos record the exam: give --patient ID "
            "(or --pseudonyms)"
        )
    if args.patient and args.pseudonyms:
        raise FacepalsyError("give --patient or --pseudonyms, not both")
    if args.date:
        from facepalsy.records.recording import parse_date

        parse_date(args.date)
    if args.visit_time:
        from facepalsy.records.recording import parse_visit_time

        parse_visit_time(args.visit_time)


def cmd_history(args: argparse.Namespace) -> int:
    from facepalsy.face.norms import load_norms
    from facepalsy.records.change_table import COLUMNS as CHANGE_COLUMNS
    from facepalsy.records.grade_history import FOLLOWED, title
    from facepalsy.records.history import TRACKED
    from facepalsy.records.history_report import write_history
    from facepalsy.records.store import RecordStore

    with RecordStore(args.db, create=False) as store:
        history = store.history(args.patient, load_norms(args.norms))
    files = write_history(history, Path(args.out)) if args.out else None
    if args.json:
        print(json.dumps(history.to_dict()))
        return 0
    names = [name.replace("_", " ") for name in TRACKED]
    visits = Table(*["date", *names, "verdict"], title=f"patient {history.patient}: {history.visit_count}")
    for row in history.rows():
        visits.add_row(*row)
    out = result_console()
    out.print(visits)
    if history.grades and history.grades.graded:
        grades = Table(*["date", *map(title, FOLLOWED)], title="eFACE-style (automatic) grade")
        for row in history.grades.rows():
            grades.add_row(*row)
        out.print(grades)
    if history.changes:
        change = Table(*CHANGE_COLUMNS, title="change beyond measurement noise (each value against its own MDC95)")
        for row in history.change_rows():
            change.add_row(*row)
        out.print(change)
    console.print(history.noise_sentence(), highlight=False)
    if files:
        console.print(f"report: [bold]{files.report}[/] (chart: {files.chart.name}; visits: {files.spreadsheet.name})")
    else:
        console.print("--out DIR writes the trend chart, the report and the visits' workbook", highlight=False)
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    from facepalsy.records.store import RecordStore

    what = f"visit {args.exam} of {args.patient!r}" if args.exam is not None else f"{args.patient!r}"
    if not args.yes:
        raise FacepalsyError(f"forgetting {what} deletes its exams and photos and cannot be undone: add --yes")
    with RecordStore(args.db, create=False) as store:
        count = store.forget(args.patient, args.exam)
        where = store.where
    exams = f"{count} exam{'' if count == 1 else 's'}"
    gone = f"visit {args.exam} of patient" if args.exam is not None else "patient"
    console.print(f"forgot {gone} {args.patient.strip()}: {exams} deleted from {where}", highlight=False)
    # the database cannot reach what was written outside it: say so, so that nothing is thought gone that is not
    console.print(
        "Files written outside the database are not deleted: exam folders (exam_*), history folders (history --out), "
        "record exports (record_*), grade exports (.csv, .xlsx) and predict results. Delete those you made "
        "for this patient yourself.",
        highlight=False,
    )
    return 0


def cmd_export_record(args: argparse.Namespace) -> int:
    from facepalsy.records.history_report import write_export
    from facepalsy.records.store import RecordStore

    with RecordStore(args.db, create=False) as store:
        record = store.export(args.patient)
    paths = write_export(record, Path(args.out or f"record_{args.patient.strip()}"))
    print("\n".join(str(path) for path in paths), file=sys.stdout)
    return 0
