"""Text renderers for the terminal: metrics tables, healthy-range readings, the shortcut audit.
The commands call these after the library has computed the numbers; nothing here computes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from facepalsy.evaluation import sources as source_table
from facepalsy.evaluation.audit_result import Audit
from facepalsy.evaluation.results import CvSummary, Evaluation, Scores, percent
from facepalsy.face.exam_result import COLUMNS as EXAM_COLUMNS
from facepalsy.face.exam_result import Exam
from facepalsy.face.reading import HealthyRangeReading
from facepalsy.log import console, result_console


def print_result(args: argparse.Namespace, metrics: Evaluation, report: Path, title: str = "test metrics") -> None:
    """Results on stdout: the metrics table under a title naming its protocol, or with --json one JSON document
    (metrics and the report's path)."""
    if args.json:
        print(json.dumps({**metrics.to_dict(), "report": str(report)}, default=str))
        return
    print_metrics(metrics, title)
    console.print(f"report: [bold]{report}[/]")


def print_cv(args: argparse.Namespace, result: CvSummary, report: Path) -> None:
    """A cross-validation on stdout: pooled and per-subject tables, or with --json its cv.json and the report's
    path."""
    if args.json:
        print(json.dumps({**result.to_dict(), "report": str(report)}, default=str))
        return
    if result.sources:
        table = Table(*source_table.COLUMNS, title="per held-out source (trained without it)")
        for figures in result.sources:
            table.add_row(*figures.row())
        result_console().print(table)
    print_metrics(result.pooled, "pooled (per image)")
    print_metrics(result.per_subject, "per subject")
    console.print(f"report: [bold]{report}[/]")


def pattern_note(prediction) -> list[str]:
    """The palsy pattern as a note beside a prediction (the JSON carries it whole)."""
    return [prediction.palsy_pattern.summary()] if prediction.palsy_pattern else []


def reading_table(reading: HealthyRangeReading) -> Table:
    """A healthy-range reading as a terminal table, one row per region."""
    table = Table(
        "region",
        "score",
        "healthy percentile",
        "outside healthy range",
        "weaker side",
        "measures (robust z against healthy faces)",
        title=f"against healthy reference ranges ({reading.reference.get('count', '?')} healthy faces)",
    )
    for region, score, percentile, outside, weaker, measures in reading.rows():
        table.add_row(region, score, percentile, "[bold red]yes[/]" if outside else "no", weaker, measures)
    return table


def exam_table(exam: Exam, title: str) -> Table:
    """The exam's region/side table for the terminal (the same cells as ``exam.md``)."""
    table = Table(*EXAM_COLUMNS, title=title)
    for *cells, outside, weaker in exam.rows():
        table.add_row(*cells, "[bold red]yes[/]" if outside else "no", weaker)
    return table


def print_audit(out: Console, audit: Audit) -> None:
    """The shortcut audit as a table, and its warning where nobody can miss it."""
    table = Table(*audit.columns(), title="shortcut audit: the photos' acquisition, without any face")
    for cells, flagged in audit.rows():
        table.add_row(*cells[:-1], f"[bold red]{cells[-1]}[/]" if flagged else cells[-1])
    out.print(table)
    if audit.combined_line():
        out.print(audit.combined_line(), highlight=False)
        if audit.combined.below_chance:
            out.print(audit.combined.below_chance, highlight=False)
    if audit.note:
        out.print(f"[yellow]warning: {audit.note}[/]")
    if audit.warning:
        out.print(f"[bold red]WARNING:[/] {audit.warning}", markup=True, highlight=False)


def print_metrics(metrics: Scores, title: str = "test metrics") -> None:
    """The metrics with their 95% intervals as a table and the calibration on stdout (results: -q keeps them); a
    failed chance check as a warning on stderr."""
    keys = ("accuracy", "recall", "precision", "f1", "roc_auc")
    table = Table("accuracy %", "recall %", "precision %", "F1 %", "ROC AUC %", "n")
    table.add_row(*(percent(getattr(metrics, k)) for k in keys), str(metrics.n))
    table.add_row(*(metrics.interval(k) for k in keys), "95% CI")
    out = result_console()
    out.print(f"{title} (positive class: palsy)", highlight=False)  # a line of its own: a title would wrap to the table
    out.print(table)
    if not isinstance(metrics, Evaluation):
        return
    if metrics.calibration:
        out.print(metrics.calibration.sentence(), highlight=False)
    if metrics.chance and not metrics.better_than_chance:
        console.print(f"[bold red]WARNING:[/] the model is {metrics.chance.statement}", highlight=False)
