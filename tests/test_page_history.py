"""The page behind a login, in a real browser: the login is asked for, an exam made in the Exam tab is recorded from
the History tab under the logged-in user's name, and the history shows."""

from __future__ import annotations

import pytest
from drawn_faces import drawn_face
from page_helpers import BROWSER_FLAGS, CHROMIUM, only_visit, start_server, upload
from PIL import Image

from facepalsy.face.detect import mediapipe_available

pytestmark = [
    pytest.mark.skipif(not mediapipe_available(), reason="the exam finds faces with the face extra"),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup installs it)"),
]


def test_the_page_asks_for_a_login_then_records_an_exam_and_shows_the_history(tiny_run, tmp_path):
    from playwright.sync_api import sync_playwright

    logins, db = tmp_path / "logins", tmp_path / "records.db"
    logins.write_text("clinician:s3cret-Words\n")
    photos = []
    for name, smile in (("rest", 0.0), ("smile", 1.0)):
        photos.append(tmp_path / f"{name}.png")
        Image.fromarray(drawn_face(5, {"smile": smile, "eye_open": 1.0, "brow_raise": 1.0})).save(photos[-1])
    process, url, _ = start_server(tiny_run, tmp_path, "--auth-file", str(logins), "--db", str(db))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.goto(url, wait_until="load")
            password = page.locator("input[type=password]")
            password.wait_for(timeout=60000)  # the login comes first: nothing of the page before it
            assert not page.locator("#analyse-photo").count()
            assert "facepalsy" in page.content() and "not a medical device" in page.content()  # who asks, and why
            page.locator("input[type=text]").first.fill("clinician")
            password.fill("s3cret-Words")
            page.get_by_role("button", name="Login").click()
            page.locator("#analyse-photo").wait_for(timeout=60000)
            assert not db.exists()  # a page not yet used for follow-up has created no database

            page.get_by_role("tab", name="Exam", exact=True).click()
            upload(page, "#exam-photos", *photos)
            page.locator("#run-exam").click()
            page.locator("#exam-result").get_by_text("mouth").first.wait_for(timeout=120000)

            page.get_by_role("tab", name="History").click()
            patient = page.locator("#patient input")
            patient.fill("P-WEB")
            patient.press("Enter")
            page.locator("#visit-date textarea").fill("2026-03-10")
            page.locator("#record-exam").click()
            page.locator("#record-status").get_by_text("Recorded visit").wait_for(timeout=60000)
            page.locator("#history-table").get_by_text("History of patient P-WEB").wait_for(timeout=60000)
            status = page.locator("#record-status").inner_text()
            assert "Recorded visit 1 of patient P-WEB, dated 2026-03-10 (entered)" in status
            assert ".db" not in status and "--date" not in status  # no database path, no command-line flag
            page.get_by_role("button", name="Show history").click()
            page.locator("#trend img").first.wait_for(timeout=60000)
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
    visit = only_visit(db, "P-WEB")
    assert visit.recorded_by == "clinician" and set(visit.photos) == {"rest", "smile"}
    assert "by clinician" in (tmp_path / "server.log").read_text()  # the server's log says who recorded it
