"""Who may open the page: Gradio's own login, with credentials from ``--auth-file FILE`` (``user:password`` lines) or
``FACEPALSY_AUTH``, never from the command line, where every user of the machine can read them (``ps``). A page bound
to anything but this machine (loopback) must have a login: ``serve`` refuses to start otherwise."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from facepalsy.errors import FacepalsyError

AUTH_ENV = "FACEPALSY_AUTH"


def read_credentials(auth_file: str | Path | None) -> list[tuple[str, str]] | None:
    """``user:password`` pairs from the file, else from FACEPALSY_AUTH (one per line); None when neither is given."""
    if auth_file:
        try:
            text, source = Path(auth_file).read_text(encoding="utf-8"), str(auth_file)
        except (OSError, UnicodeDecodeError) as exc:
            raise FacepalsyError(f"{auth_file}: cannot read the login file ({exc})") from exc
    elif os.environ.get(AUTH_ENV):
        text, source = os.environ[AUTH_ENV], AUTH_ENV
    else:
        return None
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        user, _, password = line.strip().partition(":")
        if not user or not password:
            raise FacepalsyError(f"{source}: line {number}: expected user:password")
        pairs.append((user, password))
    if not pairs:
        raise FacepalsyError(f"{source}: no user:password line")
    return pairs


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, credentials: list[tuple[str, str]] | None) -> None:
    """Refuse to open the page beyond this machine without a login."""
    if not is_loopback(host) and not credentials:
        raise FacepalsyError(
            f"--host {host} opens the page to the network, which needs a login: give --auth-file FILE "
            f"(user:password lines) or set {AUTH_ENV}"
        )
