"""What the page computes, apart from how it shows it: an upload checked by content, size and pixels, then a photo's or
a video's verdict and evidence (Grad-CAM, the landmark reading, the timeline) or an exam, with its HTML report;
every derived file is held for the janitor (``page_workers.py``). The page itself is ``serve.py``."""

from __future__ import annotations

import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from facepalsy.app.page_workers import MicroBatcher, UploadJanitor
from facepalsy.errors import BadImageError, FacepalsyError, NoFaceError, TurnedFaceError
from facepalsy.face.photo_reading import PhotoReading
from facepalsy.html_report import write_html_report
from facepalsy.inference.prediction import Prediction
from facepalsy.inference.predictor import Predictor

CAUTION = (
    "**Research tool, not a diagnosis.** facepalsy estimates how much a face looks like the palsy "
    "examples it was trained on. It has not been validated for clinical use; a clinician decides."
)
IMAGE_LIMIT_MB, VIDEO_LIMIT_MB = 20, 200
ANALYSIS_THREADS = 4  # decoding, face and landmarks of that many photos in parallel
FORGET_AFTER = (
    30.0  # seconds after the last response that used them, uploads and everything derived from them are deleted
)
DISPLAY_SIZE = 320
VIDEO_SIGNATURES = (b"ftyp", b"RIFF", b"\x1aE\xdf\xa3")  # MP4/MOV (at offset 4), AVI, Matroska/WebM


class UploadError(FacepalsyError):
    """An upload the page refuses, with the sentence to show."""


@dataclass
class Analysis:
    verdict: str  # Markdown
    prob_palsy: float | None = None
    cam: np.ndarray | None = None
    asymmetry: str = ""
    landmarks: np.ndarray | None = None
    timeline: str | None = None
    report: str | None = None
    files: dict[str, str] | None = (
        None  # the pictures as PNG files (fast compression), for the page and the report: encoded once
    )
    prediction: Prediction | None = None  # a photo's verdict, as ``predict`` gives it
    reading: PhotoReading | None = None  # a photo's one landmark reading, as ``asymmetry`` gives it


def check_upload(path: Path, kind: str, limit_mb: int) -> None:
    """Refuse by size and by content (not by name)."""
    size = path.stat().st_size
    if size == 0:
        raise UploadError("The file is empty.")
    if size > limit_mb * 1024 * 1024:
        raise UploadError(f"The file is {size / 1e6:.0f} MB; the limit for a {kind} is {limit_mb} MB.")
    head = path.read_bytes()[:16]
    if kind == "video" and not any(sig in head[:12] for sig in VIDEO_SIGNATURES):
        raise UploadError("This file is not a video (MP4, MOV, AVI, MKV or WebM) by its content.")


class Analyzer:
    """Holds the run's model (loaded once) and turns one upload into an Analysis."""

    def __init__(
        self, predictor: Predictor, workdir: Path, keep_uploads: Path | None = None, forget_after: float = FORGET_AFTER
    ):
        self.predictor = predictor
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.keep_uploads = keep_uploads
        self.lock = threading.Lock()  # one video or exam at a time; photos share the network through the batcher
        self.batcher = MicroBatcher(predictor)
        # photo work runs on these threads, whatever thread Gradio calls from: each keeps one MediaPipe face mesh, so
        # their number bounds memory
        self.workers = ThreadPoolExecutor(max_workers=ANALYSIS_THREADS, thread_name_prefix="facepalsy-photo")
        self.janitor = UploadJanitor(forget_after, root=workdir)
        from facepalsy.face.norms import load_norms

        self.norms = load_norms()  # the shipped healthy reference ranges
        split = predictor.run.read_config().split  # the training protocol, shown to the clinician
        self.model_line = (
            f"model **{predictor.spec.backbone}** trained with a **{split} split** (run `{predictor.run.path.name}`)"
        )

    def _consume(self, upload: str | None) -> Path:
        if not upload:
            raise UploadError("Nothing was uploaded.")
        path = Path(upload)
        self.janitor.hold(path)
        if not path.is_file():
            self.janitor.release(path)
            raise UploadError("The upload has expired; please upload the file again.")
        if self.keep_uploads:
            self.keep_uploads.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, self.keep_uploads / path.name)
        return path

    def photo(self, upload: str | None) -> Analysis:
        return self.workers.submit(self._photo, upload).result()

    def _photo(self, upload: str | None) -> Analysis:
        path = None
        try:
            path = self._consume(upload)
            check_upload(path, "photo", IMAGE_LIMIT_MB)
            return self.analyze(path, path.name)
        except UploadError as exc:
            return Analysis(f"**Could not analyse this upload.** {exc}")
        finally:
            self.janitor.release(path)

    def analyze(self, image, name: str) -> Analysis:
        """The page's analysis of one photo (a path, PIL image or H×W×3 array), through the run's Predictor."""
        from facepalsy.data.images import as_rgb_array
        from facepalsy.inference.explain import overlay

        try:
            rgb = as_rgb_array(image, name)  # decoded once: for the Predictor and for the landmarks
            prepared = self.predictor.model_input(rgb, name)
        except TurnedFaceError as exc:  # a face, but turned: said as predict says it
            raise UploadError(f"No verdict: the {exc.reason}.") from exc
        except NoFaceError as exc:
            raise UploadError(
                f"No usable face was found in this photo ({exc.reason}); this model only labels faces."
            ) from exc
        except BadImageError as exc:
            raise UploadError(f"This file could not be read as an image ({exc.reason}).") from exc
        prediction, heatmap = self.batcher.submit(
            prepared, name
        )  # with other requests' photos, in one pass of the network
        cam = None  # the landmark model has no Grad-CAM: its evidence is the landmark drawing and its measures
        if self.predictor.is_cnn:
            cam = overlay(prepared.pixels.transpose(2, 0, 1), heatmap) if heatmap is not None else prepared.pixels
            cam = np.asarray(
                Image.fromarray(cam).resize((DISPLAY_SIZE, DISPLAY_SIZE), Image.Resampling.BICUBIC)
            )  # small inputs stay visible
        reading, asymmetry_text, drawing = self._asymmetry(rgb, name, prediction)
        notes = "".join(f"\n\n{w[0].upper()}{w[1:]}." for w in prediction.warnings)
        verdict = self._verdict(prediction.prob_palsy) if prediction.ok else self._no_verdict(prediction.error)
        result = Analysis(verdict + notes, prediction.prob_palsy, cam, asymmetry_text, drawing)
        result.prediction, result.reading = prediction, reading
        result.report = self._report(result, name)  # also writes the pictures beside it, for the page
        return result

    def _verdict(self, prob: float) -> str:
        return (
            f"## Verdict: {self.predictor.label(prob)}\n\np(palsy) = "
            f"**{prob:.3f}**, labelled at the {self.predictor.threshold_text()} — "
            f"{self.model_line}."
        )

    def _no_verdict(self, reason: str | None) -> str:
        """A face the model declines (mid-speech, a covered eye, …): the reason, as ``predict`` gives it."""
        why = reason or "the model gave no probability"
        return f"## No verdict\n\nThe model {why[0].lower()}{why[1:]}, so it gives no verdict — {self.model_line}."

    def _asymmetry(
        self, rgb: np.ndarray, name: str, prediction: Prediction
    ) -> tuple[PhotoReading | None, str, np.ndarray | None]:
        """The photo's one reading (``face/photo_reading.py``), as ``asymmetry`` and ``predict`` give it: the pattern
        named for a face the model reads as palsy, and set on ``prediction`` as ``predict`` sets it."""
        from facepalsy.face.asymmetry import draw
        from facepalsy.face.detect import FACE_INSTALL, mediapipe_available
        from facepalsy.face.photo_reading import read_photo

        if not mediapipe_available():
            return None, f"Landmark asymmetry needs the face extra, which is not installed ({FACE_INSTALL}).", None
        try:
            photo = read_photo(rgb, name, self.norms, prediction.label)
        except BadImageError as exc:
            return None, f"Landmark asymmetry: {exc.reason}.", None
        result = photo.asymmetry
        if prediction.label == "palsy":
            prediction.reading, prediction.palsy_pattern = photo.reference, photo.pattern
        rows = "\n".join("| " + " | ".join(row) + " |" for row in result.measure_rows())
        text = (
            f"### Landmark asymmetry against healthy reference ranges\n\n{photo.markdown()}\n\n"
            "(The patient's left is on the image's right.) Asymmetry "
            f"score {result.score:.3f}; expression {result.expression}, "
            f"head yaw {result.pose.get('yaw', 0):+.0f}°.\n\n"
            "| measure (inter-ocular distances) | patient's right | "
            f"patient's left | left − right |\n|---|---|---|---|\n{rows}"
        )
        return photo, text, draw(photo.crop, photo.landmarks, result)

    def video(self, upload: str | None) -> Analysis:
        path, derived = None, []
        try:
            path = self._consume(upload)
            check_upload(path, "video", VIDEO_LIMIT_MB)
            out = self._derived(derived)
            with self.lock:
                verdict = self.predictor.predict_video(path, out)
            if verdict.error:
                raise UploadError(f"This video could not be analysed: {verdict.error}.")
            text = (
                self._verdict(verdict.prob_palsy)
                + f"\n\nVideo verdict: mean over {verdict.frames_with_face} of {verdict.frames} frames with a face "
                f"({100 * verdict.face_fraction:.0f}%), sampled at 6 per second."
            )
            result = Analysis(text, verdict.prob_palsy, timeline=verdict.timeline)
            result.report = self._report(result, path.name)
            return result
        except UploadError as exc:
            return Analysis(f"**Could not analyse this upload.** {exc}")
        finally:
            for item in (path, *derived):
                self.janitor.release(item)

    def _report(self, result: Analysis, name: str) -> str:
        """A self-contained HTML page (images embedded) with everything shown."""
        folder = Path(tempfile.mkdtemp(dir=self.workdir))
        self.janitor.release(folder)  # derived from the upload: deleted with it
        result.files, pictures = {}, []
        for key, title, image in (
            ("cam", "Face with Grad-CAM (palsy evidence in red)", result.cam),
            ("landmarks", "Landmarks", result.landmarks),
        ):
            if image is not None:
                picture = folder / f"{key}.png"
                # fast: one encoding serves the page and the report
                Image.fromarray(image).save(picture, format="PNG", compress_level=1)
                result.files[key] = str(picture)
                pictures.append((title, picture))
        timeline = Path(result.timeline) if result.timeline else None
        path = folder / "facepalsy-report.html"
        return str(write_html_report(path, name, result.verdict, pictures, result.asymmetry, timeline, CAUTION))

    def exam(
        self, uploads: list[str] | None, video_upload: str | None
    ) -> tuple[str, list, str, list, str | None, object]:
        """The exam of one person: expression photos (named by expression) or one video; the region/side table and
        pictures, the grade panel (its table, and its chart and photos with distances in mm), the HTML report with
        both, and the exam ready for the History tab to record (its photos hashed before they are deleted)."""
        from facepalsy.face.detect import FACE_INSTALL, mediapipe_available
        from facepalsy.records.recording import exam_sources, pending_exam
        from facepalsy.workflows.exam import run_exam

        if not mediapipe_available():
            return f"The exam needs the face extra, which is not installed ({FACE_INSTALL}).", [], None
        from facepalsy.runfolder import ExamFolder

        consumed, derived = [], []
        try:
            if video_upload:
                consumed.append(self._consume(video_upload))
                check_upload(consumed[0], "video", VIDEO_LIMIT_MB)
                source = consumed[0]
            elif uploads:
                for upload in uploads:
                    consumed.append(self._consume(str(upload)))
                    check_upload(consumed[-1], "photo", IMAGE_LIMIT_MB)
                source = self._derived(derived)
                for path in consumed:
                    shutil.copy(path, source / path.name)
            else:
                raise UploadError("Upload photos named by expression (rest.jpg, smile.jpg, …) or one video.")
            out = self._derived(derived)
            with self.lock:
                title = Path(video_upload).name if video_upload else f"{len(consumed)} uploaded photos"
                exam = run_exam(source, out, self.norms, person=title)
            pending = pending_exam(exam, exam_sources(source))
            folder = ExamFolder(out)
            text = exam.markdown(pictures=False, grade=False)
            pictures = (
                [folder.chart]
                + ([folder.timeline] if exam.video else [])
                + sorted(out.glob("peak_*.png"))
                + [folder.drawing(name) for name in exam.expressions]
            )
            graded = [folder.grade_chart] + [folder.distances(name) for name in exam.expressions]
            report = write_html_report(
                out / "facepalsy-exam.html",
                "exam",
                exam.markdown(pictures=False),
                [(p.stem.replace("_", " "), p) for p in (*pictures, *graded) if p.is_file()],
                caution=CAUTION,
            )
            arrays = [
                [np.asarray(Image.open(p).convert("RGB")) for p in group if p.is_file()] for group in (pictures, graded)
            ]
            return text, arrays[0], exam.grade.markdown(), arrays[1], str(report), pending
        except FacepalsyError as exc:  # UploadError included
            return f"**Could not run the exam.** {exc}", [], "", [], None, None
        finally:
            for item in (*consumed, *derived):
                self.janitor.release(item)

    def _derived(self, derived: list[Path]) -> Path:
        """A new folder for files derived from an upload, held until the response and then deleted with it."""
        folder = Path(tempfile.mkdtemp(dir=self.workdir))
        self.janitor.hold(folder)
        derived.append(folder)
        return folder
