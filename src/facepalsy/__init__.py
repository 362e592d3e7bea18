"""facepalsy: facial palsy detection with VGG transfer learning and honest evaluation.

The one way to use a trained run from Python::

    import facepalsy
    predictor = facepalsy.load("runs/vgg16")
    print(predictor.predict(PIL.Image.open("photo.jpg")).label)
"""

from importlib.metadata import PackageNotFoundError, version

from facepalsy.errors import FacepalsyError
from facepalsy.inference.predictor import Prediction, Predictor, load
from facepalsy.models.vgg import create_model, list_models
from facepalsy.training.config import Config

try:
    __version__ = version("facepalsy")  # pyproject.toml is the one place the version is written
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
__all__ = ["Config", "FacepalsyError", "Prediction", "Predictor", "create_model", "list_models", "load", "__version__"]
