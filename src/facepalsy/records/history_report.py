"""A patient's history on disk: the trend chart, one self-contained HTML report and the JSON; and the patient's whole
record as ``export`` writes it (JSON, and a CSV with one row per exam and region)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import markdown_it

from facepalsy.face.grade import ITEMS, TITLES
from facepalsy.files import Sheet, atomic_write_csv, atomic_write_json, atomic_write_text, atomic_write_workbook
from facepalsy.html_report import RESEARCH_USE, STYLE, picture_html
from facepalsy.plots import plot_trend
from facepalsy.records.grade_history import SMILE, TOTAL
from facepalsy.records.history import TRACKED, History

GRADED_IN_TREND = {"total": "grade total (0–100)", "commissure_with_smile": "commissure with smile (0–100)"}
REGION_TITLES = {
    "brow": "Brow (rest)",
    "eye": "Eye (rest)",
    "mid_face": "Mid-face (rest)",
    "mouth": "Mouth (rest)",
    "overall": "Overall (rest)",
}
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

    @property
    def spreadsheet(self) -> Path:
        return self.folder / "history.xlsx"


def draw_trend(history: History, path: Path) -> None:
    """The regions' resting scores and, where graded, the grade's total and commissure-with-smile item per visit, each
    with its MDC95 (the grade's per visit: an item's noise depends on the photos it was read on)."""
    series = {name: [visit.scores.get(name) for visit in history.visits] for name in TRACKED}
    mdc: dict = dict(history.mdc95)
    tops = {}
    if history.grades and history.grades.graded:
        grades = history.grades.visits
        for name, label in GRADED_IN_TREND.items():
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
    rows, header_row = visit_rows(history)
    widths = {letter: 12.0 for letter in "EFGHIJKLMNOPQRSTUVWX"} | {"A": 16, "B": 48, "C": 16, "D": 16}
    atomic_write_workbook(files.spreadsheet, [Sheet("visits", rows, header_row, widths)], private=True)
    return files


def visit_rows(history: History) -> tuple[list[list], int]:
    """The clinic's sheet of a history: a header block, then one row per visit (the regions' resting scores, the
    smile reading, every grade item by its clinical name, the total); and the row of the visits' header (1-based)."""
    block = [
        [f"facepalsy history of patient {history.patient}"],
        ["Visits", history.visit_count],
        [
            "Scales",
            "regions and smile reading: units of healthy spread (higher: more asymmetric); grade: 0–100 points "
            "(lower: weaker); changes beyond measurement noise are in history.html",
        ],
        [RESEARCH_USE],
        [],
    ]
    header = ["Date", "Verdict", "Pattern", "Side", *(REGION_TITLES[n] for n in TRACKED), "Smile reading"]
    header += [*(f"{TITLES[n]} (0–100)" for n in ITEMS), "Grade total (0–100)", "Items graded"]
    grades = history.grades.visits if history.grades else [None] * len(history.visits)
    rows: list[list] = [*block, header]
    for visit, graded in zip(history.visits, grades):
        values = graded.values if graded else {}
        pattern = visit.palsy_pattern
        rows.append(
            [
                visit.label,
                visit.verdict,
                pattern.pattern if pattern else None,
                visit.more_affected_side,
                *(_rounded(visit.scores.get(name)) for name in TRACKED),
                _rounded(values.get(SMILE)),
                *(_rounded(values.get(name), 1) for name in ITEMS),
                _rounded(values.get(TOTAL), 1),
                f"{sum(values.get(name) is not None for name in ITEMS)} of {len(ITEMS)}",
            ]
        )
    return rows, len(block) + 1


def _rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


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
