"""Clinician web page (Gradio, the ``web`` extra): a photo or short video in; verdict and evidence out.

Shows the verdict, the palsy probability, the model and protocol of the run, the face crop with its
Grad-CAM overlay, the landmark asymmetry (with the face extra) and, for a video, the probability
timeline; a report (HTML, images embedded) can be downloaded. It is a research tool, not a
diagnosis, and says so on the page.

Safety: binds to 127.0.0.1 unless told otherwise; uploads are checked by content, size and pixel
count and live only in a private temporary folder; each upload and every file derived from it
(report, heatmap, landmark drawing, timeline, exam pictures, Gradio's cached copies) is deleted
30 s (``--forget-after``) after the last response that used it, unless ``--keep-uploads``; Gradio's
analytics are off; the model is loaded once and requests are queued.

This module is the page's UI and its lifetime; what it computes is ``page_analysis.py``, who may open it
``page_access.py``, the Live exam tab ``page_live.py``, the History tab ``page_history.py``, the micro-batcher and
the janitor ``page_workers.py``.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path

from facepalsy.app.page_access import check_host, read_credentials
from facepalsy.app.page_analysis import CAUTION, FORGET_AFTER, IMAGE_LIMIT_MB, VIDEO_LIMIT_MB, Analyzer
from facepalsy.app.page_history import HistoryDesk, history_tab
from facepalsy.app.page_live import LiveDesk, live_tab, unmirrored
from facepalsy.errors import FacepalsyError
from facepalsy.inference.predictor import load
from facepalsy.inference.settings import InferenceSettings
from facepalsy.log import console

WEB_INSTALL = "pip install 'gradio>=6'  (or: bash scripts/setup)"
LOGIN_NOTICE = (
    "facepalsy: facial palsy from face photos and videos. Research software, not a medical device; patient ids are "
    "pseudonyms. Sign in with the account the server's administrator gave you."
)
CONCURRENT_REQUESTS = 8  # taken from Gradio's queue at once: their photos' networks run in micro-batches
# tables' headers wrap between words, never inside one ("heal-thy"), and galleries show whole pictures (above)
PAGE_CSS = "th { word-break: keep-all; overflow-wrap: normal; hyphens: manual; white-space: normal; }"
QUEUE_LIMIT = 64  # waiting beyond the running ones; Gradio turns later requests away, so memory stays bounded


def build_app(analyzer: Analyzer, desk: HistoryDesk | None = None):
    import gradio as gr

    def photo(upload, webcam):
        result = analyzer.photo(upload or webcam)
        files = result.files or {}  # PNG files already written: Gradio serves them instead of encoding the arrays again
        return (
            result.verdict,
            result.prob_palsy,
            files.get("cam", result.cam),
            result.asymmetry,
            files.get("landmarks", result.landmarks),
            result.report,
        )

    def video(upload):
        result = analyzer.video(upload)
        return result.verdict, result.prob_palsy, result.timeline, result.report

    with gr.Blocks(title="facepalsy", analytics_enabled=False) as app:
        gr.Markdown(f"# facepalsy\n\nUpload a face photo or a short video. Using {analyzer.model_line}.\n\n{CAUTION}")
        with gr.Tab("Photo"):
            with gr.Row():
                upload = gr.File(
                    label=f"Face photo (JPEG, PNG, BMP, WebP, DICOM; up to {IMAGE_LIMIT_MB} MB)",
                    type="filepath",
                    elem_id="photo",
                )
                webcam = gr.Image(
                    label="…or take one with the webcam (not mirrored: the patient's left on the picture's right)",
                    sources=["webcam"],
                    type="filepath",
                    elem_id="webcam",
                    webcam_options=unmirrored(gr),
                )
            go = gr.Button("Analyse photo", variant="primary", elem_id="analyse-photo")
            verdict = gr.Markdown(elem_id="verdict")
            with gr.Column(visible=False) as prob_box:  # shown with the first verdict: no "p(palsy) 0" before it
                prob = gr.Number(label="p(palsy)", precision=4, elem_id="prob")
            with gr.Row():
                cam = gr.Image(
                    label="Face with Grad-CAM (palsy evidence in red)", elem_id="cam", visible=analyzer.predictor.is_cnn
                )
                drawing = gr.Image(label="Landmarks", elem_id="landmarks")
            asymmetry = gr.Markdown(elem_id="asymmetry")
            report = gr.File(label="Download report (HTML)", elem_id="report")
            go.click(
                photo, [upload, webcam], [verdict, prob, cam, asymmetry, drawing, report], api_name="analyze_photo"
            ).then(lambda: gr.update(visible=True), None, [prob_box], api_name=False)
        with gr.Tab("Exam"):
            gr.Markdown(
                "One person: photos named by expression (rest, brow_raise, "
                "eye_closure_gentle, eye_closure_full, smile, snarl, "
                "pucker, lip_depression; any subset), or one video. Per region and side: resting asymmetry, movement, "
                "symmetry of movement, against healthy reference ranges."
            )
            with gr.Row():
                exam_photos = gr.File(
                    label="Expression photos", file_count="multiple", type="filepath", elem_id="exam-photos"
                )
                exam_video = gr.File(label="…or one video", type="filepath", elem_id="exam-video")
            go_exam = gr.Button("Run exam", variant="primary", elem_id="run-exam")
            exam_text = gr.Markdown(elem_id="exam-result")
            exam_pictures = gr.Gallery(
                label="Movement per side, timeline, landmarks", elem_id="exam-pictures", object_fit="contain"
            )
            with gr.Accordion("Grade: eFACE-style (automatic), measures in mm", open=True):
                grade_text = gr.Markdown(elem_id="grade-result")
                grade_pictures = gr.Gallery(
                    label="Items against 100; distances in mm", elem_id="grade-pictures", object_fit="contain"
                )
            exam_report = gr.File(label="Download exam report with its grade (HTML)", elem_id="exam-report")
            pending = gr.State(None)  # the exam just made, for the History tab to record
            outputs = [exam_text, exam_pictures, grade_text, grade_pictures, exam_report, pending]
            go_exam.click(analyzer.exam, [exam_photos, exam_video], outputs, api_name="exam")
        live_tab(gr, LiveDesk(analyzer.norms), pending)
        with gr.Tab("Video"):
            video_in = gr.File(
                label=f"Short video (MP4, MOV, AVI, MKV, WebM; up to {VIDEO_LIMIT_MB} MB)",
                type="filepath",
                elem_id="video",
            )
            go_video = gr.Button("Analyse video", variant="primary", elem_id="analyse-video")
            video_verdict = gr.Markdown(elem_id="video-verdict")
            video_prob = gr.Number(label="p(palsy), mean over frames with a face", precision=4)
            timeline = gr.Image(label="Palsy probability over time", elem_id="timeline")
            video_report = gr.File(label="Download report (HTML)")
            go_video.click(
                video, [video_in], [video_verdict, video_prob, timeline, video_report], api_name="analyze_video"
            )
        history_tab(gr, desk or HistoryDesk(None, analyzer.workdir), pending)
    return app.queue(default_concurrency_limit=CONCURRENT_REQUESTS, max_size=QUEUE_LIMIT)


def serve(
    run_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth_file: str | Path | None = None,
    db: str | None = None,
    keep_uploads: str | Path | None = None,
    settings: InferenceSettings | None = None,
    forget_after: float = FORGET_AFTER,
) -> None:
    """Start the page and block until SIGINT or SIGTERM; then stop within seconds, deleting the working folder. A
    login (``auth_file`` or FACEPALSY_AUTH) is required to bind beyond this machine; ``db`` is the History tab's."""
    credentials = read_credentials(auth_file)
    check_host(host, credentials)
    try:
        import gradio  # noqa: F401
    except ImportError as exc:
        raise FacepalsyError(f"the web page needs gradio, which is not installed: {WEB_INSTALL}") from exc
    predictor = load(run_dir, settings)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    workdir = Path(tempfile.mkdtemp(prefix="facepalsy-serve-"))
    os.environ["GRADIO_TEMP_DIR"] = str(workdir / "uploads")  # every upload lands here, and only here
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        analyzer = Analyzer(predictor, workdir, Path(keep_uploads) if keep_uploads else None, forget_after)
        app = build_app(analyzer, HistoryDesk(db, workdir))
        app.launch(
            server_name=host,
            server_port=port,
            auth=credentials,
            share=False,
            max_file_size=f"{VIDEO_LIMIT_MB}mb",
            quiet=True,
            prevent_thread_lock=True,
            auth_message=LOGIN_NOTICE,
            css=PAGE_CSS,
        )
        console.print(f"facepalsy page on http://{host}:{port} (Ctrl+C to stop)")  # only once the run has loaded
        while not stop.wait(0.5):
            pass
        closing = threading.Thread(target=app.close, daemon=True)  # Gradio's close can wait on its workers; give it 2 s
        closing.start()
        closing.join(timeout=2)
        analyzer.janitor.flush()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
