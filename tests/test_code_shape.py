"""The shape the code keeps (line length is ruff's, in CI): no source file over 450 lines, and every sub-package
opens with a docstring saying what it owns."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "facepalsy"
MAX_LINES = 450


def test_no_source_file_over_450_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"files over {MAX_LINES} lines: {long}"


def test_every_sub_package_says_what_it_owns():
    silent = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("__init__.py")
        if not ast.get_docstring(ast.parse(p.read_text()))
    ]
    assert not silent, f"sub-packages without a docstring: {silent}"
