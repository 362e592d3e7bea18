"""User-facing errors: the CLI prints them as one line and exits 2, without a traceback."""

import os

EXIT_USER_ERROR = 2  # the exit status of a FacepalsyError at the command line


class FacepalsyError(Exception):
    """A problem with the user's input (data, config, run folder), not a bug."""


class DataError(FacepalsyError):
    """A data folder, manifest or image that cannot be used."""


class BadImageError(DataError):
    """One image file that cannot be decoded; carries the path and the reason."""

    def __init__(self, path, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{display_path(path)}: {reason}")


class Interrupted(FacepalsyError):
    """Training stopped by SIGINT or SIGTERM; the run folder keeps its last completed epoch or fold."""

    exit_code = 130


def display_path(path) -> str:
    """A path as printable UTF-8 text: bytes of a non-UTF-8 file name appear as \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


class NoFaceError(BadImageError):
    """An image that decodes but holds no usable face (none found, eyes not found, or too small to align)."""


class TurnedFaceError(NoFaceError):
    """A face found but turned too far to compare its sides: there is a face, so its status is ``turned``."""


class InputError(FacepalsyError, ValueError):
    """An argument of the wrong kind, type or shape given to the library (not a bad file)."""
