"""A face's clinical measures in millimetres, per side, as a facial-nerve clinic takes them from a photo.

Why millimetres. A clinic compares visits and treatments in mm (Emotrics, Guarin et al., JAMA Facial Plast Surg
2018): the eye-frame units of ``asymmetry`` (inter-ocular distances) are exact for symmetry but say nothing to a
clinician. The scale is the iris: its horizontal visible diameter is 11.77 mm on average in adults (the figure
Emotrics and the SMILE system use, after Rüfer et al. 2005), and MediaPipe's refined mesh finds the iris ring.
Without an iris ring (a 468-point mesh) the inter-ocular distance stands in: 63 mm between the pupils, the adult
mean (Dodgson 2004); that route is named in every result that takes it.

Every measure is taken on the pose-corrected mesh in the eye frame (x along the line through the iris centres,
y down, origin between them), then multiplied by the scale. Definitions (the docs, *Grade*, give them with their
sources); "side" is the patient's:

- brow height: from the iris centre up to the upper brow edge, along the perpendicular to the iris line;
- MRD1 / MRD2: from the iris centre (the corneal light reflex's stand-in) up to the upper lid / down to the
  lower lid, on the same perpendicular; palpebral fissure height: their sum;
- commissure excursion: from the lower lip's midline point to the mouth corner;
- smile angle: at the lower lip's midline point, between the iris line and the line to the corner (degrees,
  positive with the corner above);
- dental show: the area between the inner lips from the midline to the corner (mm²);
- commissure height, upper- and lower-lip height: the mouth corner, and the outer lip edge halfway between the
  midline and the corner, below the iris line; their left − right differences are the deviations.

The contours are read where the perpendicular crosses them by linear interpolation (numpy): no library draws
these clinical lines, so they are written here, on the published definitions, not on another project's code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facepalsy.files import atomic_write

IRIS_MM = 11.77  # mean adult horizontal visible iris diameter (Emotrics; SMILE, Bray et al. 2010)
INTEROCULAR_MM = 63.0  # mean adult interpupillary distance (Dodgson 2004): the scale when no iris ring is found
IRIS = ((468, (469, 471), (470, 472)), (473, (474, 476), (475, 477)))  # per side: centre, horizontal, vertical pair
SQUEEZED = 0.82  # a ring this much shorter vertically than horizontally: only its horizontal diameter is used
UPPER_BROW = ([70, 63, 105, 66, 107], [300, 293, 334, 296, 336])
UPPER_LID = ([33, 246, 161, 160, 159, 158, 157, 173, 133], [263, 466, 388, 387, 386, 385, 384, 398, 362])
LOWER_LID = ([33, 7, 163, 144, 145, 153, 154, 155, 133], [263, 249, 390, 373, 374, 380, 381, 382, 362])
MOUTH_CORNER = (61, 291)
SUBNASALE = 2  # the nose's base on the midline: a smile does not move it, so the corners' movement is read from it
LOWER_LIP_MIDLINE = 17
OUTER_UPPER_LIP = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]
OUTER_LOWER_LIP = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291]
INNER_UPPER_LIP = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
INNER_LOWER_LIP = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
SIDES = ("right", "left")
OTHER_SIDE = {"right": "left", "left": "right"}
# Per-side measures, in the order tables show them, with their units.
MEASURES = {
    "brow_height": "mm",
    "mrd1": "mm",
    "mrd2": "mm",
    "palpebral_fissure": "mm",
    "commissure_excursion": "mm",
    "smile_angle": "°",
    "dental_show": "mm²",
    "commissure_height": "mm",
    "upper_lip_height": "mm",
    "lower_lip_height": "mm",
}
LABELS = {
    "brow_height": "Brow height",
    "mrd1": "Marginal reflex distance 1",
    "mrd2": "Marginal reflex distance 2",
    "palpebral_fissure": "Palpebral fissure height",
    "commissure_excursion": "Commissure excursion",
    "smile_angle": "Smile angle",
    "dental_show": "Dental show",
    "commissure_height": "Commissure height",
    "upper_lip_height": "Upper lip height",
    "lower_lip_height": "Lower lip height",
}


@dataclass(frozen=True)
class Millimetres:
    """One photo's measures per side, in mm (dental show in mm², smile angle in degrees)."""

    right: dict[str, float]  # per MEASURES name, the patient's right side
    left: dict[str, float]
    corners: dict[str, tuple[float, float]]  # per side, the mouth corner (x, y) in mm from the subnasale (eye frame)
    mm_per_unit: float  # mm per inter-ocular distance in this photo
    scale: str  # "iris" (its ring found) or "inter-ocular" (the fallback)
    iris_mm: float  # the iris diameter the scale assumed

    def side(self, side: str) -> dict[str, float]:
        return self.right if side == "right" else self.left

    def difference(self, name: str) -> float:
        """|left − right| of one measure: for the heights, the clinic's *deviation*."""
        return abs(self.left[name] - self.right[name])

    def percent(self, name: str, healthy: str | None = None) -> float | None:
        """The other side's value as a percentage of the healthier side's; without ``healthy``, the smaller of the
        larger (None when the reference is zero or the values have opposite signs)."""
        if healthy is None:
            small, large = sorted((abs(self.right[name]), abs(self.left[name])))
            return None if large < 1e-9 else 100.0 * small / large
        reference, other = self.side(healthy)[name], self.side(OTHER_SIDE[healthy])[name]
        return None if abs(reference) < 1e-9 or reference * other < 0 else 100.0 * other / reference

    def rows(self, healthy: str | None = None) -> list[tuple[str, str, str, str, str]]:
        """Per measure: its name (with unit), right, left, |L − R|, % of the healthier side."""
        table = []
        for name, unit in MEASURES.items():
            percent = self.percent(name, healthy)
            table.append(
                (
                    f"{LABELS[name]} ({unit})",
                    f"{self.right[name]:.1f}",
                    f"{self.left[name]:.1f}",
                    f"{self.difference(name):.1f}",
                    "—" if percent is None else f"{percent:.0f}",
                )
            )
        return table

    def to_dict(self) -> dict:
        return {
            "right": self.right,
            "left": self.left,
            "mm_per_unit": self.mm_per_unit,
            "scale": self.scale,
            "iris_mm": self.iris_mm,
        }


def iris_diameter(mesh: np.ndarray) -> float | None:
    """The iris diameter (eye-frame units) from a 478-point mesh, both eyes; None for 468 points.

    The mean of the ring's horizontal and vertical diameters, unless the vertical one is shorter than
    SQUEEZED × the horizontal (lids over the iris, or a photo squeezed vertically): then the horizontal alone, the
    clinic's own definition (the horizontal visible iris diameter). On KDEF's studio photos the vertical came out 11%
    shorter than the horizontal (median), on the Taiwanese actors' crops 24%; this rule put the iris scale within
    10% of the inter-ocular one on 94% and 88% of them (the mean alone: 94% and 16%; SQUEEZED was chosen on these
    two sources)."""
    if len(mesh) < 478:
        return None
    horizontal, vertical = (
        float(np.mean([np.hypot(*(mesh[pairs[k][0]] - mesh[pairs[k][1]])) for _, *pairs in IRIS])) for k in (0, 1)
    )
    return horizontal if vertical < SQUEEZED * horizontal else (horizontal + vertical) / 2


def mm_per_pixel(landmarks: np.ndarray, iris_mm: float = IRIS_MM) -> float:
    """A photo's own scale from its 478-point mesh in pixels, by the iris rule every measure uses (for drawing a
    change of so many mm into the photo: the twins, the grade benchmark's warps)."""
    diameter = iris_diameter(landmarks)
    if diameter is None or diameter < 1e-6:
        raise ValueError("a mm scale needs the 478-point mesh with its iris rings")
    return iris_mm / diameter


def scale(mesh: np.ndarray, iris_mm: float = IRIS_MM) -> tuple[float, str]:
    """mm per eye-frame unit and the route that gave it: the iris ring, else the inter-ocular distance."""
    diameter = iris_diameter(mesh)
    if diameter is None or diameter < 1e-6:
        return INTEROCULAR_MM, "inter-ocular"
    return iris_mm / diameter, "iris"


def millimetres(mesh: np.ndarray, iris_mm: float = IRIS_MM) -> Millimetres:
    """The measures of a pose-corrected mesh in the eye frame (478×2 with the iris ring, or 468×2)."""
    mesh = np.asarray(mesh, dtype=np.float64)[:, :2]
    mm_per_unit, route = scale(mesh, iris_mm)
    points = mesh * mm_per_unit
    sides, corners = [], {}
    for index, name in enumerate(SIDES):
        centre = points[IRIS[index][0]] if len(points) >= 478 else np.array([(-0.5, 0.5)[index] * mm_per_unit, 0.0])
        corner = points[MOUTH_CORNER[index]]
        from_nose = corner - points[SUBNASALE]
        corners[name] = (float(from_nose[0]), float(from_nose[1]))
        mrd1 = centre[1] - _height_at(points, UPPER_LID[index], centre[0])
        mrd2 = _height_at(points, LOWER_LID[index], centre[0]) - centre[1]
        lip = points[LOWER_LIP_MIDLINE]
        halfway = (lip[0] + corner[0]) / 2
        sides.append(
            {
                "brow_height": float(centre[1] - _height_at(points, UPPER_BROW[index], centre[0])),
                "mrd1": float(mrd1),
                "mrd2": float(mrd2),
                "palpebral_fissure": float(mrd1 + mrd2),
                "commissure_excursion": float(np.hypot(*(corner - lip))),
                "smile_angle": float(np.degrees(np.arctan2(lip[1] - corner[1], abs(corner[0] - lip[0])))),
                "dental_show": _mouth_area(points, lip[0], corner[0]),
                "commissure_height": float(corner[1]),
                "upper_lip_height": float(_height_at(points, OUTER_UPPER_LIP, halfway)),
                "lower_lip_height": float(_height_at(points, OUTER_LOWER_LIP, halfway)),
            }
        )
    return Millimetres(sides[0], sides[1], corners, float(mm_per_unit), route, float(iris_mm))


def _height_at(points: np.ndarray, contour: list[int], x: float) -> float:
    """The contour's y where the vertical through ``x`` crosses it (its end's y beyond its ends)."""
    line = points[contour]
    order = np.argsort(line[:, 0])
    return float(np.interp(x, line[order, 0], line[order, 1]))


def _mouth_area(points: np.ndarray, midline: float, corner: float, steps: int = 32) -> float:
    """The area between the inner lips from the midline to one corner (the lips apart: teeth or dark mouth)."""
    xs = np.linspace(min(midline, corner), max(midline, corner), steps)
    gap = [max(_height_at(points, INNER_LOWER_LIP, x) - _height_at(points, INNER_UPPER_LIP, x), 0.0) for x in xs]
    return float(np.trapz(gap, xs))


# What the drawing shows per side: its short label and colour (RGB).
DRAWN = {
    "brow_height": ("brow", (255, 200, 0)),
    "mrd1": ("MRD1", (0, 200, 255)),
    "mrd2": ("MRD2", (0, 255, 120)),
    "commissure_excursion": ("excursion", (255, 90, 200)),
}


def draw_millimetres(
    rgb: np.ndarray, landmarks: np.ndarray, measured: Millimetres, path: Path | None = None
) -> np.ndarray:
    """The photo with its clinical distances drawn per side (brow height, MRD1 and MRD2 from the iris centre;
    commissure excursion from the lower lip's midline) and their mm under each eye, on the crop the mesh was found on
    (``landmarks``: 478×2 pixels, eyes level, so the vertical is the perpendicular to the iris line). Written as PNG
    to ``path`` if given."""
    import cv2
    from PIL import Image

    canvas = np.ascontiguousarray(rgb.copy())
    scale = max(1, round(max(rgb.shape[:2]) / 300))
    font = cv2.FONT_HERSHEY_SIMPLEX
    point = lambda p: (int(round(p[0])), int(round(p[1])))  # noqa: E731
    for index, name in enumerate(SIDES if len(landmarks) >= 478 else ()):
        centre, lip, corner = landmarks[IRIS[index][0]], landmarks[LOWER_LIP_MIDLINE], landmarks[MOUTH_CORNER[index]]
        lines = {
            "brow_height": (centre, (centre[0], _height_at(landmarks, UPPER_BROW[index], centre[0]))),
            "mrd1": (centre, (centre[0], _height_at(landmarks, UPPER_LID[index], centre[0]))),
            "mrd2": (centre, (centre[0], _height_at(landmarks, LOWER_LID[index], centre[0]))),
            "commissure_excursion": (lip, corner),
        }
        left_edge = int(centre[0] - 75 * scale) if name == "right" else int(centre[0] + 5 * scale)
        for row, (measure, (start, end)) in enumerate(lines.items()):
            label, colour = DRAWN[measure]
            cv2.line(canvas, point(start), point(end), colour, scale, cv2.LINE_AA)
            text = f"{label} {measured.side(name)[measure]:.1f}"
            where = (left_edge, int(centre[1] + (35 + 13 * row) * scale))
            cv2.putText(canvas, text, where, font, 0.36 * scale, colour, scale, cv2.LINE_AA)
    footer = f"mm; scale: {measured.scale} ({measured.mm_per_unit:.1f} mm per inter-ocular distance)"
    cv2.putText(canvas, footer, (6, canvas.shape[0] - 8), font, 0.34 * scale, (255, 255, 255), scale, cv2.LINE_AA)
    if path is not None:
        atomic_write(path, lambda tmp: Image.fromarray(canvas).save(tmp, format="PNG"), private=True)  # a face
    return canvas
