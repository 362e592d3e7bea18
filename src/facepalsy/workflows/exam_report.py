"""The exam as Markdown (``exam.md`` and the page): per region and side the resting reading, movement and its
symmetry, flags, the synkinesis hint and the palsy pattern, with the drawings."""

from __future__ import annotations


def exam_markdown(document: dict, folder) -> list[str]:
    """The exam report: the overall reading, the region/side table, what is missing, the pictures."""
    lines = [f"# Exam: {document['person']}", ""]
    if document["outside_healthy_range"]:
        outside = [r.replace("_", " ") for r, v in document["regions"].items() if v["outside_healthy_range"]]
        lines += [
            f"**Outside the healthy range in: {', '.join(outside)}; more "
            f"affected side: patient's {document['more_affected_side']}.**",
            "",
        ]
    else:
        lines += ["Within the healthy range in every region measured (no affected side named).", ""]
    if document.get("palsy_pattern"):
        from facepalsy.face.pattern import pattern_text

        lines += [pattern_text(document["palsy_pattern"]), ""]
    lines += [
        "| region | resting score (healthy percentile) | expression "
        "| movement right | movement left | symmetry of movement % | "
        "outside healthy range | weaker side |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for region, r in document["regions"].items():
        rest = f"{r['rest']['score']:.2f} ({r['rest']['healthy_percentile']:.0f})" if r.get("rest") else "—"
        moved = r["movement"] or {}
        lines.append(
            f"| {region.replace('_', ' ')} | {rest} | {r['expression'] or '—'} "
            f"| {moved.get('right', '—')} | {moved.get('left', '—')} | "
            f"{r['symmetry_percent'] if r['symmetry_percent'] is not None else '—'} "
            f"| {'**yes**' if r['outside_healthy_range'] else 'no'} | "
            f"{r['weaker_side'] or '—'} |"
        )
    hint = document["regions"]["eye"].get("synkinesis_hint")
    lines += [
        "",
        f"Synkinesis hint: the patient's {hint['side']} eye narrows "
        f"{100 * hint['narrowing'][hint['side']]:.0f}% during "
        f"{hint['expression']} (the other "
        f"{100 * hint['narrowing']['left' if hint['side'] == 'right' else 'right']:.0f}%)."
        if hint
        else "Synkinesis hint: none (no eye narrowed clearly more than "
        "the other during smile or pucker, or no rest photo).",
        "",
    ]
    if document.get("missing"):
        lines += [f"Missing expressions: {', '.join(document['missing'])}.", ""]
    for key, text in (
        ("no_face", "Photos without a usable face"),
        ("unnamed_files", "Files that name no expression (ignored)"),
    ):
        if document.get(key):
            items = document[key].items() if isinstance(document[key], dict) else ((n, "") for n in document[key])
            lines += [f"{text}: " + "; ".join(f"{n}{': ' + r if r else ''}" for n, r in items) + ".", ""]
    lines += [
        "Units: inter-ocular distances in the eye-aligned frame. Movement: "
        "how far the region's value moved from rest; symmetry of "
        "movement: the weaker side's movement as a percentage of the "
        "stronger's (100: alike). Definitions: README, *The exam*.",
        "",
        f"![movement per side]({folder.chart.name})",
        "",
    ]
    if document.get("video"):
        lines += [f"![regions over time]({folder.timeline.name})", ""]
        lines += [f"![{region} peak]({peak['picture']})" for region, peak in document["video"]["peaks"].items()] + [""]
    lines += [f"![{name}]({folder.drawing(name).name})" for name in document["expressions"]] + [""]
    lines += ["Research use only; not a diagnostic device.", ""]
    return lines
