"""The page's Live exam tab: the webcam streamed to the server, each frame measured as it comes (``LiveExam``).

Each browser session has its own exam (keyed by Gradio's session hash), kept in memory only: frames arrive as data in
the stream's requests, are decoded in memory and never written to disk; a session left alone for IDLE_SECONDS is
dropped. Gradio's stream hands the handler only the newest frame when the last one is still being measured, so a slow
machine measures fewer frames a second rather than falling behind the camera.
"""

# No ``from __future__ import annotations`` here: Gradio hands a callback the request by the real type of its
# annotation, which a postponed (string) annotation would hide.
import threading
import time

import numpy as np

from facepalsy.errors import FacepalsyError
from facepalsy.face.norms import Norms
from facepalsy.log import console
from facepalsy.records.recording import live_pending
from facepalsy.workflows.live_exam import LiveExam

IDLE_SECONDS = 600.0  # a session without a frame or a click for this long loses its exam
STREAM_EVERY = 0.05  # seconds between the camera's frames as the browser sends them (up to 20 a second)
STREAM_LIMIT = 900  # seconds one stream may run before the browser must start it again


def unmirrored(gr):
    """Gradio mirrors the webcam by default, in its preview and in the picture it sends: the two sides of the face
    would swap, and the patient's left be read as their right."""
    return gr.WebcamOptions(mirror=False)


START = "Press the camera's record button: the exam asks for each expression in turn and keeps the best frame of each."


class LiveDesk:
    """The live exams of the page's sessions."""

    def __init__(self, norms: Norms) -> None:
        self.norms = norms
        self.sessions: dict[str, tuple[LiveExam, float, float]] = {}  # session → exam, start, last use
        self.lock = threading.Lock()

    def _exam(self, session: str, fresh: bool = False) -> tuple[LiveExam, float]:
        now = time.monotonic()
        with self.lock:
            for key, (exam, _, used) in list(self.sessions.items()):
                if now - used > IDLE_SECONDS or (fresh and key == session):
                    exam.close()
                    del self.sessions[key]
            exam, start, _ = self.sessions.get(session) or (LiveExam(self.norms), now, now)
            self.sessions[session] = (exam, start, now)
        return exam, start

    def frame(self, image: np.ndarray | None, session: str) -> str:
        """One camera frame in; the guidance and checklist out, with the frames measured per second so far."""
        if image is None:
            return START
        exam, start = self._exam(session)
        elapsed = time.monotonic() - start
        status = exam.add(np.asarray(image)[:, :, :3], elapsed)
        rate = status.frames / elapsed if elapsed > 0 else 0.0
        return f"{status.markdown()} ({rate:.1f} a second)"

    def skip(self, session: str) -> str:
        exam, _ = self._exam(session)
        exam.skip()
        return exam.status().markdown()

    def restart(self, session: str) -> str:
        self._exam(session, fresh=True)
        return START

    def finish(self, session: str) -> tuple[str, str, object]:
        """The exam of the kept frames: its Markdown, its grade, and the exam ready for the History tab to record.
        The session's exam ends: a new one starts with the next frame."""
        with self.lock:
            entry = self.sessions.pop(session, None)
        if entry is None:
            return "No live exam yet: start the camera first.", "", None
        exam = entry[0]
        try:
            result, _ = exam.finish("live exam")
        except FacepalsyError as exc:
            return f"**Could not run the exam.** {exc}", "", None
        finally:
            exam.close()
        pending = live_pending(result, exam.encoded())
        console.print(f"live exam finished: {', '.join(result.expressions)}")
        text = result.markdown(pictures=False, grade=False)
        return text, result.grade.markdown(), pending


def live_tab(gr, desk: LiveDesk, pending) -> None:
    """The Live exam tab, inside the page's Blocks; ``pending`` is the gr.State the History tab records from."""
    with gr.Tab("Live exam"):
        gr.Markdown(
            "A guided exam in front of the camera: it asks for each expression in turn (rest, brow raise, gentle and "
            "full eye closure, smile, snarl, pucker, lip depression), shows when the face is frontal and the "
            "expression recognised, and keeps the best frame of each. *Skip* moves on without one; *Finish* runs the "
            "exam on the frames kept. Camera frames stay in memory and are never written to disk; recording the exam "
            "(History tab) keeps each frame's hash, as for uploaded photos."
        )
        camera = gr.Image(
            label="Camera (not mirrored: the patient's left is on the picture's right)",
            sources=["webcam"],
            streaming=True,
            type="numpy",
            elem_id="live-camera",
            height=360,
            webcam_options=unmirrored(gr),
        )
        guide = gr.Markdown(START, elem_id="live-guide")
        with gr.Row():
            skip = gr.Button("Skip this expression", elem_id="live-skip")
            restart = gr.Button("Start again", elem_id="live-restart")
            finish = gr.Button("Finish and run the exam", variant="primary", elem_id="live-finish")
        result = gr.Markdown(elem_id="live-result")
        with gr.Accordion("Grade: eFACE-style (automatic), measures in mm", open=True):
            grade = gr.Markdown(elem_id="live-grade")

        def frame(image, request: gr.Request):
            return desk.frame(image, request.session_hash)

        camera.stream(
            frame,
            [camera],
            [guide],
            stream_every=STREAM_EVERY,
            time_limit=STREAM_LIMIT,
            concurrency_limit=4,
            show_progress="hidden",
            api_name=False,
        )

        def skip_one(request: gr.Request):
            return desk.skip(request.session_hash)

        def start_again(request: gr.Request):
            return desk.restart(request.session_hash)

        def run_exam(request: gr.Request):
            return desk.finish(request.session_hash)

        skip.click(skip_one, None, [guide], api_name=False)
        restart.click(start_again, None, [guide], api_name=False)
        finish.click(run_exam, None, [result, grade, pending], api_name=False)
