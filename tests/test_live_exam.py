"""The guided live exam: frames measured as they come, one expression asked at a time, the best frame of each kept; on
the page, in headless Chromium with a fake camera fed from a video file, and recorded. (How many frames a second the
page measures is a benchmark's figure: benchmarks/live_exam.py.)"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from page_helpers import (
    CAMERA_FPS,
    CAMERA_SIZE,
    CHROMIUM,
    camera_browser,
    camera_frames,
    only_visit,
    start_live_camera,
    start_server,
    write_y4m,
)

from facepalsy.face.detect import mediapipe_available

pytestmark = pytest.mark.skipif(not mediapipe_available(), reason="the live exam finds faces with the face extra")


def test_live_exam_keeps_the_best_frame_of_each_expression_asked_and_makes_the_exam():
    from facepalsy.face.norms import load_norms
    from facepalsy.workflows.live_exam import LiveExam

    live = LiveExam(load_norms(), hold=4)
    frames = camera_frames(1.0)
    statuses = [live.add(frame, i / CAMERA_FPS) for i, frame in enumerate(frames)]
    assert statuses[0].asked == "rest" and statuses[0].face and statuses[0].frontal
    assert set(live.kept) == {"rest", "brow_raise"}  # the eye closures come next: the drawn eyes do not close
    assert live.asked == "eye_closure_gentle" and statuses[-1].recognised == "smile" and not statuses[-1].shows_asked
    live.skip()
    live.skip()
    assert live.asked == "smile"
    for i, frame in enumerate(frames[-CAMERA_FPS:]):
        live.add(frame, 3 + i / CAMERA_FPS)
    assert set(live.kept) == {"rest", "brow_raise", "smile"} and live.asked == "snarl"
    assert 1.0 <= live.kept["brow_raise"].time < 2.0  # kept from the brow-raise second
    exam, measured = live.finish("live test")
    assert exam.kind == "live" and set(exam.expressions) == {"rest", "brow_raise", "smile"}
    assert "snarl" in exam.missing and exam.grade.total is not None
    assert all(m.asymmetry.expression_named for m in measured.values())
    encoded = dict(live.encoded())
    assert set(encoded) == set(exam.expressions)
    for data in encoded.values():
        assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape == (*CAMERA_SIZE[::-1], 3)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup installs it as root)")
def test_the_page_guides_a_live_exam_from_a_fake_camera_and_records_it(tiny_run, tmp_path):
    from playwright.sync_api import sync_playwright

    video = write_y4m(tmp_path / "camera.y4m", camera_frames())
    db = tmp_path / "records.db"
    process, url, workdir = start_server(tiny_run, tmp_path, "--db", str(db))
    try:
        with sync_playwright() as p:
            browser, page = camera_browser(p, video)
            page.goto(url, wait_until="load")
            start_live_camera(page)
            guide = page.locator("#live-guide")
            guide.get_by_text("Close the eyes gently").wait_for(timeout=180000)  # rest and brow raise kept
            assert "✓ rest" in guide.inner_text() and "✓ brow raise" in guide.inner_text()
            page.locator("#live-skip").click()  # the drawn eyes do not close
            guide.get_by_text("Close the eyes tightly").wait_for(timeout=60000)
            page.locator("#live-skip").click()
            guide.get_by_text("Wrinkle the nose").wait_for(timeout=180000)  # the smile kept: the snarl is asked
            page.locator("#live-finish").click()
            page.locator("#live-result").get_by_text("mouth").first.wait_for(timeout=120000)
            page.locator("#live-grade").get_by_text("total").first.wait_for(timeout=60000)
            written = [str(path.relative_to(workdir)) for path in workdir.rglob("*") if path.is_file()]
            page.get_by_role("tab", name="History").click()
            patient = page.locator("#patient input")
            patient.fill("P-LIVE")
            patient.press("Enter")
            page.locator("#record-exam").click()
            page.locator("#record-status").get_by_text("Recorded visit").wait_for(timeout=60000)
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert set(only_visit(db, "P-LIVE").photos) == {
        "rest",
        "brow_raise",
        "smile",
    }  # one frame per expression kept, by its hash
    assert written == [], written  # the camera's frames were measured in memory: nothing written, not even a frame
