"""facepalsy: facial palsy detection with VGG transfer learning and honest evaluation.

The one way to use a trained run from Python::

    import facepalsy
    predictor = facepalsy.load("runs/vgg16")
    print(predictor.predict(PIL.Image.open("photo.jpg")).label)
"""

from facepalsy.errors import FacepalsyError
from facepalsy.inference.predictor import Predictor, load
from facepalsy.inference.results import Prediction
from facepalsy.models.vgg import create_model, list_models
from facepalsy.training.config import Config
from facepalsy.version import __version__

__all__ = ["Config", "FacepalsyError", "Prediction", "Predictor", "create_model", "list_models", "load", "__version__"]
