"""Pages generated at build time (mkdocs-gen-files), so they cannot drift from the code or the measurements:

- ``cli.md``: the help of every ``facepalsy`` command, taken from the argparse parser itself;
- ``figures.md``: the dated real-photo figures, rendered from the benchmark JSON files in ``docs/figures/``;
- ``index.md``: the README, its links made relative to the site, so the home page and the README are one text.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import mkdocs_gen_files

from facepalsy.app.cli import build_parser

os.environ["COLUMNS"] = "110"  # argparse wraps help to the terminal; fix it for a reproducible page


def cli_page() -> str:
    parser = build_parser()
    parser.prog = "facepalsy"
    lines = [
        "# CLI reference",
        "",
        "Generated from the argparse parser at build time (`docs/gen_pages.py`).",
        "",
        "```text",
        parser.format_help().rstrip(),
        "```",
        "",
    ]
    commands = next(
        a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"
    )  # argparse has no public API
    for name, sub in commands.choices.items():
        lines += [f"## `facepalsy {name}`", "", "```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(lines)


def realfaces_section(path: Path) -> list[str]:
    figures = json.loads(path.read_text(encoding="utf-8"))
    low, high = figures["cv_auc_ci95"]
    lines = [
        f"## Landmark model on real photos ({path.name})",
        "",
        _made_by(figures, f"benchmarks/realfaces.py {figures['data']} --json {path.name}")
        + f", {figures['cores']} cores, {figures['wall_time_s']} s.",
        "",
        "| figure | protocol | value |",
        "|---|---|---|",
        f"| usable faces | turned ≤ 20° | {figures['faces']['palsy']} palsy, {figures['faces']['normal']} healthy |",
        f"| AUC (95% CI, subject bootstrap) | 5-fold subject cross-validation, pooled out-of-fold | "
        f"{figures['cv_auc']:.3f} ({low:.3f}–{high:.3f}), n = {figures['cv_n']} |",
        f"| sensitivity / specificity | the same, at each fold's threshold | "
        f"{figures['sensitivity']:.3f} / {figures['specificity']:.3f} |",
    ]
    for row in figures["leave_one_source_out"]:
        lines.append(
            f"| AUC on an unseen source: {row['test_source']} | leave one source out "
            f"({row['palsy']} palsy, {row['normal']} healthy) | {row['auc']:.3f} |"
        )
    lines += [
        "",
        "Healthy photos labelled palsy out of fold, per recognised expression:",
        "",
        "| expression | flagged | healthy photos |",
        "|---|---|---|",
    ]
    for expression, counts in sorted(figures["false_positives_by_expression"].items()):
        lines.append(f"| {expression} | {counts['flagged']} | {counts['healthy']} |")
    lines += [
        "",
        "Pose robustness: frontal faces re-rendered in each pose, through their own out-of-fold run:",
        "",
        "| pose | verdict held | measure change, frontalised | without frontalising |",
        "|---|---|---|---|",
    ]
    for pose, row in figures["pose"].items():
        lines.append(
            f"| {pose} | {row['same']}/{row['faces']} | {row['measure_change_frontal']:.2f} | "
            f"{row['measure_change_not_frontalised']:.2f} |"
        )
    lines += [
        "",
        "Palsy pattern of the palsy photos (counts only: the set has no central/peripheral labels):",
        "",
        "| source | pattern counts |",
        "|---|---|",
    ]
    for source, counts in figures["pattern_by_source"].items():
        lines.append(f"| {source} | {', '.join(f'{k} {v}' for k, v in sorted(counts.items()))} |")
    return lines + [""]


def sources_section(path: Path) -> list[str]:
    """The cross-source figures (``benchmarks/realfaces.py DATA DATA…``): each source held out whole, and the
    subject k-fold within the sources beside it."""
    from facepalsy.evaluation import sources

    figures = json.loads(path.read_text(encoding="utf-8"))
    within = figures["within_sources"]
    low, high = within["auc_ci95"]
    folders = " ".join(figures["data"])
    return [
        f"## Landmark model across sources ({path.name})",
        "",
        _made_by(figures, f"benchmarks/realfaces.py {folders} --json {path.name}")
        + f", {figures['cores']} cores, {figures['wall_time_s']} s. "
        "The model is the recommended one: `facepalsy train` over those folders with `--model landmarks` and no "
        "other flag.",
        "",
        "**Leave one source out** (`cv --protocol leave-source-out`): each source held out whole, the model of its "
        "fold trained on the others and thresholded on their faces (cross-fitted out-of-fold probabilities). "
        "This is the figure to quote for "
        "photos from somewhere new.",
        "",
        *sources.markdown([sources.SourceFigures.from_dict(row) for row in figures["leave_source_out"]]),
        "",
        *_without_listed(figures),
        *_droops(figures.get("droop_yardstick")),
        f"**Within the sources** ({within['folds']}-fold subject cross-validation over all folders together, pooled "
        f"out-of-fold; each image at its fold's threshold): AUC {within['auc']:.3f} ({low:.3f}–{high:.3f}), "
        f"n = {within['n']}. Every source was seen in training, so this overstates what a new source gets.",
        "",
        *sources.markdown([sources.SourceFigures.from_dict(row) for row in within["sources"]]),
        "",
    ]


def _without_listed(figures: dict) -> list[str]:
    """The leave-one-source-out table again without the palsy photos listed as showing no visible palsy."""
    from facepalsy.evaluation import sources

    if "leave_source_out_without_listed" not in figures:
        return []
    rows = [sources.SourceFigures.from_dict(row) for row in figures["leave_source_out_without_listed"]]
    return [
        f"The same folds **without the {figures['listed_no_visible_palsy']} `dev` palsy photos listed as showing no "
        "visible palsy** (`benchmarks/no_visible_palsy.csv`, the rule on [Face pipeline](face.md)); nothing "
        "was relabelled or retrained:",
        "",
        *sources.markdown(rows),
        "",
    ]


def _droops(yardsticks: dict | None) -> list[str]:
    """The twins yardstick (``benchmarks/twins.py``): KDEF neutral and happy photos with one mouth corner drawn lower,
    read by the fold that never saw KDEF."""
    if not yardsticks:
        return []
    lines = [
        "**The twins yardstick** (`benchmarks/twins.py`, run on the fold that held KDEF out): every KDEF neutral photo "
        "with one mouth corner drawn lower by the mm given (its own iris scale, sides alternating), and every KDEF "
        "happy photo with a smile that lags on one side (the corner lower by the mm and half of it nearer the "
        "midline), through `predict`. Goals (neutral): at least 60% flagged at 3 mm, 85% at 4 mm, at most 5% "
        "unwarped; p rising with the mm.",
        "",
    ]
    for expression, droops in yardsticks.items():
        lines += _droop_table(expression, droops)
    return lines


def _droop_table(expression: str, droops: dict) -> list[str]:
    lines = [
        f"KDEF {expression}: Spearman's rho of p with the mm {droops['spearman_rho']:.2f}.",
        "",
        "| mouth corner lower | flagged | no verdict | median p | patterns named |",
        "|---|---|---|---|---|",
    ]
    for mm, row in droops["sizes"].items():
        share = "—" if row["flagged_share"] is None else f"{100 * row['flagged_share']:.0f}%"
        named = ", ".join(f"{k} {v}" for k, v in row["patterns"].items()) or "—"
        lines.append(
            f"| {mm} mm | {share} ({row['flagged']}/{row['with_verdict']}) | {row['no_verdict']} | "
            f"{row['median_p']} | {named} |"
        )
    return [*lines, ""]


def grade_section(path: Path) -> list[str]:
    """The eFACE-style grade on real photos (``benchmarks/grade.py``): healthy exams, the mm scale, controlled
    changes and retest noise."""
    figures = json.loads(path.read_text(encoding="utf-8"))
    lines = [
        f"## eFACE-style (automatic) grade ({path.name})",
        "",
        _made_by(figures, f"benchmarks/grade.py {figures['data']}") + f", {figures['cores']} cores. "
        "Data: healthy posed expressions only (no palsy photo); an exam "
        "is one person's rest (neutral), smile (happy) and brow raise (surprised) photos of one session, graded "
        "with no side read (the lower-grading side). No full 7-expression exam exists in these folders, so the "
        "eye-closure and lower-lip items are not in these figures. [Grade](grade.md) defines every item.",
        "",
        "| source | exams | total: min / 5th pct / median | exams under 85 | static items under 80 | median item | "
        "items not readable |",
        "|---|---|---|---|---|---|---|",
    ]
    for source, row in figures["healthy"].items():
        total = row["total"]
        reasons = "; ".join(f"{reason}: {n}" for reason, n in row.get("not_readable_reasons", {}).items())
        unread = f"{row.get('items_not_readable', 0)}" + (f" ({reasons})" if reasons else "")
        lines.append(
            f"| {source} | {row['exams']} | {total['min']:.1f} / {total['p5']:.1f} / {total['median']:.1f} | "
            f"{row['exams_total_below_85']} | {row['static_items_below_80']} of {row['static_items']} | "
            f"{row['median_item']:.1f} | {unread} |"
        )
    lines += ["", "Item medians (5th percentile) per source:", "", "| item | " + " | ".join(figures["healthy"]) + " |"]
    lines.append("|---" * (len(figures["healthy"]) + 1) + "|")
    names = sorted({name for row in figures["healthy"].values() for name in row["items"]})
    for name in names:
        cells = [
            f"{row['items'][name]['median']:.1f} ({row['items'][name]['p5']:.1f}), n {row['items'][name]['n']}"
            if name in row["items"]
            else "—"
            for row in figures["healthy"].values()
        ]
        lines.append(f"| {name.replace('_', ' ')} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "**The mm scale**: the iris route's mm per inter-ocular distance over the inter-ocular route's (63 mm), ",
    ]
    lines[-1] += "on the resting photos:"
    lines += ["", "| source | photos | min / median / max | within 10% |", "|---|---|---|---|"]
    for source, row in figures["scale"].items():
        lines.append(
            f"| {source} | {row['photos']} | {row['min']:.3f} / {row['median']:.3f} / {row['max']:.3f} | "
            f"{100 * row['within_10_percent']:.0f}% |"
        )
    lines += [
        "",
        "**Controlled changes** on real frontal photos (KDEF neutral, session A; the warped side graded as the",
    ]
    lines[-1] += " affected one; static items on eFACE's 0–200 scale before folding):"
    lines += [
        "",
        "| change | photos | graded at every step | falling | mean at 0 / 2 / 4 / 6 mm (lid: 0 / ⅓ / ⅔ / all of the "
        "closure held back) |",
        "|---|---|---|---|---|",
    ]
    for what, row in figures["warps"].items():
        means = " / ".join(f"{v:.1f}" for v in row["mean_by_size"])
        lines.append(f"| {what} | {row['photos']} | {row['graded_every_step']} | {row['falling']} | {means} |")
    lines += [
        "",
        "Falling: lower at every step (mouth corner and brow, on eFACE's 0–200 scale); for the lids (a gentle 80% "
        "and a full 100% closure drawn by a lid warp), the eye-closure item never higher than at the step before and "
        "lower with the lid held fully open than at none (it is capped at 100, so the first step may hold). The item "
        "is graded only where the healthy lid closes at least 20% of its fissure; the means are over the photos "
        "graded at every step.",
    ]
    retest = figures["retest"]
    limits = ", ".join(f"{k.replace('_', ' ')} {v:g} (n {retest['pairs'][k]})" for k, v in retest["mdc95"].items())
    lines += [
        "",
        f"**Test–retest** ({retest['method']}): MDC95 {limits}"
        + (f"; the faces' median eye distance {retest['eye_distance_px']} px." if "eye_distance_px" in retest else "."),
        "",
        f"**Time**: one 7-photo exam measured and graded in {figures['seconds_per_7_photo_exam']} s after the face "
        "models were loaded.",
        "",
    ]
    return lines


def demo_seeds_section(path: Path) -> list[str]:
    """The README's first command over seeds and thread counts (``benchmarks/demo_seeds.py``)."""
    figures = json.loads(path.read_text(encoding="utf-8"))
    lines = [
        f"## The demo over seeds ({path.name})",
        "",
        _made_by(figures, "benchmarks/demo_seeds.py") + f", {figures['cores']} cores: `{figures['command']}` "
        "as a fresh process per seed, at each "
        "thread count (`OMP_NUM_THREADS`), in the CPU's default precision. Data: the demo's synthetic faces (300 "
        "subjects, drawn with seed 0); test: 180 images of 60 unseen subjects (subject split)."
        + (f" {figures['note']}" if figures.get("note") else ""),
        "",
        "| threads | precision | seeds | test accuracy: min / median / max | seconds: min / median / max |",
        "|---|---|---|---|---|",
    ]
    for threads, row in figures["threads"].items():
        runs = row["runs"]
        acc, sec = row["accuracy"], row["seconds"]
        lines.append(
            f"| {threads} | {', '.join(sorted({r['precision'] for r in runs}))} | "
            f"{', '.join(str(r['seed']) for r in runs)} | "
            f"{100 * acc['min']:.1f} / {100 * acc['median']:.1f} / {100 * acc['max']:.1f}% | "
            f"{sec['min']:.0f} / {sec['median']:.0f} / {sec['max']:.0f} |"
        )
    return [*lines, ""]


def lite0_section(path: Path) -> list[str]:
    """EfficientNet-Lite0 on ImageNet weights against networks from scratch (``benchmarks/lite0.py``)."""
    figures = json.loads(path.read_text(encoding="utf-8"))
    lines = [
        f"## EfficientNet-Lite0 on the demo's synthetic faces ({path.name})",
        "",
        _made_by(figures, "benchmarks/lite0.py") + f", {figures['threads']} threads, {figures['epochs']} epochs each. "
        "Data: the demo's synthetic faces (300 "
        "subjects × 3 images); protocol: subject split, test on the 20% of subjects never seen in training. Synthetic "
        "faces say how fast each recipe learns a drawn droop, not how it does on photos.",
        "",
        "| model | px | test accuracy | ROC AUC | s per epoch | precision |",
        "|---|---|---|---|---|---|",
    ]
    for row in figures["recipes"]:
        lines.append(
            f"| {row['model']} | {row['image_size']} | {100 * row['accuracy']:.1f}% ({row['test_images']}) | "
            f"{row['roc_auc']:.3f} | {row['seconds_per_epoch']} | {row['precision']} |"
        )
    return [*lines, "", *([figures["note"], ""] if figures.get("note") else [])]


def _made_by(figures: dict, command: str) -> str:
    """Every figure section's first words: the benchmark command, its date, commit and CPU."""
    return f"Made by `python {command}` on {figures['date']} at commit `{figures['commit']}`, {figures['cpu']}"


def figures_page(folder: Path) -> str:
    lines = [
        "# Figures",
        "",
        "Rendered at build time from the JSON files that the benchmarks write into `docs/figures/`",
        "(`docs/gen_pages.py`); each names its date, commit, CPU and protocol. Older, hand-written measurement",
        "notes are kept in [Performance](performance.md).",
        "",
    ]
    for path in sorted(folder.glob("sources*.json")):
        lines += sources_section(path)
    for path in sorted(folder.glob("realfaces*.json")):
        lines += realfaces_section(path)
    for path in sorted(folder.glob("grade*.json")):
        lines += grade_section(path)
    for path in sorted(folder.glob("demo_seeds*.json")):
        lines += demo_seeds_section(path)
    for path in sorted(folder.glob("lite0*.json")):
        lines += lite0_section(path)
    return "\n".join(lines)


with mkdocs_gen_files.open("cli.md", "w") as page:
    page.write(cli_page())
with mkdocs_gen_files.open("figures.md", "w") as page:
    page.write(figures_page(Path(__file__).parent / "figures"))
with mkdocs_gen_files.open("index.md", "w") as page:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    page.write(readme.replace("](docs/", "]("))
