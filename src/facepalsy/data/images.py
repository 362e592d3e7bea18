"""Image decoding, and the one way from an RGB image to a model's input.

Every door into facepalsy (training data, ``predict`` on a file, a PIL image or an array, video
frames, the web page, ``prepare --face-crop``) decodes with :func:`load_image` / :func:`as_rgb_array`
and turns the RGB image into model input with :func:`model_input`, so a photo gives the network the
same pixels whichever way it came in.
"""

from __future__ import annotations

import errno
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facepalsy.errors import BadImageError, InputError

if TYPE_CHECKING:
    from facepalsy.data.harmonise import Harmonisation

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
MIN_IMAGE_SIDE = 16  # pixels; smaller files hold no usable face
MAX_PIXELS = 40_000_000  # the one limit against decompression bombs (CLI, library and web page), checked from the header before decoding
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)  # load_image refuses such images itself


def load_image(path: str | Path) -> Image.Image:
    """Decode an image file to 8-bit RGB, honouring EXIF orientation; raise BadImageError if unusable.

    PNG chunk checksums are verified first: Pillow decodes image data whose CRC fails without a word.
    """
    path = Path(path)
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise BadImageError(path, "file name is not valid UTF-8; rename the file") from None
    try:
        with Image.open(path) as img:
            _check_size(img, path)
            if img.format == "PNG":
                img.verify()
        with Image.open(path) as img:
            img.load()
            return to_rgb(ImageOps.exif_transpose(img))
    except FileNotFoundError as exc:
        reason = "broken symlink" if path.is_symlink() else "file not found"
        raise BadImageError(path, reason) from exc
    except IsADirectoryError as exc:
        raise BadImageError(path, "is a folder, not an image file") from exc
    except UnidentifiedImageError as exc:
        raise BadImageError(path, "not an image Pillow can read") from exc
    except Image.DecompressionBombError as exc:  # Pillow's own, stricter-worded stop for far larger images: the same sentence as ours
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise BadImageError(path, too_many_pixels(int(found.group(1)) if found else None)) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BadImageError(path, "symlink loop") from exc
        if exc.errno is not None:  # a read error, not a decoding one
            raise BadImageError(path, f"cannot read ({exc.strerror})") from exc
        raise BadImageError(path, f"cannot decode ({exc})") from exc
    except (SyntaxError, ValueError, EOFError) as exc:
        raise BadImageError(path, f"cannot decode ({exc})") from exc


def too_many_pixels(pixels: int | None, size: tuple[int, int] | None = None) -> str:
    """The one wording of the decompression-bomb refusal."""
    found = f"{pixels:,} pixels" + (f" ({size[0]}×{size[1]})" if size else "") if pixels else "more pixels than that"
    return f"too many pixels: {found}; the limit against decompression bombs is {MAX_PIXELS:,}"


def _check_size(img: Image.Image, name) -> None:
    if img.width * img.height > MAX_PIXELS:
        raise BadImageError(name, too_many_pixels(img.width * img.height, img.size))
    if min(img.size) < MIN_IMAGE_SIDE:
        raise BadImageError(name, f"image is only {img.width}×{img.height} px; at least {MIN_IMAGE_SIDE}×{MIN_IMAGE_SIDE} needed")


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB: alpha is composited on white, 16/32-bit is rescaled."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(img, dtype=np.float64)
        if img.mode.startswith("I;16") or values.max(initial=0) > 255:
            values = values / 257.0
        elif img.mode == "F" and values.max(initial=0) <= 1.0:
            values = values * 255.0
        return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), "L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "P", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def as_rgb_array(image: str | Path | Image.Image | np.ndarray, name: str = "image") -> np.ndarray:
    """An H×W×3 uint8 RGB array from a file path, a PIL image (any mode; EXIF orientation honoured, as
    for files) or an H×W×3 uint8 RGB array (checked, never guessed at)."""
    if isinstance(image, (str, Path)):
        return np.asarray(load_image(image))
    if isinstance(image, Image.Image):
        _check_size(image, name)
        return np.asarray(to_rgb(ImageOps.exif_transpose(image)))
    if not isinstance(image, np.ndarray):
        raise InputError(f"{name}: expected a file path, a PIL image or an H×W×3 uint8 RGB array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InputError(f"{name}: arrays must be uint8 RGB (0–255), got {image.dtype}; convert with (x * 255).round().astype(np.uint8) if values are in [0, 1]")
    if image.ndim != 3 or image.shape[2] != 3:
        hint = " (channels first? pass H×W×3)" if image.ndim == 3 and image.shape[0] == 3 else ""
        raise InputError(f"{name}: arrays must be H×W×3 RGB, got shape {image.shape}{hint}")
    if min(image.shape[:2]) < MIN_IMAGE_SIDE:
        raise InputError(f"{name}: image is only {image.shape[1]}×{image.shape[0]} px; at least {MIN_IMAGE_SIDE}×{MIN_IMAGE_SIDE} needed")
    return np.ascontiguousarray(image)


def resize_square(rgb: np.ndarray | Image.Image, size: int) -> np.ndarray:
    """The one resize of the project: size×size HWC uint8 (aspect not kept, as in the paper)."""
    img = rgb if isinstance(rgb, Image.Image) else Image.fromarray(rgb)
    return np.asarray(img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0), dtype=np.uint8)


@dataclass
class ModelInput:
    pixels: np.ndarray  # size×size×3 uint8: what the network sees
    faces_found: int | None = None  # None: not looked for
    face_box: tuple[float, float, float, float] | None = None  # the largest face, x0, y0, x1, y1 in the original image
    face_used: bool = False  # True: pixels are the aligned crop of that face


@dataclass(frozen=True)
class FacePolicy:
    """What a model needs of the face in an image; part of its spec, so every door applies the same."""

    crop: bool = False  # the model sees the aligned crop of the largest face
    required: bool = False  # no usable face, no verdict (always so with ``crop`` or ``harmonise``)
    max_yaw: float | None = None  # runs before the 3-D pose: a face whose cheek-width imbalance is larger gets no verdict
    harmonise: "Harmonisation | None" = None  # one face crop, level of detail and JPEG re-encoding for every image
    max_yaw_degrees: float | None = None  # a face turned further (3-D mesh, degrees) gets no verdict (the landmark model compares the sides)

    @property
    def needs_face(self) -> bool:
        return self.crop or self.required or self.harmonise is not None

    def describe(self) -> str:
        """The policy in one sentence, for reports and the web page."""
        if self.harmonise is not None:
            h = self.harmonise
            text = (f"harmonised: the aligned largest face, {h.detail} px across, inside a grey oval, JPEG quality {h.jpeg_quality}, "
                    "the same for every image")
        elif self.crop:
            text = "the aligned crop of the largest face"
        else:
            text = "the whole image, resized"
        text += "; no usable face, no verdict" if self.needs_face else "; images without a detectable face are labelled too"
        if self.max_yaw_degrees is not None:
            text += f"; a face turned further than ±{self.max_yaw_degrees:g}° gets no verdict"
        return text + (f"; a face turned further than yaw ±{self.max_yaw} gets no verdict" if self.max_yaw is not None else "")


WHOLE_IMAGE = FacePolicy()  # the whole image, resized; no face needed


def model_input(rgb: np.ndarray, size: int, policy: FacePolicy = WHOLE_IMAGE, name: str | Path = "image", find_faces: bool = True) -> ModelInput:
    """The face policy, in one place.

    A harmonised model sees the harmonised face (see :mod:`facepalsy.data.harmonise`); a face-crop
    model the aligned crop of the largest face. Either gets nothing (NoFaceError) without a usable
    face, nor when ``max_yaw`` is set and the head is turned further. A whole-image model sees the
    whole image resized; it too gets nothing without a face when the policy requires one, and
    otherwise the faces are looked for anyway (``find_faces``) and reported as information.
    """
    from facepalsy.face.detect import crop_face, detect_faces, largest_face

    if policy.harmonise is not None:
        from facepalsy.data.harmonise import decode_jpeg, harmonised_jpeg

        data, face = harmonised_jpeg(rgb, size, policy.harmonise, name)
        pixels = decode_jpeg(data)
        if policy.crop:  # the landmark model measures the harmonised face as it would any other photo
            pixels = model_input(pixels, size, FacePolicy(crop=True, max_yaw=policy.max_yaw, max_yaw_degrees=policy.max_yaw_degrees),
                                 name, find_faces).pixels
        else:
            _check_yaw(face, policy, name)
        return ModelInput(pixels, face.faces_found, _box(face.box), True)
    if policy.crop:
        crop, face = crop_face(rgb, size, name)
        _check_yaw(face, policy, name)
        return ModelInput(crop, face.faces_found, _box(face.box), True)
    pixels = resize_square(rgb, size)
    if policy.required:  # the same rule as the face crop: the largest face, both eyes, large enough
        face = largest_face(rgb, name)
        return ModelInput(pixels, face.faces_found, _box(face.box))
    if not find_faces:
        return ModelInput(pixels)
    faces = detect_faces(rgb)
    return ModelInput(pixels, len(faces), _box(faces[0].box) if faces else None)


def _check_yaw(face, policy: FacePolicy, name) -> None:
    from facepalsy.errors import NoFaceError

    if face.landmarks is None or (policy.max_yaw is None and policy.max_yaw_degrees is None):
        return
    from facepalsy.face.asymmetry import head_pose, head_yaw

    if policy.max_yaw_degrees is not None and face.depth is not None:
        yaw = head_pose(face).yaw
        if abs(yaw) > policy.max_yaw_degrees:
            raise NoFaceError(name, f"face turned too far to compare its sides (yaw {yaw:+.0f}°, limit ±{policy.max_yaw_degrees:g}°); "
                              "a frontal photo is needed")
    if policy.max_yaw is not None:
        yaw = head_yaw(face.landmarks)
        if abs(yaw) > policy.max_yaw:
            raise NoFaceError(name, f"face turned too far to compare its sides (yaw {yaw:+.2f}, limit ±{policy.max_yaw}); a frontal photo is needed")


def _box(box) -> tuple[float, float, float, float]:
    return tuple(round(float(v), 1) for v in box)


def expand_inputs(inputs: list[str | Path]) -> list[Path]:
    """Files as given; folders replaced by the images they hold (recursively, sorted).

    A folder named like an image (``photo.jpg/``) is kept as given, so that it is refused by name
    instead of being searched.
    """
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir() and item.suffix.lower() not in IMAGE_EXTENSIONS:
            paths.extend(sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()))
        else:
            paths.append(item)
    return paths
