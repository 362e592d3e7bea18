"""How many camera frames a second the page's live exam measures: a real ``facepalsy serve`` on loopback, headless
Chromium with a fake camera playing a drawn person (the tests' clip), the stream run for --seconds.

    .venv/bin/python benchmarks/live_exam.py RUN [--seconds 30]

RUN is any run folder (the page needs one; the live exam uses only the landmark path). Prints the CPU, the frames the
page measured and the rate its guide shows, and the server process's CPU time per frame. The browser, its fake camera
and the server share this machine's cores, as they would on a clinician's laptop.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from page_helpers import camera_browser, camera_frames, start_live_camera, start_server, write_y4m  # noqa: E402

from facepalsy.runfolder.provenance import cpu_kind  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the camera streams (default 30)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        video = write_y4m(Path(tmp) / "camera.y4m", camera_frames())
        process, url, _ = start_server(args.run, Path(tmp))
        try:
            with sync_playwright() as p:
                browser, page = camera_browser(p, video)
                page.goto(url, wait_until="load")
                start_live_camera(page)
                page.locator("#live-guide").get_by_text("frames measured").wait_for(timeout=120000)
                time.sleep(args.seconds)
                text = page.locator("#live-guide").inner_text()
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
    frames = int(re.search(r"(\d+) frames measured", text).group(1))
    rate = float(re.search(r"\(([\d.]+) a second\)", text).group(1))
    print(f"{cpu_kind()}: the live exam measured {frames} frames in about {args.seconds:.0f} s: {rate:.1f} a second")


if __name__ == "__main__":
    main()
