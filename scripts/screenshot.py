"""Redraw the docs' pictures of the page: the Photo tab after an upload, and the Exam tab with its Grade panel.

    .venv/bin/python scripts/screenshot.py RUN [--out docs]

RUN is any trained run (the demo's ``facepalsy-demo/run`` will do). The faces are drawn by ``facepalsy synth``'s
drawing (a one-sided droop), so no person's photo enters the docs. Needs Debian's chromium (``scripts/setup``
installs it as root) and playwright (the test extra); writes ``serve-screenshot.png``, ``serve-exam.png`` and
``serve-live.png`` (the Live exam tab, its camera playing the tests' drawn person).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

from facepalsy.data.synth import draw_face, make_identity

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from page_helpers import camera_browser, camera_frames, start_live_camera, write_y4m  # noqa: E402

LIVE_CLIP = {"x": 0, "y": 0, "width": 1280, "height": 880}  # the tab down to its buttons
POSES = {
    "rest": {"smile": 0.0, "eye_open": 1.0, "brow_raise": 0.0},
    "smile": {"smile": 1.0, "eye_open": 1.0, "brow_raise": 0.0},
    "brow_raise": {"smile": 0.0, "eye_open": 1.0, "brow_raise": 1.0},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a trained run folder")
    parser.add_argument("--out", type=Path, default=Path("docs"), help="where the PNG files go")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    identity = dataclasses.replace(make_identity(np.random.default_rng([5, 0]), palsy=True), palsy_side=1)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        photos = []
        for name, pose in POSES.items():
            path = work / f"{name}.jpg"
            Image.fromarray(np.asarray(draw_face(identity, np.random.default_rng([5, 1]), 320, pose))).save(path)
            photos.append(path)
        server, url = serve(args.run, work)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 900, "height": 1000})
                page.goto(url, wait_until="load")
                page.locator("#photo input[type=file]").set_input_files([str(photos[0])])
                time.sleep(2)
                page.locator("#analyse-photo").click()
                page.locator("#verdict").get_by_text("Verdict").wait_for(timeout=120000)
                time.sleep(2)
                page.screenshot(path=str(args.out / "serve-screenshot.png"), full_page=True)
                page.get_by_role("tab", name="Exam", exact=True).click()
                page.locator("#exam-photos input[type=file]").set_input_files([str(p) for p in photos])
                time.sleep(3)
                page.locator("#run-exam").click()
                page.locator("#grade-result").get_by_text("total").first.wait_for(timeout=180000)
                page.locator("#grade-pictures img").first.scroll_into_view_if_needed()
                page.locator("#grade-pictures img").first.wait_for(timeout=60000)
                time.sleep(3)
                page.screenshot(path=str(args.out / "serve-exam.png"), full_page=True)
                browser.close()
                browser, page = camera_browser(p, write_y4m(work / "camera.y4m", camera_frames()))
                page.goto(url, wait_until="load")
                start_live_camera(page)
                page.locator("#live-guide").get_by_text("Close the eyes gently").wait_for(timeout=180000)
                time.sleep(1)
                page.screenshot(path=str(args.out / "serve-live.png"), clip=LIVE_CLIP)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"written: serve-screenshot.png, serve-exam.png and serve-live.png in {args.out}")


def serve(run: Path, work: Path) -> tuple[subprocess.Popen, str]:
    """``facepalsy serve RUN`` on a free local port, once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "TMPDIR": str(work)}
    command = [sys.executable, "-m", "facepalsy", "serve", str(run), "--port", str(port), "--db", str(work / "r.db")]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(240):
        try:
            urllib.request.urlopen(url, timeout=2)
            return server, url
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit(f"the page did not start on {url}")


if __name__ == "__main__":
    main()
