"""The installed facepalsy version, in a module of its own so that any layer can stamp files with it without
importing the package's front door (``facepalsy/__init__.py`` imports the Predictor, and so everything)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("facepalsy")  # pyproject.toml is the one place the version is written
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
