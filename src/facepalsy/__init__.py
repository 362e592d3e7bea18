"""facepalsy: facial palsy detection with VGG transfer learning and honest evaluation."""

from facepalsy.training.config import Config
from facepalsy.errors import FacepalsyError
from facepalsy.models.vgg import create_model, list_models

__version__ = "0.1.0"
__all__ = ["Config", "FacepalsyError", "create_model", "list_models", "__version__"]
