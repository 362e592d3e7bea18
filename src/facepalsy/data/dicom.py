"""Clinical photographs as hospitals archive them: DICOM (VL Photographic Image, secondary capture, multi-frame),
read with pydicom. Pixels become the same 8-bit RGB every other photo becomes; the header gives the acquisition date
and the patient id, which only a pseudonymisation map may turn into a record's id (``records/pseudonyms.py``).

JPEG-compressed pixel data (baseline and extended) is decoded by pydicom's Pillow handler, so no extra codec package
is needed for the photographs clinics take; other compressions name the transfer syntax in the error.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from facepalsy.errors import BadImageError

DICOM_EXTENSIONS = {".dcm", ".dicom"}
DATE_TAGS = ("AcquisitionDateTime", "AcquisitionDate", "ContentDate", "SeriesDate", "StudyDate")


def is_dicom(path: Path) -> bool:
    """A .dcm file, or any file with the DICOM preamble ("DICM" at byte 128)."""
    if path.suffix.lower() in DICOM_EXTENSIONS:
        return True
    try:
        with path.open("rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def _dataset(path: Path, pixels: bool):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path, stop_before_pixels=not pixels)
    except InvalidDicomError as exc:
        raise BadImageError(path, f"not a DICOM file pydicom can read ({exc})") from exc
    except (EOFError, ValueError, KeyError) as exc:
        raise BadImageError(path, f"damaged DICOM file ({exc})") from exc


def read_dicom_image(path: Path, check_size: Callable[[int, int], None]) -> Image.Image:
    """The photograph in a DICOM file as 8-bit RGB: the first frame of a multi-frame file, MONOCHROME1 inverted,
    more than 8 bits scaled down; ``check_size(width, height)`` (the decoder's own limits) runs on the header's size
    before any pixel is decoded."""
    ds = _dataset(path, pixels=True)
    if "PixelData" not in ds:
        raise BadImageError(path, "DICOM file holds no pixel data (a report or structured document, not a photo)")
    check_size(int(ds.get("Columns", 0)), int(ds.get("Rows", 0)))
    try:
        pixels = ds.pixel_array  # YBR colour (JPEG photographs) arrives converted to RGB
    except Exception as exc:  # pydicom raises RuntimeError, NotImplementedError or ValueError by codec
        syntax = getattr(ds.file_meta, "TransferSyntaxUID", None)
        name = syntax.name if syntax is not None else "unknown transfer syntax"
        raise BadImageError(path, f"cannot decode the DICOM pixel data ({name}): {exc}") from exc
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        pixels = pixels[0]
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8:
        top = float(2 ** int(ds.get("BitsStored", 16)) - 1)
        pixels = np.clip(pixels.astype(np.float64) * (255.0 / top), 0, 255).round().astype(np.uint8)
    if ds.get("PhotometricInterpretation") == "MONOCHROME1":
        pixels = 255 - pixels
    if pixels.ndim == 2:
        return Image.fromarray(pixels, "L").convert("RGB")
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise BadImageError(path, f"DICOM pixel data of shape {pixels.shape} is not a photograph")
    return Image.fromarray(np.ascontiguousarray(pixels), "RGB")


def dicom_date(path: Path) -> datetime.date | None:
    """When the photograph was taken, from the first of DATE_TAGS the header fills."""
    ds = _dataset(path, pixels=False)
    for tag in DATE_TAGS:
        value = str(ds.get(tag, "") or "")[:8]
        try:
            return datetime.datetime.strptime(value, "%Y%m%d").date()
        except ValueError:
            continue
    return None


def dicom_patient_id(path: Path) -> str | None:
    """The header's PatientID: a real identifier, to be looked up in a pseudonymisation map and never stored."""
    value = str(_dataset(path, pixels=False).get("PatientID", "") or "").strip()
    return value or None
