"""The page's History tab (its login is ``page_access.py``).

History: choose or type a patient's pseudonymous id, see the visits and the trend, and record the exam the Exam tab
just made, under the logged-in user's name (and in the server's log).
"""

# No ``from __future__ import annotations`` here: Gradio hands a callback the request (who is logged in) by the
# real type of its annotation, which a postponed (string) annotation would hide.
import dataclasses
import os
import tempfile
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from facepalsy.errors import FacepalsyError
from facepalsy.face.norms import load_norms
from facepalsy.log import console
from facepalsy.records.history_report import draw_trend
from facepalsy.records.recording import PendingExam, parse_date, parse_visit_time, record_exam
from facepalsy.records.store import RecordStore, VisitTaken, database_url

LOCAL_USER = "local user (no login)"


class HistoryDesk:
    """The History tab's work: the store is opened on first use (a page never used for follow-up creates no
    database), one request at a time (SQLite's writer is one anyway)."""

    def __init__(self, db: str | None, workdir: Path) -> None:
        self.db, self.workdir = db, workdir
        self.store: RecordStore | None = None
        self.lock = threading.Lock()

    def _store(self) -> RecordStore:
        if self.store is None:
            self.store = RecordStore(self.db)
        return self.store

    def patients(self) -> list[str]:
        """The ids already recorded, for the tab's list; none (and no file created) while the database is not there."""
        _, path = database_url(self.db)
        if self.store is None and path is not None and not path.exists():
            return []
        with self.lock:
            try:
                return self._store().patients()
            except FacepalsyError:
                return []

    def show(self, patient: str | None) -> tuple[str, np.ndarray | None]:
        """The visits and changes as Markdown, and the trend chart."""
        if not (patient or "").strip():
            return "Choose or type a patient id.", None
        try:
            with self.lock:
                history = self._store().history(patient, load_norms())
        except FacepalsyError as exc:
            return f"**No history.** {exc}", None
        fd, name = tempfile.mkstemp(suffix=".png", dir=self.workdir)
        os.close(fd)
        try:
            draw_trend(history, Path(name))
            chart = np.asarray(Image.open(name).convert("RGB"))
        finally:
            Path(name).unlink(missing_ok=True)
        return history.markdown(), chart

    def record(
        self,
        patient: str | None,
        pending: PendingExam | None,
        user: str | None,
        visit_date: str | None = None,
        visit_time: str | None = None,
        replace: bool = False,
    ) -> str:
        """Record the exam the Exam tab made, on ``visit_date`` (YYYY-MM-DD) and at ``visit_time`` (HH:MM) if given,
        in place of that date's exam with ``replace``, saying what was stored (or why nothing was) in the page's
        words: no command-line flag, no database path."""
        if pending is None:
            return "Run an exam in the Exam tab first; then record it here."
        if not (patient or "").strip():
            return "Type the patient's pseudonymous id first."
        try:
            if (visit_date or "").strip():
                pending = dataclasses.replace(pending, date=parse_date(visit_date.strip()), date_source="entered")
            if (visit_time or "").strip():
                pending = dataclasses.replace(pending, time=parse_visit_time(visit_time))
            with self.lock:
                recorded = record_exam(self._store(), patient, pending, user or LOCAL_USER, replace=replace)
        except VisitTaken as exc:
            at = f" at {exc.time}" if exc.time else ""
            return (
                f"**Not recorded.** Patient {exc.patient} already has a visit on {exc.date.isoformat()}{at}. Tick "
                "*Replace that visit's exam* to record this one in its place, or give a visit time for a second visit "
                "that day."
            )
        except FacepalsyError as exc:
            return f"**Not recorded.** {exc}"
        console.print(f"{recorded.sentence()}, by {user or LOCAL_USER}", highlight=False)  # the server's log
        warning = f"\n\n**Warning:** the id {recorded.warning}; ids must be pseudonyms." if recorded.warning else ""
        at = f" at {recorded.time}" if recorded.time else ""
        instead = ", in place of the earlier exam of that visit" if recorded.replaced else ""
        return (
            f"Recorded visit {recorded.visit} of patient {recorded.patient}, dated {recorded.date.isoformat()}{at} "
            f"({recorded.date_source}){instead}.{warning}"
        )


def history_tab(gr, desk: HistoryDesk, pending) -> None:
    """The History tab, inside the page's Blocks; ``pending`` is the gr.State the Exam tab fills."""
    with gr.Tab("History"):
        gr.Markdown(
            "Follow one patient over visits. Ids are **pseudonyms**: never a name or a date of birth. "
            "A region reads `worse` or `improved` only when its score moved by more than measurement noise (MDC95)."
        )
        patient = gr.Dropdown(
            choices=desk.patients(), allow_custom_value=True, label="Patient id (pseudonym)", elem_id="patient"
        )
        with gr.Row():
            show = gr.Button("Show history", elem_id="show-history")
            record = gr.Button("Record the exam just made", variant="primary", elem_id="record-exam")
        with gr.Row():
            visit_date = gr.Textbox(
                label="Visit date (YYYY-MM-DD; empty: the photos' own date, else today)", elem_id="visit-date"
            )
            visit_time = gr.Textbox(label="Visit time (HH:MM; a second visit that day)", elem_id="visit-time")
            replace = gr.Checkbox(label="Replace that visit's exam", elem_id="replace-visit")
        status = gr.Markdown(elem_id="record-status")
        table = gr.Markdown(elem_id="history-table")
        chart = gr.Image(label="Resting scores over visits (healthy range shaded)", elem_id="trend")

        def record_then_show(patient_id, exam, date, time, again, request: gr.Request):
            message = desk.record(patient_id, exam, getattr(request, "username", None), date, time, again)
            return (message, *desk.show(patient_id))

        show.click(desk.show, [patient], [table, chart], api_name="history")
        record.click(
            record_then_show,
            [patient, pending, visit_date, visit_time, replace],
            [status, table, chart],
            api_name="record_exam",
        )
