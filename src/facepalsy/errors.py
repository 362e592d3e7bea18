"""User-facing errors: the CLI prints them as one line and exits 2, without a traceback."""


class FacepalsyError(Exception):
    """A problem with the user's input (data, config, run folder), not a bug."""


class DataError(FacepalsyError):
    """A data folder, manifest or image that cannot be used."""


class BadImageError(DataError):
    """One image file that cannot be decoded; carries the path and the reason."""

    def __init__(self, path, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")
