"""The page's downloadable report: one self-contained HTML file (pictures embedded) with everything the page
showed for one upload: the verdict, the Grad-CAM and landmark pictures, the asymmetry reading, the video
timeline. The page gathers the parts; this module only lays them out."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import markdown_it

# The line every report, export and workbook of a person's measures carries
RESEARCH_USE = "Research use only; not a diagnostic device. A clinician reads these numbers with the patient."
STYLE = (
    "<style>body{font-family:sans-serif;max-width:900px;margin:2em auto}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}</style>"
)


def picture_html(title: str, path: Path, width: int) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f"<h3>{html.escape(title)}</h3><img src='data:image/png;base64,{data}' style='max-width:{width}px'>"


def write_html_report(
    path: Path,
    name: str,
    verdict: str,
    pictures: list[tuple[str, Path]],
    asymmetry: str | None = None,
    timeline: Path | None = None,
    caution: str = "",
) -> Path:
    """Write the report to ``path``: ``verdict``, ``caution`` (the page's research-use warning) and ``asymmetry`` are
    Markdown, ``pictures`` (title, PNG) are shown 420 px wide and the ``timeline`` PNG 700 px."""
    render = markdown_it.MarkdownIt("commonmark").enable("table").render
    parts = [f"<h1>facepalsy report: {html.escape(name)}</h1>", render(verdict), render(caution)]
    parts += [picture_html(title, picture, 420) for title, picture in pictures]
    if asymmetry:
        parts.append(render(asymmetry))
    if timeline:
        parts.append(picture_html("Palsy probability over time", timeline, 700))
    path.write_text(
        f"<!doctype html><meta charset='utf-8'><title>facepalsy report</title>{STYLE}{''.join(parts)}",
        encoding="utf-8",
    )
    return path
