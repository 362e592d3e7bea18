"""A patient's history on disk: the trend chart, one self-contained HTML report and the JSON; and the patient's whole
record as ``export`` writes it (JSON, and a CSV with one row per exam and region)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import markdown_it

from facepalsy.files import atomic_write_csv, atomic_write_json, atomic_write_text
from facepalsy.html_report import STYLE, picture_html
from facepalsy.plots import plot_trend
from facepalsy.records.history import TRACKED, History

GRADED_IN_TREND = {"total": "grade total (0–100)", "commissure_with_smile": "commissure with smile (0–100)"}
CAUTION = (
    "Research software, not a medical device: the scores measure facial asymmetry against healthy photos; "
    "a clinician reads them with the patient."
)


@dataclass
class HistoryFiles:
    """Where ``write_history`` put its files."""

    folder: Path

    @property
    def chart(self) -> Path:
        return self.folder / "trend.png"

    @property
    def report(self) -> Path:
        return self.folder / "history.html"

    @property
    def document(self) -> Path:
        return self.folder / "history.json"


def draw_trend(history: History, path: Path) -> None:
    """The regions' resting scores and, where graded, the grade's total and commissure-with-smile item per visit, each
    with its MDC95 (the grade's per visit: an item's noise depends on the photos it was read on)."""
    series = {name: [visit.scores.get(name) for visit in history.visits] for name in TRACKED}
    mdc: dict = dict(history.mdc95)
    tops = {}
    if history.grades and history.grades.graded:
        for name, label in GRADED_IN_TREND.items():
            grades = history.grades.visits
            series[label] = [grade.values.get(name) for grade in grades]
            mdc[label] = [history.grades.mdc_of(grade, name) for grade in grades]
            tops[label] = 105.0
    plot_trend(
        [visit.date for visit in history.visits],
        series,
        history.healthy_p99,
        mdc,
        path,
        title=f"patient {history.patient}: {history.visit_count}",
        tops=tops,
    )


def write_history(history: History, folder: Path) -> HistoryFiles:
    """``trend.png``, ``history.html`` (the chart embedded, so the file travels alone) and ``history.json``."""
    files = HistoryFiles(Path(folder))
    files.folder.mkdir(parents=True, exist_ok=True)
    draw_trend(history, files.chart)
    render = markdown_it.MarkdownIt("commonmark").enable("table").render
    body = render(history.markdown()) + picture_html("Trend", files.chart, 900) + render(CAUTION)
    atomic_write_text(
        files.report,
        f"<!doctype html><meta charset='utf-8'><title>facepalsy history {html.escape(history.patient)}</title>"
        f"{STYLE}{body}",
        private=True,
    )
    atomic_write_json(files.document, history.to_dict(), private=True)
    return files


EXPORT_COLUMNS = (
    "exam_id",
    "date",
    "date_source",
    "recorded_at",
    "recorded_by",
    "region",
    "score",
    "healthy_percentile",
    "outside_healthy_range",
    "weaker_side",
    "more_affected_side",
    "pattern",
    "pattern_side",
    "grade_total",
    "verdict",
    "facepalsy",
)


def write_export(record: dict, folder: Path) -> tuple[Path, Path]:
    """``record.json`` (everything stored) and ``record.csv`` (one row per exam and region, overall included)."""
    folder = Path(folder)
    rows = []
    for exam in record["exams"]:
        pattern = exam.get("palsy_pattern") or {}
        grade = (exam.get("exam") or {}).get("grade") or {}
        for region in TRACKED:
            detail = exam.get("region_details", {}).get(region, {})
            rows.append(
                {
                    **{k: exam[k] for k in ("exam_id", "date", "date_source", "recorded_at", "recorded_by", "verdict")},
                    "facepalsy": exam["facepalsy"],
                    "region": region,
                    "score": exam["overall"] if region == "overall" else exam["regions"].get(region),
                    "healthy_percentile": detail.get("healthy_percentile"),
                    "outside_healthy_range": region in exam["outside_healthy_range"]
                    if region != "overall"
                    else bool(exam["outside_healthy_range"]),
                    "weaker_side": detail.get("weaker_side"),
                    "more_affected_side": exam.get("more_affected_side"),
                    "pattern": pattern.get("pattern"),
                    "pattern_side": pattern.get("side"),
                    "grade_total": grade.get("total"),
                }
            )
    atomic_write_json(folder / "record.json", record, private=True)
    atomic_write_csv(folder / "record.csv", EXPORT_COLUMNS, rows, private=True)
    return folder / "record.json", folder / "record.csv"
