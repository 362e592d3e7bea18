"""Image decoding: the one way from a file, a PIL image or an array to an RGB array, and the one resize.

Every door into facepalsy (training data, ``predict`` on a file, a PIL image or an array, video
frames, the web page, ``prepare --face-crop``) decodes with :func:`load_image` / :func:`as_rgb_array`;
``data/model_input.py`` then turns the RGB image into what a model sees.
"""

from __future__ import annotations

import datetime
import errno
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facepalsy.data.dicom import DICOM_EXTENSIONS, dicom_date, is_dicom, read_dicom_image
from facepalsy.errors import BadImageError, InputError
from facepalsy.log import console

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", *DICOM_EXTENSIONS}
EXIF_DATE_TAKEN = 0x9003  # DateTimeOriginal, in the Exif sub-IFD
MIN_IMAGE_SIDE = 16  # pixels; smaller files hold no usable face
# the one limit against decompression bombs (CLI, library and web page), checked from the header before decoding
MAX_PIXELS = 40_000_000
# A JPEG up to this size (a 48–200-megapixel phone photo) is decoded at 1/2, 1/4 or 1/8 scale by libjpeg itself
# (Pillow's draft mode), so it never takes more memory than a MAX_PIXELS image; other formats are refused above
# MAX_PIXELS, since their decoders cannot reduce while decoding.
MAX_JPEG_PIXELS = 64 * MAX_PIXELS
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)  # load_image refuses such images itself


def load_image(path: str | Path, max_side: int | None = None) -> Image.Image:
    """Decode an image file (or a DICOM photograph) to 8-bit RGB, honouring EXIF orientation; raise BadImageError if
    unusable.

    PNG chunk checksums are verified first: Pillow decodes image data whose CRC fails without a word. With
    ``max_side``, a JPEG at least twice that size on its long side is decoded at 1/2, 1/4 or 1/8 scale (JPEG draft
    mode: a fraction of the work), its long side still at least ``max_side``: for a reader that needs no more.
    """
    path = Path(path)
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise BadImageError(path, "file name is not valid UTF-8; rename the file") from None
    try:
        if is_dicom(path):
            return read_dicom_image(path, lambda width, height: _check_pixels(width, height, path))
        with Image.open(path) as img:
            reduced = img.format == "JPEG" and MAX_PIXELS < img.width * img.height <= MAX_JPEG_PIXELS
            if not reduced:
                _check_size(img, path)
            if img.format == "PNG":
                img.verify()
        with Image.open(path) as img:
            full = img.size
            if reduced:
                scale = next(k for k in (2, 4, 8) if full[0] * full[1] / k**2 <= MAX_PIXELS)
                img.draft("RGB", (full[0] // scale, full[1] // scale))
                console.print(
                    f"note: {path.name}: {full[0]}×{full[1]} px decoded at 1/{scale} scale "
                    f"({img.size[0]}×{img.size[1]}), within the {MAX_PIXELS:,}-pixel memory bound"
                )
            elif img.format == "JPEG" and max_side and max(full) >= 2 * max_side:
                scale = max(k for k in (2, 4, 8) if max(full) / k >= max_side)
                img.draft("RGB", (full[0] // scale, full[1] // scale))
            img.load()
            return to_rgb(ImageOps.exif_transpose(img))
    except FileNotFoundError as exc:
        reason = "broken symlink" if path.is_symlink() else "file not found"
        raise BadImageError(path, reason) from exc
    except IsADirectoryError as exc:
        raise BadImageError(path, "is a folder, not an image file") from exc
    except UnidentifiedImageError as exc:
        raise BadImageError(path, "not an image Pillow can read") from exc
    except (
        Image.DecompressionBombError
    ) as exc:  # Pillow's own, stricter-worded stop for far larger images: the same sentence as ours
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


def photo_date(path: Path) -> tuple[datetime.date, str] | None:
    """When a photo was taken and where that was read: the DICOM header, or EXIF DateTimeOriginal."""
    if is_dicom(path):
        found = dicom_date(path)
        return (found, "DICOM header") if found else None
    try:
        with Image.open(path) as img:
            value = img.getexif().get_ifd(0x8769).get(EXIF_DATE_TAKEN)
        return datetime.datetime.strptime(str(value).strip()[:10], "%Y:%m:%d").date(), "EXIF DateTimeOriginal"
    except (OSError, ValueError, TypeError, UnidentifiedImageError):
        return None


def too_many_pixels(pixels: int | None, size: tuple[int, int] | None = None) -> str:
    """The one wording of the decompression-bomb refusal."""
    found = f"{pixels:,} pixels" + (f" ({size[0]}×{size[1]})" if size else "") if pixels else "more pixels than that"
    return f"too many pixels: {found}; the limit against decompression bombs is {MAX_PIXELS:,}"


def _check_size(img: Image.Image, name) -> None:
    _check_pixels(img.width, img.height, name)


def _check_pixels(width: int, height: int, name) -> None:
    """The decoder's limits, from a header's size before any pixel is decoded."""
    if width * height > MAX_PIXELS:
        raise BadImageError(name, too_many_pixels(width * height, (width, height)))
    if min(width, height) < MIN_IMAGE_SIDE:
        raise BadImageError(
            name, f"image is only {width}×{height} px; at least {MIN_IMAGE_SIDE}×{MIN_IMAGE_SIDE} needed"
        )


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
        raise InputError(
            f"{name}: expected a file path, a PIL image or an H×W×3 uint8 RGB array, got {type(image).__name__}"
        )
    if image.dtype != np.uint8:
        raise InputError(
            f"{name}: arrays must be uint8 RGB (0–255), got {image.dtype}; convert "
            "with (x * 255).round().astype(np.uint8) if values are in [0, 1]"
        )
    if image.ndim != 3 or image.shape[2] != 3:
        hint = " (channels first? pass H×W×3)" if image.ndim == 3 and image.shape[0] == 3 else ""
        raise InputError(f"{name}: arrays must be H×W×3 RGB, got shape {image.shape}{hint}")
    if min(image.shape[:2]) < MIN_IMAGE_SIDE:
        raise InputError(
            f"{name}: image is only {image.shape[1]}×{image.shape[0]} "
            f"px; at least {MIN_IMAGE_SIDE}×{MIN_IMAGE_SIDE} needed"
        )
    return np.ascontiguousarray(image)


def resize_square(rgb: np.ndarray | Image.Image, size: int) -> np.ndarray:
    """The one resize of the project: size×size HWC uint8 (aspect not kept, as in the paper)."""
    img = rgb if isinstance(rgb, Image.Image) else Image.fromarray(rgb)
    return np.asarray(img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0), dtype=np.uint8)


def expand_inputs(inputs: list[str | Path]) -> list[Path]:
    """Files as given; folders replaced by the images they hold (recursively, sorted); InputError when that leaves
    nothing (an empty folder), naming what was searched for.

    A folder named like an image (``photo.jpg/``) is kept as given, so that it is refused by name
    instead of being searched.
    """
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir() and item.suffix.lower() not in IMAGE_EXTENSIONS:
            paths.extend(sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()))
        else:
            paths.append(item)
    if inputs and not paths:
        raise InputError(f"no images given (folders are searched for {', '.join(sorted(IMAGE_EXTENSIONS))})")
    return paths
