"""facepalsy: facial palsy detection with VGG transfer learning and honest evaluation.

The one way to use a trained run from Python::

    import facepalsy
    predictor = facepalsy.load("runs/vgg16")
    print(predictor.predict(PIL.Image.open("photo.jpg")).label)

The names below are imported when first used (PEP 562), so that ``import facepalsy`` and the command line's start
do not pay for torch, Lightning and scikit-learn before a command needs them.
"""

from importlib import import_module

from facepalsy.errors import FacepalsyError
from facepalsy.version import __version__

_LAZY = {
    "Config": "facepalsy.config",
    "Prediction": "facepalsy.inference.prediction",
    "Predictor": "facepalsy.inference.predictor",
    "load": "facepalsy.inference.predictor",
    "create_model": "facepalsy.models.registry",
    "list_models": "facepalsy.models.registry",
}
__all__ = ["Config", "FacepalsyError", "Prediction", "Predictor", "create_model", "list_models", "load", "__version__"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'facepalsy' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
