"""A real ``facepalsy serve`` for the browser and client tests, and a file upload that survives a loaded machine."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run: Path, tmp_path: Path, *flags: str) -> tuple[subprocess.Popen, str, Path]:
    """`facepalsy serve` on a free port with its temporary folder under tmp_path; returns the process, URL and its
    working folder."""
    port = free_port()
    temp = tmp_path / "tmp"
    temp.mkdir(exist_ok=True)
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "TMPDIR": str(temp)}
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "facepalsy", "serve", str(run), "--port", str(port), *flags],
        stdout=log,
        stderr=log,
        env=env,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"server did not start:\n{(tmp_path / 'server.log').read_text()}")
            time.sleep(0.5)
    (workdir,) = temp.glob("facepalsy-serve-*")
    return process, url, workdir


BROWSER_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def upload(page, component: str, *paths: Path) -> None:
    """Give the page's file input the files and wait until it lists them. The page keeps an event stream open (its
    heartbeat), so "network idle" never comes, and on a loaded machine the input can be found before the page's
    scripts listen to it: a choice nobody heard is made again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(6):
        page.locator(f"{component} input[type=file]").set_input_files([str(path) for path in paths])
        try:
            page.locator(component).get_by_text(paths[-1].stem).first.wait_for(timeout=15000)  # a list shows the stem
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"{component}: the page never listed {paths[-1].name} as uploaded")


# A drawn person in front of a fake camera: at rest, raising the brows, then smiling, CAMERA_SECONDS each.
CAMERA_FPS, CAMERA_SECONDS, CAMERA_SIZE = 10, 3.0, (480, 360)
CAMERA_SEGMENTS = (
    ("rest", {"smile": 0.0, "eye_open": 1.0, "brow_raise": 1.0}),
    ("brow_raise", {"smile": 0.0, "eye_open": 1.0, "brow_raise": 1.8}),
    ("smile", {"smile": 1.0, "eye_open": 1.0, "brow_raise": 1.0}),
)


def camera_frames(seconds: float = CAMERA_SECONDS):
    """The camera's frames (RGB), each segment ``seconds`` long, the head swaying a little."""
    import numpy as np
    from drawn_faces import drawn_face

    width, height = CAMERA_SIZE
    frames = []
    for index, (_, expression) in enumerate(CAMERA_SEGMENTS):
        face = drawn_face(7, expression)
        for i in range(int(seconds * CAMERA_FPS)):
            frame = np.full((height, width, 3), 110, np.uint8)
            x = (width - face.shape[1]) // 2 + int(8 * np.sin((index * 40 + i) / 3))
            y = (height - face.shape[0]) // 2
            frame[y : y + face.shape[0], x : x + face.shape[1]] = face
            frames.append(frame)
    return frames


def write_y4m(path: Path, frames) -> Path:
    """Frames as a raw YUV 4:2:0 video, the format Chromium's fake camera reads (and loops)."""
    import cv2

    height, width = frames[0].shape[:2]
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{CAMERA_FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            out.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def camera_browser(playwright, video: Path):
    """Headless Chromium whose camera plays ``video``, allowed without asking."""
    camera = [f"--use-file-for-fake-video-capture={video}", "--use-fake-device-for-media-stream"]
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, args=[*BROWSER_FLAGS, *camera, "--use-fake-ui-for-media-stream"]
    )
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    context.grant_permissions(["camera"])
    return browser, context.new_page()


def start_live_camera(page) -> None:
    """Open the Live exam tab, let the page use the camera and start its stream."""
    page.get_by_role("tab", name="Live exam").click()
    camera = page.locator("#live-camera")
    camera.get_by_text("Click to Access Webcam").click(timeout=60000)
    camera.get_by_role("button", name="capture photo").click(timeout=60000)


def only_visit(db: Path, patient: str):
    """The one visit the page recorded for ``patient`` in the database ``db``."""
    from facepalsy.face.norms import load_norms
    from facepalsy.records.store import RecordStore

    with RecordStore(db) as store:
        (visit,) = store.history(patient, load_norms()).visits
    return visit
