"""Procedurally drawn faces, so the tool runs and is tested without any real patient data.

Each subject has an identity (face shape, skin tone, hair, eyes, background) and each image a
pose, scale, lighting and expression. Palsy subjects get a one-sided droop on a random side with
a per-subject severity (some mild): lower mouth corner that does not follow the smile, sagging
lower eyelid, lower and flatter brow, flattened nasolabial fold. Everything else is drawn from the
same distributions for both classes, so colour, background and size carry no class information.

"Left" and "right" are the patient's: the patient's left side is on the image's right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from facepalsy.data.dataset import CLASSES, write_manifest
from facepalsy.errors import FacepalsyError
from facepalsy.files import atomic_write
from facepalsy.log import progress_bar

SUPERSAMPLE = 2  # draw at twice the size, then downsample, for smooth edges


@dataclass(frozen=True)
class Identity:
    width: float  # face half-width as a fraction of the canvas
    aspect: float  # half-height / half-width
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    hair_style: int  # 0 bald, 1 short, 2 long
    iris: tuple[int, int, int]
    lips: tuple[int, int, int]
    background: tuple[int, int, int]
    background_style: int  # 0 plain, 1 stripes, 2 gradient
    eye_spacing: float
    eye_size: float
    mouth_width: float
    nose_length: float
    fold_strength: float
    palsy_side: int  # 0 none, +1 patient's left (image right), -1 patient's right (image left)
    severity: float


def _colour(rng: np.random.Generator, low: int, high: int) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(low, high, size=3))


def make_identity(rng: np.random.Generator, palsy: bool) -> Identity:
    skin_base = rng.uniform(0.35, 1.0)
    skin = tuple(int(c * skin_base) for c in (235, 190, 160))
    identity = dict(
        width=rng.uniform(0.34, 0.40),
        aspect=rng.uniform(1.15, 1.3),
        skin=skin,
        hair=_colour(rng, 10, 140),
        hair_style=int(rng.integers(0, 3)),
        iris=_colour(rng, 20, 150),
        lips=(min(255, skin[0] + 10), int(skin[1] * 0.6), int(skin[2] * 0.6)),
        background=_colour(rng, 40, 230),
        background_style=int(rng.integers(0, 3)),
        eye_spacing=rng.uniform(0.34, 0.42),
        eye_size=rng.uniform(0.2, 0.26),
        mouth_width=rng.uniform(0.3, 0.4),
        nose_length=rng.uniform(0.22, 0.3),
        fold_strength=rng.uniform(0.5, 1.0),
    )
    # Drawn for every subject, so the random stream (and hence identities) does not depend on class.
    side = int(rng.choice([-1, 1]))
    severity = float(rng.uniform(0.4, 1.0))
    return Identity(**identity, palsy_side=side if palsy else 0, severity=severity if palsy else 0.0)


def draw_face(
    identity: Identity, rng: np.random.Generator, size: int, expression: dict[str, float] | None = None
) -> Image.Image:
    """Draw one image of a subject with a random pose, scale, lighting and expression.

    ``expression`` fixes any of ``smile`` (0–1), ``eye_open`` (1: usual) and ``brow_raise`` (1: usual)
    instead of drawing them, e.g. for the expression photos of an exam.
    """
    big = size * SUPERSAMPLE
    layer = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    cx, cy = big / 2, big * 0.5
    fw = identity.width * big
    fh = fw * identity.aspect

    smile = rng.uniform(0.0, 1.0)
    eye_open = rng.uniform(0.75, 1.15)
    brow_raise = rng.uniform(0.9, 1.2)
    smile, eye_open, brow_raise = (
        {"smile": smile, "eye_open": eye_open, "brow_raise": brow_raise} | (expression or {})
    ).values()
    yaw = rng.uniform(-0.08, 0.08) * fw  # inner features shift sideways with head turn
    jitter = lambda scale: rng.normal(0, scale)  # natural asymmetry everybody has  # noqa: E731

    def droop(side: int) -> float:
        """Severity on this image side (+1 image right, -1 image left), 0 on the healthy side."""
        return identity.severity if identity.palsy_side == side else 0.0

    # Hair behind the head, neck, ears, face.
    if identity.hair_style == 2:
        draw.ellipse([cx - fw * 1.15, cy - fh * 1.15, cx + fw * 1.15, cy + fh * 0.6], fill=identity.hair)
    skin_shadow = tuple(int(c * 0.85) for c in identity.skin)
    draw.rectangle([cx - fw * 0.45, cy + fh * 0.6, cx + fw * 0.45, big], fill=skin_shadow)
    for side in (-1, 1):
        draw.ellipse(
            [cx + side * fw * 0.95 - fw * 0.12, cy - fh * 0.2, cx + side * fw * 0.95 + fw * 0.12, cy + fh * 0.15],
            fill=skin_shadow,
        )
    draw.ellipse([cx - fw, cy - fh, cx + fw, cy + fh], fill=identity.skin)
    if identity.hair_style >= 1:
        draw.chord([cx - fw * 1.03, cy - fh * 1.08, cx + fw * 1.03, cy - fh * 0.1], 180, 360, fill=identity.hair)

    line = max(2, round(big / 90))
    fx = cx + yaw
    eye_y = cy - 0.12 * fh
    for side in (-1, 1):
        s = droop(side)
        ex = fx + side * identity.eye_spacing * fw
        ew = identity.eye_size * fw
        upper = ew * 0.42 * eye_open * (1 + jitter(0.03))
        lower = ew * 0.32 * eye_open * (1 + 0.9 * s) * (1 + jitter(0.03))  # sagging lower lid
        ey = eye_y + s * 0.03 * fh
        draw.chord([ex - ew, ey - upper, ex + ew, ey + upper], 180, 360, fill=(245, 245, 240))
        draw.chord([ex - ew, ey - lower, ex + ew, ey + lower], 0, 180, fill=(245, 245, 240))
        r = ew * 0.38
        draw.ellipse([ex - r, ey - r, ex + r, ey + r], fill=identity.iris)
        draw.ellipse([ex - r * 0.45, ey - r * 0.45, ex + r * 0.45, ey + r * 0.45], fill=(15, 15, 15))
        draw.arc([ex - ew, ey - upper, ex + ew, ey + upper], 180, 360, fill=skin_shadow, width=line)
        # Brow: lower and flatter on the affected side.
        by = eye_y - fh * (0.17 * brow_raise - 0.11 * s) + jitter(0.008) * fh
        arch = fh * 0.05 * (1 - 0.8 * s)
        inner, outer = ex - side * ew * 1.1, ex + side * ew * 1.2
        draw.line(
            [(inner, by), (ex, by - arch), (outer, by + arch * 0.3 + s * 0.03 * fh)],
            fill=identity.hair,
            width=line * 2,
            joint="curve",
        )

    # Nose and nostrils.
    nose_top, nose_tip = eye_y + 0.05 * fh, eye_y + identity.nose_length * 2 * fh
    draw.line([(fx, nose_top), (fx + fw * 0.04, nose_tip)], fill=skin_shadow, width=line)
    for side in (-1, 1):
        nx = fx + side * fw * 0.1
        draw.ellipse(
            [nx - fw * 0.04, nose_tip - fh * 0.015, nx + fw * 0.04, nose_tip + fh * 0.025],
            fill=tuple(int(c * 0.6) for c in identity.skin),
        )

    # Mouth: corners rise with the smile, except where the face droops.
    mouth_y = cy + 0.5 * fh
    corners = {}
    for side in (-1, 1):
        s = droop(side)
        lift = smile * 0.07 * fh * (1 - s)
        corners[side] = (
            fx + side * identity.mouth_width * fw * (1 - 0.1 * s),
            mouth_y - lift + s * 0.15 * fh + jitter(0.01) * fh,
        )
    centre_y = mouth_y + smile * 0.02 * fh
    lip = fh * 0.06
    left, right = corners[-1], corners[1]
    upper_lip = [
        left,
        (fx - fw * 0.12, centre_y - lip),
        (fx, centre_y - lip * 0.7),
        (fx + fw * 0.12, centre_y - lip),
        right,
    ]
    lower_lip = [right, (fx + fw * 0.12, centre_y + lip * 1.2), (fx - fw * 0.12, centre_y + lip * 1.2), left]
    draw.polygon(upper_lip + lower_lip, fill=identity.lips)
    draw.line([left, (fx, centre_y), right], fill=tuple(int(c * 0.5) for c in identity.lips), width=line)

    # Nasolabial folds: from the nose wing down to beside the mouth corner; flattened when affected.
    for side in (-1, 1):
        s = droop(side)
        strength = identity.fold_strength * (1 - 0.85 * s) * rng.uniform(0.8, 1.0)
        colour = tuple(int(c * (1 - 0.35 * strength)) for c in identity.skin)
        start = (fx + side * fw * 0.2, nose_tip)
        mid = (fx + side * fw * (0.38 - 0.08 * s), (nose_tip + corners[side][1]) / 2)
        end = (corners[side][0] + side * fw * 0.08, corners[side][1] + fh * 0.06)
        draw.line([start, mid, end], fill=colour, width=line, joint="curve")

    # Pose: in-plane rotation, scale and shift of the whole head.
    layer = layer.rotate(rng.uniform(-8, 8), resample=Image.Resampling.BICUBIC, center=(cx, cy))
    scale = rng.uniform(0.9, 1.05)
    scaled = layer.resize((round(big * scale),) * 2, Image.Resampling.BICUBIC)
    offset = (
        round((big - scaled.width) / 2 + rng.uniform(-0.05, 0.05) * big),
        round((big - scaled.height) / 2 + rng.uniform(-0.05, 0.05) * big),
    )
    canvas = _background(identity, rng, big)
    canvas.alpha_composite(
        scaled, dest=(max(offset[0], 0), max(offset[1], 0)), source=(max(-offset[0], 0), max(-offset[1], 0))
    )
    image = canvas.convert("RGB").filter(ImageFilter.GaussianBlur(0.6)).resize((size, size), Image.Resampling.LANCZOS)
    return _lighting(np.asarray(image, dtype=np.float32), rng)


def _background(identity: Identity, rng: np.random.Generator, big: int) -> Image.Image:
    colour = np.array(identity.background, dtype=np.float32) * rng.uniform(0.92, 1.08)
    canvas = np.ones((big, big, 3), np.float32) * colour
    if identity.background_style == 1:
        stripes = (np.arange(big) // max(1, big // 8)) % 2
        canvas *= (0.85 + 0.15 * stripes)[None, :, None]
    elif identity.background_style == 2:
        canvas *= np.linspace(0.75, 1.1, big)[:, None, None]
    return Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8)).convert("RGBA")


def _lighting(pixels: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A light gradient from a random direction, overall brightness, and sensor noise."""
    h, w, _ = pixels.shape
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w) - 0.5
    gradient = 1 + rng.uniform(0, 0.35) * (xx * math.cos(angle) + yy * math.sin(angle))
    pixels = pixels * gradient[..., None] * rng.uniform(0.85, 1.15) + rng.normal(0, 3, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def make_synthetic_dataset(
    out: str | Path,
    subjects: int = 40,
    images_per_subject: int = 20,
    seed: int = 0,
    size: int = 224,
    progress: bool = True,
) -> Path:
    """Write a data folder in the data contract (``palsy/``, ``normal/``, ``manifest.csv``).

    Half the subjects (rounded down) have palsy. The manifest adds ``side`` (the patient's
    affected side, left/right, empty for normal) and ``severity`` columns.
    """
    if subjects < 2 or images_per_subject < 1 or size < 32:
        raise FacepalsyError("synth needs at least 2 subjects (one per class), 1 image per subject and 32 px")
    out = Path(out)
    n_palsy = subjects // 2
    rows = []
    jobs = [(i, j) for i in range(subjects) for j in range(images_per_subject)]
    identities = {i: make_identity(np.random.default_rng([seed, i]), palsy=i < n_palsy) for i in range(subjects)}
    with progress_bar(disable=not progress) as bar:
        for i, j in bar.track(jobs, description=f"drawing {len(jobs)} faces"):
            identity = identities[i]
            label = CLASSES[1] if identity.palsy_side else CLASSES[0]
            subject = f"s{i:03d}"
            rel = Path(label) / subject / f"{subject}_{j:03d}.jpg"
            face = draw_face(identity, np.random.default_rng([seed, i, j]), size)
            atomic_write(out / rel, lambda tmp: face.save(tmp, format="JPEG", quality=92))  # noqa: B023 (called at once)
            side = {1: "left", -1: "right", 0: ""}[identity.palsy_side]
            rows.append(
                {
                    "path": rel.as_posix(),
                    "label": label,
                    "subject": subject,
                    "side": side,
                    "severity": round(identity.severity, 3),
                }
            )
    write_manifest(out, rows)
    return out


def warp_region(rgb: np.ndarray, centre: np.ndarray, shift: tuple[float, float], sigma: float) -> np.ndarray:
    """Move the pixels around ``centre`` by ``shift`` (pixels, a smooth Gaussian displacement of width ``sigma``): a
    controlled palsy-like change of a real photo (a lower mouth corner, a lower brow, a lid that stays open), for the
    tests and the grade benchmark."""
    import cv2

    y, x = np.mgrid[0 : rgb.shape[0], 0 : rgb.shape[1]].astype(np.float32)
    weight = np.exp(-((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / (2 * sigma**2))
    return cv2.remap(
        rgb, x - shift[0] * weight, y - shift[1] * weight, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def close_eyelids(
    rgb: np.ndarray, upper: np.ndarray, lower: np.ndarray, width: float, closed: float, lower_share: float = 0.3
) -> np.ndarray:
    """Close one eye of a real photo by ``closed`` (0 open, 1 shut): the lids slide over the opening between the
    upper lid point ``upper`` and the lower ``lower`` (pixels), the upper lid travelling ``1 − lower_share`` of the way.

    Why not :func:`warp_region`: a Gaussian shift wider than its own width folds the image (the lid came back
    double, and the face mesh read a third of the closure). This map is monotone down every column, so nothing
    folds: the opening is squeezed to ``1 − closed`` of its height, the skin above and below follows, and the change
    fades out over ``width`` pixels around the eye (horizontally) and one fissure above and below.
    """
    import cv2

    fissure = float(lower[1] - upper[1])
    top, bottom = upper[1] - 2 * fissure, lower[1] + 2 * fissure
    meet = upper[1] + (1 - lower_share) * closed * fissure  # where the upper lid's edge is drawn
    kept = (1 - closed) * fissure
    # output row → input row, piecewise linear: [top, meet] shows [top, upper]; the squeezed opening; then the rest
    knots_out = [0.0, top, meet, meet + kept, bottom, float(rgb.shape[0])]
    knots_in = [0.0, top, upper[1], lower[1], bottom, float(rgb.shape[0])]
    y, x = np.mgrid[0 : rgb.shape[0], 0 : rgb.shape[1]].astype(np.float32)
    column = np.interp(np.arange(rgb.shape[0]), knots_out, knots_in).astype(np.float32)[:, None]
    centre_x = (upper[0] + lower[0]) / 2
    weight = np.exp(-((x - centre_x) ** 2) / (2 * (width / 2) ** 2))
    return cv2.remap(rgb, x, y + weight * (column - y), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
