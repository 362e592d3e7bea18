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
